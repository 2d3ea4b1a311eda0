//! Sessions on disk: rollouts under `$CORDON_HOME/sessions`, found by id
//! or age, read back into a conversation, and listed for a picker.

use crate::model::request::Item;
use crate::CoreError;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// Which session to continue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resume {
    /// The most recent one.
    Last,
    /// The one with this id.
    Id(String),
}

/// Finds the rollout of session `id`, or the newest with [`Resume::Last`].
pub fn find_session(home: &Path, which: &Resume) -> Result<PathBuf, CoreError> {
    let mut files = Vec::new();
    collect_rollouts(&home.join("sessions"), 0, &mut files);
    files.sort();
    let found = match which {
        Resume::Last => files.pop(),
        Resume::Id(id) => {
            let suffix = format!("-{id}.jsonl");
            files.into_iter().rev().find(|f| {
                f.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.ends_with(&suffix))
            })
        }
    };
    found.ok_or_else(|| {
        CoreError::Session(match which {
            Resume::Last => format!(
                "no session to resume under {}",
                home.join("sessions").display()
            ),
            Resume::Id(id) => format!(
                "no session with id {id} under {}",
                home.join("sessions").display()
            ),
        })
    })
}

fn collect_rollouts(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        let is_dir = e.file_type().map(|t| t.is_dir()).unwrap_or(false);
        if is_dir && depth < 3 {
            collect_rollouts(&path, depth + 1, out);
        } else if !is_dir
            && path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("rollout-") && n.ends_with(".jsonl"))
        {
            out.push(path);
        }
    }
}

/// The rollout record of a compaction: the summary, and the items kept
/// after it (a compaction in the middle of a turn).
pub fn compacted_record(summary: &str, kept: &[Item]) -> Value {
    let kept: Vec<Value> = kept
        .iter()
        .map(|i| item_record(i)["payload"].take())
        .collect();
    json!({"type": "compacted", "payload": {"summary": summary, "kept": kept}})
}

/// A conversation item as a rollout record.
pub fn item_record(item: &Item) -> Value {
    let payload = match item {
        Item::User(t) => json!({"type": "user", "text": t}),
        Item::Assistant(t) => json!({"type": "assistant", "text": t}),
        Item::Call {
            call_id,
            name,
            arguments,
        } => json!({"type": "call", "call_id": call_id, "name": name, "arguments": arguments}),
        Item::Output { call_id, output } => {
            json!({"type": "output", "call_id": call_id, "output": output})
        }
    };
    json!({"type": "response_item", "payload": payload})
}

/// The conversation and session id stored in a rollout.
pub fn history_from_records(records: &[Value]) -> Result<(String, Vec<Item>), CoreError> {
    let id = records
        .first()
        .filter(|r| r["type"] == "session_meta")
        .and_then(|r| r["payload"]["id"].as_str())
        .ok_or_else(|| {
            CoreError::Session("the session file does not start with its metadata".into())
        })?
        .to_string();
    let mut items = Vec::new();
    for r in records {
        if r["type"] == "compacted" {
            // Everything before is replaced by the summary.
            let summary = r["payload"]["summary"].as_str().unwrap_or_default();
            items = super::compacted_history(summary);
            // A compaction in the middle of a turn keeps what the turn
            // went on from.
            if let Some(kept) = r["payload"]["kept"].as_array() {
                items.extend(kept.iter().flat_map(item_from_payload));
            }
            continue;
        }
        if r["type"] != "response_item" {
            continue;
        }
        items.extend(item_from_payload(&r["payload"]));
    }
    Ok((id, items))
}

/// A `response_item` record's payload as a conversation item.
fn item_from_payload(p: &Value) -> Option<Item> {
    let s = |k: &str| p[k].as_str().unwrap_or_default().to_string();
    Some(match p["type"].as_str()? {
        "user" => Item::User(s("text")),
        "assistant" => Item::Assistant(s("text")),
        "call" => Item::Call {
            call_id: s("call_id"),
            name: s("name"),
            arguments: s("arguments"),
        },
        "output" => Item::Output {
            call_id: s("call_id"),
            output: s("output"),
        },
        _ => return None,
    })
}

/// One saved session, for a picker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSummary {
    /// Session id.
    pub id: String,
    /// The rollout file.
    pub path: PathBuf,
    /// Last change of the file (seconds since the epoch).
    pub updated: u64,
    /// The directory it ran in.
    pub cwd: String,
    /// The first prompt, on one line.
    pub first_prompt: String,
}

/// Every saved session, newest first (unreadable files are skipped).
pub fn list_sessions(home: &Path) -> Vec<SessionSummary> {
    let mut files = Vec::new();
    collect_rollouts(&home.join("sessions"), 0, &mut files);
    let mut out: Vec<SessionSummary> = files
        .into_iter()
        .filter_map(|path| {
            let records = crate::rollout::read(&path).ok()?;
            let meta = &records.first()?["payload"];
            let first_prompt = records
                .iter()
                .find(|r| r["type"] == "response_item" && r["payload"]["type"] == "user")
                .and_then(|r| r["payload"]["text"].as_str())
                .unwrap_or("")
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            let updated = std::fs::metadata(&path)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|d| d.as_secs())
                .unwrap_or(0);
            Some(SessionSummary {
                id: meta["id"].as_str()?.to_string(),
                cwd: meta["cwd"].as_str().unwrap_or("").to_string(),
                path,
                updated,
                first_prompt,
            })
        })
        .collect();
    out.sort_by(|a, b| b.updated.cmp(&a.updated).then(b.path.cmp(&a.path)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_round_trips_and_sessions_are_listed() {
        let items = vec![
            Item::User("u".into()),
            Item::Call {
                call_id: "c".into(),
                name: "shell".into(),
                arguments: "{}".into(),
            },
            Item::Output {
                call_id: "c".into(),
                output: "o".into(),
            },
            Item::Assistant("a".into()),
        ];
        let mut records = vec![json!({"type": "session_meta", "payload": {"id": "S"}})];
        records.extend(items.iter().map(item_record));
        records.push(json!({"type": "event", "payload": {"type": "turn.started"}}));
        let (sid, back) = history_from_records(&records).unwrap();
        assert_eq!(sid, "S");
        assert_eq!(back, items);
        assert!(history_from_records(&[]).is_err());
        // A compaction replaces everything before it with the summary.
        records.push(json!({"type": "compacted", "payload": {"summary": "did u, got o"}}));
        records.push(item_record(&Item::User("next".into())));
        let (_, back) = history_from_records(&records).unwrap();
        assert_eq!(back.len(), 2, "{back:?}");
        assert!(
            matches!(&back[0], Item::User(t) if t.starts_with(super::super::COMPACTED_PREFIX) && t.ends_with("did u, got o"))
        );
        assert_eq!(back[1], Item::User("next".into()));
        // One in the middle of a turn keeps the step it went on from.
        let kept = [
            Item::Call {
                call_id: "k".into(),
                name: "shell".into(),
                arguments: "{}".into(),
            },
            Item::Output {
                call_id: "k".into(),
                output: "kept output".into(),
            },
        ];
        records.push(compacted_record("mid-turn", &kept));
        records.push(item_record(&Item::Assistant("after".into())));
        let (_, back) = history_from_records(&records).unwrap();
        assert_eq!(back.len(), 4, "{back:?}");
        assert!(matches!(&back[0], Item::User(t) if t.ends_with("mid-turn")));
        assert_eq!(back[1..3], kept);
        assert_eq!(back[3], Item::Assistant("after".into()));

        let home = tempfile::tempdir().unwrap();
        let path = crate::rollout::rollout_path(home.path(), 1_795_628_325, "S");
        let mut r =
            crate::rollout::Rollout::create(path.clone(), json!({"id": "S", "cwd": "/w"})).unwrap();
        r.append(&item_record(&Item::User("fix\n the  build".into())))
            .unwrap();
        let listed = list_sessions(home.path());
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].id, "S");
        assert_eq!(listed[0].cwd, "/w");
        assert_eq!(listed[0].first_prompt, "fix the build");
        assert_eq!(find_session(home.path(), &Resume::Last).unwrap(), path);
        assert_eq!(
            find_session(home.path(), &Resume::Id("S".into())).unwrap(),
            path
        );
        assert!(find_session(home.path(), &Resume::Id("T".into())).is_err());
    }
}
