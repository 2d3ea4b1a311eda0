//! Times one discovery of a root: the plain walk, then the index (first
//! run, then warm), for the discovery benchmark.
//! Usage: discover_time ROOT HOME
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("discover_time: the index is Linux-only");
}

#[cfg(target_os = "linux")]
fn main() {
    use std::path::PathBuf;
    use std::time::Instant;
    let mut args = std::env::args_os().skip(1);
    let root = std::fs::canonicalize(PathBuf::from(args.next().expect("ROOT"))).unwrap();
    let home = PathBuf::from(args.next().expect("HOME"));
    let t = Instant::now();
    let plain = cordon_policy::discover_protected(&root, &[]);
    println!("plain walk: {:.1} ms", t.elapsed().as_secs_f64() * 1e3);
    let store = cordon_discovery::IndexStore::open(Some(&home), &[]);
    for run in 0..4 {
        let t = Instant::now();
        let (found, report) = store.discover_report(&root, &[]);
        println!(
            "index run {run}: {:.1} ms ({} dirs, {} read, written {})",
            t.elapsed().as_secs_f64() * 1e3,
            report.stats.dirs,
            report.stats.read,
            report.written
        );
        assert_eq!(found, plain);
    }
    let t = Instant::now();
    let watcher = cordon_discovery::Watcher::start_now(vec![(root.clone(), vec![])]);
    println!("watch start: {:.1} ms", t.elapsed().as_secs_f64() * 1e3);
    for run in 0..6 {
        if run >= 3 {
            // What a run's placeholders do: an entry at the root's top
            // made and removed.
            std::fs::create_dir(root.join(".cordon-bench")).unwrap();
            std::fs::remove_dir(root.join(".cordon-bench")).unwrap();
        }
        let t = Instant::now();
        let set = watcher.current().unwrap();
        println!(
            "watch current {run}: {:.2} ms (read {:?})",
            t.elapsed().as_secs_f64() * 1e3,
            watcher.last_read()
        );
        assert_eq!(set.find(&root, &[]).unwrap().discovery, plain);
    }
}
