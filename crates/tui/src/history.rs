//! The composer's Up/Down history: the prompts in
//! `$CORDON_HOME/history.jsonl` (written by the session core).

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// Most bytes read from the end of the file.
const TAIL_BYTES: u64 = 1024 * 1024;
/// Most entries kept.
const MAX_ENTRIES: usize = 1000;

/// The prompts recorded in `home/history.jsonl`, oldest first (a missing
/// or unreadable file is an empty history).
pub fn load(home: &Path) -> Vec<String> {
    let Ok(mut f) = std::fs::File::open(home.join("history.jsonl")) else {
        return Vec::new();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let start = len.saturating_sub(TAIL_BYTES);
    if f.seek(SeekFrom::Start(start)).is_err() {
        return Vec::new();
    }
    let mut bytes = Vec::new();
    if f.read_to_end(&mut bytes).is_err() {
        return Vec::new();
    }
    let text = String::from_utf8_lossy(&bytes);
    let mut lines = text.lines();
    if start > 0 {
        // The first line is cut.
        lines.next();
    }
    let mut out: Vec<String> = lines
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["text"].as_str().map(str::to_string))
        .collect();
    out.dedup();
    let skip = out.len().saturating_sub(MAX_ENTRIES);
    out.drain(..skip);
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_texts_oldest_first_skipping_bad_lines() {
        let home = tempfile::tempdir().unwrap();
        std::fs::write(
            home.path().join("history.jsonl"),
            "{\"session_id\":\"a\",\"ts\":1,\"text\":\"one\"}\nnot json\n{\"text\":\"two\\nlines\"}\n",
        )
        .unwrap();
        assert_eq!(super::load(home.path()), vec!["one", "two\nlines"]);
        assert!(super::load(&home.path().join("none")).is_empty());
    }
}
