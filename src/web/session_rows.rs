//! Sessions and remembered browsers as rows on a page (the account page and
//! an admin's view of a user): "Chrome on Linux · 127.0.0.1 · last seen 3
//! minutes ago", and the factor that opened each.

use super::pages::human_time;
use super::user_agent::summarise;
use crate::auth::clock::Timestamp;
use crate::store::{RememberedBrowserRecord, SessionRecord, TokenHash};

pub struct SessionRow {
    pub id: String,
    pub current: bool,
    /// "Chrome on Linux · 127.0.0.1 · last seen 3 minutes ago"
    pub summary: String,
    /// "Signed in 6 Dec 2026, 02:30 UTC with an authenticator app"
    pub opened: String,
}

pub struct RememberedRow {
    pub id: String,
    pub current: bool,
    pub browser: String,
    /// "Chrome on Linux · 127.0.0.1 · until 5 Jan 2027"
    pub summary: String,
}

/// How the factor that opened a session reads.
fn method_words(method: &str) -> &'static str {
    match method {
        "totp" => "an authenticator code",
        "security_key" => "a security key",
        "recovery_code" => "a recovery code",
        _ => "a second factor",
    }
}

/// "just now", "3 minutes ago", "1 hour ago", "2 days ago".
pub fn time_ago(seconds: i64) -> String {
    let (n, unit) = match seconds.max(0) {
        s if s < 60 => return "just now".to_owned(),
        s if s < 3600 => (s / 60, "minute"),
        s if s < 86_400 => (s / 3600, "hour"),
        s => (s / 86_400, "day"),
    };
    format!("{n} {unit}{} ago", if n == 1 { "" } else { "s" })
}

fn joined(parts: &[Option<&str>]) -> String {
    parts
        .iter()
        .flatten()
        .filter(|p| !p.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join(" · ")
}

pub fn session_rows(
    sessions: &[SessionRecord],
    current: Option<TokenHash>,
    now: Timestamp,
) -> Vec<SessionRow> {
    // This browser first, then the others newest first (as stored).
    let (this, others): (Vec<&SessionRecord>, Vec<&SessionRecord>) =
        sessions.iter().partition(|s| current == Some(s.token_hash));
    this.into_iter()
        .chain(others)
        .map(|s| {
            let current = current == Some(s.token_hash);
            let browser = summarise(s.user_agent.as_deref());
            let seen = if current {
                "now".to_owned()
            } else {
                format!("last seen {}", time_ago(now - s.last_seen_at))
            };
            SessionRow {
                id: s.id.clone(),
                current,
                summary: joined(&[Some(&browser), s.ip.as_deref(), Some(&seen)]),
                opened: format!(
                    "Signed in {} with {}",
                    human_time(s.created_at),
                    method_words(&s.method)
                ),
            }
        })
        .collect()
}

pub fn remembered_rows(
    browsers: &[RememberedBrowserRecord],
    current: Option<TokenHash>,
) -> Vec<RememberedRow> {
    browsers
        .iter()
        .map(|b| {
            let browser = summarise(b.user_agent.as_deref());
            let until = format!("until {}", super::pages::human_date(b.expires_at));
            RememberedRow {
                id: b.id.clone(),
                current: current == Some(b.token_hash),
                summary: joined(&[Some(&browser), b.ip.as_deref(), Some(&until)]),
                browser,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::time_ago;

    #[test]
    fn times_read_in_the_largest_whole_unit() {
        assert_eq!(time_ago(5), "just now");
        assert_eq!(time_ago(-3), "just now");
        assert_eq!(time_ago(60), "1 minute ago");
        assert_eq!(time_ago(3 * 60 + 59), "3 minutes ago");
        assert_eq!(time_ago(3600), "1 hour ago");
        assert_eq!(time_ago(2 * 86_400 + 5), "2 days ago");
    }
}
