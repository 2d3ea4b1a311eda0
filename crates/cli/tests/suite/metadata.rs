//! Changes of mode, owner, times and extended attributes (issue 10 item
//! 6): a writable root's own top directory and everything outside the
//! roots refuse them, run as root as for anyone else, whatever route the
//! call takes; files inside the roots still change.

use super::common::*;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Output;

/// The probe's metadata changes, by path and by descriptor (`chown` to
/// our own uid and gid, `utimes` to 2001-09-09, both allowed to the owner).
const CHANGES: &[&[&str]] = &[
    &["chmod", "751"],
    &["chown"],
    &["utimes"],
    &["fchmod", "751"],
    &["fchown"],
    &["futimes"],
];

/// The time the probe's `utimes` sets.
const PROBE_TIME: i64 = 1_000_000_000;

fn action(change: &[&str], path: &Path) -> Vec<String> {
    let mut a = vec![change[0].to_string(), path.to_str().unwrap().to_string()];
    a.extend(change[1..].iter().map(|s| s.to_string()));
    a
}

fn run(w: &World, flags: &[&str], action: &[String]) -> Output {
    let action: Vec<&str> = action.iter().map(String::as_str).collect();
    w.probe_in(flags, &action)
}

fn outside(cwd: &Path, action: &[String]) -> Output {
    let action: Vec<&str> = action.iter().map(String::as_str).collect();
    probe_outside(cwd, &action)
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().mode() & 0o7777
}

fn has_probe_xattr(p: &Path) -> bool {
    let path = std::ffi::CString::new(p.to_str().unwrap()).unwrap();
    let mut buf = [0u8; 8];
    // SAFETY: valid C strings and buffer.
    let n = unsafe {
        libc::getxattr(
            path.as_ptr(),
            c"user.cordon-test".as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    n >= 0
}

/// Whether `change` works outside the sandbox on a scratch file here (the
/// file system takes `user.` attributes, the kernel has the call);
/// records a skip when it does not.
fn works_here(dir: &Path, change: &[&str]) -> bool {
    let probe = dir.join("control");
    std::fs::write(&probe, "x").unwrap();
    let o = outside(dir, &action(change, &probe));
    std::fs::remove_file(&probe).unwrap();
    !skip_without(change[0], o.status.success(), &text(&o))
}

/// [`CHANGES`], and the others this host has.
fn changes_here(dir: &Path) -> Vec<&'static [&'static str]> {
    let mut changes: Vec<&[&str]> = CHANGES.to_vec();
    if works_here(dir, &["setxattr"]) {
        changes.extend([&["setxattr"][..], &["fsetxattr"]]);
    }
    if works_here(dir, &["fchmodat2", "751"]) {
        changes.push(&["fchmodat2", "751"]);
    }
    changes
}

#[test]
fn writable_root_tops_keep_their_mode_owner_times_and_attributes() {
    let w = World::new();
    let work = w.work();
    // An extra root the test owns: run as root, root-owned like /tmp.
    let extra = w.outside();
    let flag = format!("--writable-root={}", extra.display());
    let flags = ["--full-auto", flag.as_str()];
    std::fs::write(work.join("file"), "f").unwrap();
    // Symlinks inside the roots pointing at their tops, absolute and relative.
    std::os::unix::fs::symlink(&work, work.join("to-top")).unwrap();
    std::os::unix::fs::symlink(".", extra.join("to-top")).unwrap();
    let modes = (mode(&work), mode(&extra));
    let changes = changes_here(&work);
    for change in &changes {
        for top in [&work, &extra] {
            let o = run(&w, &flags, &action(change, top));
            assert_denied_errno(&o, libc::EPERM);
            let o = run(&w, &flags, &action(change, &top.join("to-top")));
            if change[0] == "fchmodat2" {
                // AT_SYMLINK_NOFOLLOW: the link itself, whose mode Linux
                // never changes, as outside.
                assert_denied_errno(&o, libc::EOPNOTSUPP);
            } else {
                assert_denied_errno(&o, libc::EPERM);
            }
        }
        // Relative to the working directory (the workspace top).
        let o = run(&w, &flags, &action(change, Path::new(".")));
        assert_denied_errno(&o, libc::EPERM);
        // A file inside the root changes.
        assert_ok(&run(&w, &flags, &action(change, &work.join("file"))));
    }
    for top in [&work, &extra] {
        let m = std::fs::metadata(top).unwrap();
        assert_ne!(
            m.mtime(),
            PROBE_TIME,
            "{} got the probe's times",
            top.display()
        );
        assert!(!has_probe_xattr(top), "{} got the attribute", top.display());
    }
    assert_eq!((mode(&work), mode(&extra)), modes, "a top's mode changed");
    assert_eq!(mode(&work.join("file")), 0o751);
    assert_eq!(
        std::fs::metadata(work.join("file")).unwrap().mtime(),
        PROBE_TIME
    );

    // --log-denials names the refusal (init knows it, no prediction).
    let o = w.cordon(
        &["--full-auto", "--log-denials"],
        &[PROBE, "chmod", work.to_str().unwrap(), "751"],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!("metadata    {} (chmod)", work.display())),
        "{err}"
    );

    // Controls: the same changes succeed outside the sandbox and under
    // danger-full-access.
    for change in &changes {
        for top in [&work, &extra] {
            assert_ok(&outside(&work, &action(change, top)));
            assert_ok(&run(
                &w,
                &["-s", "danger-full-access"],
                &action(change, top),
            ));
        }
    }
    assert_eq!(mode(&work), 0o751);
    assert_eq!(std::fs::metadata(&extra).unwrap().mtime(), PROBE_TIME);
}

#[test]
fn metadata_outside_the_roots_is_read_only() {
    let w = World::new();
    let dir = w.outside();
    let file = dir.join("file");
    std::fs::write(&file, "f").unwrap();
    std::fs::write(w.work().join("file"), "f").unwrap();
    let before = (mode(&dir), mode(&file));
    let changes = changes_here(&dir);
    for change in &changes {
        for target in [&dir, &file] {
            let o = run(&w, &["--full-auto"], &action(change, target));
            assert_denied_errno(&o, libc::EROFS);
        }
        // In read-only mode the workspace is outside every root too.
        let o = run(&w, &[], &action(change, &w.work().join("file")));
        assert_denied_errno(&o, libc::EROFS);
    }
    assert_eq!((mode(&dir), mode(&file)), before);
    assert_ne!(std::fs::metadata(&file).unwrap().mtime(), PROBE_TIME);
    for change in &changes {
        for target in [&dir, &file] {
            assert_ok(&run(
                &w,
                &["-s", "danger-full-access"],
                &action(change, target),
            ));
            assert_ok(&outside(&w.work(), &action(change, target)));
        }
    }
    assert_eq!(mode(&file), 0o751);
}

/// A standard stream redirected from a host file is a descriptor the
/// command inherited from outside: its file stays unchanged, by descriptor
/// and through `/proc/self/fd`.
#[test]
fn inherited_descriptors_do_not_reach_host_files() {
    let w = World::new();
    let host = w.outside().join("stdin");
    std::fs::write(&host, "data").unwrap();
    std::fs::set_permissions(&host, std::fs::Permissions::from_mode(0o644)).unwrap();
    let stdin = || std::fs::File::open(&host).unwrap();
    for flags in [&["--full-auto"][..], &[]] {
        for act in [
            &["fchmod-fd", "0", "600"][..],
            &["chmod", "/proc/self/fd/0", "600"],
        ] {
            let mut cmd = vec![PROBE];
            cmd.extend_from_slice(act);
            let o = w.cordon_cmd(flags, &cmd).stdin(stdin()).output().unwrap();
            assert_denied_errno(&o, libc::EROFS);
            assert_eq!(mode(&host), 0o644);
        }
    }
    // Control: outside the sandbox the same call changes the file.
    let o = std::process::Command::new(PROBE)
        .args(["fchmod-fd", "0", "600"])
        .stdin(stdin())
        .output()
        .unwrap();
    assert_ok(&o);
    assert_eq!(mode(&host), 0o600);
}

/// `setxattrat` (Linux 6.13) is newer than the calls init performs: it
/// fails as on a kernel without it, and programs fall back to `setxattr`.
#[test]
fn setxattrat_is_absent_in_the_sandbox() {
    let w = World::new();
    let work = w.work();
    if !works_here(&work, &["setxattrat"]) {
        return;
    }
    let o = run(&w, &["--full-auto"], &action(&["setxattrat"], &work));
    assert_denied_errno(&o, libc::ENOSYS);
    assert!(!has_probe_xattr(&work));
    // Control: the same call under danger-full-access.
    let o = run(
        &w,
        &["-s", "danger-full-access"],
        &action(&["setxattrat"], &work),
    );
    assert_ok(&o);
    assert!(has_probe_xattr(&work));
}

/// The real `/tmp`, with changes that leave it as it is (its own mode,
/// its own owner): run as root they succeed outside, and fail inside.
#[test]
fn slash_tmp_top_is_refused_even_to_root() {
    let w = World::new();
    let meta = std::fs::metadata("/tmp").unwrap();
    if skip_without(
        "/tmp with mode 1777",
        meta.mode() & 0o7777 == 0o1777,
        "the no-op chmod needs /tmp's usual mode",
    ) {
        return;
    }
    let tmp = Path::new("/tmp");
    for change in [&["chmod", "1777"][..], &["chown"]] {
        let o = run(&w, &["--full-auto"], &action(change, tmp));
        assert_denied_errno(&o, libc::EPERM);
        if is_root() {
            // Control: root may make these no-op changes outside.
            assert_ok(&outside(&w.work(), &action(change, tmp)));
        }
    }
    assert_eq!(std::fs::metadata("/tmp").unwrap().mode() & 0o7777, 0o1777);
}

/// A second thread swaps a link between a file and the top (renaming a
/// fresh link over it, thousands of times a second) while the first
/// changes the link's target: the file changes, the top never does (init
/// decides on the object it opened and acts on that object, never on the
/// path again).
#[test]
fn swapping_a_symlink_never_reaches_the_top() {
    let w = World::new();
    if skip_without("python3", have("python3"), "not on PATH") {
        return;
    }
    let work = w.work();
    let before = mode(&work);
    let script = r#"
import os, threading
open("f", "w").close()
os.symlink("f", "l")
stop = False
def swap():
    while not stop:
        for target in (".", "f"):
            try:
                os.unlink("l.new")
            except FileNotFoundError:
                pass
            os.symlink(target, "l.new")
            os.rename("l.new", "l")
t = threading.Thread(target=swap)
t.start()
changed = refused = 0
for _ in range(3000):
    try:
        os.chmod("l", 0o751)
        os.utime("l", (1000000000, 1000000000))
        changed += 1
    except PermissionError:
        refused += 1
stop = True
t.join()
print(changed, refused)
"#;
    let o = w.cordon(&["--full-auto"], &["python3", "-c", script]);
    assert!(o.status.success(), "{}", text(&o));
    let counts = String::from_utf8_lossy(&o.stdout);
    let (changed, refused) = counts.trim().split_once(' ').unwrap();
    assert!(
        changed.parse::<u32>().unwrap() > 0 && refused.parse::<u32>().unwrap() > 0,
        "the race never ran both ways: {counts}"
    );
    assert_eq!(mode(&work), before, "the top's mode changed");
    assert_ne!(
        std::fs::metadata(&work).unwrap().mtime(),
        PROBE_TIME,
        "the top's times changed"
    );
    assert_eq!(mode(&work.join("f")), 0o751);
}

fn have(program: &str) -> bool {
    std::process::Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Positive controls: ordinary tools that set modes and times work in the
/// workspace.
#[test]
fn ordinary_tools_still_set_modes_and_times_in_the_workspace() {
    let w = World::new();
    if skip_without(
        "git and python3",
        have("git") && have("python3"),
        "not on PATH",
    ) {
        return;
    }
    let script = r#"set -e
echo hi > f; chmod +x f; test -x f
touch -d 2001-02-03 f; cp -p f g; [ "$(stat -c %Y g)" = "$(stat -c %Y f)" ]
mkdir -p d/e; echo x > d/e/x; chmod 700 d/e; tar cf a.tar d f; mkdir t; tar xf a.tar -C t
[ "$(stat -c %a t/d/e)" = 700 ] && [ "$(stat -c %Y t/f)" = "$(stat -c %Y f)" ]
install -m 751 f h; [ "$(stat -c %a h)" = 751 ]
git init -q r; cd r; echo a > a; git add a; cd ..
python3 -c '
import os, shutil
os.chmod("f", 0o640); os.utime("f", (5, 7)); shutil.copy2("f", "k")
s = os.stat("k"); assert (s.st_mode & 0o777, int(s.st_mtime)) == (0o640, 7), s
'
echo done"#;
    let o = w.cordon(&["--full-auto"], &["sh", "-c", script]);
    assert!(
        o.status.success() && String::from_utf8_lossy(&o.stdout).contains("done"),
        "{}",
        text(&o)
    );
    assert_eq!(mode(&w.work().join("k")), 0o640);
}

/// Init makes these calls with the command's rights, not its own: a file
/// in a directory the command may not search stays out of reach, though
/// root outside the sandbox (with CAP_DAC_OVERRIDE) reaches it.
#[test]
fn init_acts_with_no_right_the_command_lacks() {
    let w = World::new();
    let locked = w.work().join("locked");
    std::fs::create_dir(&locked).unwrap();
    let file = locked.join("file");
    std::fs::write(&file, "f").unwrap();
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
    for change in [&["chmod", "751"][..], &["chown"], &["utimes"]] {
        let o = run(&w, &["--full-auto"], &action(change, &file));
        assert_denied_errno(&o, libc::EACCES);
        if is_root() {
            // Controls: root's capabilities reach it outside the sandbox
            // and under danger-full-access.
            assert_ok(&outside(&w.work(), &action(change, &file)));
            assert_ok(&run(
                &w,
                &["-s", "danger-full-access"],
                &action(change, &file),
            ));
        }
    }
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o755)).unwrap();
}
