use super::*;
use crate::denials::summary;

fn line(message: &str) -> String {
    serde_json::json!({
        "timestamp": "2026-01-01 00:00:00.000000+0000",
        "processID": 0,
        "senderImagePath": "/System/Library/Extensions/Sandbox.kext/Contents/MacOS/Sandbox",
        "eventMessage": message,
    })
    .to_string()
}

#[test]
fn parses_kernel_messages() {
    let v = parse_message("Sandbox: touch(4321) deny(1) file-write-create /Users/me/x y").unwrap();
    assert_eq!(v.pid, 4321);
    assert_eq!(v.process, "touch");
    assert_eq!(v.operation, "file-write-create");
    assert_eq!(v.target, "/Users/me/x y");
    let v = parse_message("Sandbox: Google Chrome (He)(77) deny(1) network-outbound 1.2.3.4:443")
        .unwrap();
    assert_eq!((v.pid, v.process.as_str()), (77, "Google Chrome (He)"));
    let v = parse_message("Sandbox: sh(5) deny(2) process-fork").unwrap();
    assert_eq!(
        (v.operation.as_str(), v.target.as_str()),
        ("process-fork", "")
    );
    assert!(parse_message("Sandbox: sh(x) deny(1) file-read-data /a").is_none());
    assert!(parse_message("something else entirely").is_none());
    assert!(parse_line("Filtering the log data using \"...\"").is_none());
    assert!(parse_line(&serde_json::json!({"eventMessage": 3}).to_string()).is_none());
    assert_eq!(
        parse_line(&line("Sandbox: ls(9) deny(1) file-read-data /x"))
            .unwrap()
            .pid,
        9
    );
}

#[test]
fn keeps_only_the_command_tree_and_deduplicates() {
    // 100 is the command; 101 its child; 102 a grandchild; 200 unrelated.
    let parents = |pid: u32| match pid {
        101 => Some(100),
        102 => Some(101),
        200 => Some(1),
        1 => Some(0),
        _ => None,
    };
    let mut c = Collector::new(100);
    assert!(c.observe(
        &line("Sandbox: sh(100) deny(1) file-write-create /etc/x"),
        parents
    ));
    assert!(c.observe(
        &line("Sandbox: touch(102) deny(1) file-write-create /etc/x"),
        parents
    ));
    assert!(c.observe(
        &line("Sandbox: touch(102) deny(1) file-write-create /etc/x"),
        parents
    ));
    assert!(c.observe(
        &line("Sandbox: curl(101) deny(1) network-outbound 1.2.3.4:443"),
        parents
    ));
    assert!(!c.observe(
        &line("Sandbox: mdworker(200) deny(1) file-write-create /etc/x"),
        parents
    ));
    assert!(!c.observe(
        &line("Sandbox: gone(300) deny(1) file-write-create /etc/y"),
        parents
    ));
    assert!(!c.observe("not json", parents));
    let d = c.denials();
    assert_eq!(d.len(), 2, "{d:?}");
    let write = d.iter().find(|d| d.kind == "write").unwrap();
    assert_eq!(write.target, "file-write-create /etc/x");
    assert_eq!(write.count, 3);
    assert_eq!(write.ops, "sh,touch");
    let net = d.iter().find(|d| d.kind == "network").unwrap();
    assert_eq!(net.target, "network-outbound 1.2.3.4:443");
    let text = summary(&d);
    assert!(text.starts_with("cordon: 2 denied target(s):"), "{text}");
    assert!(!text.contains("/etc/y"));
}

#[test]
fn a_parent_cycle_does_not_hang() {
    let mut c = Collector::new(1);
    c.record_parent(5, 6);
    c.record_parent(6, 5);
    assert!(!c.in_tree(5));
    assert!(c.in_tree(1));
}
