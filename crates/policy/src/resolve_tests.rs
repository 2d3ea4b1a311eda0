use super::*;
use std::fs;

fn inputs(cwd: &Path) -> PolicyInputs {
    PolicyInputs {
        mode: SandboxMode::WorkspaceWrite,
        cwd: cwd.to_path_buf(),
        exclude_slash_tmp: true,
        exclude_tmpdir_env_var: true,
        ..Default::default()
    }
}

#[test]
fn read_only_has_no_writable_roots() {
    let tmp = tempfile::tempdir().unwrap();
    let mut i = inputs(tmp.path());
    i.mode = SandboxMode::ReadOnly;
    i.exclude_slash_tmp = false;
    let p = resolve(&i).unwrap();
    assert!(p.writable_roots.is_empty());
    assert!(!p.allows_write(&p.cwd.join("x")));
}

#[test]
fn workspace_write_roots_follow_tmp_flags() {
    let tmp = tempfile::tempdir().unwrap();
    let tmpdir = tempfile::tempdir().unwrap();
    let mut i = inputs(tmp.path());
    i.tmpdir = Some(tmpdir.path().to_path_buf());
    let roots = |i: &PolicyInputs| -> Vec<PathBuf> {
        resolve(i)
            .unwrap()
            .writable_roots
            .into_iter()
            .map(|r| r.root)
            .collect()
    };
    let cwd = fs::canonicalize(tmp.path()).unwrap();
    let td = fs::canonicalize(tmpdir.path()).unwrap();
    assert_eq!(roots(&i), vec![cwd.clone()]);
    i.exclude_tmpdir_env_var = false;
    assert!(roots(&i).contains(&td));
    i.exclude_slash_tmp = false;
    assert!(roots(&i).contains(&PathBuf::from("/tmp")));
}

#[test]
fn missing_roots_are_reported_not_used() {
    let tmp = tempfile::tempdir().unwrap();
    let mut i = inputs(tmp.path());
    i.writable_roots = vec![PathBuf::from("/nonexistent/cordon-test")];
    let p = resolve(&i).unwrap();
    assert_eq!(
        p.missing_roots,
        vec![PathBuf::from("/nonexistent/cordon-test")]
    );
    assert_eq!(p.writable_roots.len(), 1);
}

#[test]
fn allows_write_uses_deepest_match() {
    let tmp = tempfile::tempdir().unwrap();
    let cwd = fs::canonicalize(tmp.path()).unwrap();
    fs::create_dir_all(cwd.join(".git")).unwrap();
    let home = cwd.join("home");
    fs::create_dir_all(home.join("memories")).unwrap();
    let mut i = inputs(&cwd);
    i.cordon_home = Some(home.clone());
    let p = resolve(&i).unwrap();
    assert!(p.allows_write(&cwd.join("src/main.rs")));
    assert!(!p.allows_write(&cwd.join(".git/config")));
    assert!(
        !p.allows_write(&cwd.join(".cordon")),
        "missing .cordon at the top"
    );
    assert!(p.allows_write(&home.join("memories/note.md")));
    // memories is a root like any other: its top `.git` cannot be made.
    assert!(!p.allows_write(&home.join("memories/.git")));
    assert!(!p.allows_write(&home.join("memories/.cordon/x")));
    assert!(!p.allows_write(Path::new("/etc/passwd")));
}

#[test]
fn nested_root_is_walked_once_but_keeps_its_own_top() {
    let tmp = tempfile::tempdir().unwrap();
    let outer = fs::canonicalize(tmp.path()).unwrap();
    let inner = outer.join("inner");
    fs::create_dir_all(inner.join("pkg/.git")).unwrap();
    let mut i = inputs(&inner);
    i.writable_roots = vec![outer.clone()];
    let p = resolve(&i).unwrap();
    assert_eq!(p.writable_roots[0].root, outer);
    assert!(!p.writable_roots[0]
        .protected
        .iter()
        .any(|x| x.path.starts_with(&inner)));
    let inner_root = &p.writable_roots[1];
    assert_eq!(inner_root.root, inner);
    assert!(inner_root
        .protected
        .iter()
        .any(|x| x.path == inner.join("pkg/.git")));
    assert!(inner_root
        .protected
        .iter()
        .any(|x| x.path == inner.join(".git")));
}

#[test]
fn cordon_home_inside_a_root_is_protected_whatever_its_name() {
    let tmp = tempfile::tempdir().unwrap();
    let cwd = fs::canonicalize(tmp.path()).unwrap();
    let home = cwd.join("cfg/cordon");
    fs::create_dir_all(&home).unwrap();
    let mut i = inputs(&cwd);
    i.cordon_home = Some(home.clone());
    let p = resolve(&i).unwrap();
    assert!(!p.allows_write(&home.join("config.toml")));
    assert!(p.allows_write(&home.join("memories/today.md")));
    assert!(p.allows_write(&cwd.join("cfg/other")));
}

#[cfg(unix)]
#[test]
fn a_symlinked_git_never_refuses_a_run_and_holds_its_directory_read_only() {
    let tmp = tempfile::tempdir().unwrap();
    let outer = fs::canonicalize(tmp.path()).unwrap();
    let ws = outer.join("ws");
    fs::create_dir_all(ws.join("d")).unwrap();
    // Planted deep in a root: that directory is held, the run goes on.
    std::os::unix::fs::symlink("/nowhere", ws.join("d/.git")).unwrap();
    let mut i = inputs(&ws);
    let p = resolve(&i).unwrap();
    assert!(p.allows_write(&ws.join("file")));
    assert!(!p.allows_write(&ws.join("d/file")));
    assert_eq!(p.warnings.len(), 1, "{:?}", p.warnings);
    assert!(
        p.warnings[0].contains("d/.git is a symlink"),
        "{:?}",
        p.warnings
    );
    // At a root's own top: that root is read-only, also when it sits
    // inside another root whose walk skipped it.
    std::os::unix::fs::symlink("/nowhere", ws.join(".cordon")).unwrap();
    i.writable_roots = vec![outer.clone()];
    let p = resolve(&i).unwrap();
    let roots: Vec<_> = p.writable_roots.iter().map(|r| r.root.clone()).collect();
    assert_eq!(roots, vec![outer.clone()]);
    assert!(p.allows_write(&outer.join("file")));
    assert!(!p.allows_write(&ws.join("file")));
    assert!(!p.allows_write(&ws.join("d/file")));
}

#[cfg(unix)]
#[test]
fn roots_and_existing_protected_paths_are_pinned_by_their_identity() {
    use std::os::unix::fs::MetadataExt;
    let tmp = tempfile::tempdir().unwrap();
    let cwd = fs::canonicalize(tmp.path()).unwrap();
    fs::create_dir_all(cwd.join(".git")).unwrap();
    let p = resolve(&inputs(&cwd)).unwrap();
    let id = |path: &Path| {
        let m = fs::symlink_metadata(path).unwrap();
        FileId {
            dev: m.dev(),
            ino: m.ino(),
        }
    };
    assert_eq!(p.pins.get(&cwd), Some(&id(&cwd)));
    assert_eq!(p.pins.get(&cwd.join(".git")), Some(&id(&cwd.join(".git"))));
    // The missing `.cordon` placeholder has nothing to pin.
    assert_eq!(p.pins.len(), 2, "{:?}", p.pins);
    assert_ne!(id(&cwd), id(&cwd.join(".git")));
}

#[cfg(unix)]
#[test]
fn file_identity_is_the_link_itself_not_its_target() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = fs::canonicalize(tmp.path()).unwrap();
    fs::write(dir.join("target"), "x").unwrap();
    std::os::unix::fs::symlink(dir.join("target"), dir.join("link")).unwrap();
    let target = FileId::of(&dir.join("target")).unwrap();
    let link = FileId::of(&dir.join("link")).unwrap();
    assert_eq!(target.dev, link.dev);
    assert_ne!(target.ino, link.ino);
    assert_eq!(FileId::of(&dir.join("absent")), None);
}

#[test]
fn a_writable_root_that_is_a_file_is_left_out_as_missing() {
    let tmp = tempfile::tempdir().unwrap();
    let cwd = fs::canonicalize(tmp.path()).unwrap();
    let file = cwd.join("not-a-dir");
    fs::write(&file, "x").unwrap();
    let mut i = inputs(&cwd);
    i.writable_roots = vec![file.clone()];
    let p = resolve(&i).unwrap();
    assert_eq!(p.missing_roots, vec![file]);
    let roots: Vec<_> = p.writable_roots.iter().map(|r| r.root.clone()).collect();
    assert_eq!(roots, vec![cwd]);
}
