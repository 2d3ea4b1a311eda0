//! The names the model sees: `mcp__SERVER__TOOL`, with every character
//! outside `[A-Za-z0-9_]` made `_`, at most 64 bytes. A name that is
//! longer, or that collides with one already given, is cut and ends in `_`
//! and 12 hex digits of a SHA-256 of the full name.

use sha2::{Digest, Sha256};
use std::collections::HashSet;

/// Longest tool name the model APIs accept.
pub const MAX_LEN: usize = 64;
/// `_` plus 12 hex digits.
const SUFFIX_LEN: usize = 13;

/// The full name before it is made safe.
pub fn full_name(server: &str, tool: &str) -> String {
    format!("mcp__{server}__{tool}")
}

fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn hashed(safe: &str, full: &str) -> String {
    let digest = Sha256::digest(full.as_bytes());
    let hex: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
    // `safe` is ASCII, so any byte index is a character boundary.
    let keep = safe.len().min(MAX_LEN - SUFFIX_LEN);
    format!("{}_{hex}", &safe[..keep])
}

/// Gives each `(server, tool)` its model name, in order; `taken` holds the
/// names given so far (built-in tools' names included).
pub fn model_name(server: &str, tool: &str, taken: &mut HashSet<String>) -> String {
    let full = full_name(server, tool);
    let safe = sanitize(&full);
    let name = if safe.len() > MAX_LEN || taken.contains(&safe) {
        hashed(&safe, &full)
    } else {
        safe
    };
    taken.insert(name.clone());
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_names_kept_unsafe_characters_replaced() {
        let mut taken = HashSet::new();
        assert_eq!(
            model_name("docs", "search", &mut taken),
            "mcp__docs__search"
        );
        assert_eq!(
            model_name("my-srv", "get.item/v2", &mut taken),
            "mcp__my_srv__get_item_v2"
        );
        assert_eq!(model_name("s", "é", &mut taken), "mcp__s___");
    }

    #[test]
    fn long_and_colliding_names_get_a_hash_and_stay_within_64_bytes() {
        let mut taken = HashSet::new();
        let long = "t".repeat(100);
        let a = model_name("srv", &long, &mut taken);
        assert_eq!(a.len(), MAX_LEN);
        assert!(a.starts_with("mcp__srv__ttt"));
        let hex = &a[a.len() - 12..];
        assert!(hex.bytes().all(|b| b.is_ascii_hexdigit()), "{a}");
        assert_eq!(&a[a.len() - 13..a.len() - 12], "_");
        // Same prefix, different full name: a different hash.
        let b = model_name("srv", &format!("{long}x"), &mut taken);
        assert_ne!(a, b);
        // `a-b` and `a_b` both become `a_b`: the second is hashed.
        let first = model_name("s", "a-b", &mut taken);
        let second = model_name("s", "a_b", &mut taken);
        assert_eq!(first, "mcp__s__a_b");
        assert!(second.starts_with("mcp__s__a_b_") && second.len() == 11 + 13);
        assert!(second
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'_'));
    }
}
