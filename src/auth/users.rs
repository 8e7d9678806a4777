//! Users as the operator sees them: creating one (name rules, password
//! policy), and the credential report, a CSV of every user's credentials in the
//! columns of AWS IAM's report.

use secrecy::{ExposeSecret, SecretString};

use super::audit::AuditEvent;
use super::clock::iso8601;
use super::password_policy::PasswordPolicy;
use super::{Auth, AuthError, AuthResult, Client};
use crate::store::{NewUser, UserRecord};

pub const MAX_USERNAME_CHARS: usize = 64;

pub const CREDENTIAL_REPORT_HEADER: &str = "user,user_id,user_creation_time,password_enabled,\
password_last_used,password_last_changed,mfa_active,totp_devices,security_keys,\
recovery_codes_left,admin,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used,\
access_key_2_active,access_key_2_last_rotated,access_key_2_last_used,passkeys";

/// 1–64 characters from `A-Z a-z 0-9 . _ @ -`, starting with a letter or digit
/// (so a name is safe in a URL, a header, an otpauth label and a CSV cell).
pub fn check_username(username: &str) -> AuthResult<()> {
    let valid_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '@' | '-');
    let starts_well = username
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric());
    if username.len() > MAX_USERNAME_CHARS || !starts_well || !username.chars().all(valid_char) {
        return Err(AuthError::InvalidRequest(format!(
            "a username has 1 to {MAX_USERNAME_CHARS} characters from A-Z a-z 0-9 . _ @ -, \
             starting with a letter or digit"
        )));
    }
    Ok(())
}

/// The password rules every path applies (CLI, admin API, password change):
/// the configured policy (`auth::policy`).
pub fn check_password(
    policy: &PasswordPolicy,
    username: &str,
    password: &SecretString,
) -> AuthResult<()> {
    policy
        .check(username, password.expose_secret())
        .map_err(AuthError::WeakPassword)
}

impl Auth {
    /// Creates a user. `acting_admin` names who did it (None: the host's CLI).
    pub async fn create_user(
        &self,
        username: &str,
        password: &SecretString,
        admin: bool,
        acting_admin: Option<&str>,
        client: &Client,
    ) -> AuthResult<UserRecord> {
        check_username(username)?;
        check_password(&self.password_policy(), username, password)?;
        if self.store.user_by_name(username).await?.is_some() {
            return Err(AuthError::UsernameTaken);
        }
        let password_hash = self.hasher.hash(password).await?;
        let user = self
            .store
            .insert_user(NewUser {
                username: username.to_owned(),
                password_hash,
                admin,
                created_at: self.clock.now(),
            })
            .await?;
        let detail = format!("admin={admin} by={}", acting_admin.unwrap_or("cli"));
        self.audit(
            AuditEvent::UserCreated,
            Some(&user.username),
            client,
            &detail,
        )
        .await;
        Ok(user)
    }

    /// The credential report, identical from the CLI and the API.
    pub async fn credential_report(&self) -> AuthResult<String> {
        let mut csv = String::from(CREDENTIAL_REPORT_HEADER);
        csv.push('\n');
        let time_or_na = |t: Option<i64>| t.map_or_else(|| "N/A".to_owned(), iso8601);
        let (summaries, keys) = tokio::join!(
            self.store.credential_summaries(),
            self.store.all_access_keys()
        );
        let mut keys_of: std::collections::HashMap<i64, Vec<_>> = Default::default();
        for key in keys? {
            keys_of.entry(key.user_id).or_default().push(key);
        }
        for row in summaries? {
            let keys = keys_of.get(&row.user.id).map_or(&[][..], Vec::as_slice);
            let user = &row.user;
            let line = [
                user.username.clone(),
                user.id.to_string(),
                iso8601(user.created_at),
                (!user.disabled).to_string(),
                time_or_na(user.password_last_used_at),
                iso8601(user.password_changed_at),
                (row.totp_devices + row.security_keys + row.passkeys > 0).to_string(),
                row.totp_devices.to_string(),
                row.security_keys.to_string(),
                row.recovery_codes_left.to_string(),
                user.admin.to_string(),
            ]
            .into_iter()
            // Key 1 is the older (the store lists them oldest first).
            .chain((0..2).flat_map(|n| {
                let key = keys.get(n);
                [
                    key.is_some_and(|k| k.active).to_string(),
                    time_or_na(key.map(|k| k.created_at)),
                    time_or_na(key.and_then(|k| k.last_used_at)),
                ]
            }))
            // Last, after the access-key columns, as the contract says.
            .chain([row.passkeys.to_string()])
            .collect::<Vec<_>>()
            .join(",");
            csv.push_str(&line);
            csv.push('\n');
        }
        Ok(csv)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_follow_the_rules() {
        for good in ["alice", "a", "bob.smith", "x_y-z", "me@example.com", "A1"] {
            assert!(check_username(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "-alice",
            "@x",
            "a b",
            "a:b",
            "ä",
            "a,b",
            &"a".repeat(65),
        ] {
            assert!(check_username(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_empty_or_weak_password_is_refused() {
        let policy = PasswordPolicy::from_settings(&Default::default());
        for weak in ["", "password1234"] {
            assert!(matches!(
                check_password(&policy, "alice", &weak.into()),
                Err(AuthError::WeakPassword(_))
            ));
        }
    }
}
