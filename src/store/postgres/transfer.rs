//! Export and import: every lasting row read in one `REPEATABLE READ READ
//! ONLY` transaction (one snapshot while other instances keep writing),
//! fetched through a portal a batch at a time; an import written in one
//! transaction that holds the users table against new sign-ups, with the id
//! sequences moved past the imported ids.

use anyhow::Context;
use async_trait::async_trait;
use deadpool_postgres::Transaction;
use tokio_postgres::{IsolationLevel, Row};

use super::{
    ExportRecord, ExportSink, ExportSource, ExportedAccessKey, ExportedAttachment,
    ExportedAuditEvent, ExportedCanary, ExportedDevice, ExportedGroup, ExportedGroupMember,
    ExportedPolicy, ExportedRecoveryCode, ExportedRole, ExportedRolePolicy, ExportedRoleTrust,
    ExportedUser, ImportOutcome, PostgresStore, RecordSource, StoreError, StoreResult,
    TransferStore,
};
use crate::store::{
    CountedEvent, DeviceKind, ExportedConsent, ExportedSigningKey, ExportedSubject,
};

/// Rows fetched from the server at a time.
const BATCH: i32 = 500;

type RecordOf = fn(&Row) -> ExportRecord;

const TABLES: [(&str, RecordOf); 17] = [
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
           FROM devices ORDER BY seq",
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
           LEFT JOIN access_groups g ON g.id = a.group_id
          ORDER BY p.id, g.id NULLS LAST, a.user_id",
        attachment_from_row,
    ),
    (
        "SELECT id, user_id, secret_hash, active, created_at, last_used_at
           FROM access_keys ORDER BY created_at, id",
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
           LEFT JOIN access_groups g ON g.id = t.group_id
          ORDER BY r.id, g.id NULLS LAST, t.user_id",
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

#[async_trait]
impl TransferStore for PostgresStore {
    async fn export_records(&self, sink: &mut dyn ExportSink) -> StoreResult<u64> {
        let mut client = self.client().await?;
        let tx = client
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await?;
        let schema_version: i64 = tx
            .query_one("SELECT coalesce(max(version), 0) FROM twofold_schema", &[])
            .await?
            .get(0);
        sink.begin(&ExportSource {
            backend: "postgres",
            schema_version,
        })
        .map_err(StoreError::Unexpected)?;
        let mut records = 0;
        for (sql, record_of) in TABLES {
            let portal = tx.bind(sql, &[]).await?;
            loop {
                let rows = tx.query_portal(&portal, BATCH).await?;
                for row in &rows {
                    sink.record(record_of(row))
                        .map_err(StoreError::Unexpected)?;
                    records += 1;
                }
                if rows.len() < BATCH as usize {
                    break;
                }
            }
        }
        tx.commit().await?;
        Ok(records)
    }

    async fn import_records(
        &self,
        records: RecordSource,
        event: Option<CountedEvent>,
    ) -> StoreResult<ImportOutcome> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        // No instance signs a user up between the check and the commit.
        tx.batch_execute("LOCK TABLE users IN EXCLUSIVE MODE")
            .await?;
        let has_users: bool = tx
            .query_one("SELECT EXISTS (SELECT 1 FROM users)", &[])
            .await?
            .get(0);
        if has_users {
            return Ok(ImportOutcome::StoreHasUsers);
        }
        let mut written = 0u64;
        for record in records {
            let record = record.map_err(StoreError::Unexpected)?;
            write_record(&tx, &record)
                .await
                .with_context(|| format!("record {} was refused by the database", written + 1))
                .map_err(StoreError::Unexpected)?;
            written += 1;
        }
        // New users, codes and events are numbered after the imported ones.
        tx.batch_execute(
            "SELECT setval(pg_get_serial_sequence('users', 'id'),
                           (SELECT coalesce(max(id), 0) + 1 FROM users), false);
             SELECT setval(pg_get_serial_sequence('recovery_codes', 'id'),
                           (SELECT coalesce(max(id), 0) + 1 FROM recovery_codes), false);
             SELECT setval(pg_get_serial_sequence('audit_events', 'id'),
                           (SELECT coalesce(max(id), 0) + 1 FROM audit_events), false);
             UPDATE access_version SET version = version + 1 WHERE id = 1;",
        )
        .await?;
        if let Some(event) = event {
            super::audit::append(&tx, &event(written)).await?;
        }
        tx.commit().await?;
        Ok(ImportOutcome::Imported { records: written })
    }
}

async fn write_record(tx: &Transaction<'_>, record: &ExportRecord) -> anyhow::Result<()> {
    match record {
        ExportRecord::User(u) => {
            let insert = tx
                .prepare_cached(
                    "INSERT INTO users (id, username, password_hash, admin, disabled, created_at,
                                        password_changed_at, password_last_used_at,
                                        last_sign_in_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .await?;
            tx.execute(
                &insert,
                &[
                    &u.id,
                    &u.username,
                    &u.password_hash,
                    &u.admin,
                    &u.disabled,
                    &u.created_at,
                    &u.password_changed_at,
                    &u.password_last_used_at,
                    &u.last_sign_in_at,
                ],
            )
            .await?;
        }
        ExportRecord::Device(d) => {
            let insert = tx
                .prepare_cached(
                    "INSERT INTO devices (id, user_id, kind, name, confirmed, created_at,
                                          last_used_at, totp_secret, totp_last_step,
                                          totp_offset_steps, hardware, credential,
                                          credential_id, sign_count)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
                )
                .await?;
            tx.execute(
                &insert,
                &[
                    &d.id,
                    &d.user_id,
                    &d.kind.as_str(),
                    &d.name,
                    &d.confirmed,
                    &d.created_at,
                    &d.last_used_at,
                    &d.totp_secret,
                    &d.totp_last_step,
                    &d.totp_offset_steps,
                    &d.hardware,
                    &d.credential,
                    &d.credential_id,
                    &d.sign_count,
                ],
            )
            .await?;
        }
        ExportRecord::RecoveryCode(c) => {
            anyhow::ensure!(
                c.code_hash.len() == 32,
                "a recovery code hash is not 32 bytes"
            );
            let insert = tx
                .prepare_cached(
                    "INSERT INTO recovery_codes (user_id, code_hash, used_at) VALUES ($1, $2, $3)",
                )
                .await?;
            tx.execute(&insert, &[&c.user_id, &c.code_hash, &c.used_at])
                .await?;
        }
        ExportRecord::AuditEvent(e) => {
            let insert = tx
                .prepare_cached(
                    "INSERT INTO audit_events (at, username, event, ip, user_agent, detail)
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .await?;
            tx.execute(
                &insert,
                &[
                    &e.at,
                    &e.username,
                    &e.event,
                    &e.ip,
                    &e.user_agent,
                    &e.detail,
                ],
            )
            .await?;
        }
        // A store without users holds no seed sealed under its own canary's
        // key, so the imported canary (the key of the imported seeds) wins.
        ExportRecord::SealedCanary(c) => {
            let upsert = tx
                .prepare_cached(
                    "INSERT INTO sealed_canary (id, sealed) VALUES (1, $1)
                     ON CONFLICT (id) DO UPDATE SET sealed = excluded.sealed",
                )
                .await?;
            tx.execute(&upsert, &[&c.sealed]).await?;
        }
        ExportRecord::SealedRecoveryKey(k) => {
            let upsert = tx
                .prepare_cached(
                    "INSERT INTO sealed_recovery_key (id, sealed) VALUES (1, $1)
                     ON CONFLICT (id) DO UPDATE SET sealed = excluded.sealed",
                )
                .await?;
            tx.execute(&upsert, &[&k.sealed]).await?;
        }
        ExportRecord::Group(g) => {
            tx.execute("INSERT INTO access_groups (name) VALUES ($1)", &[&g.name])
                .await?;
        }
        ExportRecord::Policy(p) => {
            tx.execute(
                "INSERT INTO access_policies (name, document, updated_at) VALUES ($1, $2, $3)",
                &[&p.name, &p.document, &p.updated_at],
            )
            .await?;
        }
        ExportRecord::GroupMember(m) => {
            let added = tx
                .execute(
                    "INSERT INTO access_group_members (group_id, user_id)
                     SELECT id, $2 FROM access_groups WHERE name = $1",
                    &[&m.group, &m.user_id],
                )
                .await?;
            anyhow::ensure!(added == 1, "a member of an unknown group {}", m.group);
        }
        ExportRecord::PolicyAttachment(a) => {
            anyhow::ensure!(
                a.group.is_none() || a.user_id.is_none(),
                "an attachment to both a group and a user"
            );
            let added = tx
                .execute(
                    "INSERT INTO access_attachments (policy_id, group_id, user_id)
                     SELECT p.id, (SELECT id FROM access_groups WHERE name = $2), $3
                       FROM access_policies p WHERE p.name = $1",
                    &[&a.policy, &a.group, &a.user_id],
                )
                .await?;
            anyhow::ensure!(
                added == 1,
                "an attachment of an unknown policy {}",
                a.policy
            );
        }
        ExportRecord::AccessKey(k) => {
            anyhow::ensure!(
                k.secret_hash.len() == 32,
                "an access key hash is not 32 bytes"
            );
            tx.execute(
                "INSERT INTO access_keys (id, user_id, secret_hash, active, created_at, last_used_at)
                 VALUES ($1, $2, $3, $4, $5, $6)",
                &[
                    &k.id,
                    &k.user_id,
                    &k.secret_hash,
                    &k.active,
                    &k.created_at,
                    &k.last_used_at,
                ],
            )
            .await?;
        }
        ExportRecord::Role(r) => {
            tx.execute(
                "INSERT INTO access_roles (name, max_duration_secs, updated_at) VALUES ($1, $2, $3)",
                &[&r.name, &r.max_duration_secs, &r.updated_at],
            )
            .await?;
        }
        ExportRecord::RolePolicy(rp) => {
            let added = tx
                .execute(
                    "INSERT INTO access_role_policies (role_id, policy_id)
                     SELECT r.id, p.id FROM access_roles r, access_policies p
                      WHERE r.name = $1 AND p.name = $2",
                    &[&rp.role, &rp.policy],
                )
                .await?;
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
                .execute(
                    "INSERT INTO access_role_trust (role_id, group_id, user_id)
                     SELECT r.id, (SELECT id FROM access_groups WHERE name = $2), $3
                       FROM access_roles r WHERE r.name = $1",
                    &[&t.role, &t.group, &t.user_id],
                )
                .await?;
            anyhow::ensure!(added == 1, "the trust of an unknown role {}", t.role);
        }
        ExportRecord::OidcSigningKey(k) => {
            // A store started before the import made keys of its own: the
            // imported current key takes the place of the one of its kind.
            if k.retired_at.is_none() {
                tx.execute(
                    "DELETE FROM oidc_signing_keys WHERE alg = $1 AND retired_at IS NULL",
                    &[&k.alg],
                )
                .await?;
            }
            tx.execute(
                "INSERT INTO oidc_signing_keys (kid, alg, sealed, created_at, retired_at)
                 VALUES ($1, $2, $3, $4, $5)",
                &[&k.kid, &k.alg, &k.sealed, &k.created_at, &k.retired_at],
            )
            .await?;
        }
        ExportRecord::OidcSubject(subject) => {
            tx.execute(
                "INSERT INTO oidc_subjects (user_id, subject) VALUES ($1, $2)",
                &[&subject.user_id, &subject.subject],
            )
            .await?;
        }
        ExportRecord::OidcConsent(c) => {
            tx.execute(
                "INSERT INTO oidc_consents (user_id, client_id, scope, granted_at)
                 VALUES ($1, $2, $3, $4)",
                &[&c.user_id, &c.client_id, &c.scope, &c.granted_at],
            )
            .await?;
        }
    }
    Ok(())
}

fn access_key_from_row(row: &Row) -> ExportRecord {
    ExportRecord::AccessKey(ExportedAccessKey {
        id: row.get(0),
        user_id: row.get(1),
        secret_hash: row.get(2),
        active: row.get(3),
        created_at: row.get(4),
        last_used_at: row.get(5),
    })
}

fn role_from_row(row: &Row) -> ExportRecord {
    ExportRecord::Role(ExportedRole {
        name: row.get(0),
        max_duration_secs: row.get(1),
        updated_at: row.get(2),
    })
}

fn role_policy_from_row(row: &Row) -> ExportRecord {
    ExportRecord::RolePolicy(ExportedRolePolicy {
        role: row.get(0),
        policy: row.get(1),
    })
}

fn role_trust_from_row(row: &Row) -> ExportRecord {
    ExportRecord::RoleTrust(ExportedRoleTrust {
        role: row.get(0),
        group: row.get(1),
        user_id: row.get(2),
    })
}

fn signing_key_from_row(row: &Row) -> ExportRecord {
    ExportRecord::OidcSigningKey(ExportedSigningKey {
        kid: row.get(0),
        alg: row.get(1),
        sealed: row.get(2),
        created_at: row.get(3),
        retired_at: row.get(4),
    })
}

fn subject_from_row(row: &Row) -> ExportRecord {
    ExportRecord::OidcSubject(ExportedSubject {
        user_id: row.get(0),
        subject: row.get(1),
    })
}

fn consent_from_row(row: &Row) -> ExportRecord {
    ExportRecord::OidcConsent(ExportedConsent {
        user_id: row.get(0),
        client_id: row.get(1),
        scope: row.get(2),
        granted_at: row.get(3),
    })
}

fn group_from_row(row: &Row) -> ExportRecord {
    ExportRecord::Group(ExportedGroup { name: row.get(0) })
}

fn policy_from_row(row: &Row) -> ExportRecord {
    ExportRecord::Policy(ExportedPolicy {
        name: row.get(0),
        document: row.get(1),
        updated_at: row.get(2),
    })
}

fn member_from_row(row: &Row) -> ExportRecord {
    ExportRecord::GroupMember(ExportedGroupMember {
        group: row.get(0),
        user_id: row.get(1),
    })
}

fn attachment_from_row(row: &Row) -> ExportRecord {
    ExportRecord::PolicyAttachment(ExportedAttachment {
        policy: row.get(0),
        group: row.get(1),
        user_id: row.get(2),
    })
}

fn user_from_row(row: &Row) -> ExportRecord {
    ExportRecord::User(ExportedUser {
        id: row.get(0),
        username: row.get(1),
        password_hash: row.get(2),
        admin: row.get(3),
        disabled: row.get(4),
        created_at: row.get(5),
        password_changed_at: row.get(6),
        password_last_used_at: row.get(7),
        last_sign_in_at: row.get(8),
    })
}

fn device_from_row(row: &Row) -> ExportRecord {
    let kind: &str = row.get(2);
    ExportRecord::Device(ExportedDevice {
        id: row.get(0),
        user_id: row.get(1),
        kind: DeviceKind::parse(kind),
        name: row.get(3),
        confirmed: row.get(4),
        created_at: row.get(5),
        last_used_at: row.get(6),
        totp_secret: row.get(7),
        totp_last_step: row.get(8),
        totp_offset_steps: row.get(9),
        hardware: row.get(10),
        credential: row.get(11),
        credential_id: row.get(12),
        sign_count: row.get(13),
    })
}

fn recovery_code_from_row(row: &Row) -> ExportRecord {
    ExportRecord::RecoveryCode(ExportedRecoveryCode {
        user_id: row.get(0),
        code_hash: row.get(1),
        used_at: row.get(2),
    })
}

fn audit_event_from_row(row: &Row) -> ExportRecord {
    ExportRecord::AuditEvent(ExportedAuditEvent {
        at: row.get(0),
        username: row.get(1),
        event: row.get(2),
        ip: row.get(3),
        user_agent: row.get(4),
        detail: row.get(5),
    })
}

fn recovery_key_from_row(row: &Row) -> ExportRecord {
    ExportRecord::SealedRecoveryKey(ExportedCanary { sealed: row.get(0) })
}

fn canary_from_row(row: &Row) -> ExportRecord {
    ExportRecord::SealedCanary(ExportedCanary { sealed: row.get(0) })
}
