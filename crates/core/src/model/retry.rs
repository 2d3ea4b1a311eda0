//! When to retry a model request, and after how long.
//!
//! Retried: connection failures, 429 (honouring `Retry-After` and "try
//! again in Ns" messages), 5xx, and streams that close before completion.
//! Not retried: other 4xx (bad key, context too long, bad request): they
//! will not get better.

use std::time::Duration;

/// What went wrong with one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Could not connect or send; says why.
    Connect(String),
    /// The user interrupted (never retried).
    Interrupted,
    /// An HTTP status with its `Retry-After` header and body text.
    Status {
        /// HTTP status code.
        code: u16,
        /// `Retry-After`, if sent.
        retry_after: Option<String>,
        /// The body, for "try again in Ns" hints.
        body: String,
    },
    /// A success status whose body is not an event stream (a web page, a
    /// JSON document: a `base_url` that names something else, a portal):
    /// never retried.
    NotAStream {
        /// The response's `Content-Type`.
        content_type: String,
        /// The start of the body.
        body: String,
    },
    /// The stream closed before the response completed.
    Truncated,
    /// No event within the idle timeout.
    Idle,
}

/// Exponential backoff from 200 ms, doubling, capped at 10 s.
fn backoff(attempt: u32) -> Duration {
    let ms = 200u64.saturating_mul(1u64 << attempt.min(6));
    Duration::from_millis(ms.min(10_000))
}

/// Seconds in "try again in 1.5s" / "Please try again in 20s".
fn hinted(body: &str) -> Option<Duration> {
    let lower = body.to_ascii_lowercase();
    let at = lower.find("try again in ")? + "try again in ".len();
    let rest = &lower[at..];
    let num: String = rest
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    let value: f64 = num.parse().ok()?;
    let unit = rest[num.len()..].trim_start();
    let secs = if unit.starts_with("ms") {
        value / 1000.0
    } else {
        value
    };
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(120.0)))
}

/// The delay before attempt `attempt + 1`, or `None` when `failure` must
/// not be retried (or `max_retries` is used up).
pub fn retry_delay(failure: &Failure, attempt: u32, max_retries: u32) -> Option<Duration> {
    if attempt >= max_retries {
        return None;
    }
    match failure {
        Failure::Connect(_) | Failure::Truncated | Failure::Idle => Some(backoff(attempt)),
        Failure::Interrupted | Failure::NotAStream { .. } => None,
        Failure::Status {
            code,
            retry_after,
            body,
        } => match code {
            429 => Some(
                retry_after
                    .as_deref()
                    .and_then(|s| s.trim().parse::<f64>().ok())
                    .filter(|s| s.is_finite() && *s >= 0.0)
                    .map(|s| Duration::from_secs_f64(s.min(120.0)))
                    .or_else(|| hinted(body))
                    .unwrap_or_else(|| backoff(attempt)),
            ),
            500..=599 => Some(backoff(attempt)),
            _ => None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16, retry_after: Option<&str>, body: &str) -> Failure {
        Failure::Status {
            code,
            retry_after: retry_after.map(str::to_string),
            body: body.into(),
        }
    }

    #[test]
    fn what_is_retried_and_after_how_long() {
        assert_eq!(
            retry_delay(&status(429, Some("3"), ""), 0, 4),
            Some(Duration::from_secs(3))
        );
        assert_eq!(
            retry_delay(
                &status(429, None, "Rate limit. Please try again in 1.5s."),
                0,
                4
            ),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            retry_delay(&status(429, None, "try again in 250ms"), 0, 4),
            Some(Duration::from_millis(250))
        );
        assert_eq!(
            retry_delay(&status(429, None, "slow down"), 1, 4),
            Some(Duration::from_millis(400))
        );
        assert_eq!(
            retry_delay(&status(503, None, ""), 2, 4),
            Some(Duration::from_millis(800))
        );
        assert_eq!(
            retry_delay(&Failure::Truncated, 0, 4),
            Some(Duration::from_millis(200))
        );
        assert_eq!(
            retry_delay(&Failure::Connect("refused".into()), 10, 20),
            Some(Duration::from_secs(10)),
            "capped"
        );
        for code in [400, 401, 403, 404, 413] {
            assert_eq!(retry_delay(&status(code, None, ""), 0, 4), None, "{code}");
        }
        assert_eq!(
            retry_delay(&status(500, None, ""), 4, 4),
            None,
            "retries used up"
        );
        assert_eq!(retry_delay(&Failure::Interrupted, 0, 4), None);
        assert_eq!(
            retry_delay(&status(429, Some("-1"), ""), 0, 4),
            Some(Duration::from_millis(200))
        );
    }
}
