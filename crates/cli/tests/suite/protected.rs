//! `.git` (top, nested, submodule gitdir via a `.git` file) and `.cordon`
//! stay read-only inside writable roots, whatever route a write takes.

use super::common::*;
use std::fs;
use std::path::Path;

const FA: &[&str] = &["--full-auto"];
/// Workspace-write without the discovery agent: the index answers.
const FA_INDEX: &[&str] = &["--full-auto", "-c", "discovery_agent=false"];

fn layout(root: &Path) {
    for dir in [".git/modules/sub", "vendor/nested/.git", ".cordon", "sub"] {
        fs::create_dir_all(root.join(dir)).unwrap();
    }
    fs::write(root.join("sub/.git"), "gitdir: ../.git/modules/sub\n").unwrap();
    fs::write(root.join("file"), "f").unwrap();
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn protected_directories_resist_every_route() {
    let w = World::new();
    let root = w.work();
    layout(&root);
    every_route(&w, &root, FA);
}

/// The discovery lines `RUST_LOG=debug` prints for the workspace root.
fn discovery_log(w: &World, root: &Path) -> String {
    let o = w
        .cordon_cmd(FA_INDEX, &["/bin/true"])
        .env("RUST_LOG", "debug")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let want = format!("discovery {}:", root.display());
    String::from_utf8_lossy(&o.stderr)
        .lines()
        .filter(|l| l.contains(&want))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Runs once, waits past the index's two-second window for recent
/// changes, and runs again: from then on the index is trusted for every
/// directory that does not change.
fn settle_index(w: &World, root: &Path) {
    assert!(discovery_log(w, root).contains("no index yet"));
    std::thread::sleep(std::time::Duration::from_millis(2100));
    discovery_log(w, root);
    let log = discovery_log(w, root);
    assert!(log.contains("index used"), "{log}");
}

/// The number of directories the last run read, from its log line.
fn dirs_read(log: &str) -> (usize, usize) {
    let words: Vec<&str> = log.split_whitespace().collect();
    let at = |w: &str| {
        let i = words.iter().position(|x| x.starts_with(w)).unwrap();
        words[i - 1].parse::<usize>().unwrap()
    };
    (at("directories"), at("read"))
}

/// The same escape suite with the index warm: every route stays shut.
#[test]
fn protected_directories_resist_every_route_with_the_index_warm() {
    let w = World::new();
    let root = w.work();
    layout(&root);
    for d in ["node_modules/a/b/c", "node_modules/d/e", "src/x/y"] {
        fs::create_dir_all(root.join(d)).unwrap();
    }
    settle_index(&w, &root);
    let (dirs, read) = dirs_read(&discovery_log(&w, &root));
    assert!(
        dirs >= 10 && read <= 2,
        "the index was not used: {dirs} {read}"
    );
    every_route(&w, &root, FA_INDEX);
}

/// A nested repository created (outside the sandbox) after the index was
/// written is protected in the next run; an ordinary directory created
/// beside it at the same time stays writable (the control).
#[test]
fn a_repository_created_after_the_index_was_written_is_protected() {
    let w = World::new();
    let root = w.work();
    fs::create_dir_all(root.join("node_modules/a/lib/deep")).unwrap();
    fs::create_dir_all(root.join("node_modules/b")).unwrap();
    settle_index(&w, &root);
    let repo = root.join("node_modules/a/lib/deep/repo");
    fs::create_dir_all(repo.join(".git")).unwrap();
    fs::create_dir_all(repo.join("notgit")).unwrap();
    fs::write(repo.join(".git/config"), "orig").unwrap();
    let log = discovery_log(&w, &root);
    assert!(log.contains("index used"), "{log}");
    let o = w.probe_in(FA_INDEX, &["append", s(&repo.join(".git/config"))]);
    assert_denied_errno(&o, libc::EROFS);
    assert_eq!(
        fs::read_to_string(repo.join(".git/config")).unwrap(),
        "orig"
    );
    assert_ok(&w.probe_in(FA_INDEX, &["write", s(&repo.join("notgit/config"))]));
}

fn every_route(w: &World, root: &Path, flags: &[&str]) {
    let protected = [".git", "vendor/nested/.git", ".git/modules/sub", ".cordon"];
    for (i, rel) in protected.iter().enumerate() {
        let p = root.join(rel);
        fs::write(p.join("config"), "orig").unwrap();
        // Positive control for each route: an ordinary directory beside it.
        let control = root.join(format!("control{i}"));
        fs::create_dir_all(&control).unwrap();
        fs::write(control.join("config"), "orig").unwrap();

        for (target, expect_ok) in [(&control, true), (&p, false)] {
            // Inside, the read-only bind mount answers: EROFS for writes
            // in it, EXDEV for a link out of it.
            let check = |o: &std::process::Output, what: &str, errno: i32| {
                if expect_ok {
                    assert!(
                        o.status.success(),
                        "{what} in {}: {}",
                        target.display(),
                        text(o)
                    );
                } else {
                    assert_denied_errno(o, errno);
                }
            };
            check(
                &w.probe_in(flags, &["write", s(&target.join("new"))]),
                "write new",
                libc::EROFS,
            );
            check(
                &w.probe_in(flags, &["append", s(&target.join("config"))]),
                "append",
                libc::EROFS,
            );
            // Through a symlink the command creates itself.
            let link = root.join(format!("link{i}-{expect_ok}"));
            assert_ok(&w.probe_in(flags, &["symlink", s(&target.join("config")), s(&link)]));
            check(
                &w.probe_in(flags, &["append", s(&link)]),
                "append via symlink",
                libc::EROFS,
            );
            // Hard links into it, and out of it.
            check(
                &w.probe_in(
                    flags,
                    &["hardlink", s(&root.join("file")), s(&target.join("linked"))],
                ),
                "hardlink into",
                libc::EROFS,
            );
            let out = root.join(format!("out{i}-{expect_ok}"));
            check(
                &w.probe_in(flags, &["hardlink", s(&target.join("config")), s(&out)]),
                "hardlink out",
                libc::EXDEV,
            );
        }
        assert_eq!(
            fs::read_to_string(p.join("config")).unwrap(),
            "orig",
            "{rel} changed"
        );
        assert!(!p.join("new").exists() && !p.join("linked").exists());

        // Renamed away, or swapped for a symlink (RENAME_EXCHANGE, which
        // unlike a plain rename onto a directory works on a symlink and a
        // directory). A mount point cannot move (EBUSY); one nested in
        // another protected mount cannot leave it (EXDEV).
        let moving = if *rel == ".git/modules/sub" {
            libc::EXDEV
        } else {
            libc::EBUSY
        };
        let moved = root.join(format!("moved{i}"));
        assert_ok(&w.probe_in(flags, &["rename", s(&control), s(&moved)]));
        assert_denied_errno(
            &w.probe_in(
                flags,
                &["rename", s(&p), s(&root.join(format!("stolen{i}")))],
            ),
            moving,
        );
        let evil = root.join(format!("evil{i}"));
        assert_ok(&w.probe_in(flags, &["symlink", "/tmp", s(&evil)]));
        // Control: an ordinary directory is swapped for the link, and back.
        assert_ok(&w.probe_in(flags, &["rename-exchange", s(&evil), s(&moved)]));
        assert!(moved.is_symlink(), "control: the swap took place");
        assert_ok(&w.probe_in(flags, &["rename-exchange", s(&evil), s(&moved)]));
        assert_denied_errno(
            &w.probe_in(flags, &["rename-exchange", s(&evil), s(&p)]),
            moving,
        );
        assert!(p.is_dir() && !p.is_symlink(), "{rel} was replaced");
    }
}

#[test]
fn a_git_file_is_protected() {
    let w = World::new();
    let root = w.work();
    layout(&root);
    fs::remove_dir_all(root.join(".cordon")).unwrap();
    let gitfile = root.join("sub/.git");
    assert_denied(&w.probe_in(FA, &["append", s(&gitfile)]));
    assert_denied(&w.probe_in(FA, &["rename", s(&gitfile), s(&root.join("sub/gitfile"))]));
    assert_eq!(
        fs::read_to_string(&gitfile).unwrap(),
        "gitdir: ../.git/modules/sub\n"
    );
    // Control: an ordinary file beside it.
    assert_ok(&w.probe_in(FA, &["append", s(&root.join("file"))]));
}

/// A workspace with no `.git` and no `.cordon`: neither can be created at
/// the root itself, nor anything in them. Control: under danger-full-access
/// (no placeholders) each of these works.
#[test]
fn missing_top_git_and_cordon_cannot_be_made() {
    let fresh = World::new();
    let r = fresh.work();
    let dfa = &["-s", "danger-full-access"][..];
    for name in [".git", ".cordon"] {
        assert_ok(&fresh.probe_in(dfa, &["mkdir", s(&r.join(name))]));
        assert_ok(&fresh.probe_in(dfa, &["write", s(&r.join(name).join("config"))]));
        fs::remove_dir_all(r.join(name)).unwrap();
        fs::create_dir(r.join(format!("{name}-made"))).unwrap();
        assert_ok(&fresh.probe_in(
            dfa,
            &[
                "rename",
                s(&r.join(format!("{name}-made"))),
                s(&r.join(name)),
            ],
        ));
        fs::remove_dir_all(r.join(name)).unwrap();
    }
    assert_ok(&fresh.probe_in(FA, &["mkdir", s(&r.join(".gitx"))]));
    fs::create_dir(r.join("made")).unwrap();
    for name in [".git", ".cordon"] {
        // A read-only placeholder stands there during the run.
        assert_denied_errno(
            &fresh.probe_in(FA, &["mkdir", s(&r.join(name))]),
            libc::EEXIST,
        );
        assert_denied_errno(
            &fresh.probe_in(FA, &["write", s(&r.join(name).join("config"))]),
            libc::EROFS,
        );
        assert_denied_errno(
            &fresh.probe_in(FA, &["mkdir", s(&r.join(name).join("hooks"))]),
            libc::EROFS,
        );
        assert_denied_errno(
            &fresh.probe_in(FA, &["rename", s(&r.join("made")), s(&r.join(name))]),
            libc::EBUSY,
        );
        assert_denied_errno(
            &fresh.probe_in(FA, &["remove-dir-all", s(&r.join(name))]),
            libc::EBUSY,
        );
    }
    assert_denied_errno(
        &fresh.probe_in(FA, &["write", s(&r.join(".cordon/config.toml"))]),
        libc::EROFS,
    );
    // What stood in for them is gone after the run.
    assert!(!r.join(".git").exists() && !r.join(".cordon").exists());
}

/// Placeholders go away after the run, but never while another run that
/// relies on them is still going.
#[test]
fn placeholders_are_removed_only_when_no_run_uses_them() {
    let w = World::new();
    let r = w.work();
    let long = w
        .cordon_cmd(
            FA,
            &["sh", "-c", &format!("sleep 1.5; {PROBE} mkdir .git/hooks")],
        )
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while !r.join(".git").exists() {
        assert!(start.elapsed().as_secs() < 10, "the long run never started");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    // A short run in the same workspace ends first...
    assert_ok(&w.probe_in(FA, &["write", s(&r.join("short"))]));
    assert!(
        r.join(".git").is_dir(),
        "removed while the long run still uses it"
    );
    // ...and the long run stays protected to its end.
    assert_denied(&long.wait_with_output().unwrap());
    assert!(
        !r.join(".git").exists() && !r.join(".cordon").exists(),
        "left behind"
    );
}

/// A sandboxed command can flock an empty `.git` that its own run does not
/// hold (its own run holds every one it protects); a run that needs it then
/// refuses after a short wait instead of hanging or running unprotected.
#[test]
fn an_empty_git_locked_from_another_sandbox_makes_a_run_refuse_not_hang() {
    use std::io::BufRead;
    let w = World::new();
    let r = w.work();
    fs::create_dir(r.join(".git")).unwrap();
    let script = format!(
        "import fcntl, os, sys, time\nfd = os.open({:?}, os.O_RDONLY)\nfcntl.flock(fd, fcntl.LOCK_EX)\nprint('locked', flush=True)\ntime.sleep(4)\n",
        r.join(".git").to_str().unwrap()
    );
    // Read-only: this run protects nothing, so it holds no lock itself.
    let mut holder = w
        .cordon_cmd(&[], &["python3", "-c", &script])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(holder.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "locked");
    let out = w.probe_in(FA, &["write", s(&r.join("second"))]);
    assert_eq!(out.status.code(), Some(125), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("holds it exclusively"),
        "{}",
        text(&out)
    );
    assert!(!r.join("second").exists());
    holder.wait().unwrap();
    // Control: with the holder gone, the same run works.
    assert_ok(&w.probe_in(FA, &["write", s(&r.join("second"))]));
}

/// Issue 10 item 7: a symlinked `.git` planted by one run (here under a
/// writable root, as `mkdir /tmp/x; ln -s /nowhere /tmp/x/.git` would be)
/// never makes a later run refuse: that directory is held read-only with a
/// warning and the rest of the root stays writable.
#[test]
fn a_planted_symlinked_git_holds_its_directory_and_later_runs_go_on() {
    let w = World::new();
    let root = w.work();
    let d = root.join("d");
    assert_ok(&w.probe_in(FA, &["mkdir", s(&d)]));
    // Positive control: before the link, the directory is writable.
    assert_ok(&w.probe_in(FA, &["write", s(&d.join("before"))]));
    assert_ok(&w.probe_in(FA, &["symlink", "/nowhere", s(&d.join(".git"))]));
    let later = w.probe_in(FA, &["write", s(&root.join("after"))]);
    assert_ok(&later);
    let err = String::from_utf8_lossy(&later.stderr);
    assert!(
        err.contains("d/.git is a symlink") && err.contains("stays read-only"),
        "{err}"
    );
    assert_denied_errno(&w.probe_in(FA, &["write", s(&d.join("new"))]), 30);
    // The link cannot be swapped for a real directory either.
    assert_denied_errno(
        &w.probe_in(FA, &["rename", s(&d.join(".git")), s(&d.join("moved"))]),
        30,
    );
    assert!(d.join(".git").is_symlink());
}

/// Issue 10 item 5: `$CORDON_HOME/memories` is a writable root, and like
/// every root its top `.git` and `.cordon` cannot be made (a later `git
/// status` there would run a planted `core.fsmonitor`); cordon keeps them
/// there as empty directories, read-only inside.
#[test]
fn memories_cannot_grow_a_git_directory() {
    let w = World::new();
    let memories = w.home.path().join("memories");
    fs::create_dir_all(&memories).unwrap();
    let memories = fs::canonicalize(memories).unwrap();
    // Positive control: notes are writable, and so is an ordinary directory.
    assert_ok(&w.probe_in(FA, &["write", s(&memories.join("note.md"))]));
    assert_ok(&w.probe_in(FA, &["mkdir", s(&memories.join("gitx"))]));
    for errno_of in [
        w.probe_in(FA, &["mkdir", s(&memories.join(".git/hooks"))]),
        w.probe_in(FA, &["write", s(&memories.join(".git/config"))]),
        w.probe_in(FA, &["write", s(&memories.join(".cordon/config.toml"))]),
    ] {
        assert_denied_errno(&errno_of, libc::EROFS);
    }
    // They stay empty directories of cordon's own, kept between runs.
    for name in [".git", ".cordon"] {
        let dir = memories.join(name);
        assert!(
            dir.is_dir() && !dir.is_symlink(),
            "{} is not a directory",
            dir.display()
        );
        assert_eq!(
            fs::read_dir(&dir).unwrap().count(),
            0,
            "{} is not empty",
            dir.display()
        );
    }
}

/// Issue 10 item 8: `SIGKILL` of `cordon sandbox` leaves its placeholders
/// (the control: they are there after the kill); the next run removes the
/// ones it can prove are cordon's (empty, marked, unlocked) and still keeps
/// `.git` from being created. An empty `.git` the user made is left alone.
#[test]
fn placeholders_a_killed_run_left_are_removed_by_the_next_run() {
    let w = World::new();
    let r = w.work();
    let mut child = w.cordon_cmd(FA, &["sleep", "30"]).spawn().unwrap();
    let start = std::time::Instant::now();
    while !(r.join(".git").exists() && r.join(".cordon").exists()) {
        assert!(start.elapsed().as_secs() < 10, "no placeholders appeared");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    child.wait().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(
        r.join(".git").is_dir() && r.join(".cordon").is_dir(),
        "control: a killed run leaves its placeholders"
    );
    let doctor = std::process::Command::new(CORDON)
        .args(["sandbox", "doctor", "--json"])
        .current_dir(&r)
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&doctor.stdout).unwrap();
    // Other tests running now may leave their own (under /tmp, a root of
    // every workspace-write run): only this workspace's are compared.
    let listed: Vec<&str> = report["stale_placeholders"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .filter(|p| Path::new(p).starts_with(&r))
        .collect();
    assert_eq!(
        listed,
        [s(&r.join(".git")), s(&r.join(".cordon"))],
        "doctor lists them"
    );
    assert_denied_errno(
        &w.probe_in(FA, &["write", s(&r.join(".git/config"))]),
        libc::EROFS,
    );
    assert!(
        !r.join(".git").exists() && !r.join(".cordon").exists(),
        "the next run removed the stale placeholders"
    );
    // An empty .git the user made is not cordon's: it stays.
    fs::create_dir(r.join(".git")).unwrap();
    assert_ok(&w.probe_in(FA, &["write", s(&r.join("file"))]));
    assert!(r.join(".git").is_dir(), "a user's empty .git was removed");
}
