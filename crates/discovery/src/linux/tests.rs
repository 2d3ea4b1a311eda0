#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::index_file::{self, Ignored};
use super::*;
use std::fs;
use std::os::unix::fs::PermissionsExt;

/// A store whose every `ctime` is old enough to trust (the tests change
/// the tree right after indexing it; the kernel's fine-grained stamps on
/// a stat'ed directory keep the change visible).
fn store_at(home: &Path) -> IndexStore {
    let mut store = IndexStore::open(Some(home), &[]);
    assert!(store.disabled().is_none(), "{:?}", store.disabled());
    store.racy_window_s = -1;
    store
}

fn tree(root: &Path) {
    for d in [
        "node_modules/a/lib/deep",
        "node_modules/b/dist",
        "vendor/repo/.git/objects",
        "vendor/repo/src",
        "pkgs/one/two/three/four",
        "wt",
        "store/repo.git",
        "x/.cordon",
    ] {
        fs::create_dir_all(root.join(d)).unwrap();
    }
    fs::create_dir_all(root.join(".git/modules/sub")).unwrap();
    fs::create_dir_all(root.join("sub")).unwrap();
    fs::write(root.join("sub/.git"), "gitdir: ../.git/modules/sub\n").unwrap();
    std::os::unix::fs::symlink(root.join("store/repo.git"), root.join("pkgs/one/.git")).unwrap();
}

fn setup() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let tmp = tempfile::tempdir_in("/var/tmp").unwrap();
    let base = fs::canonicalize(tmp.path()).unwrap();
    let (home, root) = (base.join("home"), base.join("root"));
    fs::create_dir(&home).unwrap();
    fs::create_dir(&root).unwrap();
    tree(&root);
    (tmp, home, root)
}

#[test]
fn the_index_answers_what_the_plain_walk_does_and_reads_only_changed_directories() {
    let (_tmp, home, root) = setup();
    let store = store_at(&home);
    let (first, report) = store.discover_report(&root, &[]);
    assert_eq!(first, discover_protected(&root, &[]));
    assert_eq!(report.ignored, Some(Ignored::Missing));
    assert!(report.written);
    let dirs = report.stats.dirs;
    assert_eq!(report.stats.read, dirs);

    // Unchanged: nothing is read, nothing rewritten.
    let (again, report) = store.discover_report(&root, &[]);
    assert_eq!(again, first);
    assert_eq!(report.ignored, None);
    assert_eq!((report.stats.read, report.written), (0, false));

    // A repository created deep inside after the index was written.
    fs::create_dir_all(root.join("node_modules/a/lib/deep/.git")).unwrap();
    let (found, report) = store.discover_report(&root, &[]);
    assert_eq!(found, discover_protected(&root, &[]));
    assert!(found
        .protected
        .iter()
        .any(|p| p.path == root.join("node_modules/a/lib/deep/.git")));
    assert_eq!(report.stats.read, 1, "only the changed directory is read");
    assert!(
        !report.written,
        "a few directories read again are not worth a rewrite"
    );
    let (_, report) = store.discover_report(&root, &[]);
    assert_eq!(
        report.stats.read, 1,
        "read again until the index is rewritten"
    );

    // Many new directories: the index is rewritten with them.
    for i in 0..80 {
        fs::create_dir_all(root.join(format!("node_modules/new{i}"))).unwrap();
    }
    let (found, report) = store.discover_report(&root, &[]);
    assert_eq!(found, discover_protected(&root, &[]));
    assert!(report.written && report.stats.read > 80, "{report:?}");
    let (_, report) = store.discover_report(&root, &[]);
    assert_eq!(report.stats.read, 0);

    // A .git file's pointer changes with no directory changing: it is
    // evaluated again.
    fs::create_dir_all(root.join(".git/modules/other")).unwrap();
    fs::write(root.join("sub/.git"), "gitdir: ../.git/modules/other\n").unwrap();
    let (found, _) = store.discover_report(&root, &[]);
    assert_eq!(found, discover_protected(&root, &[]));
    assert!(found
        .protected
        .iter()
        .any(|p| p.path == root.join(".git/modules/other")));

    // A directory renamed, a subtree removed, a symlink swapped in.
    fs::rename(root.join("vendor/repo"), root.join("vendor/moved")).unwrap();
    fs::remove_dir_all(root.join("node_modules/b")).unwrap();
    fs::remove_dir_all(root.join("pkgs/one/two")).unwrap();
    std::os::unix::fs::symlink(root.join("vendor"), root.join("pkgs/one/two")).unwrap();
    let (found, _) = store.discover_report(&root, &[]);
    assert_eq!(found, discover_protected(&root, &[]));
}

#[test]
fn nested_roots_are_skipped_and_a_different_skip_ignores_the_index() {
    let (_tmp, home, root) = setup();
    let store = store_at(&home);
    let skip = vec![root.join("vendor")];
    let (found, _) = store.discover_report(&root, &skip);
    assert_eq!(found, discover_protected(&root, &skip));
    assert!(!found
        .protected
        .iter()
        .any(|p| p.path.starts_with(root.join("vendor"))));
    let (found, report) = store.discover_report(&root, &[]);
    assert_eq!(report.ignored, Some(Ignored::OtherRoot));
    assert_eq!(found, discover_protected(&root, &[]));
}

#[test]
fn unreadable_directories_are_read_again_every_time() {
    let (_tmp, home, root) = setup();
    let store = store_at(&home);
    let hidden = root.join("pkgs/hidden");
    fs::create_dir_all(hidden.join("repo")).unwrap();
    fs::set_permissions(&hidden, fs::Permissions::from_mode(0o311)).unwrap();
    let (found, _) = store.discover_report(&root, &[]);
    assert_eq!(found, discover_protected(&root, &[]));
    fs::set_permissions(&hidden, fs::Permissions::from_mode(0o755)).unwrap();
    fs::create_dir_all(hidden.join("repo/.git")).unwrap();
    let (found, _) = store.discover_report(&root, &[]);
    assert_eq!(found, discover_protected(&root, &[]));
    assert!(found
        .protected
        .iter()
        .any(|p| p.path == hidden.join("repo/.git")));
}

/// The index on disk, with `dir`'s `.git` entry left out: a valid file
/// (checksum and all) that would hide the repository if it were trusted.
fn poison(home: &Path, root: &Path, dir: &str) -> PathBuf {
    let path = home.join("discovery").join(index_file::file_name(root));
    let mut tree = index_file::decode(&fs::read(&path).unwrap()).unwrap();
    let want = root.join(dir);
    let node = (0..tree.nodes.len() as u32)
        .find(|&i| tree.path_of(i) == want)
        .unwrap();
    tree.nodes[node as usize].specials.1 = 0;
    fs::write(&path, index_file::encode(&tree)).unwrap();
    path
}

fn finds(found: &Discovery, path: &Path) -> bool {
    found.protected.iter().any(|p| p.path == path)
}

#[test]
fn a_poisoned_index_hides_a_repository_only_when_trusted_and_is_ignored_when_not() {
    let (_tmp, home, root) = setup();
    let store = store_at(&home);
    let repo = root.join("vendor/repo/.git");
    store.discover_report(&root, &[]);
    let file = poison(&home, &root, "vendor/repo");

    // Control: a well-formed index of the user's, mode 0600, is trusted:
    // this is what the checks below stand between.
    let (found, report) = store.discover_report(&root, &[]);
    assert_eq!(report.ignored, None);
    assert!(
        !finds(&found, &repo),
        "the control must show the poison works"
    );

    // Group-writable: ignored and rebuilt.
    poison(&home, &root, "vendor/repo");
    fs::set_permissions(&file, fs::Permissions::from_mode(0o620)).unwrap();
    let (found, report) = store.discover_report(&root, &[]);
    assert!(
        matches!(report.ignored, Some(Ignored::Untrusted(_))),
        "{report:?}"
    );
    assert!(finds(&found, &repo));
    assert!(report.written);
    assert_eq!(
        fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );

    // World-writable.
    poison(&home, &root, "vendor/repo");
    fs::set_permissions(&file, fs::Permissions::from_mode(0o602)).unwrap();
    let (found, report) = store.discover_report(&root, &[]);
    assert!(
        matches!(report.ignored, Some(Ignored::Untrusted(_))),
        "{report:?}"
    );
    assert!(finds(&found, &repo));

    // Owned by someone else (only root can arrange it).
    if sys::euid() == 0 {
        poison(&home, &root, "vendor/repo");
        std::os::unix::fs::chown(&file, Some(65534), Some(65534)).unwrap();
        let (found, report) = store.discover_report(&root, &[]);
        assert!(
            matches!(report.ignored, Some(Ignored::Untrusted(_))),
            "{report:?}"
        );
        assert!(finds(&found, &repo));
    } else {
        println!("skip: foreign-owned index (needs root to chown)");
    }

    // A symlink in its place is not followed.
    let elsewhere = home.join("elsewhere.idx");
    poison(&home, &root, "vendor/repo");
    fs::rename(&file, &elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &file).unwrap();
    let (found, report) = store.discover_report(&root, &[]);
    assert!(
        matches!(report.ignored, Some(Ignored::Unreadable(_))),
        "{report:?}"
    );
    assert!(finds(&found, &repo));
    assert!(!fs::symlink_metadata(&file)
        .unwrap()
        .file_type()
        .is_symlink());
}

#[test]
fn corrupt_truncated_foreign_root_and_other_versions_are_ignored() {
    let (_tmp, home, root) = setup();
    let store = store_at(&home);
    let repo = root.join("vendor/repo/.git");
    store.discover_report(&root, &[]);
    let poisoned = fs::read(poison(&home, &root, "vendor/repo")).unwrap();
    let file = home.join("discovery").join(index_file::file_name(&root));
    let check = |bytes: Vec<u8>, want: fn(&Ignored) -> bool| {
        fs::write(&file, bytes).unwrap();
        fs::set_permissions(&file, fs::Permissions::from_mode(0o600)).unwrap();
        let (found, report) = store.discover_report(&root, &[]);
        let ignored = report.ignored.clone().expect("the index must be ignored");
        assert!(want(&ignored), "{ignored:?}");
        assert!(finds(&found, &repo));
        assert_eq!(found, discover_protected(&root, &[]));
    };
    // One flipped byte in the middle.
    let mut flipped = poisoned.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x40;
    check(flipped, |i| matches!(i, Ignored::Corrupt(_)));
    // Truncated.
    check(poisoned[..poisoned.len() - 9].to_vec(), |i| {
        matches!(i, Ignored::Corrupt(_))
    });
    check(Vec::new(), |i| matches!(i, Ignored::Corrupt(_)));
    // Another format version.
    let mut version = poisoned.clone();
    version[8..12].copy_from_slice(&(index_file::VERSION + 1).to_le_bytes());
    check(version, |i| matches!(i, Ignored::Version(_)));

    // An index written for another root, under this root's name.
    let other = root.parent().unwrap().join("other");
    fs::create_dir_all(other.join("vendor/repo")).unwrap();
    store.discover_report(&other, &[]);
    let other_file = home.join("discovery").join(index_file::file_name(&other));
    check(fs::read(&other_file).unwrap(), |i| *i == Ignored::OtherRoot);

    // The same root path, but another directory now (moved away, replaced).
    store.discover_report(&root, &[]);
    let good = fs::read(&file).unwrap();
    fs::rename(&root, root.with_extension("old")).unwrap();
    fs::create_dir_all(&root).unwrap();
    tree(&root);
    fs::write(&file, good).unwrap();
    let (found, report) = store.discover_report(&root, &[]);
    assert_eq!(report.ignored, Some(Ignored::OtherRoot));
    assert_eq!(found, discover_protected(&root, &[]));
}

#[test]
fn an_index_directory_writable_by_others_or_inside_a_writable_root_is_not_used() {
    let (_tmp, home, root) = setup();
    fs::create_dir(home.join("discovery")).unwrap();
    fs::set_permissions(home.join("discovery"), fs::Permissions::from_mode(0o777)).unwrap();
    let store = IndexStore::open(Some(&home), &[]);
    assert!(store
        .disabled()
        .unwrap()
        .contains("writable by group or others"));
    let (found, report) = store.discover_report(&root, &[]);
    assert_eq!(found, discover_protected(&root, &[]));
    assert!(!report.written);
    fs::set_permissions(home.join("discovery"), fs::Permissions::from_mode(0o700)).unwrap();
    let store = IndexStore::open(Some(&home), std::slice::from_ref(&home));
    assert!(store.disabled().unwrap().contains("inside $CORDON_HOME"));
    let store = IndexStore::open(Some(&home), &[home.join("memories")]);
    assert!(store.disabled().is_none());
}

#[test]
fn untrusted_file_systems_are_read_every_time() {
    // /dev/shm is tmpfs (trusted); /proc is not a file system whose ctime
    // means anything: its directories are read every time.
    let (_tmp, home, _root) = setup();
    let store = store_at(&home);
    let proc_sys = Path::new("/proc/sys/fs");
    let (_, first) = store.discover_report(proc_sys, &[]);
    let (_, again) = store.discover_report(proc_sys, &[]);
    assert!(first.stats.dirs > 1);
    assert_eq!(again.stats.read, again.stats.dirs, "{again:?}");
}

#[test]
fn a_random_sequence_of_changes_gives_the_plain_walks_answer_every_time() {
    let (_tmp, home, root) = setup();
    let store = store_at(&home);
    let watcher = Watcher::start_now(vec![(root.clone(), vec![])]);
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    let names = ["a", "b", ".git", ".cordon", "c"];
    let mut dirs: Vec<PathBuf> = vec![root.clone()];
    for round in 0..120 {
        let dir = dirs[next(dirs.len())].clone();
        let name = names[next(names.len())];
        let path = dir.join(name);
        match next(6) {
            0 | 1 => {
                if fs::create_dir(&path).is_ok() && !name.starts_with('.') {
                    dirs.push(path);
                }
            }
            2 => {
                let _ = fs::write(&path, "gitdir: ../b\n");
            }
            3 if dir != root => {
                let _ = fs::remove_dir_all(&dir);
                dirs.retain(|d| !d.starts_with(&dir));
            }
            4 if dir != root && !name.starts_with('.') => {
                // A directory renamed over another name (replacing an
                // empty one), or moved to a new name.
                let target = dir.parent().unwrap().join(name);
                if fs::rename(&dir, &target).is_ok() {
                    dirs.retain(|d| !d.starts_with(&dir));
                    dirs.push(target);
                }
            }
            _ => {
                let _ = std::os::unix::fs::symlink(&root, &path);
            }
        }
        let plain = discover_protected(&root, &[]);
        let (found, _) = store.discover_report(&root, &[]);
        assert_eq!(found, plain, "index, round {round}");
        let set = watcher.current().unwrap();
        assert_eq!(
            set.find(&root, &[]).unwrap().discovery,
            plain,
            "watch, round {round}"
        );
    }
}

#[test]
fn the_watch_hands_the_current_set_and_reads_only_what_changed() {
    let (_tmp, _home, root) = setup();
    let watcher = Watcher::start_now(vec![(root.clone(), vec![])]);
    let set = watcher.current().unwrap();
    let plain = |root: &Path| discover_protected(root, &[]);
    assert_eq!(set.find(&root, &[]).unwrap().discovery, plain(&root));
    assert_eq!(
        watcher.last_read(),
        Some(0),
        "nothing changed since the start"
    );

    // A repository created between two commands.
    let deep = root.join("node_modules/a/lib/deep/.git");
    fs::create_dir_all(&deep).unwrap();
    let set = watcher.current().unwrap();
    let handed = set.find(&root, &[]).unwrap();
    assert_eq!(handed.discovery, plain(&root));
    assert!(finds(&handed.discovery, &deep));
    assert_eq!(watcher.last_read(), Some(1));
    assert!(handed.ids.iter().any(|(p, _)| *p == deep));

    // A new directory tree moved in from outside the root, holding a repo.
    let outside = root.parent().unwrap().join("outside/inner/.git");
    fs::create_dir_all(&outside).unwrap();
    fs::rename(
        root.parent().unwrap().join("outside"),
        root.join("pkgs/moved"),
    )
    .unwrap();
    let set = watcher.current().unwrap();
    let handed = set.find(&root, &[]).unwrap();
    assert_eq!(handed.discovery, plain(&root));
    assert!(finds(
        &handed.discovery,
        &root.join("pkgs/moved/inner/.git")
    ));

    // Removed again, and a subdirectory made unreadable.
    fs::remove_dir_all(root.join("pkgs/moved")).unwrap();
    fs::set_permissions(root.join("pkgs/one"), fs::Permissions::from_mode(0o311)).unwrap();
    let set = watcher.current().unwrap();
    assert_eq!(set.find(&root, &[]).unwrap().discovery, plain(&root));
    fs::set_permissions(root.join("pkgs/one"), fs::Permissions::from_mode(0o755)).unwrap();
    let set = watcher.current().unwrap();
    assert_eq!(set.find(&root, &[]).unwrap().discovery, plain(&root));
}

#[test]
fn the_handed_set_disagrees_with_pins_taken_after_a_swap() {
    let (_tmp, _home, root) = setup();
    let watcher = Watcher::start_now(vec![(root.clone(), vec![])]);
    let set = watcher.current().unwrap();
    let pins = |root: &Path| {
        discover_protected(root, &[])
            .protected
            .into_iter()
            .filter_map(|p| FileId::of(&p.path).map(|id| (p.path, id)))
            .collect::<std::collections::BTreeMap<_, _>>()
    };
    assert!(set.agrees_with(&pins(&root)));
    fs::rename(root.join("vendor/repo"), root.join("vendor/real")).unwrap();
    fs::create_dir_all(root.join("vendor/repo/.git")).unwrap();
    assert!(!set.agrees_with(&pins(&root)));
    let json = set.to_json().unwrap();
    assert_eq!(HandedSet::from_json(&json).unwrap(), set);
}

#[test]
fn an_event_queue_overflow_reads_everything_again() {
    let (_tmp, _home, root) = setup();
    let watcher = Watcher::start_now(vec![(root.clone(), vec![])]);
    watcher.current().unwrap();
    let queue: usize = fs::read_to_string("/proc/sys/fs/inotify/max_queued_events")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // More events than the queue holds (in a watched directory), then a
    // repository deep inside.
    let many = root.join("node_modules/b");
    for i in 0..queue + 100 {
        fs::File::create(many.join(i.to_string())).unwrap();
    }
    let deep = root.join("pkgs/one/two/three/four/.git");
    fs::create_dir(&deep).unwrap();
    let set = watcher.current().unwrap();
    let handed = set.find(&root, &[]).unwrap();
    assert!(finds(&handed.discovery, &deep));
    assert_eq!(handed.discovery, discover_protected(&root, &[]));
    let read = watcher.last_read().unwrap();
    assert!(
        read > 10,
        "the overflow must make the watch read everything: {read}"
    );
    // And back to reading only what changed.
    watcher.current().unwrap();
    assert_eq!(watcher.last_read(), Some(0));
}

/// A small root whose top changes and changes back (a run's placeholders
/// come and go) is read again but not rewritten: the same entries; a new
/// directory in it is rewritten (the control).
#[test]
fn a_small_index_is_rewritten_only_when_what_it_records_changed() {
    let tmp = tempfile::tempdir_in("/var/tmp").unwrap();
    let base = fs::canonicalize(tmp.path()).unwrap();
    let (home, root) = (base.join("home"), base.join("root"));
    fs::create_dir_all(&home).unwrap();
    fs::create_dir_all(root.join("src")).unwrap();
    let store = store_at(&home);
    assert!(store.discover_report(&root, &[]).1.written);
    fs::create_dir(root.join(".git")).unwrap();
    fs::remove_dir(root.join(".git")).unwrap();
    let (found, report) = store.discover_report(&root, &[]);
    assert_eq!(found, discover_protected(&root, &[]));
    assert!(report.stats.read >= 1, "{report:?}");
    assert!(!report.written, "the same entries: {report:?}");
    fs::create_dir(root.join("lib")).unwrap();
    let (found, report) = store.discover_report(&root, &[]);
    assert_eq!(found, discover_protected(&root, &[]));
    assert!(report.written, "a new directory: {report:?}");
}

/// The agent after an event-queue overflow: a repository created after
/// more events than the queue holds (so its own event is lost) is in the
/// next answer, because the agent reads everything again first. Before
/// that, a root it does not watch yet is answered "unsure".
#[test]
fn the_agent_reads_everything_again_after_an_event_queue_overflow() {
    use crate::agent::{serve, AgentClient};
    use std::time::Duration;
    let (tmp, home, root) = setup();
    let h = home.clone();
    std::thread::spawn(move || serve(&h, Duration::from_secs(60), &[]));
    let ask = || {
        AgentClient::connect(&home, Duration::from_secs(10))
            .map_err(|e| e.to_string())
            .and_then(|mut c| c.ask(&root, &[]))
    };
    let mut first = None;
    for _ in 0..200 {
        match ask() {
            Ok(set) => {
                first = Some(set);
                break;
            }
            Err(why) => {
                assert!(
                    why.contains("not running") || why.contains("not watching this root yet"),
                    "{why}"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
    let first = first.expect("the agent never answered");
    assert_eq!(first.discovery, discover_protected(&root, &[]));
    let limit: usize = fs::read_to_string("/proc/sys/fs/inotify/max_queued_events")
        .map_or(16384, |s| s.trim().parse().unwrap());
    for i in 0..limit + 64 {
        fs::write(root.join(format!("f{i}")), "").unwrap();
    }
    fs::create_dir_all(root.join("node_modules/b/dist/.git")).unwrap();
    let found = ask().unwrap();
    assert_eq!(found.discovery, discover_protected(&root, &[]));
    assert!(found
        .discovery
        .protected
        .iter()
        .any(|p| p.path == root.join("node_modules/b/dist/.git")));
    drop(tmp);
}

/// A run started at `/` makes the whole file system a root: the agent
/// never watches it (its watches would crowd out every session's), and
/// says so; a root beside it is watched (the control).
#[test]
fn the_agent_does_not_watch_the_whole_file_system() {
    use crate::agent::{serve, AgentClient};
    use std::time::Duration;
    let (tmp, home, root) = setup();
    let h = home.clone();
    let at_start = vec![(PathBuf::from("/"), vec![]), (root.clone(), vec![])];
    std::thread::spawn(move || serve(&h, Duration::from_secs(60), &at_start));
    let ask = |r: &Path| {
        AgentClient::connect(&home, Duration::from_secs(10))
            .map_err(|e| e.to_string())
            .and_then(|mut c| c.ask(r, &[]))
    };
    let mut answered = false;
    for _ in 0..200 {
        if ask(&root).is_ok() {
            answered = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(answered, "the control root was never answered");
    for _ in 0..2 {
        let why = ask(Path::new("/")).unwrap_err();
        assert!(why.contains("does not watch /"), "{why}");
    }
    drop(tmp);
}
