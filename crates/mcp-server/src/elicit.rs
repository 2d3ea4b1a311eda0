//! Approvals as standard form elicitation: the question, its
//! `requestedSchema` (one required enum property `decision`), and the
//! answer read back. Only `accept` with a known decision approves; decline,
//! cancel, errors and anything else deny.

use cordon_core::approval::{ApprovalAction, ApprovalDecision, ApprovalRequest};
use rmcp::model::{ElicitRequestParams, ElicitResult, ElicitationAction, ElicitationSchema};
use rmcp::{Peer, RoleServer};
use serde_json::{json, Value};
use std::path::Path;

/// The choices, as the schema names them.
pub const CHOICES: [&str; 3] = ["approve", "approve_for_session", "deny"];

/// The question for people: the command (or the patch's files), the
/// working directory and the model's justification.
pub fn message(request: &ApprovalRequest, session_cwd: &Path) -> String {
    let justification = request
        .justification
        .as_deref()
        .unwrap_or("(the model gave none)");
    let what = match &request.action {
        ApprovalAction::Command { argv, cwd } => format!(
            "cordon asks to run this command:\n  {}\nin: {}",
            cordon_core::runner::display_command(argv),
            cwd.display()
        ),
        ApprovalAction::Patch { files } => {
            let list: Vec<String> = files
                .iter()
                .map(|f| format!("  {} (+{} -{})", f.path.display(), f.added, f.removed))
                .collect();
            format!(
                "cordon asks to apply a patch to these files:\n{}\nin: {}",
                list.join("\n"),
                session_cwd.display()
            )
        }
        ApprovalAction::McpToolCall {
            server,
            tool,
            arguments,
        } => format!("cordon asks to call the MCP tool {server}.{tool} with {arguments}"),
    };
    format!(
        "{what}\nwhy cordon asks: {}\nthe model's justification: {justification}\n\napprove: this once; approve_for_session: also the same {} again in this session; deny: the model is told no.",
        request.reason.describe(),
        match request.action {
            ApprovalAction::Command { .. } => "command",
            ApprovalAction::Patch { .. } => "files",
            ApprovalAction::McpToolCall { .. } => "tool",
        }
    )
}

/// The `requestedSchema`.
pub fn schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "decision": {
                "type": "string",
                "title": "Decision",
                "description": "approve: allow it this once; approve_for_session: allow it and the same again for this session; deny: refuse (the model is told and goes on).",
                "enum": CHOICES,
                "enumNames": ["Approve", "Approve for this session", "Deny"]
            }
        },
        "required": ["decision"]
    })
}

/// The answer as a decision: only `accept` with a known `decision`
/// approves.
pub fn decision(result: &ElicitResult) -> ApprovalDecision {
    if result.action != ElicitationAction::Accept {
        return ApprovalDecision::Deny;
    }
    match result
        .content
        .as_ref()
        .and_then(|c| c.get("decision"))
        .and_then(Value::as_str)
    {
        Some("approve") => ApprovalDecision::Approve,
        Some("approve_for_session") => ApprovalDecision::ApproveForSession,
        _ => ApprovalDecision::Deny,
    }
}

/// Asks the client; any failure denies.
pub async fn ask(
    peer: &Peer<RoleServer>,
    request: &ApprovalRequest,
    session_cwd: &Path,
) -> ApprovalDecision {
    let schema: ElicitationSchema = match serde_json::from_value(schema()) {
        Ok(s) => s,
        Err(e) => {
            log::warn!("cordon's elicitation schema does not parse: {e}");
            return ApprovalDecision::Deny;
        }
    };
    let params = ElicitRequestParams::FormElicitationParams {
        meta: None,
        message: message(request, session_cwd),
        requested_schema: schema,
    };
    match peer.create_elicitation(params).await {
        Ok(result) => decision(&result),
        Err(e) => {
            log::warn!("elicitation failed, so the request is denied: {e}");
            ApprovalDecision::Deny
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cordon_core::approval::ApprovalReason;

    #[test]
    fn the_schema_parses_and_only_accept_with_a_known_choice_approves() {
        let parsed: ElicitationSchema = serde_json::from_value(schema()).unwrap();
        let back = serde_json::to_value(&parsed).unwrap();
        assert_eq!(back["required"], json!(["decision"]));
        assert_eq!(back["properties"]["decision"]["enum"], json!(CHOICES));
        let answer = |action, content: Option<Value>| {
            let mut r = ElicitResult::new(action);
            r.content = content;
            decision(&r)
        };
        use ApprovalDecision::*;
        use ElicitationAction::*;
        assert_eq!(
            answer(Accept, Some(json!({"decision": "approve"}))),
            Approve
        );
        assert_eq!(
            answer(Accept, Some(json!({"decision": "approve_for_session"}))),
            ApproveForSession
        );
        assert_eq!(answer(Accept, Some(json!({"decision": "deny"}))), Deny);
        assert_eq!(answer(Accept, Some(json!({"decision": "yes"}))), Deny);
        assert_eq!(answer(Accept, None), Deny);
        assert_eq!(answer(Decline, Some(json!({"decision": "approve"}))), Deny);
        assert_eq!(answer(Cancel, None), Deny);
    }

    #[test]
    fn the_message_names_the_command_cwd_and_justification() {
        let request = ApprovalRequest {
            call_id: "c".into(),
            action: ApprovalAction::Command {
                argv: vec!["curl".into(), "https://example.com".into()],
                cwd: "/work/repo".into(),
            },
            justification: Some("needs the network".into()),
            reason: ApprovalReason::Escalation,
        };
        let m = message(&request, Path::new("/work"));
        assert!(m.contains("curl https://example.com"), "{m}");
        assert!(m.contains("/work/repo"), "{m}");
        assert!(m.contains("needs the network"), "{m}");
    }
}
