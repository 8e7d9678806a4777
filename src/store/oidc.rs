//! The OpenID Connect provider's records and the trait both stores keep them
//! behind: signing keys (sealed), each user's stable subject, consents,
//! authorization codes and the token families grown from them.

use async_trait::async_trait;

use super::{StoreResult, Timestamp, TokenHash, UserId};

/// A JWS signing key: its private half sealed with the secrets key.
#[derive(Debug, Clone, PartialEq)]
pub struct SigningKeyRecord {
    pub kid: String,
    /// `ES256` or `RS256`.
    pub alg: String,
    pub sealed: Vec<u8>,
    pub created_at: Timestamp,
    /// When a newer key of its algorithm took over; it stays published until
    /// the tokens it signed have expired.
    pub retired_at: Option<Timestamp>,
}

/// An authorization code: only its SHA-256 is kept, with everything the
/// token endpoint must check and put in the tokens.
#[derive(Debug, Clone)]
pub struct CodeRecord {
    pub code_hash: TokenHash,
    /// The token family the code's tokens will belong to (revoked whole when
    /// the code is used again).
    pub family: String,
    pub client_id: String,
    pub user_id: UserId,
    pub redirect_uri: String,
    pub scope: String,
    pub nonce: Option<String>,
    /// PKCE S256 challenge, when the request carried one.
    pub code_challenge: Option<String>,
    /// When the person passed their second factor, and which it was.
    pub auth_time: Timestamp,
    pub method: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OidcTokenKind {
    Access,
    Refresh,
}

impl OidcTokenKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OidcTokenKind::Access => "access",
            OidcTokenKind::Refresh => "refresh",
        }
    }

    pub fn parse(text: &str) -> Self {
        if text == "refresh" {
            OidcTokenKind::Refresh
        } else {
            OidcTokenKind::Access
        }
    }
}

/// An access or refresh token (its SHA-256) of one family: every token
/// grown from one code by refreshing.
#[derive(Debug, Clone)]
pub struct OidcTokenRecord {
    pub token_hash: TokenHash,
    pub kind: OidcTokenKind,
    pub family: String,
    pub client_id: String,
    pub user_id: UserId,
    pub scope: String,
    pub auth_time: Timestamp,
    pub method: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    /// For a refresh token: when it was exchanged for a new one (a second
    /// exchange is a replay).
    pub used_at: Option<Timestamp>,
}

/// Checks a code (or refresh token) about to be used, inside the store's
/// transaction, and makes the tokens to issue; `None` refuses (the code or
/// token is spent all the same).
pub type IssueFromCode = Box<dyn FnOnce(&CodeRecord) -> Option<Vec<OidcTokenRecord>> + Send>;
pub type IssueFromRefresh =
    Box<dyn FnOnce(&OidcTokenRecord) -> Option<Vec<OidcTokenRecord>> + Send>;

/// What using a code or a refresh token did.
#[derive(Debug, Clone)]
pub enum Redemption<T> {
    /// Spent now; the new tokens are stored.
    Issued(T),
    /// Spent now, but the check refused it: nothing was issued.
    Refused(T),
    /// Spent before: everything issued from it (its family) is revoked.
    Replayed(T),
    /// No such live code or token.
    Unknown,
}

#[async_trait]
pub trait OidcStore {
    /// Every signing key kept, newest first.
    async fn signing_keys(&self) -> StoreResult<Vec<SigningKeyRecord>>;
    /// Stores `key` unless a current key of its algorithm exists (another
    /// instance made one first); whether it was stored.
    async fn insert_first_signing_key(&self, key: SigningKeyRecord) -> StoreResult<bool>;
    /// Retires the current key of `key.alg` (at `key.created_at`) and makes
    /// `key` current, in one transaction.
    async fn rotate_signing_key(&self, key: SigningKeyRecord) -> StoreResult<()>;
    /// The user's subject; `fresh` becomes it when they have none yet.
    async fn subject_of(&self, user: UserId, fresh: String) -> StoreResult<String>;
    /// The scope a user granted a client, if they did.
    async fn consent(&self, user: UserId, client_id: &str) -> StoreResult<Option<String>>;
    async fn put_consent(
        &self,
        user: UserId,
        client_id: &str,
        scope: &str,
        at: Timestamp,
    ) -> StoreResult<()>;
    /// Stores a code, keeping at most `keep_at_most` of its user's.
    async fn insert_code(&self, code: CodeRecord, keep_at_most: u32) -> StoreResult<()>;
    /// Uses a code once, in one transaction: an unknown or expired code is
    /// `Unknown`; a spent one revokes its family; else it is spent and what
    /// `issue` makes is stored, ending the user's oldest families with the
    /// client beyond `MAX_FAMILIES_PER_USER_AND_CLIENT`.
    async fn redeem_code(
        &self,
        code_hash: TokenHash,
        now: Timestamp,
        issue: IssueFromCode,
    ) -> StoreResult<Redemption<CodeRecord>>;
    /// Exchanges a refresh token once, in one transaction, as `redeem_code`.
    async fn redeem_refresh_token(
        &self,
        token_hash: TokenHash,
        now: Timestamp,
        issue: IssueFromRefresh,
    ) -> StoreResult<Redemption<OidcTokenRecord>>;
    /// A token not yet expired (a spent refresh token included).
    async fn oidc_token(
        &self,
        token_hash: TokenHash,
        now: Timestamp,
    ) -> StoreResult<Option<OidcTokenRecord>>;
    /// Deletes every token of a family; how many there were.
    async fn revoke_family(&self, family: &str) -> StoreResult<u64>;
    /// Deletes one token; whether it existed.
    async fn revoke_token(&self, token_hash: TokenHash) -> StoreResult<bool>;
    /// Housekeeping: codes and tokens past their time, retired keys retired
    /// before `keys_retired_before`.
    async fn delete_expired_oidc(
        &self,
        now: Timestamp,
        keys_retired_before: Timestamp,
    ) -> StoreResult<u64>;
}

/// How long a code row outlives its expiry, so a replay a little late still
/// finds it and revokes its family.
pub const CODE_REPLAY_MEMORY_SECS: Timestamp = 10 * 60;

/// Sign-ins (token families) a user keeps with one client: a new one beyond
/// this ends the oldest, so one person and app can't grow the table without
/// bound between sweeps.
pub const MAX_FAMILIES_PER_USER_AND_CLIENT: u32 = 50;
