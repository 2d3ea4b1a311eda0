//! Landlock alone: the plan's Landlock rules on a process with no
//! namespace (so `/` is the host's, writable to its owner), no seccomp
//! filter and all its capabilities.

use super::{
    child_args, child_main, create, probe, run_in_child, skip_without, Fixture, Outcome, Refusal,
};
use crate::linux::landlock;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixListener, UnixStream};

const CREATE_OUTSIDE: &str = "create a file outside the writable roots";
const MKDIR_OUTSIDE: &str = "make a directory outside the writable roots";
const REMOVE_OUTSIDE: &str = "remove a file outside the writable roots";
const CREATE_INSIDE: &str = "create a file in the writable root";
const READ_OUTSIDE: &str = "read a file outside the writable roots";
const SIGNAL: &str = "signal a process outside the Landlock domain";
const ABSTRACT: &str = "connect to an abstract unix socket bound outside the domain";

#[test]
fn landlock_alone_refuses_writes_outside_the_roots() {
    if let Some(args) = child_args() {
        child(&args)
    }
    let abi = landlock::abi_version();
    if skip_without("Landlock", abi > 0, "the kernel has no Landlock (ABI 0)") {
        return;
    }
    let (f, _guard) = Fixture::create();
    for run in ["layer", "control"] {
        std::fs::write(f.outside().join(format!("victim-{run}")), "x").unwrap();
    }
    let plan = f.plan();
    let planned = plan.landlock.as_ref().expect("Landlock is planned");
    let Some(r) = run_in_child(&[f.base.display().to_string()]) else {
        return;
    };
    r.assert_blocks(CREATE_OUTSIDE, libc::EACCES);
    r.assert_blocks(MKDIR_OUTSIDE, libc::EACCES);
    r.assert_blocks(REMOVE_OUTSIDE, libc::EACCES);
    r.assert_allows(CREATE_INSIDE);
    r.assert_allows(READ_OUTSIDE);
    // IPC scopes exist from ABI 6; the planner asks for them there.
    assert_eq!(planned.scopes.is_empty(), abi < 6, "{:?}", planned.scopes);
    if planned.scopes.contains(&"signal") {
        r.assert_blocks(SIGNAL, libc::EPERM);
    }
    if planned.scopes.contains(&"abstract-unix-socket") {
        r.assert_blocks(ABSTRACT, libc::EPERM);
    }
    // On disk too: the layer's writes never happened, the control's did.
    let outside = f.outside();
    assert!(!outside.join("written-by-layer").exists());
    assert!(!outside.join("dir-by-layer").exists());
    assert!(outside.join("victim-layer").exists());
    assert!(outside.join("written-by-control").exists());
    assert!(!outside.join("victim-control").exists());
    assert!(f.ws().join("written-by-layer").exists());
}

fn child(args: &[String]) -> ! {
    let f = Fixture::at(&args[0]);
    let plan = f.plan().landlock.expect("Landlock is planned");
    let me = std::process::id() as libc::pid_t;
    let name = format!("cordon-layer-alone-{me}");
    let addr = SocketAddr::from_abstract_name(name.as_bytes()).expect("abstract address");
    // Bound here, outside any Landlock domain; kept open until exit.
    let _listener = UnixListener::bind_addr(&addr).expect("bind an abstract socket");
    let (ws, out) = (f.ws(), f.outside());
    let o = out.clone();
    let o2 = out.clone();
    let o3 = out.clone();
    let probes = vec![
        probe(CREATE_OUTSIDE, move |run| {
            create(&o.join(format!("written-by-{run}")))
        }),
        probe(MKDIR_OUTSIDE, move |run| {
            Outcome::io(std::fs::create_dir(o2.join(format!("dir-by-{run}"))))
        }),
        probe(REMOVE_OUTSIDE, move |run| {
            Outcome::io(std::fs::remove_file(o3.join(format!("victim-{run}"))))
        }),
        probe(CREATE_INSIDE, move |run| {
            create(&ws.join(format!("written-by-{run}")))
        }),
        probe(READ_OUTSIDE, move |_| {
            Outcome::io(std::fs::read(out.join("readme")))
        }),
        // SAFETY: signal 0 only checks that the signal may be sent.
        probe(SIGNAL, move |_| {
            Outcome::of(unsafe { libc::kill(me, 0) }.into())
        }),
        probe(ABSTRACT, move |_| {
            Outcome::io(UnixStream::connect_addr(&addr))
        }),
    ];
    child_main(
        &|| landlock::apply(&plan).map_err(|e| Refusal::Failed(format!("landlock::apply: {e}"))),
        &probes,
    )
}
