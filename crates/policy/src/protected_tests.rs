use super::*;
use std::fs;

fn paths(found: &[ProtectedPath], kind: ProtectedKind) -> Vec<PathBuf> {
    found
        .iter()
        .filter(|p| p.kind == kind)
        .map(|p| p.path.clone())
        .collect()
}

#[test]
fn finds_top_nested_and_submodule_git() {
    let tmp = tempfile::tempdir().unwrap();
    let root = fs::canonicalize(tmp.path()).unwrap();
    fs::create_dir_all(root.join(".git/modules/sub")).unwrap();
    fs::create_dir_all(root.join("vendor/nested/.git")).unwrap();
    fs::create_dir_all(root.join("sub")).unwrap();
    fs::write(root.join("sub/.git"), "gitdir: ../.git/modules/sub\n").unwrap();
    fs::create_dir_all(root.join("a/.cordon")).unwrap();

    let found = discover_protected(&root, &[]).protected;
    let existing = paths(&found, ProtectedKind::Existing);
    assert!(existing.contains(&root.join(".git")));
    assert!(existing.contains(&root.join("vendor/nested/.git")));
    assert!(
        existing.contains(&root.join("sub/.git")),
        "the .git file itself"
    );
    assert!(
        existing.contains(&root.join(".git/modules/sub")),
        "the gitdir it points to"
    );
    assert!(existing.contains(&root.join("a/.cordon")));
    assert_eq!(
        paths(&found, ProtectedKind::Missing),
        vec![root.join(".cordon")]
    );
}

#[test]
fn missing_top_entries_are_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let root = fs::canonicalize(tmp.path()).unwrap();
    let found = discover_protected(&root, &[]).protected;
    assert_eq!(
        paths(&found, ProtectedKind::Missing),
        vec![root.join(".cordon"), root.join(".git")]
    );
    assert!(paths(&found, ProtectedKind::Existing).is_empty());
}

#[test]
fn worktree_commondir_is_protected() {
    let tmp = tempfile::tempdir().unwrap();
    let root = fs::canonicalize(tmp.path()).unwrap();
    let main_git = root.join("main/.git");
    fs::create_dir_all(main_git.join("worktrees/wt")).unwrap();
    fs::write(main_git.join("worktrees/wt/commondir"), "../..\n").unwrap();
    fs::create_dir_all(root.join("wt")).unwrap();
    fs::write(
        root.join("wt/.git"),
        format!("gitdir: {}\n", main_git.join("worktrees/wt").display()),
    )
    .unwrap();
    let existing = paths(
        &discover_protected(&root.join("wt"), &[]).protected,
        ProtectedKind::Existing,
    );
    assert!(existing.contains(&main_git.join("worktrees/wt")));
    assert!(existing.contains(&main_git));
}

#[test]
fn skipped_roots_and_symlinks_are_not_walked() {
    let tmp = tempfile::tempdir().unwrap();
    let root = fs::canonicalize(tmp.path()).unwrap();
    fs::create_dir_all(root.join("inner/.git")).unwrap();
    fs::create_dir_all(root.join("elsewhere/deep/.git")).unwrap();
    std::os::unix::fs::symlink(root.join("elsewhere"), root.join("link")).unwrap();
    let found = discover_protected(&root, &[root.join("inner")]).protected;
    let existing = paths(&found, ProtectedKind::Existing);
    assert!(!existing.contains(&root.join("inner/.git")));
    assert!(existing.contains(&root.join("elsewhere/deep/.git")));
    assert!(!existing.iter().any(|p| p.starts_with(root.join("link"))));
}

#[test]
fn a_fifo_named_commondir_does_not_hang_discovery() {
    let tmp = tempfile::tempdir().unwrap();
    let root = fs::canonicalize(tmp.path()).unwrap();
    fs::create_dir_all(root.join("x/.git")).unwrap();
    let fifo = std::ffi::CString::new(root.join("x/.git/commondir").to_str().unwrap()).unwrap();
    // SAFETY: mkfifo with a valid path.
    assert_eq!(unsafe { libc_mkfifo(fifo.as_ptr(), 0o644) }, 0);
    let existing = paths(
        &discover_protected(&root, &[]).protected,
        ProtectedKind::Existing,
    );
    assert!(existing.contains(&root.join("x/.git")));
}

extern "C" {
    #[link_name = "mkfifo"]
    fn libc_mkfifo(path: *const std::ffi::c_char, mode: u32) -> i32;
}

#[test]
fn a_symlinked_protected_name_holds_its_directory_and_target_read_only() {
    let tmp = tempfile::tempdir().unwrap();
    let root = fs::canonicalize(tmp.path()).unwrap();
    fs::create_dir_all(root.join("store/repo.git")).unwrap();
    fs::create_dir_all(root.join("sub/deeper")).unwrap();
    fs::create_dir_all(root.join("other")).unwrap();
    std::os::unix::fs::symlink(root.join("store/repo.git"), root.join("sub/.git")).unwrap();
    std::os::unix::fs::symlink("/nowhere", root.join("other/.cordon")).unwrap();
    let found = discover_protected(&root, &[]);
    assert_eq!(
        found.symlinks,
        vec![root.join("other/.cordon"), root.join("sub/.git")]
    );
    let existing = paths(&found.protected, ProtectedKind::Existing);
    assert!(existing.contains(&root.join("sub")), "{existing:?}");
    assert!(
        existing.contains(&root.join("store/repo.git")),
        "{existing:?}"
    );
    assert!(existing.contains(&root.join("other")), "{existing:?}");
    // A dangling link protects only its directory.
    assert!(!existing.iter().any(|p| p.starts_with("/nowhere")));
    // The root itself stays writable: only the holders are carved out.
    assert!(!existing.contains(&root));
}

#[test]
fn unreadable_directories_stay_read_only() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let root = fs::canonicalize(tmp.path()).unwrap();
    let hidden = root.join("hidden");
    fs::create_dir_all(hidden.join("repo/.git")).unwrap();
    fs::set_permissions(&hidden, fs::Permissions::from_mode(0o311)).unwrap();
    let readable = fs::read_dir(&hidden).is_ok();
    let existing = paths(
        &discover_protected(&root, &[]).protected,
        ProtectedKind::Existing,
    );
    if readable {
        // root reads it anyway: the repository inside is found and protected.
        assert!(existing.contains(&hidden.join("repo/.git")));
    } else {
        assert!(existing.contains(&hidden), "{existing:?}");
    }
    fs::set_permissions(&hidden, fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn a_root_that_cannot_be_listed_is_held_read_only_with_its_top_names() {
    // Listing a regular file fails (ENOTDIR) for every user, root included:
    // what cannot be inspected is protected, not assumed absent.
    let tmp = tempfile::tempdir().unwrap();
    let file = fs::canonicalize(tmp.path()).unwrap().join("file");
    fs::write(&file, "x").unwrap();
    let found = discover_protected(&file, &[]).protected;
    assert!(
        paths(&found, ProtectedKind::Missing).is_empty(),
        "{found:?}"
    );
    assert_eq!(
        paths(&found, ProtectedKind::Existing),
        vec![file.clone(), file.join(".cordon"), file.join(".git")]
    );
}

#[test]
fn a_root_that_does_not_exist_has_only_placeholders() {
    let tmp = tempfile::tempdir().unwrap();
    let gone = fs::canonicalize(tmp.path()).unwrap().join("gone");
    let found = discover_protected(&gone, &[]).protected;
    assert!(
        paths(&found, ProtectedKind::Existing).is_empty(),
        "{found:?}"
    );
    assert_eq!(
        paths(&found, ProtectedKind::Missing),
        vec![gone.join(".cordon"), gone.join(".git")]
    );
}

#[test]
fn gitfiles_are_read_up_to_four_kib_and_never_through_a_link() {
    let tmp = tempfile::tempdir().unwrap();
    let root = fs::canonicalize(tmp.path()).unwrap();
    fs::create_dir_all(root.join("store/a")).unwrap();
    fs::create_dir_all(root.join("store/b")).unwrap();
    for (name, size) in [("a", 4096), ("b", 4097)] {
        fs::create_dir_all(root.join(format!("wt-{name}"))).unwrap();
        let mut text = format!("gitdir: ../store/{name}\n");
        text.push_str(&"\n".repeat(size - text.len()));
        assert_eq!(text.len(), size);
        fs::write(root.join(format!("wt-{name}/.git")), text).unwrap();
    }
    // A worktree whose commondir is a symlink planted to another repository.
    fs::create_dir_all(root.join("main/.git/worktrees/w")).unwrap();
    fs::create_dir_all(root.join("other")).unwrap();
    fs::write(root.join("other/pointer"), "../../../../other\n").unwrap();
    std::os::unix::fs::symlink(
        root.join("other/pointer"),
        root.join("main/.git/worktrees/w/commondir"),
    )
    .unwrap();
    fs::create_dir_all(root.join("wt-w")).unwrap();
    fs::write(root.join("wt-w/.git"), "gitdir: ../main/.git/worktrees/w\n").unwrap();

    let existing = paths(
        &discover_protected(&root, &[]).protected,
        ProtectedKind::Existing,
    );
    assert!(existing.contains(&root.join("store/a")), "4096 bytes: read");
    assert!(
        !existing.contains(&root.join("store/b")),
        "4097 bytes: not read"
    );
    assert!(existing.contains(&root.join("main/.git/worktrees/w")));
    assert!(
        !existing.contains(&root.join("other")),
        "a commondir link is not followed: {existing:?}"
    );
}
