//! A saved conversation as cells, for a resumed session's scrollback.

use crate::cells::{self, Cell};
use cordon_core::agent::ChangeKind;
use cordon_core::model::request::Item;
use serde_json::Value;

/// The argv of a `shell` call's arguments.
pub fn shell_argv(arguments: &str) -> Vec<String> {
    serde_json::from_str::<Value>(arguments)
        .ok()
        .and_then(|v| serde_json::from_value(v["command"].clone()).ok())
        .unwrap_or_default()
}

/// The patch a tool call carries (`apply_patch`, or a heredoc `shell`
/// call), as files with diffs.
pub fn call_patch(name: &str, arguments: &str) -> Option<Vec<cells::PatchFile>> {
    let text = match name {
        "apply_patch" => serde_json::from_str::<Value>(arguments)
            .ok()?
            .get("input")?
            .as_str()?
            .to_string(),
        "shell" => cordon_core::patch::parse_heredoc_invocation(&shell_argv(arguments))?.1,
        _ => return None,
    };
    cordon_core::patch::parse(&text)
        .ok()
        .map(|p| cells::patch_files(&p))
}

/// The exit code a shell tool result starts with.
fn exit_code(output: &str) -> Option<i32> {
    output
        .lines()
        .next()?
        .strip_prefix("exit code: ")?
        .trim()
        .parse()
        .ok()
}

/// Cells for `items` (a saved conversation).
pub fn cells(items: &[Item], hide_reasoning: bool) -> Vec<Cell> {
    let _ = hide_reasoning;
    let mut out = Vec::new();
    let mut calls: Vec<(String, String, String)> = Vec::new();
    for item in items {
        match item {
            Item::User(t) => out.push(Cell::User(t.clone())),
            Item::Assistant(t) => out.push(Cell::Assistant(t.clone())),
            Item::Call {
                call_id,
                name,
                arguments,
            } => calls.push((call_id.clone(), name.clone(), arguments.clone())),
            Item::Output { call_id, output } => {
                let Some(pos) = calls.iter().position(|(c, ..)| c == call_id) else {
                    continue;
                };
                let (_, name, arguments) = calls.remove(pos);
                if let Some(files) = call_patch(&name, &arguments) {
                    let applied = !output.contains("not applied");
                    out.push(Cell::Patch {
                        files,
                        applied,
                        error: (!applied).then(|| output.clone()),
                    });
                    continue;
                }
                match name.as_str() {
                    "shell" => out.push(Cell::Command {
                        command: cordon_core::runner::display_command(&shell_argv(&arguments)),
                        output: cells::command_output(output),
                        exit_code: exit_code(output),
                        duration: None,
                        declined: output.contains("declined"),
                    }),
                    "update_plan" => {
                        let plan = serde_json::from_str::<Value>(&arguments)
                            .ok()
                            .map(|v| v["plan"].clone())
                            .unwrap_or_default();
                        out.push(Cell::Plan(cells::plan_steps(&plan)));
                    }
                    _ => {}
                }
            }
        }
    }
    out
}

/// Files of a patch result when the call's own text could not be read.
pub fn changes_files(changes: &[(String, ChangeKind)]) -> Vec<cells::PatchFile> {
    changes
        .iter()
        .map(|(path, kind)| cells::PatchFile {
            path: path.clone(),
            kind: *kind,
            lines: Vec::new(),
            added: 0,
            removed: 0,
        })
        .collect()
}
