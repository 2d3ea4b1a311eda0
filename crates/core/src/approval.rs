//! When a command needs the user's approval, by `approval_policy`:
//!
//! | policy       | before running                                   | after a sandboxed failure |
//! |--------------|--------------------------------------------------|---------------------------|
//! | `untrusted`  | ask unless the command is known to be read-only  | —                         |
//! | `on-failure` | run in the sandbox                               | ask to run it unsandboxed |
//! | `on-request` | run in the sandbox; ask when escalation requested | —                        |
//! | `never`      | run in the sandbox; escalation declined          | —                         |
//!
//! A front end that cannot ask (`cordon exec`) treats every "ask" as
//! declined, and says so to the model.

use cordon_policy::ApprovalPolicy;
use std::path::PathBuf;

/// One file of a patch, for a person to judge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileDiff {
    /// The file (its real path).
    pub path: PathBuf,
    /// Added, updated or deleted.
    pub kind: crate::agent::ChangeKind,
    /// A unified diff of the change.
    pub diff: String,
    /// Lines added.
    pub added: usize,
    /// Lines removed.
    pub removed: usize,
}

/// What an approval is asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApprovalAction {
    /// Run a command.
    Command {
        /// argv.
        argv: Vec<String>,
        /// Where it would start.
        cwd: PathBuf,
    },
    /// Apply a patch.
    Patch {
        /// Each file and its diff.
        files: Vec<FileDiff>,
    },
    /// Call a tool of an MCP server.
    McpToolCall {
        /// The server.
        server: String,
        /// The tool's name on the server.
        tool: String,
        /// The arguments the model gave.
        arguments: serde_json::Value,
    },
}

/// Why an approval is asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApprovalReason {
    /// The model asked to run outside the sandbox.
    Escalation,
    /// The command failed in the sandbox, which denied something; the
    /// question is whether to run it again without the sandbox.
    SandboxDenied {
        /// What the sandbox denied.
        denied: String,
    },
    /// `approval_policy = "untrusted"` and the action is not known to be
    /// read-only.
    Untrusted,
    /// cordon's proxy refused these hosts to the command (no allow rule,
    /// or a non-public address not explicitly allowed); the question is
    /// whether to allow them for the rest of the session and run it again.
    ProxyDenied {
        /// The hosts, as the command asked for them.
        hosts: Vec<String>,
        /// The proxy's denial lines (`host:port (reason) xN`).
        denied: String,
    },
    /// The patch writes outside what the sandbox policy allows.
    OutsideWritableRoots {
        /// The first path the policy refuses.
        path: PathBuf,
    },
    /// An MCP tool that does not say it only reads, or whose
    /// `approval_mode` is `prompt`.
    McpTool {
        /// The server says the tool only reads (so `prompt` asked).
        read_only: bool,
    },
}

impl ApprovalReason {
    /// One line for people.
    pub fn describe(&self) -> String {
        match self {
            ApprovalReason::Escalation => "the model asks to run it outside the sandbox".into(),
            ApprovalReason::SandboxDenied { .. } => {
                "it failed in the sandbox, which denied something; run it again without the sandbox?".into()
            }
            ApprovalReason::ProxyDenied { hosts, .. } => format!(
                "the proxy refused {} (no rule allows it); allow it for this session and run the command again?",
                hosts.join(", ")
            ),
            ApprovalReason::Untrusted => {
                "approval_policy is `untrusted` and this may change things".into()
            }
            ApprovalReason::OutsideWritableRoots { path } => format!(
                "{} is outside the sandbox's writable roots",
                path.display()
            ),
            ApprovalReason::McpTool { read_only: false } => {
                "an MCP server's tool that may change things (it does not say it only reads)".into()
            }
            ApprovalReason::McpTool { read_only: true } => {
                "an MCP server's tool whose approval_mode is `prompt`".into()
            }
        }
    }
}

/// A question to the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalRequest {
    /// The tool call it is about.
    pub call_id: String,
    /// What would be done.
    pub action: ApprovalAction,
    /// The model's justification, if it gave one.
    pub justification: Option<String>,
    /// Why cordon asks.
    pub reason: ApprovalReason,
}

/// The user's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApprovalDecision {
    /// Yes, this once.
    Approve,
    /// Yes, and do not ask again this session for the same command (or
    /// the same files).
    ApproveForSession,
    /// For [`ApprovalReason::ProxyDenied`]: allow the refused hosts for
    /// the rest of the session and run the command again in the sandbox.
    AllowDomainsForSession,
    /// No; the model is told and goes on.
    Deny,
    /// No, and stop the turn: the user will say what to do differently.
    Abort,
}

/// Answers approval requests: the front end's side. `exec` cannot ask
/// ([`DeclineAll`]); the TUI shows a modal; the MCP server elicits.
pub trait Approver: Send {
    /// Blocks until the user decides.
    fn decide(&mut self, request: &ApprovalRequest) -> ApprovalDecision;
}

/// A front end with no one to ask: every request is declined.
#[derive(Debug, Default, Clone, Copy)]
pub struct DeclineAll;

impl Approver for DeclineAll {
    fn decide(&mut self, _request: &ApprovalRequest) -> ApprovalDecision {
        ApprovalDecision::Deny
    }
}

/// What to do with a command before running it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Run it under the session's sandbox.
    Run,
    /// Ask the user first; the text says why.
    Ask(String),
    /// Do not run it; the text says why (for the model).
    Decline(String),
}

/// Programs that only read, when called without their writing options.
const READ_ONLY: &[&str] = &[
    "cat", "cd", "echo", "false", "grep", "head", "ls", "nl", "pwd", "rg", "tail", "true", "wc",
    "which", "whoami", "stat", "file", "tree", "du", "df", "uname", "id", "date",
];

/// Whether `argv` is known not to change anything.
pub fn is_known_read_only(argv: &[String]) -> bool {
    let Some((program, args)) = argv.split_first() else {
        return false;
    };
    let name = program.rsplit('/').next().unwrap_or(program);
    let has = |flags: &[&str]| args.iter().any(|a| flags.iter().any(|f| a.starts_with(f)));
    match name {
        "find" => !has(&["-exec", "-execdir", "-ok", "-delete", "-fprint", "-fls"]),
        "rg" => !has(&["--pre", "--search-zip", "-z"]),
        "sed" => args.first().is_some_and(|a| a == "-n") && !has(&["-i", "--in-place", "w"]),
        "git" => {
            matches!(
                args.first().map(String::as_str),
                Some("status" | "log" | "diff" | "show" | "branch" | "rev-parse" | "ls-files")
            ) && !has(&["--output", "-o"])
        }
        _ => READ_ONLY.contains(&name),
    }
}

/// The decision before running `argv` (`escalate`: the model asked to run
/// outside the sandbox, giving `justification`).
pub fn before_run(
    policy: ApprovalPolicy,
    argv: &[String],
    escalate: bool,
    justification: Option<&str>,
) -> Decision {
    let why = justification.unwrap_or("(no justification given)");
    match (policy, escalate) {
        (ApprovalPolicy::Never, true) => Decision::Decline(format!(
            "escalation declined: approval_policy is `never`, so nothing runs outside the sandbox. Your justification was: {why}"
        )),
        (_, true) => Decision::Ask(format!("the model asks to run outside the sandbox: {why}")),
        (ApprovalPolicy::Untrusted, false) if !is_known_read_only(argv) => {
            Decision::Ask("approval_policy is `untrusted` and this command may change things".into())
        }
        _ => Decision::Run,
    }
}

/// After a sandboxed run failed: ask to run it again without the sandbox?
pub fn after_failure(policy: ApprovalPolicy) -> Option<String> {
    (policy == ApprovalPolicy::OnFailure)
        .then(|| "the command failed in the sandbox; run it again without the sandbox?".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn each_policy_decides_as_documented() {
        use ApprovalPolicy::*;
        let ls = argv("ls -la");
        let rm = argv("rm -rf build");
        for p in [Untrusted, OnFailure, OnRequest, Never] {
            let escalated = before_run(p, &ls, true, Some("need the network"));
            match p {
                Never => assert!(
                    matches!(&escalated, Decision::Decline(m) if m.contains("need the network"))
                ),
                _ => assert!(
                    matches!(&escalated, Decision::Ask(m) if m.contains("need the network"))
                ),
            }
            assert_eq!(before_run(p, &ls, false, None), Decision::Run, "{p}");
        }
        assert!(matches!(
            before_run(Untrusted, &rm, false, None),
            Decision::Ask(_)
        ));
        for p in [OnFailure, OnRequest, Never] {
            assert_eq!(before_run(p, &rm, false, None), Decision::Run, "{p}");
        }
        assert!(after_failure(OnFailure).is_some());
        for p in [Untrusted, OnRequest, Never] {
            assert_eq!(after_failure(p), None);
        }
    }

    #[test]
    fn each_reason_is_described_for_people() {
        let cases = [
            (
                ApprovalReason::Escalation,
                "the model asks to run it outside the sandbox",
            ),
            (
                ApprovalReason::SandboxDenied {
                    denied: "write /etc".into(),
                },
                "it failed in the sandbox, which denied something; run it again without the sandbox?",
            ),
            (
                ApprovalReason::Untrusted,
                "approval_policy is `untrusted` and this may change things",
            ),
            (
                ApprovalReason::OutsideWritableRoots {
                    path: PathBuf::from("/etc/hosts"),
                },
                "/etc/hosts is outside the sandbox's writable roots",
            ),
        ];
        for (reason, text) in cases {
            assert_eq!(reason.describe(), text);
        }
    }

    #[test]
    fn read_only_commands_and_their_writing_options() {
        for ok in [
            "ls",
            "/bin/cat a",
            "git status",
            "git diff HEAD",
            "find . -name x",
            "sed -n 1,5p f",
            "rg foo",
        ] {
            assert!(is_known_read_only(&argv(ok)), "{ok}");
        }
        for no in [
            "rm a",
            "git commit -m x",
            "git diff --output=f",
            "find . -delete",
            "find . -exec rm {} ;",
            "sed -i s/a/b/ f",
            "sed s/a/b/ f",
            "rg --pre sh x",
            "python3 x.py",
            "",
        ] {
            assert!(!is_known_read_only(&argv(no)), "{no}");
        }
    }
}
