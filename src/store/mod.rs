//! Storage behind a few narrow traits, one per table group, so the domain never
//! sees SQL and a PostgreSQL backend can follow. `SqliteStore` is the embedded
//! default; the record types here are the vocabulary both sides share.

mod admin;
mod audit;
mod devices;
mod recovery;
mod remembered_browsers;
mod security;
mod security_keys;
mod sessions;
mod sqlite;
mod throttle;
mod users;

use async_trait::async_trait;

pub use recovery::{CodeHash, RecoveryStore};
pub use remembered_browsers::{RememberedBrowserRecord, RememberedBrowserStore};
pub use security::{SealSeed, SealingBootstrap, SecurityStore};
pub use security_keys::{CeremonyPurpose, CeremonyRecord, SecurityKeyStore};
pub use sqlite::SqliteStore;
pub use throttle::ThrottleStore;

use crate::auth::clock::Timestamp;

pub type UserId = i64;
/// SHA-256 of a session or pending-login token: the token itself is never stored.
pub type TokenHash = [u8; 32];

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("that username is taken")]
    UsernameTaken,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

pub type StoreResult<T> = Result<T, StoreError>;

#[derive(Debug, Clone)]
pub struct UserRecord {
    pub id: UserId,
    pub username: String,
    pub password_hash: String,
    pub admin: bool,
    pub disabled: bool,
    pub created_at: Timestamp,
    pub password_changed_at: Timestamp,
    pub password_last_used_at: Option<Timestamp>,
}

#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: String,
    pub password_hash: String,
    pub admin: bool,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceKind {
    Totp,
    SecurityKey,
}

impl DeviceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceKind::Totp => "totp",
            DeviceKind::SecurityKey => "security_key",
        }
    }
}

#[derive(Debug, Clone)]
pub struct DeviceRecord {
    pub id: String,
    pub user_id: UserId,
    pub kind: DeviceKind,
    pub name: String,
    pub confirmed: bool,
    pub created_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
    pub totp_secret: Option<Vec<u8>>,
    pub totp_last_step: Option<i64>,
    pub totp_offset_steps: i64,
    pub hardware: bool,
    pub credential: Option<String>,
    pub credential_id: Option<Vec<u8>>,
}

#[derive(Debug, Clone)]
pub struct PendingRecord {
    pub token_hash: TokenHash,
    pub user_id: UserId,
    pub enrolment_only: bool,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub failures: u32,
}

#[derive(Debug, Clone)]
pub struct SessionRecord {
    /// The opaque handle people and admins name the session by.
    pub id: String,
    pub token_hash: TokenHash,
    pub user_id: UserId,
    pub created_at: Timestamp,
    pub last_seen_at: Timestamp,
    pub expires_at: Timestamp,
    pub second_factor_at: Timestamp,
    /// The second factor that opened it (`totp`, `security_key`, `recovery_code`).
    pub method: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    pub at: Timestamp,
    pub username: Option<String>,
    pub event: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub detail: String,
}

/// One user with the counts the credential report needs, read in one query.
#[derive(Debug, Clone)]
pub struct CredentialSummary {
    pub user: UserRecord,
    pub totp_devices: u32,
    pub security_keys: u32,
    pub recovery_codes_left: u32,
}

#[async_trait]
pub trait UserStore {
    /// Fails with `UsernameTaken` when the name exists (case-insensitively).
    async fn insert_user(&self, user: NewUser) -> StoreResult<UserRecord>;
    async fn user_by_name(&self, username: &str) -> StoreResult<Option<UserRecord>>;
    async fn user_by_id(&self, id: UserId) -> StoreResult<Option<UserRecord>>;
    /// Same password, stronger hash (re-hashed at login after a parameter change).
    async fn replace_password_hash(&self, id: UserId, password_hash: String) -> StoreResult<()>;
    async fn credential_summaries(&self) -> StoreResult<Vec<CredentialSummary>>;
}

#[async_trait]
pub trait DeviceStore {
    async fn insert_device(&self, device: DeviceRecord) -> StoreResult<()>;
    /// Every device of the user, confirmed or not, oldest first.
    async fn devices_of(&self, user: UserId) -> StoreResult<Vec<DeviceRecord>>;
    /// Records a TOTP time step as used, only if it is newer than the last one
    /// accepted for that device (checked and written atomically, so a code is
    /// accepted at most once even under concurrent requests). `confirm` also
    /// marks the device confirmed; `offset_steps` records a token's clock drift. Returns whether the step was accepted.
    async fn accept_totp_step(
        &self,
        device_id: &str,
        step: i64,
        at: Timestamp,
        confirm: bool,
        offset_steps: Option<i64>,
    ) -> StoreResult<bool>;
    async fn delete_device(&self, user: UserId, device_id: &str) -> StoreResult<bool>;
    /// Drops enrolments that were started but never confirmed before `before`.
    async fn delete_unconfirmed_before(&self, user: UserId, before: Timestamp) -> StoreResult<()>;
    /// Gives a confirmed device of the user a new name; false when there is none.
    async fn rename_device(&self, user: UserId, device_id: &str, name: &str) -> StoreResult<bool>;
}

#[async_trait]
pub trait SessionStore {
    async fn insert_pending(&self, pending: PendingRecord) -> StoreResult<()>;
    /// After a right password, in one transaction: records the password's
    /// use, opens the pending login and appends its audit event.
    async fn open_pending_login(
        &self,
        pending: PendingRecord,
        event: AuditRecord,
    ) -> StoreResult<()>;
    async fn pending(&self, token_hash: TokenHash) -> StoreResult<Option<PendingRecord>>;
    /// Counts one wrong second factor; returns the failures so far.
    async fn count_pending_failure(&self, token_hash: TokenHash) -> StoreResult<u32>;
    async fn delete_pending(&self, token_hash: TokenHash) -> StoreResult<()>;
    /// Ends a pending login and starts its session in one transaction; false
    /// when the pending login was already used or removed. The user's oldest
    /// sessions beyond `keep_at_most` end in the same transaction.
    async fn promote_pending(
        &self,
        pending: TokenHash,
        session: SessionRecord,
        keep_at_most: u32,
    ) -> StoreResult<bool>;
    /// Starts a session without a pending login (a remembered browser gave
    /// the second factor), capped as `promote_pending`.
    async fn insert_session(&self, session: SessionRecord, keep_at_most: u32) -> StoreResult<()>;
    /// The user's sessions, newest first.
    async fn sessions_of(&self, user: UserId) -> StoreResult<Vec<SessionRecord>>;
    /// Ends one session of the user by its handle; false when the user has none by that id.
    async fn delete_session_by_id(&self, user: UserId, id: &str) -> StoreResult<bool>;
    /// Ends every session of the user but `keep` (if any); returns how many ended.
    async fn delete_sessions_except(
        &self,
        user: UserId,
        keep: Option<TokenHash>,
    ) -> StoreResult<u64>;
    async fn session(&self, token_hash: TokenHash) -> StoreResult<Option<SessionRecord>>;
    /// A session and its user in one read: the hot path of `/api/v1/verify`.
    async fn session_with_user(
        &self,
        token_hash: TokenHash,
    ) -> StoreResult<Option<(SessionRecord, UserRecord)>>;
    async fn touch_session(&self, token_hash: TokenHash, at: Timestamp) -> StoreResult<()>;
    async fn delete_session(&self, token_hash: TokenHash) -> StoreResult<()>;
    /// Ends every session and pending login of a user.
    async fn delete_sessions_of(&self, user: UserId) -> StoreResult<()>;
    /// Housekeeping: removes sessions, pending logins, WebAuthn ceremonies and
    /// remembered browsers past their expiry.
    async fn delete_expired(&self, now: Timestamp, idle_timeout_secs: i64) -> StoreResult<u64>;
    /// Sessions neither expired nor idle past the timeout (the `twofold_sessions` gauge).
    async fn count_live_sessions(&self, now: Timestamp, idle_timeout_secs: i64)
    -> StoreResult<u64>;
}

#[async_trait]
pub trait AuditStore {
    async fn append_event(&self, event: AuditRecord) -> StoreResult<()>;
    /// Newest first, optionally only about one user.
    async fn events(&self, username: Option<&str>, limit: u32) -> StoreResult<Vec<AuditRecord>>;
    /// Retention: removes events older than `before`; returns how many.
    async fn delete_events_before(&self, before: Timestamp) -> StoreResult<u64>;
}

/// One user as an administrator sees them.
#[derive(Debug, Clone)]
pub struct UserOverview {
    pub user: UserRecord,
    pub totp_devices: u32,
    pub security_keys: u32,
    pub last_sign_in_at: Option<Timestamp>,
}

/// What a lost-device reset removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecondFactorsRemoved {
    pub devices: u32,
    pub recovery_codes: u32,
}

#[async_trait]
pub trait AdminStore {
    /// Every user with their second-factor counts, by name.
    async fn user_overviews(&self) -> StoreResult<Vec<UserOverview>>;
    /// Sets the flag; disabling also ends every session, pending login and
    /// remembered browser of the user in the same transaction. Returns whether the flag changed.
    async fn set_disabled(&self, user: UserId, disabled: bool) -> StoreResult<bool>;
    /// The lost-device reset, in one transaction: every device (confirmed or
    /// not), every recovery code, every session, pending login and remembered
    /// browser of the user.
    async fn remove_second_factors(&self, user: UserId) -> StoreResult<SecondFactorsRemoved>;
    /// A completed sign-in (both factors).
    async fn record_sign_in(&self, user: UserId, at: Timestamp) -> StoreResult<()>;
}

/// Everything the domain needs from storage.
#[async_trait]
pub trait Store:
    UserStore
    + DeviceStore
    + SessionStore
    + AuditStore
    + SecurityKeyStore
    + AdminStore
    + ThrottleStore
    + RecoveryStore
    + RememberedBrowserStore
    + SecurityStore
    + Send
    + Sync
{
    /// Proves the store can be read (for `/healthz`).
    async fn check_readable(&self) -> StoreResult<()>;
}
