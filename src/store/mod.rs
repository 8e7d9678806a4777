//! Storage behind a few narrow traits, one per table group, so the domain never
//! sees SQL: `SqliteStore` (embedded, one instance) and `PostgresStore` (any
//! number of instances) keep the same promises; the records here are the
//! vocabulary both share, and SQL stays inside each store's folder.

mod export;
mod oidc;
mod postgres;
mod sqlite;

use async_trait::async_trait;

pub use export::*;
pub use oidc::*;
pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

pub use crate::model::Timestamp;
use crate::model::access::{AccessChange, AccessLimit, AccessRows, Attachment, RoleRow};
use crate::model::throttle::{Charge, Charged};

pub type UserId = i64;
/// SHA-256 of a session or pending-login token: the token itself is never stored.
pub type TokenHash = [u8; 32];

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("that username is taken")]
    UsernameTaken,
    /// A group, policy or attachment beyond its bound; nothing was written.
    #[error(transparent)]
    AccessLimit(#[from] AccessLimit),
    /// The database can't be reached (or went away mid-request): the request
    /// may succeed again once it is back.
    #[error("the database is unavailable")]
    Unavailable,
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceKind {
    Totp,
    SecurityKey,
    /// A discoverable WebAuthn credential that verifies its user: a
    /// passwordless sign-in on its own.
    Passkey,
}

impl DeviceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceKind::Totp => "totp",
            DeviceKind::SecurityKey => "security_key",
            DeviceKind::Passkey => "passkey",
        }
    }

    /// As stored (the schema allows only the three names).
    pub fn parse(text: &str) -> Self {
        match text {
            "totp" => DeviceKind::Totp,
            "passkey" => DeviceKind::Passkey,
            _ => DeviceKind::SecurityKey,
        }
    }

    /// A WebAuthn credential (a security key or a passkey).
    pub fn is_webauthn(self) -> bool {
        matches!(self, DeviceKind::SecurityKey | DeviceKind::Passkey)
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
    pub passkeys: u32,
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

/// What removing a device did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceRemoval {
    Removed,
    NotFound,
    /// Refused: it is the user's last confirmed second factor.
    LastFactor,
}

/// A second factor about to count for its user: what
/// `DeviceStore::confirm_factor` writes.
#[derive(Debug, Clone)]
pub enum NewFactor {
    /// A started TOTP enrolment of the user, confirmed by the code of time
    /// step `step`: the device becomes confirmed, `step` is recorded as its
    /// last used step (as `accept_totp_step` does), `at` as its last use and
    /// `offset_steps` as the token's clock drift.
    Totp {
        device_id: String,
        step: i64,
        offset_steps: i64,
        at: Timestamp,
    },
    /// A security key or passkey whose registration just finished: inserted
    /// confirmed (whatever `confirmed` says) with its `kind`, only if its
    /// credential id is registered to no account yet.
    SecurityKey(DeviceRecord),
}

/// Who adds the factor, and so which rule guards it.
#[derive(Debug, Clone)]
pub enum FactorGate {
    /// A signed-in user: the factor counts only while the user holds fewer
    /// than `max_factors` confirmed devices.
    SignedIn { max_factors: u32 },
    /// A first-login (enrolment-only) user: the factor counts only while the
    /// user holds no confirmed device and the pending login `pending` still
    /// exists, belongs to the user, is enrolment-only and has not expired by
    /// `session.created_at`. That pending login is ended and `session` (of
    /// the same user) started by the same transaction.
    FirstLogin {
        pending: TokenHash,
        session: SessionRecord,
    },
}

/// What `DeviceStore::confirm_factor` did. Every answer but `Confirmed`
/// wrote nothing at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FactorConfirmation {
    Confirmed,
    /// TOTP: the device is not an unconfirmed TOTP enrolment of the user, or
    /// `step` is not newer than the last step accepted for it.
    StepRefused,
    /// Security key: its credential id (or device id) is already registered.
    KeyAlreadyRegistered,
    /// `SignedIn`: the user already holds `max_factors` confirmed devices.
    TooManyFactors,
    /// `FirstLogin`: the pending login was used, removed or expired, or the
    /// user already holds a confirmed device (another confirmation won).
    NotFirstFactor,
}

#[async_trait]
pub trait DeviceStore {
    /// Adds a started enrolment, always unconfirmed (whatever
    /// `device.confirmed` says): only `confirm_factor` makes a device count.
    async fn insert_device(&self, device: DeviceRecord) -> StoreResult<()>;
    /// Every device of the user, confirmed or not, oldest first.
    async fn devices_of(&self, user: UserId) -> StoreResult<Vec<DeviceRecord>>;
    /// The WebAuthn device (of any user) registered with this credential id:
    /// a credential id belongs to one account only.
    async fn device_by_credential_id(
        &self,
        credential_id: Vec<u8>,
    ) -> StoreResult<Option<DeviceRecord>>;
    /// Confirms a second factor of `user` only if `gate`'s rule holds, checked
    /// and written in one transaction that is serialised with every other
    /// `confirm_factor` of the same user: no interleaving of concurrent
    /// confirmations can leave more than `max_factors` confirmed devices, or
    /// more than one confirmed device after a first login. A refusal writes
    /// nothing: no confirmed device, no used step, no session, and the pending
    /// login stays as it was.
    ///
    /// SQLite: one `BEGIN IMMEDIATE` transaction (the database's single
    /// writer lock). PostgreSQL: in one transaction, first lock the user's
    /// row (`SELECT 1 FROM users WHERE id = $1 FOR UPDATE`), then check the
    /// gate (`count(*)` of confirmed devices; for `FirstLogin` a
    /// `DELETE FROM pending_logins … RETURNING` that must remove one row),
    /// then the conditional `UPDATE`/`INSERT … ON CONFLICT DO NOTHING` of the
    /// device and the session insert; roll back on any refusal.
    async fn confirm_factor(
        &self,
        user: UserId,
        factor: NewFactor,
        gate: FactorGate,
    ) -> StoreResult<FactorConfirmation>;
    /// Records a TOTP time step of a confirmed device as used, only if it is
    /// newer than the last one accepted for that device (checked and written
    /// atomically, so a code is accepted at most once even under concurrent
    /// requests); `offset_steps` records a token's clock drift. Returns
    /// whether the step was accepted.
    async fn accept_totp_step(
        &self,
        device_id: &str,
        step: i64,
        at: Timestamp,
        offset_steps: Option<i64>,
    ) -> StoreResult<bool>;
    /// Removes a device of the user, in one transaction with the check that
    /// it is not their last confirmed one (parallel removals can't both pass).
    async fn delete_device(&self, user: UserId, device_id: &str) -> StoreResult<DeviceRemoval>;
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
    /// Ends every session, pending login and remembered browser of a user.
    async fn delete_sessions_of(&self, user: UserId) -> StoreResult<()>;
    /// Housekeeping: removes sessions, pending logins, WebAuthn ceremonies and
    /// remembered browsers past their expiry.
    async fn delete_expired(&self, now: Timestamp, idle_timeout_secs: i64) -> StoreResult<u64>;
    /// Sessions neither expired nor idle past the timeout (the `twofold_sessions` gauge).
    async fn count_live_sessions(&self, now: Timestamp, idle_timeout_secs: i64)
    -> StoreResult<u64>;
}

/// What one client address may add to the audit trail without an account:
/// `per_window` events each `window_secs`, counted under `key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventBudget {
    pub key: String,
    pub per_window: u32,
    pub window_secs: i64,
}

/// What became of a bounded event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appended {
    /// A row of its own.
    Stored,
    /// Counted on the row of its merge key.
    Merged,
    /// Beyond the budget: counted on the window's summary row (`first`: the
    /// row was created by this event).
    Summarised { first: bool },
}

#[async_trait]
pub trait AuditStore {
    async fn append_event(&self, event: AuditRecord) -> StoreResult<()>;
    /// Appends an event a client caused without an account, in one
    /// transaction: a repeat of the row `merge_key` names only counts on it
    /// (its detail ends `count=N`); anything else takes one from `budget`,
    /// and beyond the budget it is counted on the window's summary row
    /// (`summary`, with its own `count=N`) instead of stored.
    async fn append_bounded_event(
        &self,
        event: AuditRecord,
        merge_key: Option<String>,
        budget: EventBudget,
        summary: AuditRecord,
    ) -> StoreResult<Appended>;
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
    pub passkeys: u32,
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

#[async_trait]
pub trait SecurityStore {
    /// Stores a new password hash and ends every session, pending login and
    /// remembered browser of the user except the session `keep`.
    async fn change_password(
        &self,
        user: UserId,
        password_hash: String,
        at: Timestamp,
        keep: TokenHash,
    ) -> StoreResult<()>;
    /// Records that the session's user passed a second factor (`method`:
    /// `totp`, `security_key`, `recovery_code`) at `at` and moves the session
    /// to a new token (its expiry unchanged), dropping the WebAuthn
    /// ceremonies the old token began. False when the session is gone. The
    /// time never moves back, and the method is the latest factor's.
    async fn rotate_session(
        &self,
        session: TokenHash,
        new_token: TokenHash,
        at: Timestamp,
        method: &str,
    ) -> StoreResult<bool>;
}

/// Seals a legacy plain TOTP seed for the device with this id.
/// Owned (and `Send`) so a store may run it on whichever thread holds its
/// connection.
pub type SealSeed = Box<dyn Fn(&str, &[u8]) -> anyhow::Result<Vec<u8>> + Send + Sync>;

/// A value sealed with the secrets key; each is bound to its place, so it is
/// opened (and sealed again) knowing what it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SealedItem<'a> {
    Canary,
    Seed {
        device_id: &'a str,
    },
    /// The key recovery codes are hashed with (stored once a key has been
    /// rotated; before that it is derived from the secrets key).
    RecoveryKey,
    /// An OpenID Connect signing key's private half.
    SigningKey {
        kid: &'a str,
    },
}

/// Re-seals one value: given what it is and its sealed bytes (`None` for a
/// recovery key never stored), returns the new sealed bytes.
pub type Reseal =
    Box<dyn Fn(SealedItem<'_>, Option<&[u8]>) -> anyhow::Result<Vec<u8>> + Send + Sync>;

/// Run at startup, before serving, and by `twofold secrets rotate`.
#[async_trait]
pub trait SealingBootstrap {
    /// The canary sealed with the secrets key, if a key was ever adopted.
    async fn sealed_canary(&self) -> StoreResult<Option<Vec<u8>>>;
    /// Whether any TOTP seed is stored (sealed or not).
    async fn holds_seeds(&self) -> StoreResult<bool>;
    /// Adopts a first key: seals the seeds stored before sealing existed and
    /// stores the canary, in one transaction. False (nothing written) when
    /// another process (or instance) adopted a key first.
    async fn adopt_key(&self, canary: Vec<u8>, seal: SealSeed) -> StoreResult<bool>;
    /// The recovery-code key, sealed, once one was stored.
    async fn sealed_recovery_key(&self) -> StoreResult<Option<Vec<u8>>>;
    /// Replaces every sealed value (the canary, every TOTP seed, the
    /// recovery-code key) with what `reseal` makes of it, in one transaction:
    /// if `reseal` fails for one, nothing is written. `event`, given the
    /// count, is appended to the audit trail in that transaction. Returns how
    /// many values were re-sealed.
    async fn reseal_all(&self, reseal: Reseal, event: Option<CountedEvent>) -> StoreResult<u64>;
}

/// The audit event of an operation on the whole store (a rotation, an
/// import), made once the operation knows its count and written in the
/// operation's transaction: committed together or not at all.
pub type CountedEvent = Box<dyn FnOnce(u64) -> AuditRecord + Send>;

/// Known clients kept per user; the oldest are forgotten first.
pub const MAX_KNOWN_CLIENTS_PER_USER: i64 = 32;

#[async_trait]
pub trait ThrottleStore {
    /// When no counter of `charges` is locked at `now`, charges one failure to
    /// each (returning them with the lockouts they set); otherwise charges
    /// nothing and names the longest wait.
    async fn charge_attempt(&self, charges: Vec<Charge>, now: Timestamp) -> StoreResult<Charged>;
    /// Takes back charges made at `charged_at`; `reset` is removed entirely.
    async fn refund_attempt(
        &self,
        charges: Vec<Charge>,
        charged_at: Timestamp,
        reset: Option<String>,
    ) -> StoreResult<()>;
    async fn insert_known_client(
        &self,
        token_hash: TokenHash,
        user: UserId,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> StoreResult<()>;
    /// Whether the token is a live known client of `user`.
    async fn is_known_client(
        &self,
        token_hash: TokenHash,
        user: UserId,
        now: Timestamp,
    ) -> StoreResult<bool>;
    /// Extends a live known client of `user`; false when there is none.
    async fn extend_known_client(
        &self,
        token_hash: TokenHash,
        user: UserId,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> StoreResult<bool>;
    /// Housekeeping: forgets counters and known clients past their time.
    async fn delete_stale_throttle_state(&self, now: Timestamp) -> StoreResult<u64>;
}

/// A confirmed TOTP device the given code matches, and the newest time step
/// it matches (checked in the domain, which holds the seeds): the store
/// accepts that step only if it is newer than the device's last accepted one.
#[derive(Debug, Clone)]
pub struct TotpCandidate {
    pub device_id: String,
    pub step: i64,
    /// The sign-in's audit event, should this device be the one accepted.
    pub passed_event: AuditRecord,
}

/// The known-client token a completed sign-in leaves with the client: the
/// one it holds (`current`) is extended when it is a live known client of the
/// user, otherwise `new` is stored (and the user's oldest beyond
/// `MAX_KNOWN_CLIENTS_PER_USER` forgotten).
#[derive(Debug, Clone)]
pub struct KnownClientRenewal {
    pub current: Option<TokenHash>,
    pub new: TokenHash,
    pub expires_at: Timestamp,
}

/// A browser to remember once the step passes, with its audit event.
#[derive(Debug, Clone)]
pub struct BrowserToRemember {
    pub browser: RememberedBrowserRecord,
    pub keep_at_most: u32,
    pub event: AuditRecord,
}

/// Every write of a sign-in's second step with an authenticator-app code,
/// applied by `SecondFactorStore::complete_second_factor` in one transaction
/// that checks before it writes: the throttle, the code's time step, the
/// pending login, and then what passing or failing writes.
#[derive(Debug, Clone)]
pub struct SecondFactorStep {
    pub user: UserId,
    pub now: Timestamp,
    /// Throttle counters the attempt is judged against (charged on a wrong code).
    pub charges: Vec<Charge>,
    /// The devices the code matches, in the order they are tried.
    pub candidates: Vec<TotpCandidate>,
    /// The pending login (of `user`) the step completes.
    pub pending: TokenHash,
    /// Written when a step is accepted.
    pub passed: StepPassed,
    /// Written when the code is wrong.
    pub refused: StepRefused,
}

#[derive(Debug, Clone)]
pub struct StepPassed {
    /// Started as the pending login ends (capped at `keep_sessions`).
    pub session: SessionRecord,
    pub keep_sessions: u32,
    pub known_client: KnownClientRenewal,
    pub remember: Option<BrowserToRemember>,
}

#[derive(Debug, Clone)]
pub struct StepRefused {
    /// The pending login is voided at this many wrong codes.
    pub max_failures: u32,
    /// The audit event of a counted failure, and of one that voided the
    /// pending login.
    pub event: AuditRecord,
    pub voided_event: AuditRecord,
}

/// What `complete_second_factor` found and wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepVerdict {
    /// A counter is locked: nothing was written.
    Locked { retry_after_secs: i64, key: String },
    /// The step of `device_id` was accepted: the pending login became the
    /// session, the sign-in was recorded with its event, the known client
    /// (`new_known_client`: the new token was stored) and the browser to
    /// remember were written. Nothing was charged.
    Passed {
        device_id: String,
        new_known_client: bool,
    },
    /// The code is right for a step already used: nothing was written.
    Replayed,
    /// The code is wrong: the charges and a failure of the pending login
    /// were counted (`voided`: the pending login was removed) with the
    /// matching event.
    Refused { voided: bool },
    /// The code is right but the pending login is gone or expired: nothing
    /// was written.
    PendingGone,
}

#[async_trait]
pub trait SecondFactorStore {
    /// Judges and completes a sign-in's TOTP step in one transaction: a
    /// locked counter refuses it first; else the first candidate whose step
    /// is newer than its device's last accepted one is accepted (a code
    /// works once, even under parallel requests); then the step's writes
    /// (see `StepVerdict`) commit together or not at all.
    async fn complete_second_factor(&self, step: SecondFactorStep) -> StoreResult<StepVerdict>;
}

/// A keyed hash of one recovery code.
pub type CodeHash = [u8; 32];

#[async_trait]
pub trait RecoveryStore {
    /// Voids every code of the user and stores the new set.
    async fn replace_recovery_codes(&self, user: UserId, hashes: Vec<CodeHash>) -> StoreResult<()>;
    /// Marks the code used if it is one of the user's unused codes; returns
    /// whether it was.
    async fn use_recovery_code(
        &self,
        user: UserId,
        hash: CodeHash,
        at: Timestamp,
    ) -> StoreResult<bool>;
    async fn recovery_codes_left(&self, user: UserId) -> StoreResult<u32>;
}

/// What a ceremony is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CeremonyPurpose {
    Registration,
    Authentication,
}

impl CeremonyPurpose {
    /// As stored: anything but `registration` is an authentication.
    pub fn parse(text: &str) -> Self {
        if text == "registration" {
            CeremonyPurpose::Registration
        } else {
            CeremonyPurpose::Authentication
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CeremonyPurpose::Registration => "registration",
            CeremonyPurpose::Authentication => "authentication",
        }
    }
}

/// A WebAuthn ceremony between `begin` and `finish`.
#[derive(Debug, Clone)]
pub struct CeremonyRecord {
    /// SHA-256 of the session or pending-login token that began it.
    pub owner_hash: TokenHash,
    pub purpose: CeremonyPurpose,
    /// Absent for a passwordless sign-in, where the credential names the user.
    pub user_id: Option<UserId>,
    /// Registration: the name the user gave the key.
    pub device_name: Option<String>,
    /// The webauthn-rs ceremony state, serialised (JSON).
    pub state: String,
    pub expires_at: Timestamp,
}

#[async_trait]
pub trait SecurityKeyStore {
    /// Starts a ceremony, replacing an earlier one of the same owner and
    /// purpose, and sweeps every ceremony that expired by `now`.
    async fn put_ceremony(&self, ceremony: CeremonyRecord, now: Timestamp) -> StoreResult<()>;
    /// Removes the ceremony and returns it if it is still live at `now`. A
    /// second call finds nothing, so each challenge is answered at most once.
    async fn take_ceremony(
        &self,
        owner_hash: TokenHash,
        purpose: CeremonyPurpose,
        now: Timestamp,
    ) -> StoreResult<Option<CeremonyRecord>>;
    /// Writes a key's credential back after a sign-in, only if `sign_count` is
    /// higher than the highest one accepted so far (or both are 0: a key
    /// without a counter). Checked and written atomically; returns whether
    /// it was written.
    async fn record_security_key_use(
        &self,
        device_id: &str,
        credential: String,
        sign_count: u32,
        at: Timestamp,
    ) -> StoreResult<bool>;
}

/// A browser a person let skip the second factor for a while; only the
/// token's SHA-256 is kept, with the factor it stands for.
#[derive(Debug, Clone)]
pub struct RememberedBrowserRecord {
    /// The opaque handle people name it by (never the token or its hash).
    pub id: String,
    pub token_hash: TokenHash,
    pub user_id: UserId,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
    /// The second factor that was remembered, and when it was given.
    pub method: String,
    pub second_factor_at: Timestamp,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

#[async_trait]
pub trait RememberedBrowserStore {
    /// Remembers a browser; the user's oldest ones beyond `keep_at_most` are
    /// forgotten in the same transaction.
    async fn insert_remembered_browser(
        &self,
        browser: RememberedBrowserRecord,
        keep_at_most: u32,
    ) -> StoreResult<()>;
    async fn remembered_browser(
        &self,
        token_hash: TokenHash,
    ) -> StoreResult<Option<RememberedBrowserRecord>>;
    /// The user's remembered browsers, newest first.
    async fn remembered_browsers_of(
        &self,
        user: UserId,
    ) -> StoreResult<Vec<RememberedBrowserRecord>>;
    /// Forgets one by its handle; false when the user has none by that id.
    async fn delete_remembered_browser(&self, user: UserId, id: &str) -> StoreResult<bool>;
    /// Forgets every remembered browser of the user but `keep`; returns how many.
    async fn delete_remembered_browsers_except(
        &self,
        user: UserId,
        keep: Option<TokenHash>,
    ) -> StoreResult<u64>;
    /// A remembered browser opens a session after a right password: in one
    /// transaction the password's use and the browser's are recorded, the
    /// session starts (capped as `SessionStore::promote_pending`) and the
    /// password's audit event is appended. False (nothing written) when the
    /// browser was forgotten meanwhile.
    async fn open_remembered_session(
        &self,
        browser: TokenHash,
        session: SessionRecord,
        keep_at_most: u32,
        password_event: AuditRecord,
    ) -> StoreResult<bool>;
}

/// Groups, policies and attachments (authorization). Every write bumps the
/// access version in the same transaction; names are case-sensitive.
#[async_trait]
pub trait AccessStore {
    /// Creates the group; `true` when it was created, `false` when it existed.
    /// Each write past a bound (`model::access::MAX_*`) is
    /// `StoreError::AccessLimit`, with nothing written.
    async fn put_group(&self, name: &str) -> StoreResult<bool>;
    /// Deletes the group with its memberships and attachments; `false` if none.
    async fn delete_group(&self, name: &str) -> StoreResult<bool>;
    async fn add_member(&self, group: &str, username: &str) -> StoreResult<AccessChange>;
    async fn remove_member(&self, group: &str, username: &str) -> StoreResult<AccessChange>;
    /// Creates or replaces the document; `true` when it was created.
    async fn put_policy(&self, name: &str, document: &str, at: Timestamp) -> StoreResult<bool>;
    /// Deletes the policy and detaches it everywhere; `false` if none.
    async fn delete_policy(&self, name: &str) -> StoreResult<bool>;
    async fn attach_policy(&self, policy: &str, to: &Attachment) -> StoreResult<AccessChange>;
    async fn detach_policy(&self, policy: &str, to: &Attachment) -> StoreResult<AccessChange>;
    /// Every group, policy and attachment, read in one transaction.
    async fn access_rows(&self) -> StoreResult<AccessRows>;
    /// The version counter alone: cheap, read at most once a second per
    /// instance to notice another instance's change.
    async fn access_version(&self) -> StoreResult<i64>;
}

/// An access key as stored: the secret only as its keyed hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessKeyRecord {
    /// `TFAK` + 16 upper-case base32 characters.
    pub id: String,
    pub user_id: UserId,
    /// HMAC-SHA256 of the secret under a key derived from the secrets key.
    pub secret_hash: [u8; 32],
    pub active: bool,
    pub created_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
}

/// A temporary credential (a session token or a role's token): the token
/// only as its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemporaryCredentialRecord {
    /// An opaque handle for the audit trail (never the token or its hash).
    pub id: String,
    pub token_hash: TokenHash,
    pub user_id: UserId,
    /// The access key it came from, if any: deactivating or deleting the key ends it.
    pub access_key_id: Option<String>,
    /// The role assumed, by name.
    pub role: Option<String>,
    /// The second factor given for it (`totp`, …) and when.
    pub mfa_method: Option<String>,
    pub mfa_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

/// A temporary credential as looked up: with its user and whether the key
/// it came from is still active (`true` when it came from none).
#[derive(Debug, Clone)]
pub struct LiveTemporaryCredential {
    pub credential: TemporaryCredentialRecord,
    pub key_active: bool,
    pub user: UserRecord,
}

/// Why a temporary credential was not written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemporaryRefusal {
    /// Its key is gone or inactive, or its user disabled, by now.
    CredentialGone,
    NoSuchRole,
}

/// Access keys and temporary credentials.
#[async_trait]
pub trait ProgrammaticStore {
    /// Adds a key unless the user already holds `at_most` (counted and
    /// written in one transaction): `false` then, nothing written.
    async fn insert_access_key(&self, key: AccessKeyRecord, at_most: u32) -> StoreResult<bool>;
    /// The user's keys, oldest first.
    async fn access_keys_of(&self, user: UserId) -> StoreResult<Vec<AccessKeyRecord>>;
    /// Every key of every user, oldest first (the credential report).
    async fn all_access_keys(&self) -> StoreResult<Vec<AccessKeyRecord>>;
    /// A key by id, with its user.
    async fn access_key_with_user(
        &self,
        id: &str,
    ) -> StoreResult<Option<(AccessKeyRecord, UserRecord)>>;
    /// `false` when the user holds no such key.
    async fn set_access_key_active(
        &self,
        user: UserId,
        id: &str,
        active: bool,
    ) -> StoreResult<bool>;
    /// Deletes a key and every temporary credential made from it.
    async fn delete_access_key(&self, user: UserId, id: &str) -> StoreResult<bool>;
    async fn touch_access_key(&self, id: &str, at: Timestamp) -> StoreResult<()>;
    /// Writes a temporary credential after checking, in the same
    /// transaction, that its key is still active, its user enabled and its
    /// role there; the user's oldest beyond `keep_at_most` live ones end.
    async fn insert_temporary_credential(
        &self,
        credential: TemporaryCredentialRecord,
        keep_at_most: u32,
    ) -> StoreResult<Result<(), TemporaryRefusal>>;
    async fn temporary_credential(
        &self,
        token_hash: TokenHash,
    ) -> StoreResult<Option<LiveTemporaryCredential>>;
    /// Expired temporary credentials go (housekeeping).
    async fn delete_expired_temporary_credentials(&self, now: Timestamp) -> StoreResult<u64>;
    /// Creates or replaces a role (its trust and policies with it); checks
    /// that every policy, group and user it names exists, and the bounds,
    /// in the same transaction, and bumps the access version. `true` when new.
    async fn put_role(&self, role: RoleRow) -> StoreResult<Result<bool, AccessChange>>;
    /// Deletes a role; its tokens end with it.
    async fn delete_role(&self, name: &str) -> StoreResult<bool>;
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
    + SealingBootstrap
    + TransferStore
    + AccessStore
    + OidcStore
    + SecondFactorStore
    + ProgrammaticStore
    + Send
    + Sync
{
    /// Proves the store can be read (for `/healthz`).
    async fn check_readable(&self) -> StoreResult<()>;
}
