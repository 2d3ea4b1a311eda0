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

/// The 1-based line a syntax error points at.
fn error_line(text: &str) -> usize {
    match parse(text) {
        Err(PatchError::Syntax { line, .. }) => line,
        other => panic!("not a syntax error: {other:?}"),
    }
}

#[test]
fn syntax_errors_point_at_their_line() {
    assert_eq!(error_line("\n\nnot a patch\n"), 3);
    assert_eq!(
        error_line("*** Begin Patch\n*** Add File: a\n+x\n"),
        4,
        "missing End Patch: the line after the last"
    );
    assert_eq!(
        error_line("*** Begin Patch\n*** Add File: a\n+x\n*** Frob: b\n*** End Patch\n"),
        4
    );
    assert_eq!(
        error_line("*** Begin Patch\n*** Update File: a\n@@\n x\n?what\n*** End Patch\n"),
        5
    );
    assert_eq!(
        error_line("*** Begin Patch\n*** Update File: a\n*** End of File\n*** End Patch\n"),
        3,
        "End of File outside a hunk"
    );
    assert_eq!(
        error_line("*** Begin Patch\n*** Delete File: a\n*** Update File: b\n@@\n*** End Patch\n"),
        3,
        "an empty hunk: the Update line"
    );
    assert_eq!(
        error_line("*** Begin Patch\n*** Add File: a\n+x\n*** Update File: b\n*** End Patch\n"),
        4,
        "no hunks: the Update line"
    );
}

#[test]
fn the_grammar_in_full() {
    let text = "\n  \n*** Begin Patch\r
*** Add File: new.txt\r
+one\r
+\r
*** Delete File:  gone.txt \r
*** Update File: a.rs\r
*** Move to: b.rs\r
 first\r
-old\r
+new\r
\r
@@ fn anchor()\r
-x\r
+y\r
*** End of File\r
*** Update File: c.rs\r
*** Move to: d.rs\r
*** End Patch\r
";
    let patch = parse(text).unwrap();
    assert_eq!(
        patch.ops,
        [
            Operation::Add {
                path: "new.txt".into(),
                lines: vec!["one".into(), String::new()],
            },
            Operation::Delete {
                path: "gone.txt".into()
            },
            Operation::Update {
                path: "a.rs".into(),
                move_to: Some("b.rs".into()),
                hunks: vec![
                    Hunk {
                        anchor: None,
                        old: vec!["first".into(), "old".into(), String::new()],
                        new: vec!["first".into(), "new".into(), String::new()],
                        at_eof: false,
                    },
                    Hunk {
                        anchor: Some("fn anchor()".into()),
                        old: vec!["x".into()],
                        new: vec!["y".into()],
                        at_eof: true,
                    },
                ],
            },
            Operation::Update {
                path: "c.rs".into(),
                move_to: Some("d.rs".into()),
                hunks: vec![],
            },
        ]
    );
}

#[test]
fn anchors_match_trimmed_and_may_be_the_first_context_line() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    fs::write(d.join("f"), "fn a() {\n    x\n}\nfn b() {\n    x\n}\n").unwrap();
    // The anchor `fn b() {` is found; the hunk matches after it.
    run(
        d,
        "*** Begin Patch\n*** Update File: f\n@@ fn b() {\n-    x\n+    y\n*** End Patch\n",
    )
    .unwrap();
    assert_eq!(
        fs::read_to_string(d.join("f")).unwrap(),
        "fn a() {\n    x\n}\nfn b() {\n    y\n}\n"
    );
    // An anchor written without its indentation finds the indented line.
    fs::write(d.join("g"), "mod m {\n    fn c() {\n        1\n    }\n}\n").unwrap();
    run(
        d,
        "*** Begin Patch\n*** Update File: g\n@@ fn c() {\n-        1\n+        2\n*** End Patch\n",
    )
    .unwrap();
    assert_eq!(
        fs::read_to_string(d.join("g")).unwrap(),
        "mod m {\n    fn c() {\n        2\n    }\n}\n"
    );
    // The anchor line itself as the hunk's first context line.
    fs::write(d.join("h"), "start\nkey\nv\nkey\nw\n").unwrap();
    run(
        d,
        "*** Begin Patch\n*** Update File: h\n@@ key\n key\n-v\n+V\n*** End Patch\n",
    )
    .unwrap();
    assert_eq!(
        fs::read_to_string(d.join("h")).unwrap(),
        "start\nkey\nV\nkey\nw\n"
    );
    // Lines added right after an anchor go after it, not before.
    run(
        d,
        "*** Begin Patch\n*** Update File: h\n@@ start\n+added\n*** End Patch\n",
    )
    .unwrap();
    assert_eq!(
        fs::read_to_string(d.join("h")).unwrap(),
        "start\nadded\nkey\nV\nkey\nw\n"
    );
    // An anchor that is not there: no match, nothing written.
    let err = run(
        d,
        "*** Begin Patch\n*** Update File: h\n@@ absent\n-V\n+X\n*** End Patch\n",
    )
    .unwrap_err();
    assert!(err.to_string().contains("(@@ absent)"), "{err}");
}

#[test]
fn an_end_of_file_hunk_must_match_at_the_end_after_its_anchor() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    fs::write(d.join("f"), "a\nb\na\nb\n").unwrap();
    run(
        d,
        "*** Begin Patch\n*** Update File: f\n@@\n-a\n-b\n+c\n*** End of File\n*** End Patch\n",
    )
    .unwrap();
    assert_eq!(fs::read_to_string(d.join("f")).unwrap(), "a\nb\nc\n");
    // The end block starts before the anchor: no match.
    fs::write(d.join("g"), "x\ntail\nanchor\n").unwrap();
    assert!(matches!(
        run(
            d,
            "*** Begin Patch\n*** Update File: g\n@@ tail\n-x\n-tail\n-anchor\n*** End of File\n*** End Patch\n"
        ),
        Err(PatchError::NoMatch { .. })
    ));
    // Longer than the file: no match.
    assert!(matches!(
        run(
            d,
            "*** Begin Patch\n*** Update File: g\n@@\n-0\n-x\n-tail\n-anchor\n*** End of File\n*** End Patch\n"
        ),
        Err(PatchError::NoMatch { .. })
    ));
    assert_eq!(
        fs::read_to_string(d.join("g")).unwrap(),
        "x\ntail\nanchor\n"
    );
}

#[test]
fn the_final_newline_follows_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    fs::write(d.join("no-eol"), "a\nb").unwrap();
    fs::write(d.join("eol"), "a\nb\n").unwrap();
    fs::write(d.join("empty"), "").unwrap();
    fs::write(d.join("one"), "x\n").unwrap();
    run(
        d,
        "*** Begin Patch
*** Update File: no-eol
@@
-b
+c
*** Update File: eol
@@
-b
+c
*** Update File: empty
@@
+new
*** Update File: one
@@
-x
*** End Patch
",
    )
    .unwrap();
    assert_eq!(fs::read_to_string(d.join("no-eol")).unwrap(), "a\nc");
    assert_eq!(fs::read_to_string(d.join("eol")).unwrap(), "a\nc\n");
    assert_eq!(fs::read_to_string(d.join("empty")).unwrap(), "new\n");
    assert_eq!(fs::read_to_string(d.join("one")).unwrap(), "");
}

#[cfg(unix)]
#[test]
fn paths_may_name_the_current_directory_but_not_pass_through_files() {
    let tmp = tempfile::tempdir().unwrap();
    let d = fs::canonicalize(tmp.path()).unwrap();
    let applied = run(
        &d,
        "*** Begin Patch\n*** Add File: ./sub/./x.txt\n+x\n*** End Patch\n",
    )
    .unwrap();
    assert_eq!(applied.changes, [FileChange::Added(d.join("sub/x.txt"))]);
    // Through a regular file: the OS error, not a path made up past it.
    fs::write(d.join("file"), "f\n").unwrap();
    let err = run(
        &d,
        "*** Begin Patch\n*** Add File: file/inner/x.txt\n+x\n*** End Patch\n",
    )
    .unwrap_err();
    assert!(
        matches!(&err, PatchError::State { path, message } if path == "file/inner/x.txt" && message.contains("Not a directory")),
        "{err:?}"
    );
    // Through a dangling link: said so.
    std::os::unix::fs::symlink(d.join("nowhere"), d.join("dangling")).unwrap();
    let err = run(
        &d,
        "*** Begin Patch\n*** Add File: dangling/x.txt\n+x\n*** End Patch\n",
    )
    .unwrap_err();
    assert_eq!(
        err,
        PatchError::State {
            path: "dangling/x.txt".into(),
            message: "a symlink on the way points nowhere".into(),
        }
    );
}

#[test]
fn a_move_never_overwrites_and_a_policy_lets_allowed_paths_through() {
    use cordon_policy::{resolve, PolicyInputs, SandboxMode};
    let tmp = tempfile::tempdir().unwrap();
    let d = fs::canonicalize(tmp.path()).unwrap();
    fs::write(d.join("a"), "1\n").unwrap();
    fs::write(d.join("b"), "2\n").unwrap();
    let err = run(
        &d,
        "*** Begin Patch\n*** Update File: a\n*** Move to: b\n@@\n-1\n+3\n*** End Patch\n",
    )
    .unwrap_err();
    assert!(
        matches!(&err, PatchError::State { path, .. } if path == "b"),
        "{err:?}"
    );
    assert_eq!(fs::read_to_string(d.join("b")).unwrap(), "2\n");
    // Moving onto itself is an update in place.
    run(
        &d,
        "*** Begin Patch\n*** Update File: a\n*** Move to: ./a\n@@\n-1\n+3\n*** End Patch\n",
    )
    .unwrap();
    assert_eq!(fs::read_to_string(d.join("a")).unwrap(), "3\n");

    // The control for the policy refusals: the same policy allows its roots.
    let policy = resolve(&PolicyInputs {
        mode: SandboxMode::WorkspaceWrite,
        cwd: d.clone(),
        exclude_slash_tmp: true,
        exclude_tmpdir_env_var: true,
        ..Default::default()
    })
    .unwrap();
    let patch = parse(
        "*** Begin Patch\n*** Add File: ok.txt\n+x\n*** Update File: a\n*** Move to: c\n@@\n-3\n+4\n*** Delete File: b\n*** End Patch\n",
    )
    .unwrap();
    apply(&patch, &d, Some(&policy)).unwrap();
    assert_eq!(fs::read_to_string(d.join("ok.txt")).unwrap(), "x\n");
    assert_eq!(fs::read_to_string(d.join("c")).unwrap(), "4\n");
    assert!(!d.join("a").exists() && !d.join("b").exists());
}

#[test]
fn only_a_shell_running_a_script_is_read_as_a_heredoc_patch() {
    let script = "apply_patch <<'EOF'\n*** Begin Patch\n*** Delete File: a\n*** End Patch\nEOF\n";
    let argv = |parts: &[&str]| -> Vec<String> { parts.iter().map(|s| s.to_string()).collect() };
    // The script alone, or a shell (by name or path) with -c or -lc.
    for call in [
        argv(&[script]),
        argv(&["/bin/bash", "-c", script]),
        argv(&["zsh", "-lc", script]),
    ] {
        let (cd, text) = parse_heredoc_invocation(&call).unwrap();
        assert_eq!(cd, None);
        assert_eq!(text, "*** Begin Patch\n*** Delete File: a\n*** End Patch\n");
    }
    // Any other program or flag is a command like any other.
    for call in [
        argv(&["python3", "-c", script]),
        argv(&["bash", "-x", script]),
        argv(&["bash", script]),
        argv(&["bash", "-c", script, "extra"]),
    ] {
        assert!(parse_heredoc_invocation(&call).is_none(), "{call:?}");
    }
}
