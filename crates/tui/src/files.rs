//! `@` file search: the workspace's files (what `.gitignore`, `.ignore`
//! and git's exclude files leave; hidden files and `.git` skipped; links
//! not followed) matched fuzzily against what is typed after `@`.

use nucleo_matcher::pattern::{CaseMatching, Normalization, Pattern};
use nucleo_matcher::{Config, Matcher};
use std::path::Path;

/// Most files listed from one workspace (a huge tree stays responsive).
pub const MAX_FILES: usize = 50_000;

/// Files under `root`, relative to it with `/` separators, in walk order
/// (at most `max`). Only names are read: nothing is opened but
/// directories and ignore files.
pub fn list(root: &Path, max: usize) -> Vec<String> {
    let walk = ignore::WalkBuilder::new(root)
        .hidden(true)
        .follow_links(false)
        // A .gitignore counts outside a git repository too.
        .require_git(false)
        .build();
    walk.flatten()
        .filter(|e| e.file_type().is_some_and(|t| t.is_file()))
        .filter_map(|e| {
            let rel = e.path().strip_prefix(root).ok()?;
            let parts: Vec<&str> = rel
                .components()
                .map(|c| c.as_os_str().to_str())
                .collect::<Option<Vec<_>>>()?;
            Some(parts.join("/"))
        })
        .take(max)
        .collect()
}

/// The best `limit` of `files` for `query`, best first (shorter paths
/// first among equals); an empty query lists the first files.
pub fn search<'a>(files: &'a [String], query: &str, limit: usize) -> Vec<&'a str> {
    if query.is_empty() {
        return files.iter().take(limit).map(String::as_str).collect();
    }
    let mut matcher = Matcher::new(Config::DEFAULT.match_paths());
    let pattern = Pattern::parse(query, CaseMatching::Smart, Normalization::Never);
    let mut found = pattern.match_list(files.iter().map(String::as_str), &mut matcher);
    found.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.len().cmp(&b.0.len())));
    found.into_iter().take(limit).map(|(f, _)| f).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gitignored_and_hidden_files_are_left_out_and_matches_rank() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for f in [
            "src/main.rs",
            "src/lib.rs",
            "docs/maintenance.md",
            "target/debug/main.rs",
            ".hidden/main.rs",
            "notes.log",
        ] {
            std::fs::create_dir_all(root.join(f).parent().unwrap()).unwrap();
            std::fs::write(root.join(f), "x").unwrap();
        }
        std::fs::write(root.join(".gitignore"), "target/\n*.log\n").unwrap();
        let mut files = list(root, MAX_FILES);
        files.sort();
        assert_eq!(files, ["docs/maintenance.md", "src/lib.rs", "src/main.rs"]);
        assert_eq!(search(&files, "mainrs", 5), ["src/main.rs"]);
        assert_eq!(search(&files, "main", 5)[0], "src/main.rs");
        assert_eq!(search(&files, "zzz", 5), Vec::<&str>::new());
        assert_eq!(search(&files, "", 2).len(), 2);
        assert_eq!(list(root, 1).len(), 1);
    }
}
