//! Export and import: every lasting row read in one WAL read snapshot (the
//! server keeps writing meanwhile) and handed over as it is read; an import
//! written in one `BEGIN IMMEDIATE` transaction, or not at all.

use anyhow::{Context, anyhow};
use async_trait::async_trait;
use rusqlite::{Connection, Row, TransactionBehavior, params};
use tokio::sync::mpsc;

use super::{
    ExportRecord, ExportSink, ExportSource, ExportedAccessKey, ExportedAttachment,
    ExportedAuditEvent, ExportedCanary, ExportedDevice, ExportedGroup, ExportedGroupMember,
    ExportedPolicy, ExportedRecoveryCode, ExportedRole, ExportedRolePolicy, ExportedRoleTrust,
    ExportedUser, ImportOutcome, RecordSource, SqliteStore, StoreError, StoreResult, TransferStore,
};
use crate::store::{
    CountedEvent, DeviceKind, ExportedConsent, ExportedSigningKey, ExportedSubject,
};

/// Records in flight between the reading thread and the sink.
const IN_FLIGHT: usize = 256;

/// Reads one row of a table as its record.
type RecordOf = fn(&Row<'_>) -> rusqlite::Result<ExportRecord>;

enum Read {
    Source(ExportSource),
    Record(ExportRecord),
}

#[async_trait]
impl TransferStore for SqliteStore {
    async fn export_records(&self, sink: &mut dyn ExportSink) -> StoreResult<u64> {
        let pool = self.pool.clone();
        let (sender, mut receiver) = mpsc::channel(IN_FLIGHT);
        let reader = tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
            let mut conn = pool.get().context("taking a database connection")?;
            read_snapshot(&mut conn, &sender)
        });
        let mut records = 0;
        let mut sink_failed = None;
        while let Some(read) = receiver.recv().await {
            let written = match read {
                Read::Source(source) => sink.begin(&source),
                Read::Record(record) => {
                    records += 1;
                    sink.record(record)
                }
            };
            if let Err(error) = written {
                sink_failed = Some(error);
                break;
            }
        }
        // The reader stops at its next record once nobody receives.
        drop(receiver);
        let read = reader.await.map_err(|e| StoreError::Unexpected(e.into()))?;
        if let Some(error) = sink_failed {
            return Err(StoreError::Unexpected(error));
        }
        read.map_err(StoreError::Unexpected)?;
        Ok(records)
    }

    async fn import_records(
        &self,
        records: RecordSource,
        event: Option<CountedEvent>,
    ) -> StoreResult<ImportOutcome> {
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || -> anyhow::Result<ImportOutcome> {
            let mut conn = pool.get().context("taking a database connection")?;
            // Pooled connections only read; the import (a command run on a
            // store no server writes yet) writes through this one, then gives
            // it back read-only again.
            conn.pragma_update(None, "query_only", "OFF")?;
            let imported = import(&mut conn, records, event);
            conn.pragma_update(None, "query_only", "ON")?;
            imported
        })
        .await
        .map_err(|e| StoreError::Unexpected(e.into()))?
        .map_err(StoreError::Unexpected)
    }
}

/// Reads every table in one deferred transaction: in WAL mode its first read
/// fixes the snapshot every later read sees.
fn read_snapshot(conn: &mut Connection, out: &mpsc::Sender<Read>) -> anyhow::Result<()> {
    let send = |read: Read| {
        out.blocking_send(read)
            .map_err(|_| anyhow!("the export was stopped"))
    };
    let tx = conn.transaction()?;
    let schema_version: i64 = tx.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    send(Read::Source(ExportSource {
        backend: "sqlite",
        schema_version,
    }))?;
    let tables: [(&str, RecordOf); 17] = [
        (
            "SELECT id, username, password_hash, admin, disabled, created_at,
                    password_changed_at, password_last_used_at, last_sign_in_at
               FROM users ORDER BY id",
            user_from_row,
        ),
        (
            "SELECT id, user_id, kind, name, confirmed, created_at, last_used_at,
                    totp_secret, totp_last_step, totp_offset_steps, hardware,
                    credential, credential_id, sign_count
               FROM devices ORDER BY rowid",
            device_from_row,
        ),
        (
            "SELECT user_id, code_hash, used_at FROM recovery_codes ORDER BY id",
            recovery_code_from_row,
        ),
        (
            "SELECT at, username, event, ip, user_agent, detail FROM audit_events ORDER BY id",
            audit_event_from_row,
        ),
        (
            "SELECT sealed FROM sealed_canary WHERE id = 1",
            canary_from_row,
        ),
        (
            "SELECT sealed FROM sealed_recovery_key WHERE id = 1",
            recovery_key_from_row,
        ),
        ("SELECT name FROM access_groups ORDER BY id", group_from_row),
        (
            "SELECT name, document, updated_at FROM access_policies ORDER BY id",
            policy_from_row,
        ),
        (
            "SELECT g.name, m.user_id FROM access_group_members m
               JOIN access_groups g ON g.id = m.group_id ORDER BY g.id, m.user_id",
            member_from_row,
        ),
        (
            "SELECT p.name, g.name, a.user_id FROM access_attachments a
               JOIN access_policies p ON p.id = a.policy_id
               LEFT JOIN access_groups g ON g.id = a.group_id ORDER BY a.rowid",
            attachment_from_row,
        ),
        (
            "SELECT id, user_id, secret_hash, active, created_at, last_used_at
               FROM access_keys ORDER BY rowid",
            access_key_from_row,
        ),
        (
            "SELECT name, max_duration_secs, updated_at FROM access_roles ORDER BY id",
            role_from_row,
        ),
        (
            "SELECT r.name, p.name FROM access_role_policies rp
               JOIN access_roles r ON r.id = rp.role_id
               JOIN access_policies p ON p.id = rp.policy_id ORDER BY r.id, p.id",
            role_policy_from_row,
        ),
        (
            "SELECT r.name, g.name, t.user_id FROM access_role_trust t
               JOIN access_roles r ON r.id = t.role_id
               LEFT JOIN access_groups g ON g.id = t.group_id ORDER BY t.rowid",
            role_trust_from_row,
        ),
        (
            "SELECT kid, alg, sealed, created_at, retired_at FROM oidc_signing_keys
              ORDER BY created_at, kid",
            signing_key_from_row,
        ),
        (
            "SELECT user_id, subject FROM oidc_subjects ORDER BY user_id",
            subject_from_row,
        ),
        (
            "SELECT user_id, client_id, scope, granted_at FROM oidc_consents
              ORDER BY user_id, client_id",
            consent_from_row,
        ),
    ];
    for (sql, record_of) in tables {
        let mut statement = tx.prepare(sql)?;
        let mut rows = statement.query([])?;
        while let Some(row) = rows.next()? {
            send(Read::Record(record_of(row)?))?;
        }
    }
    Ok(())
}

fn user_from_row(row: &Row<'_>) -> rusqlite::Result<ExportRecord> {
    Ok(ExportRecord::User(ExportedUser {
        id: row.get(0)?,
        username: row.get(1)?,
        password_hash: row.get(2)?,
        admin: row.get(3)?,
        disabled: row.get(4)?,
        created_at: row.get(5)?,
        password_changed_at: row.get(6)?,
        password_last_used_at: row.get(7)?,
        last_sign_in_at: row.get(8)?,
    }))
}

fn device_from_row(row: &Row<'_>) -> rusqlite::Result<ExportRecord> {
    let kind: String = row.get(2)?;
    Ok(ExportRecord::Device(ExportedDevice {
        id: row.get(0)?,
        user_id: row.get(1)?,
        kind: DeviceKind::parse(&kind),
        name: row.get(3)?,
        confirmed: row.get(4)?,
        created_at: row.get(5)?,
        last_used_at: row.get(6)?,
        totp_secret: row.get(7)?,
        totp_last_step: row.get(8)?,
        totp_offset_steps: row.get(9)?,
        hardware: row.get(10)?,
        credential: row.get(11)?,
        credential_id: row.get(12)?,
        sign_count: row.get(13)?,
    }))
}

fn recovery_code_from_row(row: &Row<'_>) -> rusqlite::Result<ExportRecord> {
    Ok(ExportRecord::RecoveryCode(ExportedRecoveryCode {
        user_id: row.get(0)?,
        code_hash: row.get(1)?,
        used_at: row.get(2)?,
    }))
}

fn audit_event_from_row(row: &Row<'_>) -> rusqlite::Result<ExportRecord> {
    Ok(ExportRecord::AuditEvent(ExportedAuditEvent {
        at: row.get(0)?,
        username: row.get(1)?,
        event: row.get(2)?,
        ip: row.get(3)?,
        user_agent: row.get(4)?,
        detail: row.get(5)?,
    }))
}

fn recovery_key_from_row(row: &Row<'_>) -> rusqlite::Result<ExportRecord> {
    Ok(ExportRecord::SealedRecoveryKey(ExportedCanary {
        sealed: row.get(0)?,
    }))
}

fn canary_from_row(row: &Row<'_>) -> rusqlite::Result<ExportRecord> {
    Ok(ExportRecord::SealedCanary(ExportedCanary {
        sealed: row.get(0)?,
    }))
}

fn signing_key_from_row(row: &Row<'_>) -> rusqlite::Result<ExportRecord> {
    Ok(ExportRecord::OidcSigningKey(ExportedSigningKey {
        kid: row.get(0)?,
        alg: row.get(1)?,
        sealed: row.get(2)?,
        created_at: row.get(3)?,
        retired_at: row.get(4)?,
    }))
}

fn subject_from_row(row: &Row<'_>) -> rusqlite::Result<ExportRecord> {
    Ok(ExportRecord::OidcSubject(ExportedSubject {
        user_id: row.get(0)?,
        subject: row.get(1)?,
    }))
}

fn consent_from_row(row: &Row<'_>) -> rusqlite::Result<ExportRecord> {
    Ok(ExportRecord::OidcConsent(ExportedConsent {
        user_id: row.get(0)?,
        client_id: row.get(1)?,
        scope: row.get(2)?,
        granted_at: row.get(3)?,
    }))
}

fn group_from_row(row: &Row<'_>) -> rusqlite::Result<ExportRecord> {
    Ok(ExportRecord::Group(ExportedGroup { name: row.get(0)? }))
}

fn policy_from_row(row: &Row<'_>) -> rusqlite::Result<ExportRecord> {
    Ok(ExportRecord::Policy(ExportedPolicy {
        name: row.get(0)?,
        document: row.get(1)?,
        updated_at: row.get(2)?,
    }))
}

fn member_from_row(row: &Row<'_>) -> rusqlite::Result<ExportRecord> {
    Ok(ExportRecord::GroupMember(ExportedGroupMember {
        group: row.get(0)?,
        user_id: row.get(1)?,
    }))
}

fn attachment_from_row(row: &Row<'_>) -> rusqlite::Result<ExportRecord> {
    Ok(ExportRecord::PolicyAttachment(ExportedAttachment {
        policy: row.get(0)?,
        group: row.get(1)?,
        user_id: row.get(2)?,
    }))
}

fn access_key_from_row(row: &Row<'_>) -> rusqlite::Result<ExportRecord> {
    Ok(ExportRecord::AccessKey(ExportedAccessKey {
        id: row.get(0)?,
        user_id: row.get(1)?,
        secret_hash: row.get(2)?,
        active: row.get(3)?,
        created_at: row.get(4)?,
        last_used_at: row.get(5)?,
    }))
}

fn role_from_row(row: &Row<'_>) -> rusqlite::Result<ExportRecord> {
    Ok(ExportRecord::Role(ExportedRole {
        name: row.get(0)?,
        max_duration_secs: row.get(1)?,
        updated_at: row.get(2)?,
    }))
}

fn role_policy_from_row(row: &Row<'_>) -> rusqlite::Result<ExportRecord> {
    Ok(ExportRecord::RolePolicy(ExportedRolePolicy {
        role: row.get(0)?,
        policy: row.get(1)?,
    }))
}

fn role_trust_from_row(row: &Row<'_>) -> rusqlite::Result<ExportRecord> {
    Ok(ExportRecord::RoleTrust(ExportedRoleTrust {
        role: row.get(0)?,
        group: row.get(1)?,
        user_id: row.get(2)?,
    }))
}

/// Writes every record in one immediate transaction (no other writer between
/// the emptiness check and the commit); any error rolls everything back.
fn import(
    conn: &mut Connection,
    records: RecordSource,
    event: Option<CountedEvent>,
) -> anyhow::Result<ImportOutcome> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let users: i64 = tx.query_row("SELECT count(*) FROM users", [], |row| row.get(0))?;
    if users > 0 {
        return Ok(ImportOutcome::StoreHasUsers);
    }
    let mut written = 0u64;
    for record in records {
        let record = record?;
        write_record(&tx, &record)
            .with_context(|| format!("record {} was refused by the database", written + 1))?;
        written += 1;
    }
    // Whatever instance caches access rows reads them afresh.
    tx.execute(
        "UPDATE access_version SET version = version + 1 WHERE id = 1",
        [],
    )?;
    if let Some(event) = event {
        super::audit::append(&tx, &event(written))?;
    }
    tx.commit()?;
    Ok(ImportOutcome::Imported { records: written })
}

fn write_record(tx: &rusqlite::Transaction<'_>, record: &ExportRecord) -> anyhow::Result<()> {
    match record {
        ExportRecord::User(u) => {
            tx.prepare_cached(
                "INSERT INTO users (id, username, password_hash, admin, disabled, created_at,
                                    password_changed_at, password_last_used_at, last_sign_in_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?
            .execute(params![
                u.id,
                u.username,
                u.password_hash,
                u.admin,
                u.disabled,
                u.created_at,
                u.password_changed_at,
                u.password_last_used_at,
                u.last_sign_in_at
            ])?;
        }
        ExportRecord::Device(d) => {
            tx.prepare_cached(
                "INSERT INTO devices (id, user_id, kind, name, confirmed, created_at, last_used_at,
                                      totp_secret, totp_last_step, totp_offset_steps, hardware,
                                      credential, credential_id, sign_count)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
            )?
            .execute(params![
                d.id,
                d.user_id,
                d.kind.as_str(),
                d.name,
                d.confirmed,
                d.created_at,
                d.last_used_at,
                d.totp_secret,
                d.totp_last_step,
                d.totp_offset_steps,
                d.hardware,
                d.credential,
                d.credential_id,
                d.sign_count
            ])?;
        }
        ExportRecord::RecoveryCode(c) => {
            anyhow::ensure!(
                c.code_hash.len() == 32,
                "a recovery code hash is not 32 bytes"
            );
            tx.prepare_cached(
                "INSERT INTO recovery_codes (user_id, code_hash, used_at) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![c.user_id, c.code_hash, c.used_at])?;
        }
        ExportRecord::AuditEvent(e) => {
            tx.prepare_cached(
                "INSERT INTO audit_events (at, username, event, ip, user_agent, detail)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                e.at,
                e.username,
                e.event,
                e.ip,
                e.user_agent,
                e.detail
            ])?;
        }
        // A store without users holds no seed sealed with its own canary's
        // key, so the imported canary (the key that sealed the imported
        // seeds) replaces it.
        ExportRecord::SealedCanary(c) => {
            tx.prepare_cached(
                "INSERT INTO sealed_canary (id, sealed) VALUES (1, ?1)
                 ON CONFLICT (id) DO UPDATE SET sealed = excluded.sealed",
            )?
            .execute([&c.sealed])?;
        }
        ExportRecord::SealedRecoveryKey(k) => {
            tx.prepare_cached(
                "INSERT INTO sealed_recovery_key (id, sealed) VALUES (1, ?1)
                 ON CONFLICT (id) DO UPDATE SET sealed = excluded.sealed",
            )?
            .execute([&k.sealed])?;
        }
        ExportRecord::Group(g) => {
            tx.prepare_cached("INSERT INTO access_groups (name) VALUES (?1)")?
                .execute([&g.name])?;
        }
        ExportRecord::Policy(p) => {
            tx.prepare_cached(
                "INSERT INTO access_policies (name, document, updated_at) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![p.name, p.document, p.updated_at])?;
        }
        ExportRecord::GroupMember(m) => {
            let added = tx
                .prepare_cached(
                    "INSERT INTO access_group_members (group_id, user_id)
                     SELECT id, ?2 FROM access_groups WHERE name = ?1",
                )?
                .execute(params![m.group, m.user_id])?;
            anyhow::ensure!(added == 1, "a member of an unknown group {}", m.group);
        }
        ExportRecord::PolicyAttachment(a) => {
            let added = tx
                .prepare_cached(
                    "INSERT INTO access_attachments (policy_id, group_id, user_id)
                     SELECT p.id, (SELECT id FROM access_groups WHERE name = ?2), ?3
                       FROM access_policies p WHERE p.name = ?1",
                )?
                .execute(params![a.policy, a.group, a.user_id])?;
            anyhow::ensure!(
                added == 1,
                "an attachment of an unknown policy {}",
                a.policy
            );
            anyhow::ensure!(
                a.group.is_none() || a.user_id.is_none(),
                "an attachment to both a group and a user"
            );
        }
        ExportRecord::AccessKey(k) => {
            anyhow::ensure!(
                k.secret_hash.len() == 32,
                "an access key hash is not 32 bytes"
            );
            tx.prepare_cached(
                "INSERT INTO access_keys (id, user_id, secret_hash, active, created_at, last_used_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                k.id,
                k.user_id,
                k.secret_hash,
                k.active,
                k.created_at,
                k.last_used_at
            ])?;
        }
        ExportRecord::Role(r) => {
            tx.prepare_cached(
                "INSERT INTO access_roles (name, max_duration_secs, updated_at) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![r.name, r.max_duration_secs, r.updated_at])?;
        }
        ExportRecord::RolePolicy(rp) => {
            let added = tx
                .prepare_cached(
                    "INSERT INTO access_role_policies (role_id, policy_id)
                     SELECT r.id, p.id FROM access_roles r, access_policies p
                      WHERE r.name = ?1 AND p.name = ?2",
                )?
                .execute(params![rp.role, rp.policy])?;
            anyhow::ensure!(
                added == 1,
                "a policy of an unknown role or policy {}",
                rp.role
            );
        }
        ExportRecord::RoleTrust(t) => {
            anyhow::ensure!(
                t.group.is_some() != t.user_id.is_some(),
                "a role's trust names exactly one group or one user"
            );
            let added = tx
                .prepare_cached(
                    "INSERT INTO access_role_trust (role_id, group_id, user_id)
                     SELECT r.id, (SELECT id FROM access_groups WHERE name = ?2), ?3
                       FROM access_roles r WHERE r.name = ?1",
                )?
                .execute(params![t.role, t.group, t.user_id])?;
            anyhow::ensure!(added == 1, "the trust of an unknown role {}", t.role);
        }
        ExportRecord::OidcSigningKey(k) => {
            // A store started before the import made keys of its own: the
            // imported current key takes the place of the one of its kind.
            if k.retired_at.is_none() {
                tx.prepare_cached(
                    "DELETE FROM oidc_signing_keys WHERE alg = ?1 AND retired_at IS NULL",
                )?
                .execute([&k.alg])?;
            }
            tx.prepare_cached(
                "INSERT INTO oidc_signing_keys (kid, alg, sealed, created_at, retired_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![k.kid, k.alg, k.sealed, k.created_at, k.retired_at])?;
        }
        ExportRecord::OidcSubject(subject) => {
            tx.prepare_cached("INSERT INTO oidc_subjects (user_id, subject) VALUES (?1, ?2)")?
                .execute(params![subject.user_id, subject.subject])?;
        }
        ExportRecord::OidcConsent(c) => {
            tx.prepare_cached(
                "INSERT INTO oidc_consents (user_id, client_id, scope, granted_at)
                 VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![c.user_id, c.client_id, c.scope, c.granted_at])?;
        }
    }
    Ok(())
}
