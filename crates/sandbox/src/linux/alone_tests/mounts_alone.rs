//! The mount layer alone: the plan's user, mount, PID, IPC and UTS
//! namespaces and its mount steps (read-only `/`, the writable root
//! re-attached read-write, `.git` and `.cordon` bound read-only, a fresh
//! `/proc`, a minimal `/dev`), with no network namespace, no Landlock, no
//! seccomp, and every capability the user namespace grants.

use super::{
    become_pid_1, child_args, child_main, create, enter_namespaces, open_for_writing, probe,
    record_skip, run_in_child, Fixture, Outcome, Refusal,
};
use crate::linux::mounts;
use crate::plan::Namespace;
use std::os::unix::fs::FileTypeExt;

const CREATE_OUTSIDE: &str = "create a file outside the writable roots";
const CREATE_INSIDE: &str = "create a file in the writable root";
const WRITE_GIT_CONFIG: &str = "open .git/config for writing";
const CREATE_IN_GIT: &str = "create a file in .git";
const CREATE_IN_CORDON: &str = "create a file in .cordon";
const HOST_PROCESS: &str = "see a host process in /proc";
const HOST_DEVICE: &str = "see a host device outside the minimal /dev";
const DEV_NULL: &str = "write /dev/null";
const PROC_SELF: &str = "read /proc/self/status";

/// The devices and links the minimal `/dev` has.
const MINIMAL_DEV: [&str; 13] = [
    "null", "zero", "full", "random", "urandom", "tty", "pts", "ptmx", "shm", "fd", "stdin",
    "stdout", "stderr",
];

/// The first host device (by name) the minimal `/dev` leaves out.
fn host_only_device() -> Option<String> {
    let mut names: Vec<String> = std::fs::read_dir("/dev")
        .ok()?
        .flatten()
        .filter(|e| {
            e.file_type()
                .is_ok_and(|t| t.is_char_device() || t.is_block_device())
        })
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| !MINIMAL_DEV.contains(&n.as_str()))
        .collect();
    names.sort();
    names.into_iter().next()
}

/// The plan's namespaces without the network one (a layer of its own).
fn spaces(plan: &crate::plan::LinuxPlan) -> Vec<Namespace> {
    plan.namespaces
        .iter()
        .copied()
        .filter(|n| *n != Namespace::Net)
        .collect()
}

#[test]
fn mounts_alone_make_everything_but_the_roots_read_only() {
    if let Some(args) = child_args() {
        child(&args)
    }
    let (f, _guard) = Fixture::create();
    let plan = f.plan();
    for ns in [Namespace::User, Namespace::Mount, Namespace::Pid] {
        assert!(plan.namespaces.contains(&ns), "{:?}", plan.namespaces);
    }
    let Some(r) = run_in_child(&[f.base.display().to_string()]) else {
        return;
    };
    r.assert_blocks(CREATE_OUTSIDE, libc::EROFS);
    r.assert_blocks(WRITE_GIT_CONFIG, libc::EROFS);
    r.assert_blocks(CREATE_IN_GIT, libc::EROFS);
    r.assert_blocks(CREATE_IN_CORDON, libc::EROFS);
    r.assert_blocks(HOST_PROCESS, libc::ENOENT);
    r.assert_allows(CREATE_INSIDE);
    r.assert_allows(DEV_NULL);
    r.assert_allows(PROC_SELF);
    match host_only_device() {
        Some(_) => r.assert_blocks(HOST_DEVICE, libc::ENOENT),
        None => record_skip(
            &format!(
                "{} ({HOST_DEVICE})",
                std::thread::current().name().unwrap_or("?")
            ),
            "a device in the host's /dev beyond the minimal set",
            "this host's /dev has only the devices the sandbox's /dev has",
        ),
    }
    // On disk too: the layer's writes never happened, the control's did.
    let (ws, out) = (f.ws(), f.outside());
    for (path, by_layer) in [
        (out.join("written-by-layer"), false),
        (ws.join(".git/made-by-layer"), false),
        (ws.join(".cordon/made-by-layer.toml"), false),
        (ws.join("written-by-layer"), true),
        (out.join("written-by-control"), true),
        (ws.join(".git/made-by-control"), true),
    ] {
        assert_eq!(path.exists(), by_layer, "{}", path.display());
    }
}

fn child(args: &[String]) -> ! {
    let f = Fixture::at(&args[0]);
    let plan = f.plan();
    let host_pid = std::process::id();
    let (ws, out) = (f.ws(), f.outside());
    let (w1, w2, w3, w4) = (ws.clone(), ws.clone(), ws.clone(), ws);
    let device = host_only_device().unwrap_or_else(|| "null".into());
    let probes = vec![
        probe(CREATE_OUTSIDE, move |run| {
            create(&out.join(format!("written-by-{run}")))
        }),
        probe(CREATE_INSIDE, move |run| {
            create(&w1.join(format!("written-by-{run}")))
        }),
        probe(WRITE_GIT_CONFIG, move |_| {
            open_for_writing(&w2.join(".git/config"))
        }),
        probe(CREATE_IN_GIT, move |run| {
            create(&w3.join(format!(".git/made-by-{run}")))
        }),
        probe(CREATE_IN_CORDON, move |run| {
            create(&w4.join(format!(".cordon/made-by-{run}.toml")))
        }),
        probe(HOST_PROCESS, move |_| {
            Outcome::io(std::fs::symlink_metadata(format!("/proc/{host_pid}")))
        }),
        probe(HOST_DEVICE, move |_| {
            Outcome::io(std::fs::symlink_metadata(format!("/dev/{device}")))
        }),
        probe(DEV_NULL, |_| {
            open_for_writing(std::path::Path::new("/dev/null"))
        }),
        probe(PROC_SELF, |_| {
            Outcome::io(std::fs::read("/proc/self/status"))
        }),
    ];
    let spaces = spaces(&plan);
    child_main(
        &|| {
            enter_namespaces(&spaces)?;
            if spaces.contains(&Namespace::Pid) {
                become_pid_1()?;
            }
            mounts::apply(&plan.mounts, &plan.pins)
                .map_err(|(step, e)| Refusal::Failed(format!("mounts::apply: {step}: {e}")))
        },
        &probes,
    )
}
