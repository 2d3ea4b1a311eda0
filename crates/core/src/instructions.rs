//! Project instructions: `AGENTS.md` from `$CORDON_HOME` and from each
//! directory between the git root and the working directory, root first,
//! capped at 32 KiB in all.

use std::path::{Path, PathBuf};

/// The cap on all instructions together.
pub const MAX_INSTRUCTIONS: usize = 32 * 1024;

/// The nearest directory at or above `cwd` that is a git work tree: its
/// `.git` is a file (worktree, submodule) or a directory with `HEAD` (an
/// empty `.git`, such as a sandbox placeholder, is not a repository).
pub fn git_root(cwd: &Path) -> Option<PathBuf> {
    cwd.ancestors()
        .find(|d| {
            let git = d.join(".git");
            git.is_file() || git.join("HEAD").is_file()
        })
        .map(Path::to_path_buf)
}

/// The `AGENTS.md` files that apply, in order: `$CORDON_HOME/AGENTS.md`,
/// then the git root's down to `cwd`'s (only `cwd`'s outside a repository).
pub fn agents_files(home: Option<&Path>, cwd: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    if let Some(h) = home {
        files.push(h.join("AGENTS.md"));
    }
    let top = git_root(cwd).unwrap_or_else(|| cwd.to_path_buf());
    let mut dirs: Vec<&Path> = cwd
        .ancestors()
        .take_while(|d| d.starts_with(&top))
        .collect();
    dirs.reverse();
    files.extend(dirs.into_iter().map(|d| d.join("AGENTS.md")));
    files.retain(|f| f.is_file());
    files
}

/// The concatenated instructions (each file under a header naming it),
/// cut at `max` bytes (`project_doc_max_bytes`, by default
/// [`MAX_INSTRUCTIONS`]) with a note when cut.
pub fn load(home: Option<&Path>, cwd: &Path, max: usize) -> Option<String> {
    let mut out = String::new();
    for file in agents_files(home, cwd) {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        out.push_str(&format!(
            "# From {}\n\n{}\n\n",
            file.display(),
            text.trim_end()
        ));
    }
    if out.is_empty() {
        return None;
    }
    if out.len() > max {
        let mut cut = max;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
        out.push_str(&format!("\n[... instructions cut at {max} bytes ...]\n"));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn root_first_home_first_and_capped() {
        let tmp = tempfile::tempdir().unwrap();
        let repo = tmp.path().join("repo");
        let deep = repo.join("a/b");
        fs::create_dir_all(repo.join(".git")).unwrap();
        fs::write(repo.join(".git/HEAD"), "ref: refs/heads/main\n").unwrap();
        fs::create_dir_all(&deep).unwrap();
        let home = tmp.path().join("home");
        fs::create_dir_all(&home).unwrap();
        fs::write(home.join("AGENTS.md"), "HOME").unwrap();
        fs::write(repo.join("AGENTS.md"), "ROOT").unwrap();
        fs::write(deep.join("AGENTS.md"), "DEEP").unwrap();
        fs::write(tmp.path().join("AGENTS.md"), "ABOVE THE REPO").unwrap();
        let text = load(Some(&home), &deep, MAX_INSTRUCTIONS).unwrap();
        let (h, r, d) = (
            text.find("HOME").unwrap(),
            text.find("ROOT").unwrap(),
            text.find("DEEP").unwrap(),
        );
        assert!(h < r && r < d, "{text}");
        assert!(!text.contains("ABOVE THE REPO"));
        fs::write(repo.join("AGENTS.md"), "x".repeat(40 * 1024)).unwrap();
        let text = load(None, &deep, MAX_INSTRUCTIONS).unwrap();
        assert!(text.len() < MAX_INSTRUCTIONS + 100 && text.ends_with("cut at 32768 bytes ...]\n"));
        let empty = tmp.path().join("empty");
        fs::create_dir_all(empty.join(".git")).unwrap();
        assert_eq!(
            load(None, &empty, MAX_INSTRUCTIONS),
            None,
            "no AGENTS.md, and an empty .git is no repository"
        );
    }
}
