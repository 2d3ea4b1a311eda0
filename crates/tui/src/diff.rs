//! `/diff`: what changed in the workspace's git repository, untracked
//! files included (shown as added).
//!
//! git runs on the host, so it must not run anything a sandboxed command
//! could have planted: the program is found outside the writable roots
//! (as `notify` is) with a PATH without them; the repository is the
//! `.git` directory found from the working directory up, named explicitly
//! (`GIT_DIR`, `GIT_WORK_TREE`), so a bare-repository layout a command
//! wrote into the workspace is never taken for one; existing `.git`
//! directories are read-only inside the sandbox, so the config git reads
//! there is the user's; external diff programs, text conversions and the
//! file-system monitor are turned off. Untracked files are read here
//! without following links, regular files only, capped.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Most bytes of one untracked file shown.
const MAX_UNTRACKED: u64 = 256 * 1024;
/// Most untracked files shown.
const MAX_UNTRACKED_FILES: usize = 200;

/// The nearest `.git` directory at or above `cwd` and its work tree.
/// A `.git` that is a link or a file (a gitdir pointer) is not followed.
pub fn find_repo(cwd: &Path) -> Option<(PathBuf, PathBuf)> {
    let mut dir = Some(cwd);
    while let Some(d) = dir {
        let git = d.join(".git");
        match std::fs::symlink_metadata(&git) {
            Ok(m) if m.is_dir() => return Some((git, d.to_path_buf())),
            Ok(_) => return None,
            Err(_) => dir = d.parent(),
        }
    }
    None
}

/// The diff of the repository holding `cwd` against its index and HEAD,
/// then each untracked file as added. `untrusted` are the writable roots.
pub fn workspace_diff(cwd: &Path, untrusted: &[PathBuf]) -> Result<String, String> {
    let Some((git_dir, work_tree)) = find_repo(cwd) else {
        return Err(format!(
            "{} is not inside a git repository (a .git directory at or above it)",
            cwd.display()
        ));
    };
    let git = cordon_core::notify::resolve(&["git".to_string()], cwd, untrusted)?;
    let path = cordon_core::notify::trusted_path(untrusted);
    let run = |args: &[&str]| -> Result<Vec<u8>, String> {
        let out = Command::new(&git[0])
            .args([
                "--no-pager",
                "-c",
                "core.fsmonitor=false",
                "-c",
                "core.untrackedCache=false",
                "-c",
                "diff.external=",
            ])
            .args(args)
            .env("GIT_DIR", &git_dir)
            .env("GIT_WORK_TREE", &work_tree)
            .env("GIT_OPTIONAL_LOCKS", "0")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("PATH", &path)
            .current_dir(&work_tree)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run git ({}): {e}", git[0]))?;
        if !out.status.success() {
            return Err(format!(
                "git {} failed: {}",
                args.first().unwrap_or(&""),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(out.stdout)
    };
    // Against HEAD when there is one (staged and unstaged together).
    let has_head = run(&["rev-parse", "--verify", "-q", "HEAD"]).is_ok();
    let mut args = vec!["diff", "--no-color", "--no-ext-diff", "--no-textconv"];
    if has_head {
        args.push("HEAD");
    }
    let mut text = String::from_utf8_lossy(&run(&args)?).into_owned();
    let untracked = run(&["ls-files", "--others", "--exclude-standard", "-z"])?;
    let names: Vec<&[u8]> = untracked
        .split(|b| *b == 0)
        .filter(|n| !n.is_empty())
        .collect();
    for name in names.iter().take(MAX_UNTRACKED_FILES) {
        let name = String::from_utf8_lossy(name);
        text.push_str(&untracked_as_added(&work_tree, &name));
    }
    if names.len() > MAX_UNTRACKED_FILES {
        text.push_str(&format!(
            "[{} more untracked files not shown]\n",
            names.len() - MAX_UNTRACKED_FILES
        ));
    }
    Ok(text)
}

/// One untracked file as a diff adding it.
fn untracked_as_added(root: &Path, name: &str) -> String {
    let head = format!("diff --git a/{name} b/{name}\nnew file (untracked)\n");
    let path = root.join(name);
    let body = match read_regular(&path) {
        Ok((bytes, truncated)) if bytes.contains(&0) => {
            let _ = truncated;
            "Binary file, not shown\n".to_string()
        }
        Ok((bytes, truncated)) => {
            let text = String::from_utf8_lossy(&bytes);
            let mut out = format!(
                "--- /dev/null\n+++ b/{name}\n@@ -0,0 +1,{} @@\n",
                text.lines().count()
            );
            for l in text.lines() {
                out.push('+');
                out.push_str(l);
                out.push('\n');
            }
            if truncated {
                out.push_str(&format!("[cut at {MAX_UNTRACKED} bytes]\n"));
            }
            out
        }
        Err(why) => format!("({why})\n"),
    };
    head + &body
}

/// A regular file's first bytes, opened without following a link and
/// without blocking on a FIFO; whether it was cut.
fn read_regular(path: &Path) -> Result<(Vec<u8>, bool), String> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(
        &mut options,
        libc::O_NOFOLLOW | libc::O_NONBLOCK,
    );
    let file = options.open(path).map_err(|e| match e.raw_os_error() {
        #[cfg(unix)]
        Some(libc::ELOOP) => "a symbolic link, not followed".to_string(),
        _ => e.to_string(),
    })?;
    let meta = file.metadata().map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    let mut bytes = Vec::new();
    file.take(MAX_UNTRACKED)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    Ok((bytes, meta.len() > MAX_UNTRACKED))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_layout_or_a_gitdir_file_is_not_a_repository() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for d in ["objects", "refs"] {
            std::fs::create_dir(root.join(d)).unwrap();
        }
        std::fs::write(root.join("HEAD"), "ref: refs/heads/main\n").unwrap();
        std::fs::write(root.join("config"), "[core]\nfsmonitor = /bin/false\n").unwrap();
        // (A `.git` above the temporary directory may be found, never it.)
        assert_ne!(
            find_repo(&root.join("objects")).map(|(_, top)| top),
            Some(root.to_path_buf()),
            "not taken for a repo"
        );
        std::fs::create_dir(root.join("sub")).unwrap();
        std::fs::write(root.join("sub/.git"), "gitdir: /elsewhere\n").unwrap();
        assert_eq!(find_repo(&root.join("sub")), None);
        std::fs::create_dir(root.join(".git")).unwrap();
        assert_eq!(
            find_repo(&root.join("objects")),
            Some((root.join(".git"), root.to_path_buf()))
        );
    }

    #[cfg(unix)]
    #[test]
    fn untracked_links_and_fifos_are_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(root.join("new.txt"), "one\ntwo\n").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", root.join("link")).unwrap();
        let shown = untracked_as_added(root, "new.txt");
        assert!(shown.contains("+one\n+two\n"), "{shown}");
        let link = untracked_as_added(root, "link");
        assert!(
            link.contains("not followed") && !link.contains("root:"),
            "{link}"
        );
        let fifo = std::ffi::CString::new(root.join("fifo").to_str().unwrap()).unwrap();
        // SAFETY: mkfifo on a path this test owns.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        assert!(untracked_as_added(root, "fifo").contains("not a regular file"));
    }
}
