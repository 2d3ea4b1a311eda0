//! The model's context window: known sizes and the share left.

/// The context window of well-known models, in tokens.
pub fn default_window(model: &str) -> Option<u64> {
    let m = model.to_ascii_lowercase();
    let known: &[(&str, u64)] = &[
        ("gpt-5", 272_000),
        ("gpt-4.1", 1_047_576),
        ("gpt-4o", 128_000),
        ("o3", 200_000),
        ("o4-mini", 200_000),
        ("codex-mini", 200_000),
        ("gpt-oss", 128_000),
    ];
    known
        .iter()
        .find(|(prefix, _)| m.starts_with(prefix))
        .map(|(_, w)| *w)
}

/// When the session compacts itself: `model_auto_compact_token_limit`
/// when set, else 90 % of the context window (`model_context_window`, else
/// the model's known window); `None` when neither is known.
pub fn auto_compact_limit(limit: Option<u64>, window: Option<u64>, model: &str) -> Option<u64> {
    limit.or_else(|| window.or_else(|| default_window(model)).map(|w| w / 10 * 9))
}

/// Percent of `window` left with `used` tokens in it.
pub fn percent_left(used: u64, window: u64) -> Option<u8> {
    if window == 0 {
        return None;
    }
    let left = window.saturating_sub(used).saturating_mul(100) / window;
    u8::try_from(left).ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn windows_and_percentages() {
        assert_eq!(super::default_window("gpt-5-codex"), Some(272_000));
        assert_eq!(super::default_window("mystery"), None);
        assert_eq!(super::percent_left(25, 100), Some(75));
        assert_eq!(super::percent_left(200, 100), Some(0));
        assert_eq!(super::percent_left(1, 0), None);
        assert_eq!(super::auto_compact_limit(Some(5), Some(100), "m"), Some(5));
        assert_eq!(super::auto_compact_limit(None, Some(1000), "m"), Some(900));
        assert_eq!(
            super::auto_compact_limit(None, None, "gpt-5"),
            Some(244_800)
        );
        assert_eq!(super::auto_compact_limit(None, None, "mystery"), None);
    }
}
