//! The patch grammar.

use super::PatchError;

/// A parsed patch: operations in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Patch {
    /// The file operations.
    pub ops: Vec<Operation>,
}

/// One file operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operation {
    /// Create a file with these lines.
    Add {
        /// Relative path.
        path: String,
        /// Content lines (without newlines).
        lines: Vec<String>,
    },
    /// Delete a file.
    Delete {
        /// Relative path.
        path: String,
    },
    /// Change a file, optionally moving it.
    Update {
        /// Relative path.
        path: String,
        /// New relative path.
        move_to: Option<String>,
        /// Hunks in file order.
        hunks: Vec<Hunk>,
    },
}

/// One `@@` hunk.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Hunk {
    /// Text after `@@`: a line to find before matching the hunk.
    pub anchor: Option<String>,
    /// Lines as they are now (context and removed).
    pub old: Vec<String>,
    /// Lines as they will be (context and added).
    pub new: Vec<String>,
    /// `*** End of File`: the hunk must match at the end.
    pub at_eof: bool,
}

fn syntax(line: usize, message: impl Into<String>) -> PatchError {
    PatchError::Syntax {
        line,
        message: message.into(),
    }
}

/// Parses patch text.
pub fn parse(text: &str) -> Result<Patch, PatchError> {
    let lines: Vec<&str> = text
        .lines()
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    let mut i = 0;
    while i < lines.len() && lines[i].trim().is_empty() {
        i += 1;
    }
    if lines.get(i).map(|l| l.trim()) != Some("*** Begin Patch") {
        return Err(syntax(i + 1, "the patch must start with `*** Begin Patch`"));
    }
    i += 1;
    let mut ops = Vec::new();
    loop {
        let Some(line) = lines.get(i) else {
            return Err(syntax(i + 1, "missing `*** End Patch`"));
        };
        let n = i + 1;
        if line.trim() == "*** End Patch" {
            break;
        }
        if let Some(path) = line.strip_prefix("*** Add File: ") {
            i += 1;
            let mut content = Vec::new();
            while let Some(l) = lines.get(i) {
                if l.starts_with("*** ") {
                    break;
                }
                let Some(rest) = l.strip_prefix('+') else {
                    return Err(syntax(i + 1, "lines of an added file must start with `+`"));
                };
                content.push(rest.to_string());
                i += 1;
            }
            ops.push(Operation::Add {
                path: path.trim().to_string(),
                lines: content,
            });
        } else if let Some(path) = line.strip_prefix("*** Delete File: ") {
            ops.push(Operation::Delete {
                path: path.trim().to_string(),
            });
            i += 1;
        } else if let Some(path) = line.strip_prefix("*** Update File: ") {
            i += 1;
            let mut move_to = None;
            if let Some(dest) = lines.get(i).and_then(|l| l.strip_prefix("*** Move to: ")) {
                move_to = Some(dest.trim().to_string());
                i += 1;
            }
            let mut hunks: Vec<Hunk> = Vec::new();
            let mut current: Option<Hunk> = None;
            while let Some(l) = lines.get(i) {
                if *l == "*** End of File" {
                    let h = current
                        .as_mut()
                        .ok_or_else(|| syntax(i + 1, "`*** End of File` outside a hunk"))?;
                    h.at_eof = true;
                    i += 1;
                    continue;
                }
                if l.starts_with("*** ") {
                    break;
                }
                if let Some(rest) = l.strip_prefix("@@") {
                    if let Some(h) = current.take() {
                        hunks.push(h);
                    }
                    let anchor = rest.trim();
                    current = Some(Hunk {
                        anchor: (!anchor.is_empty()).then(|| anchor.to_string()),
                        ..Default::default()
                    });
                    i += 1;
                    continue;
                }
                // A first hunk may start without `@@`.
                let h = current.get_or_insert_with(Hunk::default);
                match l.chars().next() {
                    Some(' ') => {
                        h.old.push(l[1..].to_string());
                        h.new.push(l[1..].to_string());
                    }
                    // An empty line stands for an empty context line.
                    None => {
                        h.old.push(String::new());
                        h.new.push(String::new());
                    }
                    Some('-') => h.old.push(l[1..].to_string()),
                    Some('+') => h.new.push(l[1..].to_string()),
                    Some(_) => {
                        return Err(syntax(
                            i + 1,
                            format!(
                            "unexpected line in a hunk: `{l}` (lines start with ' ', '-' or '+')"
                        ),
                        ))
                    }
                }
                i += 1;
            }
            if let Some(h) = current.take() {
                hunks.push(h);
            }
            if hunks.iter().any(|h| h.old.is_empty() && h.new.is_empty()) {
                return Err(syntax(n, format!("empty hunk in `{}`", path.trim())));
            }
            if hunks.is_empty() && move_to.is_none() {
                return Err(syntax(
                    n,
                    format!("`*** Update File: {}` has no hunks", path.trim()),
                ));
            }
            ops.push(Operation::Update {
                path: path.trim().to_string(),
                move_to,
                hunks,
            });
        } else {
            return Err(syntax(n, format!("expected `*** Add File:`, `*** Update File:`, `*** Delete File:` or `*** End Patch`, found `{line}`")));
        }
    }
    if ops.is_empty() {
        return Err(syntax(1, "the patch changes no file"));
    }
    Ok(Patch { ops })
}

/// Recognises a shell call that feeds a patch to `apply_patch` through a
/// heredoc (`["bash", "-lc", "apply_patch <<'EOF'\n...\nEOF\n"]`, also with
/// `cd DIR &&` in front) and returns the patch text and the directory.
pub fn parse_heredoc_invocation(argv: &[String]) -> Option<(Option<String>, String)> {
    let script = match argv {
        [cmd] => cmd.as_str(),
        [shell, flag, script]
            if ["bash", "sh", "zsh"].iter().any(|s| shell.ends_with(s))
                && (flag == "-lc" || flag == "-c") =>
        {
            script.as_str()
        }
        _ => return None,
    };
    let script = script.trim_start();
    let (cd, rest) = match script.strip_prefix("cd ") {
        Some(after) => {
            let (dir, rest) = after.split_once("&&")?;
            (
                Some(dir.trim().trim_matches(['\'', '"']).to_string()),
                rest.trim_start(),
            )
        }
        None => (None, script),
    };
    let rest = rest
        .strip_prefix("apply_patch")
        .or_else(|| rest.strip_prefix("applypatch"))?;
    let rest = rest.trim_start().strip_prefix("<<")?;
    let (marker_line, body) = rest.split_once('\n')?;
    let marker = marker_line
        .trim()
        .trim_start_matches('-')
        .trim_matches(['\'', '"']);
    if marker.is_empty() {
        return None;
    }
    let mut patch = String::new();
    for line in body.lines() {
        if line.trim() == marker {
            return Some((cd, patch));
        }
        patch.push_str(line);
        patch.push('\n');
    }
    None
}
