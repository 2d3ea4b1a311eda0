//! The Linux pinning tests (see `pinning.rs`).

use cordon_policy::{resolve, PolicyInputs, SandboxMode};
use cordon_sandbox::plan::PlanOptions;
use cordon_sandbox::{command_env, execute, host_facts, plan_for_host, RunHooks};
use std::ffi::OsString;
use std::fs;
use std::path::Path;

fn inputs(cwd: &Path, roots: Vec<std::path::PathBuf>) -> PolicyInputs {
    PolicyInputs {
        mode: SandboxMode::WorkspaceWrite,
        cwd: cwd.to_path_buf(),
        writable_roots: roots,
        exclude_slash_tmp: true,
        exclude_tmpdir_env_var: true,
        ..Default::default()
    }
}

fn sh(script: &str) -> Vec<OsString> {
    vec!["sh".into(), "-c".into(), script.into()]
}

/// Resolves, lets `swap` change the tree, then runs `script`.
fn run_after(
    i: &PolicyInputs,
    swap: impl FnOnce(),
    script: &str,
) -> Result<i32, cordon_sandbox::SandboxError> {
    run_resolved(resolve(i).unwrap(), swap, script)
}

/// Runs `script` under `policy` after `swap` changed the tree.
fn run_resolved(
    policy: cordon_policy::SandboxPolicy,
    swap: impl FnOnce(),
    script: &str,
) -> Result<i32, cordon_sandbox::SandboxError> {
    let plan = plan_for_host(&policy, &host_facts(false), PlanOptions::default()).unwrap();
    swap();
    execute(
        &policy,
        &plan,
        &sh(script),
        &command_env(&plan, std::env::vars_os()),
        RunHooks::default(),
    )
    .map(|o| o.exit_code)
}

fn swapped_git_dir_is_refused() {
    let tmp = tempfile::tempdir_in("/var/tmp").unwrap();
    let w = fs::canonicalize(tmp.path()).unwrap();
    fs::create_dir_all(w.join("lib/.git")).unwrap();
    fs::write(w.join("lib/.git/config"), "orig").unwrap();
    let i = inputs(&w, vec![]);
    let target = w.join("lib.real/.git/config");
    let script = format!("echo evil > {}", target.display());
    // Control: no swap, the run starts (and the protected config cannot be written).
    assert_eq!(
        run_after(
            &i,
            || {},
            &format!("echo x > {}/lib/.git/config", w.display())
        )
        .unwrap(),
        2
    );
    // The real repository is moved away and a decoy takes its place.
    let err = run_after(
        &i,
        || {
            fs::rename(w.join("lib"), w.join("lib.real")).unwrap();
            fs::create_dir_all(w.join("lib/.git")).unwrap();
        },
        &script,
    )
    .unwrap_err();
    assert!(err.is_stale_pin(), "{err}");
    assert_eq!(fs::read_to_string(&target).unwrap(), "orig");
}

fn root_swapped_for_a_symlink_is_refused() {
    let tmp = tempfile::tempdir_in("/var/tmp").unwrap();
    let base = fs::canonicalize(tmp.path()).unwrap();
    let (cwd, root, victim) = (base.join("cwd"), base.join("wr"), base.join("victim"));
    for d in [&cwd, &root, &victim] {
        fs::create_dir(d).unwrap();
    }
    let i = inputs(&cwd, vec![root.clone()]);
    let script = format!("echo x > {}/marker", root.display());
    // Control: no swap, the root is writable.
    assert_eq!(run_after(&i, || {}, &script).unwrap(), 0);
    assert!(root.join("marker").exists());
    let err = run_after(
        &i,
        || {
            fs::rename(&root, base.join("wr.real")).unwrap();
            std::os::unix::fs::symlink(&victim, &root).unwrap();
        },
        &script,
    )
    .unwrap_err();
    assert!(err.is_stale_pin(), "{err}");
    assert!(!victim.join("marker").exists());
}

/// How the protected set was found before the swap.
#[derive(Clone, Copy)]
enum Found {
    /// The discovery index under `$CORDON_HOME`, warm.
    Index,
    /// A session's watch (the set it hands the launcher).
    Watch,
}

/// A repository's directory swapped for a symlink to a look-alike after
/// discovery found it (through the index, or a session's set) refuses the
/// run, exactly as after a plain walk.
fn dir_swapped_for_a_symlink_after(found: Found) {
    use cordon_discovery::{IndexStore, Watcher};
    let tmp = tempfile::tempdir_in("/var/tmp").unwrap();
    let base = fs::canonicalize(tmp.path()).unwrap();
    let (w, home) = (base.join("w"), base.join("home"));
    fs::create_dir_all(w.join("deep/lib/.git")).unwrap();
    fs::create_dir_all(w.join("deep/decoy/.git")).unwrap();
    fs::create_dir_all(&home).unwrap();
    fs::write(w.join("deep/lib/.git/config"), "orig").unwrap();
    let i = inputs(&w, vec![]);
    let store = IndexStore::open(Some(&home), &[]);
    let watcher = Watcher::start_now(vec![(w.clone(), vec![])]);
    let policy = |store: &IndexStore| match found {
        Found::Index => {
            cordon_policy::resolve_with(&i, &mut |root, skip| store.discover(root, skip)).unwrap()
        }
        Found::Watch => {
            let set = watcher.current().unwrap();
            let p = cordon_policy::resolve_with(&i, &mut |root, skip| {
                set.find(root, skip).unwrap().discovery.clone()
            })
            .unwrap();
            assert!(set.agrees_with(&p.pins));
            p
        }
    };
    policy(&store); // writes the index
    let target = w.join("deep/lib.real/.git/config");
    // Control: no swap, the run starts and the config stays read-only.
    let control = format!("echo x > {}/deep/lib/.git/config", w.display());
    assert_eq!(run_resolved(policy(&store), || {}, &control).unwrap(), 2);
    let swapped = policy(&store);
    let err = run_resolved(
        swapped,
        || {
            fs::rename(w.join("deep/lib"), w.join("deep/lib.real")).unwrap();
            std::os::unix::fs::symlink(w.join("deep/decoy"), w.join("deep/lib")).unwrap();
        },
        &format!("echo evil > {}", target.display()),
    )
    .unwrap_err();
    assert!(err.is_stale_pin(), "{err}");
    assert_eq!(fs::read_to_string(&target).unwrap(), "orig");
}

fn dir_swapped_for_a_symlink_after_indexed_discovery_is_refused() {
    dir_swapped_for_a_symlink_after(Found::Index);
}

fn dir_swapped_for_a_symlink_after_the_sessions_set_is_refused() {
    dir_swapped_for_a_symlink_after(Found::Watch);
}

pub fn main() {
    let tests: [(&str, fn()); 4] = [
        (
            "dir_swapped_for_a_symlink_after_indexed_discovery_is_refused",
            dir_swapped_for_a_symlink_after_indexed_discovery_is_refused,
        ),
        (
            "dir_swapped_for_a_symlink_after_the_sessions_set_is_refused",
            dir_swapped_for_a_symlink_after_the_sessions_set_is_refused,
        ),
        ("swapped_git_dir_is_refused", swapped_git_dir_is_refused),
        (
            "root_swapped_for_a_symlink_is_refused",
            root_swapped_for_a_symlink_is_refused,
        ),
    ];
    for (name, test) in tests {
        test();
        println!("test {name} ... ok");
    }
    println!("pinning: {} passed, 0 failed", tests.len());
}
