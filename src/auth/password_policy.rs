//! The password policy every new password meets (CLI `user add`, the admin
//! API, a user's own change): 12 to 128 characters, not containing the
//! username, and rated at least "safely unguessable" (zxcvbn score 3).
//! Also the password change itself.

use secrecy::{ExposeSecret, SecretString};

use super::audit::AuditEvent;
use super::password::{MAX_PASSWORD_BYTES, Verified};
use super::{Account, Auth, AuthError, AuthResult, Client};
use crate::config::PasswordSettings;

/// zxcvbn's time grows steeply with length (seconds for 128 varied
/// characters, on the request's thread): it judges this many, the start of a
/// longer password, which is never stronger than the whole.
const MAX_CHARS_ESTIMATED: usize = 64;

/// Usernames shorter than this are too common inside words to refuse.
const MIN_USERNAME_CHARS_CHECKED: usize = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordPolicy {
    pub min_length: usize,
    pub max_length: usize,
    /// zxcvbn score 0-4; 0 turns the estimator off.
    pub min_strength: u8,
}

impl PasswordPolicy {
    pub fn from_settings(settings: &PasswordSettings) -> Self {
        Self {
            min_length: settings.min_length,
            max_length: settings.max_length,
            min_strength: settings.min_strength,
        }
    }

    /// Why `password` may not be used by `username`, in words for the user.
    pub fn check(&self, username: &str, password: &str) -> Result<(), String> {
        let chars = password.chars().count();
        if chars == 0 {
            return Err("the password is empty".into());
        }
        if chars < self.min_length {
            return Err(format!(
                "the password is too short: use at least {} characters (this one has {chars}); \
                 a few unrelated words are easy to remember",
                self.min_length
            ));
        }
        if chars > self.max_length || password.len() > MAX_PASSWORD_BYTES {
            return Err(format!(
                "the password is too long: use at most {} characters",
                self.max_length
            ));
        }
        if contains_username(username, password) {
            return Err("the password must not contain the username".into());
        }
        if self.min_strength > 0 {
            let judged: String = password.chars().take(MAX_CHARS_ESTIMATED).collect();
            let estimate = zxcvbn::zxcvbn(&judged, &[username]);
            if (estimate.score() as u8) < self.min_strength {
                let advice = estimate
                    .feedback()
                    .map(|f| format!(": {f}"))
                    .unwrap_or_default();
                return Err(format!("the password is too easy to guess{advice}"));
            }
        }
        Ok(())
    }
}

/// The username (or, for `name@domain`, its local part) inside the
/// password, ignoring case.
fn contains_username(username: &str, password: &str) -> bool {
    let password = password.to_lowercase();
    let username = username.to_lowercase();
    let local = username.split('@').next().unwrap_or("");
    [username.as_str(), local]
        .iter()
        .any(|name| name.chars().count() >= MIN_USERNAME_CHARS_CHECKED && password.contains(name))
}

impl Auth {
    pub fn password_policy(&self) -> PasswordPolicy {
        PasswordPolicy::from_settings(&self.settings.password)
    }

    /// A user changes their own password: needs a recent second factor and
    /// the current password; ends the user's other sessions.
    #[tracing::instrument(skip_all, fields(ip = client.ip_str()))]
    pub async fn change_password(
        &self,
        account: &Account,
        current: &SecretString,
        new: &SecretString,
        client: &Client,
    ) -> AuthResult<()> {
        self.require_recent_second_factor(account)?;
        let user = &account.user;
        let ticket = self
            .charge_password_attempt(&user.username, Some(user), client)
            .await?;
        let too_long = current.expose_secret().len() > MAX_PASSWORD_BYTES;
        let verified = self
            .hasher
            .verify(current, (!too_long).then_some(user.password_hash.as_str()))
            .await?;
        if verified == Verified::Mismatch {
            self.audit(
                AuditEvent::LoginPasswordFailed,
                Some(&user.username),
                client,
                "wrong current password in a password change",
            )
            .await;
            return Err(AuthError::InvalidCredentials);
        }
        self.password_was_right(ticket).await;
        self.password_policy()
            .check(&user.username, new.expose_secret())
            .map_err(AuthError::WeakPassword)?;
        let hash = self.hasher.hash(new).await?;
        self.store
            .change_password(user.id, hash, self.clock.now(), account.session.token_hash)
            .await?;
        self.audit(
            AuditEvent::PasswordChanged,
            Some(&user.username),
            client,
            "by=self; other sessions ended",
        )
        .await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> PasswordPolicy {
        PasswordPolicy::from_settings(&PasswordSettings::default())
    }

    #[test]
    fn the_estimator_reads_only_the_first_characters_of_a_long_password() {
        // A weak start followed by strong characters is judged by its start:
        // the estimator never sees more than MAX_CHARS_ESTIMATED (its cost
        // grows steeply with length).
        let weak_start = "a".repeat(MAX_CHARS_ESTIMATED);
        let strong_end = "Xq7#vLp2!mZ9@wRt4$kB8%nC6^hJ3&yF";
        let password = format!("{weak_start}{strong_end}");
        assert!(
            policy()
                .check("alice", &password)
                .unwrap_err()
                .contains("too easy to guess")
        );
        assert_eq!(policy().check("alice", strong_end), Ok(()));
    }

    #[test]
    fn passphrases_pass() {
        for good in [
            "correct horse battery staple",
            "a walk in the park at noon",
            "my cat is called fluffy",
        ] {
            assert_eq!(policy().check("alice", good), Ok(()), "{good}");
        }
    }

    #[test]
    fn short_long_common_and_personal_passwords_are_refused_with_a_reason() {
        let reason = |password: &str| policy().check("alice", password).unwrap_err();
        assert!(reason("").contains("empty"));
        assert!(reason("Tr0ub4dor&3").contains("at least 12"));
        assert!(reason(&"horse staple ".repeat(10)).contains("at most 128"));
        assert!(reason("password1234").contains("too easy to guess"));
        assert!(reason("qwertyuiopasdf").contains("too easy to guess"));
        assert!(reason("correct horse ALICE staple").contains("username"));
    }

    #[test]
    fn the_local_part_of_an_email_username_counts_and_tiny_names_do_not() {
        assert!(contains_username(
            "bobby@example.com",
            "my name is bobby ok"
        ));
        assert!(!contains_username("al", "a walk along the canal"));
    }

    #[test]
    fn length_is_counted_in_characters() {
        let p = PasswordPolicy {
            min_strength: 0,
            ..policy()
        };
        assert!(p.check("x", "ééééééééééé").is_err(), "11 characters");
        assert!(p.check("x", "éééééééééééé").is_ok(), "12 characters");
    }

    #[test]
    fn the_estimator_can_be_turned_off() {
        let relaxed = PasswordPolicy {
            min_strength: 0,
            ..policy()
        };
        assert_eq!(relaxed.check("alice", "password1234"), Ok(()));
    }
}
