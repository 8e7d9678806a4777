//! Recovery codes: sets of 10 single-use codes of 12 characters (≈59 bits)
//! from an alphabet without look-alikes, shown once and stored only as keyed
//! hashes; signing in with one, and how many a user has left.

use crate::store::UserRecord;
use rand::Rng;

use super::audit::AuditEvent;
use super::login::SignedIn;
use super::second_factor::{Intent, Proof};
use super::session::Token;
use super::{Account, Auth, AuthResult, Client};
use crate::store::UserId;

/// Codes in a set.
pub const CODES_PER_SET: usize = 10;
/// Digits and lower-case letters without 0 1 i l o, which people confuse.
const ALPHABET: &[u8] = b"23456789abcdefghjkmnpqrstuvwxyz";
/// Characters per code: 12 × log2(31) ≈ 59.4 bits.
pub const CODE_CHARS: usize = 12;
/// Shown in groups of four: `k7m2-x9qa-4hnp`.
const GROUP_CHARS: usize = 4;

/// A new random code as shown to the user.
pub fn generate_code() -> String {
    let mut rng = rand::rng();
    let chars: Vec<char> = (0..CODE_CHARS)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect();
    chars
        .chunks(GROUP_CHARS)
        .map(|group| group.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join("-")
}

/// What the user typed, as the code it means: case, spaces and dashes don't
/// matter. `None` when it can't be a code.
pub fn normalise(typed: &str) -> Option<String> {
    let code: String = typed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_lowercase())
        .collect();
    (code.len() == CODE_CHARS && code.bytes().all(|b| ALPHABET.contains(&b))).then_some(code)
}

impl Auth {
    /// How many unused recovery codes the user holds.
    pub(crate) async fn recovery_codes_left(&self, user: UserId) -> AuthResult<u32> {
        Ok(self.store.recovery_codes_left(user).await?)
    }

    /// The recovery codes a signed-in user has left (account page).
    pub async fn recovery_codes_left_of(&self, user: &UserRecord) -> AuthResult<u32> {
        self.recovery_codes_left(user.id).await
    }

    /// A new set of codes (needs a recent second factor); the old set is void.
    /// The codes are returned once and only their keyed hashes are kept.
    pub async fn create_recovery_codes(
        &self,
        account: &Account,
        client: &Client,
    ) -> AuthResult<Vec<String>> {
        self.require_recent_second_factor(account)?;
        let mut codes: Vec<String> = Vec::with_capacity(CODES_PER_SET);
        while codes.len() < CODES_PER_SET {
            let code = generate_code();
            if !codes.contains(&code) {
                codes.push(code);
            }
        }
        let hashes = codes
            .iter()
            .map(|code| {
                let normalised = normalise(code).expect("a generated code is well formed");
                self.secrets.recovery_code_hash(&normalised)
            })
            .collect();
        self.store
            .replace_recovery_codes(account.user.id, hashes)
            .await?;
        self.audit(
            AuditEvent::RecoveryCodesCreated,
            Some(&account.user.username),
            client,
            &format!("count={CODES_PER_SET}"),
        )
        .await;
        Ok(codes)
    }

    /// Uses one of the user's codes; true when it was an unused one.
    pub(crate) async fn use_recovery_code(
        &self,
        user: UserId,
        username: &str,
        typed: &str,
        client: &Client,
    ) -> AuthResult<bool> {
        let Some(code) = normalise(typed) else {
            return Ok(false);
        };
        let hash = self.secrets.recovery_code_hash(&code);
        if !self
            .store
            .use_recovery_code(user, hash, self.clock.now())
            .await?
        {
            return Ok(false);
        }
        let left = self.recovery_codes_left(user).await?;
        self.audit(
            AuditEvent::RecoveryCodeUsed,
            Some(username),
            client,
            &format!("left={left}"),
        )
        .await;
        Ok(true)
    }

    /// The second step with a recovery code: each code works once. A wrong
    /// code counts against the pending login like a wrong authenticator code.
    pub async fn login_recovery_code(
        &self,
        pending: Option<&Token>,
        code: &str,
        client: &Client,
    ) -> AuthResult<SignedIn> {
        let intent = Intent::Login {
            pending,
            remember_browser: false,
        };
        self.verify_second_factor(intent, Proof::RecoveryCode(code), client)
            .await?
            .into_signed_in()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_three_groups_of_four_from_the_alphabet() {
        for _ in 0..100 {
            let code = generate_code();
            assert_eq!(code.len(), 14, "{code}");
            let groups: Vec<&str> = code.split('-').collect();
            assert_eq!(groups.len(), 3);
            assert!(groups.iter().all(|g| g.len() == 4));
            assert!(normalise(&code).is_some(), "{code}");
            assert!(!code.contains(['0', '1', 'i', 'l', 'o']));
        }
    }

    #[test]
    fn codes_carry_at_least_fifty_bits() {
        let bits = CODE_CHARS as f64 * (ALPHABET.len() as f64).log2();
        assert!(bits >= 50.0, "{bits}");
    }

    #[test]
    fn typing_is_forgiving_about_case_spaces_and_dashes_only() {
        assert_eq!(
            normalise(" K7M2 x9qa-4HNP ").as_deref(),
            Some("k7m2x9qa4hnp")
        );
        assert_eq!(normalise("k7m2-x9qa-4hn"), None);
        assert_eq!(normalise("k7m2-x9qa-4hnp5"), None);
        assert_eq!(
            normalise("k7m2-x9qa-4hn0"),
            None,
            "0 is not in the alphabet"
        );
        assert_eq!(normalise(""), None);
    }
}
