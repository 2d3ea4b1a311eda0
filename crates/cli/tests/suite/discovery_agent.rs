//! The per-user discovery agent: one-shot runs start it and take each
//! root's protected set from it; whatever goes wrong with it (a planted
//! link or a foreign socket at its name, the agent killed), a run still
//! protects every `.git` (it discovers for itself).

use super::common::*;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Workspace-write with the workspace the only root besides `memories`
/// (no `/tmp`, whose size the test does not control).
const WW: &[&str] = &[
    "--full-auto",
    "-c",
    "sandbox_workspace_write.exclude_slash_tmp=true",
    "-c",
    "sandbox_workspace_write.exclude_tmpdir_env_var=true",
];

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Runs `/bin/true` and returns the discovery line for `root`.
fn discovery_log(w: &World, root: &Path) -> String {
    let o = w
        .cordon_cmd(WW, &["/bin/true"])
        .env("RUST_LOG", "debug")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let want = format!("discovery {}:", root.display());
    String::from_utf8_lossy(&o.stderr)
        .lines()
        .filter(|l| l.contains(&want) || l.contains("discovery agent"))
        .collect::<Vec<_>>()
        .join("\n")
}

const FROM_AGENT: &str = "the discovery agent's set";

/// Runs until the agent answers for `root` (it starts watching a root
/// after the first question about it).
fn until_the_agent_answers(w: &World, root: &Path) {
    let mut log = String::new();
    for _ in 0..50 {
        log = discovery_log(w, root);
        if log.contains(FROM_AGENT) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("the agent never answered: {log}");
}

/// The pid of the agent serving `home`, from `/proc`.
fn agent_pid(home: &Path) -> Option<i32> {
    let want = format!("discovery-agent\0--home\0{}\0", home.display());
    fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: i32 = e.file_name().to_str()?.parse().ok()?;
        let cmdline = fs::read(e.path().join("cmdline")).ok()?;
        String::from_utf8_lossy(&cmdline)
            .contains(&want)
            .then_some(pid)
    })
}

fn wait_for_agent(home: &Path, not: Option<i32>) -> i32 {
    for _ in 0..100 {
        if let Some(pid) = agent_pid(home).filter(|p| Some(*p) != not) {
            return pid;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("no discovery agent for {}", home.display());
}

/// `cordon doctor --json`'s discovery check: status and detail.
fn doctor(home: &Path) -> (String, String) {
    let o = std::process::Command::new(CORDON)
        .args(["doctor", "--json"])
        .env("CORDON_HOME", home)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let c = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "discovery")
        .unwrap_or_else(|| panic!("no discovery check: {v}"))
        .clone();
    (
        c["status"].as_str().unwrap().to_string(),
        format!("{} {}", c["detail"], c["fix"]),
    )
}

/// Stops the agent of `home` (the test's own; it would also leave once
/// the home is gone).
fn stop_agent(home: &Path) {
    if let Some(pid) = agent_pid(home) {
        // SAFETY: kill has no memory preconditions.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
}

/// A nested repository and an ordinary directory beside it, created
/// between two runs: the repository is read-only in the second run, the
/// directory writable (the control). Returns the protected run's
/// discovery log.
fn check_new_repository(w: &World, root: &Path, name: &str) -> String {
    let repo = root.join(format!("node_modules/a/lib/{name}"));
    fs::create_dir_all(repo.join(".git")).unwrap();
    fs::create_dir_all(repo.join("notgit")).unwrap();
    fs::write(repo.join(".git/config"), "orig").unwrap();
    let o = w
        .cordon_cmd(WW, &[PROBE, "append", s(&repo.join(".git/config"))])
        .env("RUST_LOG", "debug")
        .output()
        .unwrap();
    assert_denied_errno(&o, libc::EROFS);
    assert_eq!(
        fs::read_to_string(repo.join(".git/config")).unwrap(),
        "orig"
    );
    assert_ok(&w.probe_in(WW, &["write", s(&repo.join("notgit/config"))]));
    String::from_utf8_lossy(&o.stderr)
        .lines()
        .filter(|l| l.contains("discovery"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn tree(root: &Path) {
    for d in ["node_modules/a/lib/deep", "node_modules/b/c", "src/x"] {
        fs::create_dir_all(root.join(d)).unwrap();
    }
}

/// With the agent answering, a nested `.git` created between two
/// one-shot runs is protected in the second: the agent takes in every
/// event queued before it answers.
#[test]
fn with_the_agent_a_repository_created_between_two_runs_is_protected() {
    let w = World::new();
    let root = w.work();
    tree(&root);
    until_the_agent_answers(&w, &root);
    wait_for_agent(w.home.path(), None);
    for i in 0..3 {
        let log = check_new_repository(&w, &root, &format!("repo{i}"));
        assert!(log.contains(FROM_AGENT), "{log}");
    }
    let pid = wait_for_agent(w.home.path(), None);
    let (status, detail) = doctor(w.home.path());
    assert_eq!(status, "ok");
    assert!(
        detail.contains(&format!("agent running (pid {pid})")),
        "{detail}"
    );
    stop_agent(w.home.path());
}

/// A symlink planted at the socket's name (to a live socket the test
/// listens on) is not followed: the run says so, discovers for itself,
/// protects a new repository; nothing connects to the link's target.
/// A socket owned by another user (as root) is refused the same way.
#[test]
fn a_planted_link_or_foreign_socket_is_refused_and_the_run_discovers_itself() {
    let w = World::new();
    let root = w.work();
    tree(&root);
    let dir = w.home.path().join("discovery");
    fs::create_dir_all(&dir).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
    let target = w.outside().join("live.sock");
    let listener = std::os::unix::net::UnixListener::bind(&target).unwrap();
    listener.set_nonblocking(true).unwrap();
    // Control: the target is a live socket anyone of ours reaches.
    let control = std::os::unix::net::UnixStream::connect(&target).unwrap();
    assert!(listener.accept().is_ok(), "control: the target accepts");
    drop(control);
    std::os::unix::fs::symlink(&target, dir.join("agent.sock")).unwrap();
    let log = discovery_log(&w, &root);
    assert!(
        log.contains("discovery agent refused: agent.sock is not a socket"),
        "{log}"
    );
    assert!(!log.contains(FROM_AGENT), "{log}");
    check_new_repository(&w, &root, "behind-link");
    assert!(
        matches!(listener.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "a run connected through the planted link"
    );
    assert!(
        dir.join("agent.sock").is_symlink(),
        "the link is left alone"
    );
    assert!(agent_pid(w.home.path()).is_none(), "no agent was started");

    if skip_without("root", is_root(), "chown of the socket to another user") {
        return;
    }
    fs::remove_file(dir.join("agent.sock")).unwrap();
    let foreign = std::os::unix::net::UnixListener::bind(dir.join("agent.sock")).unwrap();
    foreign.set_nonblocking(true).unwrap();
    std::os::unix::fs::chown(dir.join("agent.sock"), Some(65534), None).unwrap();
    assert_eq!(fs::metadata(dir.join("agent.sock")).unwrap().uid(), 65534);
    let log = discovery_log(&w, &root);
    assert!(
        log.contains("discovery agent refused: agent.sock is owned by uid 65534"),
        "{log}"
    );
    check_new_repository(&w, &root, "behind-foreign");
    assert!(
        matches!(foreign.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "a run connected to the foreign socket"
    );
}

/// The agent killed: its socket is left with nobody listening; the next
/// run discovers for itself (correctly) and starts a new agent, which
/// answers the runs after.
#[test]
fn the_agent_killed_the_next_run_is_correct_and_starts_another() {
    let w = World::new();
    let root = w.work();
    tree(&root);
    until_the_agent_answers(&w, &root);
    let first = wait_for_agent(w.home.path(), None);
    // SAFETY: kill has no memory preconditions; the pid is the test's agent.
    assert_eq!(unsafe { libc::kill(first, libc::SIGKILL) }, 0);
    // Dead means reaped or a zombie: its descriptors (the socket) are
    // closed by then (its command line goes earlier).
    let gone = (0..100).any(|_| {
        std::thread::sleep(Duration::from_millis(20));
        fs::read_to_string(format!("/proc/{first}/stat")).map_or(true, |st| {
            st.rsplit(')').next().unwrap().trim_start().starts_with('Z')
        })
    });
    assert!(gone, "the agent did not die");
    let socket: PathBuf = w.home.path().join("discovery/agent.sock");
    assert!(socket.exists(), "the dead agent's socket is left behind");
    let log = check_new_repository(&w, &root, "after-kill");
    assert!(log.contains("not running"), "{log}");
    assert!(!log.contains(FROM_AGENT), "{log}");
    let second = wait_for_agent(w.home.path(), Some(first));
    assert_ne!(first, second);
    until_the_agent_answers(&w, &root);
    let log = check_new_repository(&w, &root, "new-agent");
    assert!(log.contains(FROM_AGENT), "{log}");
    stop_agent(w.home.path());
}

/// `discovery_agent = false`: no agent is started, runs use the index.
#[test]
fn discovery_agent_false_starts_no_agent() {
    let w = World::new();
    let root = w.work();
    tree(&root);
    fs::write(
        w.home.path().join("config.toml"),
        "discovery_agent = false\n",
    )
    .unwrap();
    for _ in 0..3 {
        let log = discovery_log(&w, &root);
        assert!(!log.contains("discovery agent"), "{log}");
    }
    std::thread::sleep(Duration::from_millis(200));
    assert!(agent_pid(w.home.path()).is_none());
    // Control: without the key, the next run starts one.
    fs::remove_file(w.home.path().join("config.toml")).unwrap();
    discovery_log(&w, &root);
    wait_for_agent(w.home.path(), None);
    stop_agent(w.home.path());
}

/// The root's parent renamed away and made again, with a repository in
/// the new root: nothing the agent watches sees an event, yet the next run
/// protects the new repository (the agent reads a root whose path names
/// another directory again, and its set carries the root it read, which
/// the run's pin would not match). Control: the new root's ordinary
/// directory is writable.
#[test]
fn a_root_made_again_under_a_renamed_parent_is_not_answered_from_the_old_tree() {
    let w = World::new();
    let base = w.work();
    let root = base.join("p/ws");
    // With both at its top a run makes no placeholders there, whose events
    // would send the agent to the root anyway.
    let top = |root: &Path| {
        tree(root);
        fs::create_dir_all(root.join(".git")).unwrap();
        fs::create_dir_all(root.join(".cordon")).unwrap();
    };
    top(&root);
    let run = |cmd: &[&str]| {
        std::process::Command::new(CORDON)
            .arg("sandbox")
            .args(WW)
            .arg("--")
            .args(cmd)
            .current_dir(base.join("p/ws"))
            .env("CORDON_HOME", w.home.path())
            .env("RUST_LOG", "debug")
            .output()
            .unwrap()
    };
    let mut answered = false;
    for _ in 0..50 {
        let o = run(&["/bin/true"]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        if String::from_utf8_lossy(&o.stderr).contains(FROM_AGENT) {
            answered = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(answered, "the agent never answered");
    fs::rename(base.join("p"), base.join("p-old")).unwrap();
    top(&root);
    let repo = root.join("node_modules/a/lib/deep/repo");
    fs::create_dir_all(repo.join(".git")).unwrap();
    fs::create_dir_all(repo.join("notgit")).unwrap();
    fs::write(repo.join(".git/config"), "orig").unwrap();
    let o = run(&[PROBE, "append", s(&repo.join(".git/config"))]);
    assert_denied_errno(&o, libc::EROFS);
    assert_eq!(
        fs::read_to_string(repo.join(".git/config")).unwrap(),
        "orig"
    );
    assert_ok(&run(&[PROBE, "write", s(&repo.join("notgit/config"))]));
    stop_agent(w.home.path());
}

/// A launcher that writes nothing under `$CORDON_HOME`
/// (`--discovery-index-read-only`, an ephemeral session's) starts no agent,
/// but asks one that runs (a session whose own watch could not start
/// takes its answers), and still protects a new repository.
#[test]
fn a_read_only_launcher_asks_a_running_agent_but_starts_none() {
    let w = World::new();
    let root = w.work();
    tree(&root);
    let ro: Vec<&str> = WW
        .iter()
        .copied()
        .chain(["--discovery-index-read-only"])
        .collect();
    let log = |w: &World| {
        let o = w
            .cordon_cmd(&ro, &["/bin/true"])
            .env("RUST_LOG", "debug")
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    // The directory exists (as after any earlier run), no agent runs.
    fs::create_dir_all(w.home.path().join("discovery")).unwrap();
    fs::set_permissions(
        w.home.path().join("discovery"),
        fs::Permissions::from_mode(0o700),
    )
    .unwrap();
    for _ in 0..2 {
        let l = log(&w);
        assert!(
            !l.contains("starting one") && !l.contains(FROM_AGENT),
            "{l}"
        );
    }
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        agent_pid(w.home.path()).is_none(),
        "a read-only run started an agent"
    );
    // Control: an ordinary run starts one; then the read-only runs use it.
    until_the_agent_answers(&w, &root);
    let l = log(&w);
    assert!(l.contains(FROM_AGENT), "{l}");
    let repo = root.join("node_modules/b/c/repo");
    fs::create_dir_all(repo.join(".git")).unwrap();
    fs::write(repo.join(".git/config"), "orig").unwrap();
    let mut cmd = vec![PROBE, "append"];
    let target = repo.join(".git/config");
    cmd.push(s(&target));
    let o = w
        .cordon_cmd(&ro, &cmd)
        .env("RUST_LOG", "debug")
        .output()
        .unwrap();
    assert_denied_errno(&o, libc::EROFS);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains(FROM_AGENT),
        "{}",
        text(&o)
    );
    stop_agent(w.home.path());
}
