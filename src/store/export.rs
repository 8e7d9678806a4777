//! What moves between stores by `twofold export` / `import`: every lasting
//! row (users, second factors with their seeds still sealed, recovery code
//! hashes, the audit trail, the sealed canary, groups, policies, members and
//! attachments, access key hashes and roles) as records in the store's own
//! vocabulary, and the trait both stores implement to read them in one
//! snapshot and load them in one transaction.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::{CountedEvent, DeviceKind, StoreResult, UserId};
use crate::model::Timestamp;

/// One exported row, tagged by `"type"`. Sessions, pending logins, WebAuthn
/// ceremonies and throttle state are left out: they are short-lived, and a
/// restored service starts them afresh. Remembered browsers are left out too:
/// like sessions they are credentials a move should not carry, so after one
/// everyone passes their second factor once more.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ExportRecord {
    User(ExportedUser),
    Device(ExportedDevice),
    RecoveryCode(ExportedRecoveryCode),
    AuditEvent(ExportedAuditEvent),
    /// The canary sealed with the secrets key: with it the same key is
    /// proven (and the sealed seeds open) on the new store.
    SealedCanary(ExportedCanary),
    /// The key recovery codes are hashed with, sealed with the secrets key
    /// (stored once the secrets key was rotated): without it, codes hashed
    /// before a rotation would no longer verify on the new store.
    SealedRecoveryKey(ExportedCanary),
    /// Authorization: a group, a policy document, a membership, an
    /// attachment (groups and policies by name, users by id).
    Group(ExportedGroup),
    Policy(ExportedPolicy),
    GroupMember(ExportedGroupMember),
    PolicyAttachment(ExportedAttachment),
    /// Programmatic access: an access key (its secret only as the keyed
    /// hash), a role, a policy of a role, a user or group it trusts.
    /// Temporary credentials are left out, as sessions are.
    AccessKey(ExportedAccessKey),
    Role(ExportedRole),
    RolePolicy(ExportedRolePolicy),
    RoleTrust(ExportedRoleTrust),
    /// OpenID Connect: a signing key (still sealed; the same secrets key
    /// opens it), a user's subject (so apps know them again after a move)
    /// and a consent. Codes and tokens are left out, as sessions are.
    OidcSigningKey(ExportedSigningKey),
    OidcSubject(ExportedSubject),
    OidcConsent(ExportedConsent),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportedAccessKey {
    pub id: String,
    pub user_id: UserId,
    /// The keyed hash (32 bytes); the secret itself was never stored.
    #[serde(with = "base64_bytes")]
    pub secret_hash: Vec<u8>,
    pub active: bool,
    pub created_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportedSigningKey {
    pub kid: String,
    pub alg: String,
    #[serde(with = "base64_bytes")]
    pub sealed: Vec<u8>,
    pub created_at: Timestamp,
    pub retired_at: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportedRole {
    pub name: String,
    pub max_duration_secs: i64,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportedSubject {
    pub user_id: UserId,
    pub subject: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportedRolePolicy {
    pub role: String,
    pub policy: String,
}

/// A group or (exclusive) a user a role trusts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportedRoleTrust {
    pub role: String,
    pub group: Option<String>,
    pub user_id: Option<UserId>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportedConsent {
    pub user_id: UserId,
    pub client_id: String,
    pub scope: String,
    pub granted_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportedGroup {
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportedPolicy {
    pub name: String,
    /// The JSON document exactly as stored.
    pub document: String,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportedGroupMember {
    pub group: String,
    pub user_id: UserId,
}

/// A policy attached to a group or (exclusive) a user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportedAttachment {
    pub policy: String,
    pub group: Option<String>,
    pub user_id: Option<UserId>,
}

/// A user with their id kept, so the rows that refer to it still do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportedUser {
    pub id: UserId,
    pub username: String,
    pub password_hash: String,
    pub admin: bool,
    pub disabled: bool,
    pub created_at: Timestamp,
    pub password_changed_at: Timestamp,
    pub password_last_used_at: Option<Timestamp>,
    pub last_sign_in_at: Option<Timestamp>,
}

/// A TOTP device or security key, confirmed or not. The TOTP seed is the
/// sealed ciphertext as stored: only the same secrets key opens it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportedDevice {
    pub id: String,
    pub user_id: UserId,
    pub kind: DeviceKind,
    pub name: String,
    pub confirmed: bool,
    pub created_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
    #[serde(with = "base64_bytes::optional")]
    pub totp_secret: Option<Vec<u8>>,
    pub totp_last_step: Option<i64>,
    pub totp_offset_steps: i64,
    pub hardware: bool,
    pub credential: Option<String>,
    #[serde(with = "base64_bytes::optional")]
    pub credential_id: Option<Vec<u8>>,
    pub sign_count: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportedRecoveryCode {
    pub user_id: UserId,
    /// The keyed hash (32 bytes); the code itself was never stored.
    #[serde(with = "base64_bytes")]
    pub code_hash: Vec<u8>,
    pub used_at: Option<Timestamp>,
}

/// An audit event; events keep their order (they are exported oldest first).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportedAuditEvent {
    pub at: Timestamp,
    pub username: Option<String>,
    pub event: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportedCanary {
    #[serde(with = "base64_bytes")]
    pub sealed: Vec<u8>,
}

/// Which store an export came from, for the file's first line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportSource {
    /// `sqlite` or `postgres`.
    pub backend: &'static str,
    /// How far that store's own migrations got.
    pub schema_version: i64,
}

/// Where an export goes, record by record, so memory stays bounded.
pub trait ExportSink: Send {
    /// Called once, before the first record.
    fn begin(&mut self, source: &ExportSource) -> anyhow::Result<()>;
    fn record(&mut self, record: ExportRecord) -> anyhow::Result<()>;
}

/// The records to import, read as they are needed. An `Err` (a bad line, a
/// missing end line, a wrong count) aborts the import: nothing is written.
pub type RecordSource = Box<dyn Iterator<Item = anyhow::Result<ExportRecord>> + Send>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportOutcome {
    /// Every record was written, in one transaction.
    Imported { records: u64 },
    /// The store already has users; nothing was written.
    StoreHasUsers,
}

#[async_trait]
pub trait TransferStore {
    /// Reads every lasting row in one read snapshot (consistent while the
    /// server writes), users first, and hands them to `sink` one by one.
    /// Returns how many records it handed over.
    async fn export_records(&self, sink: &mut dyn ExportSink) -> StoreResult<u64>;
    /// Loads `records` into this store in one transaction, keeping user and
    /// device ids; refuses (writing nothing) a store that has users, and
    /// writes nothing when `records` yields an error or a row is refused.
    /// `event`, given the count, is appended to the audit trail in the
    /// import's transaction.
    async fn import_records(
        &self,
        records: RecordSource,
        event: Option<CountedEvent>,
    ) -> StoreResult<ImportOutcome>;
}

/// Bytes as standard base64 in JSON.
mod base64_bytes {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(deserializer)?;
        STANDARD.decode(text).map_err(serde::de::Error::custom)
    }

    pub mod optional {
        use super::*;

        pub fn serialize<S: Serializer>(
            bytes: &Option<Vec<u8>>,
            serializer: S,
        ) -> Result<S::Ok, S::Error> {
            match bytes {
                Some(bytes) => super::serialize(bytes, serializer),
                None => serializer.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(
            deserializer: D,
        ) -> Result<Option<Vec<u8>>, D::Error> {
            Option::<String>::deserialize(deserializer)?
                .map(|text| STANDARD.decode(text).map_err(serde::de::Error::custom))
                .transpose()
        }
    }
}
