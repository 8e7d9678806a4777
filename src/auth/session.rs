//! Session and pending-login tokens: 256 random bits handed to the browser,
//! only their SHA-256 kept on the server; and the expiry rules (idle and
//! absolute) as pure functions of the stored times and `now`.

use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

use super::Client;
use super::clock::Timestamp;
use crate::store::{SessionRecord, TokenHash};

/// Sessions a user may hold at once; signing in again ends the oldest beyond
/// this, so the list people see (and the table) stays bounded.
pub const MAX_SESSIONS_PER_USER: u32 = 50;

/// An opaque handle naming a session or a remembered browser to people and
/// admins: random, unrelated to the token, so showing it reveals nothing.
pub fn new_handle() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A bearer token as the client holds it (base64url of 32 random bytes).
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(..)")
    }
}

impl Token {
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        Self(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
    }

    /// Wraps what a client sent; any string is fine, it only gets hashed.
    pub fn from_client(value: &str) -> Self {
        Self(value.to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// What the store keys on. Looking up by hash means a timing difference in
    /// the index lookup reveals nothing about valid tokens.
    pub fn hash(&self) -> TokenHash {
        Sha256::digest(self.0.as_bytes()).into()
    }
}

/// How long sessions live.
#[derive(Debug, Clone, Copy)]
pub struct SessionLifetime {
    pub idle_secs: i64,
    pub absolute_secs: i64,
}

/// Writing `last_seen_at` on every request would make each verify a write;
/// once a minute is precise enough for an idle timeout of minutes.
pub const TOUCH_INTERVAL_SECS: i64 = 60;

impl SessionLifetime {
    /// A session opened at `now` by `method`, whose second factor was given
    /// at `second_factor_at` (now, or a remembered browser's time).
    pub fn new_session(
        &self,
        token: &Token,
        user_id: i64,
        now: Timestamp,
        method: &str,
        second_factor_at: Timestamp,
        client: &Client,
    ) -> SessionRecord {
        SessionRecord {
            id: new_handle(),
            token_hash: token.hash(),
            user_id,
            created_at: now,
            last_seen_at: now,
            expires_at: now + self.absolute_secs,
            second_factor_at,
            method: method.to_owned(),
            ip: client.ip.clone(),
            user_agent: client.user_agent.clone(),
        }
    }

    /// A session is live until its absolute expiry and while used within the idle timeout.
    pub fn is_live(&self, session: &SessionRecord, now: Timestamp) -> bool {
        now < session.expires_at && now < session.last_seen_at + self.idle_secs
    }

    /// Whether this use should be written back to extend the idle timeout.
    pub fn needs_touch(&self, session: &SessionRecord, now: Timestamp) -> bool {
        now - session.last_seen_at >= TOUCH_INTERVAL_SECS.min(self.idle_secs / 2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIFETIME: SessionLifetime = SessionLifetime {
        idle_secs: 1800,
        absolute_secs: 12 * 3600,
    };

    #[test]
    fn tokens_are_random_and_hashed() {
        let (a, b) = (Token::generate(), Token::generate());
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 43);
        assert_eq!(a.hash(), Token::from_client(a.as_str()).hash());
        assert_ne!(a.hash(), b.hash());
        assert!(!format!("{a:?}").contains(a.as_str()));
    }

    fn session_at(now: Timestamp) -> SessionRecord {
        LIFETIME.new_session(&Token::generate(), 1, now, "totp", now, &Client::default())
    }

    #[test]
    fn handles_are_random_and_unrelated_to_the_token() {
        let session = session_at(0);
        assert_ne!(session.id, new_handle());
        assert_eq!(session.id.len(), 22);
        assert_ne!(session.id.as_bytes(), &session.token_hash[..16]);
    }

    #[test]
    fn a_session_dies_when_idle_too_long() {
        let session = session_at(1000);
        assert!(LIFETIME.is_live(&session, 1000 + 1799));
        assert!(!LIFETIME.is_live(&session, 1000 + 1800));
    }

    #[test]
    fn use_extends_the_idle_timeout_but_not_the_absolute_one() {
        let mut session = session_at(0);
        let mut now = 0;
        while now < 12 * 3600 - 1000 {
            now += 1000;
            assert!(LIFETIME.is_live(&session, now), "at {now}");
            session.last_seen_at = now;
        }
        assert!(!LIFETIME.is_live(&session, 12 * 3600));
    }

    #[test]
    fn touches_are_written_at_most_once_a_minute() {
        let session = session_at(0);
        assert!(!LIFETIME.needs_touch(&session, 59));
        assert!(LIFETIME.needs_touch(&session, 60));
    }
}
