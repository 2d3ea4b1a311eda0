//! The README's claims point at tests: every test it names exists, and
//! every row of its feature table that claims something works names one.

use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every `.rs` file under `dir`.
fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The code of the workspace (crates and fuzz targets), as one text.
fn code() -> String {
    let mut files = Vec::new();
    sources(&repo().join("crates"), &mut files);
    files
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Names in backticks that look like test names: lowercase words joined by
/// at least four underscores.
fn test_like_names(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (i, chunk) in text.split('`').enumerate() {
        if i % 2 == 1
            && chunk.matches('_').count() >= 4
            && chunk
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            out.push(chunk.to_string());
        }
    }
    out.sort();
    out.dedup();
    out
}

/// A test named in the README that no longer exists is a claim without
/// proof: every such name must still be a function in the code.
#[test]
fn every_test_the_readme_names_exists() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let code = code();
    let names = test_like_names(&readme);
    assert!(names.len() > 20, "the README names tests: {names:?}");
    let missing: Vec<&String> = names
        .iter()
        .filter(|n| !code.contains(&format!("fn {n}(")) && !code.contains(&format!("{n}:")))
        .collect();
    assert!(
        missing.is_empty(),
        "the README names tests that do not exist: {missing:?}"
    );
}

/// Every row of the feature table names at least one test (that exists,
/// by the test above), so no claim there stands without a proof.
#[test]
fn every_feature_row_names_a_test() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let start = readme.find("## What works").expect("a feature table");
    let end = readme[start..]
        .find("\n## ")
        .map_or(readme.len(), |e| start + 1 + e);
    let rows: Vec<&str> = readme[start..end]
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| Feature") && !l.starts_with("|---"))
        .collect();
    assert!(rows.len() > 15, "{rows:?}");
    let bare: Vec<&&str> = rows
        .iter()
        .filter(|r| test_like_names(r).is_empty())
        .collect();
    assert!(bare.is_empty(), "rows that name no test: {bare:#?}");
}
