use super::super::{parse, parse_heredoc_invocation, PatchError};
use super::*;
use std::fs;

fn run(cwd: &Path, text: &str) -> Result<Applied, PatchError> {
    apply(&parse(text)?, cwd, None)
}

#[test]
fn adds_updates_moves_and_deletes() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    fs::write(
        d.join("lib.rs"),
        "fn a() {}\nfn b() {\n    1\n}\nfn c() {}\n",
    )
    .unwrap();
    fs::write(d.join("old.txt"), "bye\n").unwrap();
    fs::write(d.join("mv.txt"), "x\ny\n").unwrap();
    let patch = "*** Begin Patch
*** Add File: src/new.rs
+fn main() {}
+
*** Update File: lib.rs
@@ fn b() {
-    1
+    2
@@
 fn c() {}
+fn d() {}
*** Update File: mv.txt
*** Move to: moved/mv.txt
@@
 x
-y
+z
*** Delete File: old.txt
*** End Patch
";
    let applied = run(d, patch).unwrap();
    assert_eq!(applied.changes.len(), 4);
    assert_eq!(
        fs::read_to_string(d.join("src/new.rs")).unwrap(),
        "fn main() {}\n\n"
    );
    assert_eq!(
        fs::read_to_string(d.join("lib.rs")).unwrap(),
        "fn a() {}\nfn b() {\n    2\n}\nfn c() {}\nfn d() {}\n"
    );
    assert!(!d.join("mv.txt").exists());
    assert_eq!(
        fs::read_to_string(d.join("moved/mv.txt")).unwrap(),
        "x\nz\n"
    );
    assert!(!d.join("old.txt").exists());
}

#[test]
fn a_failing_hunk_names_file_and_hunk_and_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    fs::write(d.join("a.txt"), "one\ntwo\n").unwrap();
    fs::write(d.join("b.txt"), "alpha\n").unwrap();
    let patch = "*** Begin Patch
*** Update File: a.txt
@@
-one
+ONE
*** Update File: b.txt
@@
-beta
+BETA
*** End Patch";
    let err = run(d, patch).unwrap_err();
    match &err {
        PatchError::NoMatch {
            path,
            hunk,
            expected,
            ..
        } => {
            assert_eq!((path.as_str(), *hunk), ("b.txt", 1));
            assert!(expected.contains("beta"));
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().starts_with("b.txt: hunk 1"), "{err}");
    assert_eq!(
        fs::read_to_string(d.join("a.txt")).unwrap(),
        "one\ntwo\n",
        "all or nothing"
    );
}

#[test]
fn matching_is_exact_and_ordered() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    fs::write(d.join("f"), "x\n  y\nx\n").unwrap();
    // No fuzz: whitespace differences do not match.
    assert!(matches!(
        run(
            d,
            "*** Begin Patch\n*** Update File: f\n@@\n-y\n+z\n*** End Patch\n"
        ),
        Err(PatchError::NoMatch { .. })
    ));
    // The second hunk matches after the first: the second `x`.
    run(
        d,
        "*** Begin Patch\n*** Update File: f\n@@\n x\n@@\n-x\n+w\n*** End Patch\n",
    )
    .unwrap();
    assert_eq!(fs::read_to_string(d.join("f")).unwrap(), "x\n  y\nw\n");
    // End of file anchoring.
    run(
        d,
        "*** Begin Patch\n*** Update File: f\n@@\n-w\n+v\n*** End of File\n*** End Patch\n",
    )
    .unwrap();
    assert_eq!(fs::read_to_string(d.join("f")).unwrap(), "x\n  y\nv\n");
}

#[test]
fn bad_input_of_every_kind() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    fs::write(d.join("exists"), "e\n").unwrap();
    let syntax = |t: &str| matches!(parse(t), Err(PatchError::Syntax { .. }));
    assert!(syntax(""));
    assert!(syntax("*** Add File: x\n+a\n*** End Patch"), "no Begin");
    assert!(syntax("*** Begin Patch\n*** Add File: x\n+a\n"), "no End");
    assert!(syntax("*** Begin Patch\n*** End Patch"), "empty");
    assert!(syntax(
        "*** Begin Patch\n*** Add File: x\nno plus\n*** End Patch"
    ));
    assert!(
        syntax("*** Begin Patch\n*** Update File: x\n*** End Patch"),
        "no hunks"
    );
    assert!(syntax(
        "*** Begin Patch\n*** Update File: x\n@@\n?bad\n*** End Patch"
    ));
    assert!(syntax("*** Begin Patch\n*** Frobnicate: x\n*** End Patch"));
    let err = parse("*** Begin Patch\n*** Add File: x\nno plus\n*** End Patch").unwrap_err();
    assert!(err.to_string().contains("line 3"), "{err}");
    for path in ["/etc/passwd", "../escape", "a/../../b", ""] {
        let t = format!("*** Begin Patch\n*** Add File: {path}\n+x\n*** End Patch");
        assert!(
            matches!(
                run(d, &t),
                Err(PatchError::BadPath { .. }) | Err(PatchError::Syntax { .. })
            ),
            "{path}"
        );
    }
    assert!(matches!(
        run(
            d,
            "*** Begin Patch\n*** Add File: exists\n+x\n*** End Patch"
        ),
        Err(PatchError::State { .. })
    ));
    assert!(matches!(
        run(
            d,
            "*** Begin Patch\n*** Delete File: missing\n*** End Patch"
        ),
        Err(PatchError::State { .. })
    ));
    assert!(matches!(
        run(
            d,
            "*** Begin Patch\n*** Update File: missing\n@@\n-a\n*** End Patch"
        ),
        Err(PatchError::State { .. })
    ));
    assert_eq!(fs::read_to_string(d.join("exists")).unwrap(), "e\n");
}

#[test]
#[cfg(unix)]
fn the_policy_must_allow_every_path() {
    use cordon_policy::{resolve, PolicyInputs, SandboxMode};
    let tmp = tempfile::tempdir().unwrap();
    let d = fs::canonicalize(tmp.path()).unwrap();
    fs::create_dir(d.join(".git")).unwrap();
    let policy = resolve(&PolicyInputs {
        mode: SandboxMode::WorkspaceWrite,
        cwd: d.clone(),
        exclude_slash_tmp: true,
        exclude_tmpdir_env_var: true,
        ..Default::default()
    })
    .unwrap();
    let patch = parse("*** Begin Patch\n*** Add File: ok.txt\n+x\n*** Add File: .git/hooks/post-commit\n+evil\n*** End Patch").unwrap();
    assert!(matches!(
        apply(&patch, &d, Some(&policy)),
        Err(PatchError::Denied { .. })
    ));
    assert!(!d.join("ok.txt").exists(), "nothing written");

    // Symlinks are followed before the check: one to .git or outside the
    // root is refused, a dangling one too; with no policy the same patch
    // lands (the control).
    let outside = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(d.join(".git"), d.join("g")).unwrap();
    std::os::unix::fs::symlink(outside.path(), d.join("out")).unwrap();
    std::os::unix::fs::symlink(d.join("nowhere"), d.join("dangling")).unwrap();
    for target in ["g/hooks/post-checkout", "out/x.txt"] {
        let patch = parse(&format!(
            "*** Begin Patch\n*** Add File: {target}\n+evil\n*** End Patch"
        ))
        .unwrap();
        assert!(
            matches!(
                apply(&patch, &d, Some(&policy)),
                Err(PatchError::Denied { .. })
            ),
            "{target}"
        );
    }
    let patch = parse("*** Begin Patch\n*** Add File: dangling\n+x\n*** End Patch").unwrap();
    assert!(matches!(
        apply(&patch, &d, Some(&policy)),
        Err(PatchError::State { .. })
    ));
    assert!(!outside.path().join("x.txt").exists());
    let patch = parse("*** Begin Patch\n*** Add File: out/x.txt\n+fine\n*** End Patch").unwrap();
    apply(&patch, &d, None).unwrap();
    assert!(outside.path().join("x.txt").exists(), "control");
}

#[test]
fn heredoc_shell_calls_are_recognised() {
    let argv: Vec<String> = [
        "bash",
        "-lc",
        "apply_patch <<'EOF'\n*** Begin Patch\n*** Add File: a\n+1\n*** End Patch\nEOF\n",
    ]
    .map(String::from)
    .to_vec();
    let (cd, text) = parse_heredoc_invocation(&argv).unwrap();
    assert_eq!(cd, None);
    assert!(parse(&text).is_ok());
    let argv: Vec<String> = [
        "sh",
        "-c",
        "cd sub && apply_patch <<EOF\n*** Begin Patch\n*** Delete File: a\n*** End Patch\nEOF",
    ]
    .map(String::from)
    .to_vec();
    assert_eq!(
        parse_heredoc_invocation(&argv).unwrap().0.as_deref(),
        Some("sub")
    );
    let not: Vec<String> = ["bash", "-lc", "echo apply_patch"]
        .map(String::from)
        .to_vec();
    assert!(parse_heredoc_invocation(&not).is_none());
}

/// Issue 10 item 1: a symlink planted under the sibling name cordon used to
/// write through (`.NAME.cordon-patch`) no longer redirects the write; the
/// victim outside is untouched and the patch lands at its own path. The
/// control writes through the same link the old way to show it would have
/// reached the victim.
#[cfg(unix)]
#[test]
fn a_planted_sibling_symlink_cannot_redirect_a_patch() {
    let tmp = tempfile::tempdir().unwrap();
    let d = fs::canonicalize(tmp.path()).unwrap();
    let outside = tempfile::tempdir().unwrap();
    let victim = outside.path().join("victim");
    fs::write(&victim, "precious\n").unwrap();
    fs::write(d.join("a.txt"), "old\n").unwrap();
    let link = d.join(".a.txt.cordon-patch");
    std::os::unix::fs::symlink(&victim, &link).unwrap();
    run(
        &d,
        "*** Begin Patch\n*** Update File: a.txt\n@@\n-old\n+new\n*** Add File: b.txt\n+b\n*** End Patch",
    )
    .unwrap();
    assert_eq!(fs::read_to_string(&victim).unwrap(), "precious\n");
    assert_eq!(fs::read_to_string(d.join("a.txt")).unwrap(), "new\n");
    assert_eq!(fs::read_to_string(d.join("b.txt")).unwrap(), "b\n");
    assert!(!fs::symlink_metadata(d.join("a.txt")).unwrap().is_symlink());
    // No sibling left behind but the planted link.
    let names: Vec<_> = fs::read_dir(&d)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".cordon-patch") || n.ends_with(".cordon-tmp"))
        .collect();
    assert_eq!(names, vec![".a.txt.cordon-patch".to_string()]);
    // Control: a plain write through that name reaches the victim.
    fs::write(&link, "overwritten\n").unwrap();
    assert_eq!(fs::read_to_string(&victim).unwrap(), "overwritten\n");
}

#[test]
fn a_preview_shows_each_file_with_its_diff_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let d = fs::canonicalize(tmp.path()).unwrap();
    fs::write(d.join("a.txt"), "one\ntwo\n").unwrap();
    fs::write(d.join("gone.txt"), "bye\n").unwrap();
    let p = super::super::parse(
        "*** Begin Patch\n*** Update File: a.txt\n@@\n one\n-two\n+TWO\n*** Add File: b.txt\n+b\n*** Delete File: gone.txt\n*** End Patch",
    )
    .unwrap();
    let files = super::preview(&p, &d).unwrap();
    assert_eq!(files.len(), 3);
    assert_eq!(files[0].kind, crate::agent::ChangeKind::Update);
    assert_eq!((files[0].added, files[0].removed), (1, 1));
    assert!(files[0].diff.contains("-two\n+TWO"), "{}", files[0].diff);
    assert_eq!(files[1].kind, crate::agent::ChangeKind::Add);
    assert_eq!(files[2].kind, crate::agent::ChangeKind::Delete);
    assert_eq!(fs::read_to_string(d.join("a.txt")).unwrap(), "one\ntwo\n");
    assert!(!d.join("b.txt").exists() && d.join("gone.txt").exists());
}
