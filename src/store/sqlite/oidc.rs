//! The OpenID Connect provider's tables: signing keys, subjects, consents,
//! codes and token families. Using a code or a refresh token is one write
//! transaction on the writer, so a raced code is spent exactly once.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::sessions::keep_newest;
use super::*;

const KEY_COLUMNS: &str = "kid, alg, sealed, created_at, retired_at";
const CODE_COLUMNS: &str = "code_hash, family, client_id, user_id, redirect_uri, scope, nonce,
    code_challenge, auth_time, method, created_at, expires_at";
const TOKEN_COLUMNS: &str = "token_hash, kind, family, client_id, user_id, scope, auth_time,
    method, created_at, expires_at, used_at";

fn key_from_row(row: &Row<'_>) -> rusqlite::Result<SigningKeyRecord> {
    Ok(SigningKeyRecord {
        kid: row.get(0)?,
        alg: row.get(1)?,
        sealed: row.get(2)?,
        created_at: row.get(3)?,
        retired_at: row.get(4)?,
    })
}

fn code_from_row(row: &Row<'_>) -> rusqlite::Result<CodeRecord> {
    Ok(CodeRecord {
        code_hash: row.get(0)?,
        family: row.get(1)?,
        client_id: row.get(2)?,
        user_id: row.get(3)?,
        redirect_uri: row.get(4)?,
        scope: row.get(5)?,
        nonce: row.get(6)?,
        code_challenge: row.get(7)?,
        auth_time: row.get(8)?,
        method: row.get(9)?,
        created_at: row.get(10)?,
        expires_at: row.get(11)?,
    })
}

fn token_from_row(row: &Row<'_>) -> rusqlite::Result<OidcTokenRecord> {
    Ok(OidcTokenRecord {
        token_hash: row.get(0)?,
        kind: OidcTokenKind::parse(&row.get::<_, String>(1)?),
        family: row.get(2)?,
        client_id: row.get(3)?,
        user_id: row.get(4)?,
        scope: row.get(5)?,
        auth_time: row.get(6)?,
        method: row.get(7)?,
        created_at: row.get(8)?,
        expires_at: row.get(9)?,
        used_at: row.get(10)?,
    })
}

fn insert_key(tx: &Connection, key: &SigningKeyRecord) -> rusqlite::Result<usize> {
    tx.execute(
        &format!(
            "INSERT INTO oidc_signing_keys ({KEY_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (alg) WHERE retired_at IS NULL DO NOTHING"
        ),
        params![key.kid, key.alg, key.sealed, key.created_at, key.retired_at],
    )
}

fn insert_tokens(tx: &Connection, tokens: &[OidcTokenRecord]) -> rusqlite::Result<()> {
    for token in tokens {
        tx.execute(
            &format!(
                "INSERT INTO oidc_tokens ({TOKEN_COLUMNS})
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
            ),
            params![
                token.token_hash,
                token.kind.as_str(),
                token.family,
                token.client_id,
                token.user_id,
                token.scope,
                token.auth_time,
                token.method,
                token.created_at,
                token.expires_at,
                token.used_at
            ],
        )?;
    }
    Ok(())
}

/// Ends the user's oldest token families with a client beyond the bound.
fn keep_newest_families(tx: &Connection, user: UserId, client_id: &str) -> rusqlite::Result<()> {
    tx.execute(
        "DELETE FROM oidc_tokens WHERE user_id = ?1 AND client_id = ?2 AND family IN
            (SELECT family FROM oidc_tokens WHERE user_id = ?1 AND client_id = ?2
              GROUP BY family ORDER BY max(created_at) DESC, family LIMIT -1 OFFSET ?3)",
        params![user, client_id, MAX_FAMILIES_PER_USER_AND_CLIENT],
    )
    .map(drop)
}

fn delete_family(tx: &Connection, family: &str) -> rusqlite::Result<u64> {
    tx.execute("DELETE FROM oidc_tokens WHERE family = ?1", [family])
        .map(|n| n as u64)
}

#[async_trait]
impl OidcStore for SqliteStore {
    async fn signing_keys(&self) -> StoreResult<Vec<SigningKeyRecord>> {
        self.call(|conn| {
            conn.prepare(&format!(
                "SELECT {KEY_COLUMNS} FROM oidc_signing_keys ORDER BY created_at DESC, kid"
            ))?
            .query_map([], key_from_row)?
            .collect()
        })
        .await
    }

    async fn insert_first_signing_key(&self, key: SigningKeyRecord) -> StoreResult<bool> {
        self.write(move |tx| Ok(insert_key(tx, &key)? == 1)).await
    }

    async fn rotate_signing_key(&self, key: SigningKeyRecord) -> StoreResult<()> {
        self.write(move |tx| {
            tx.execute(
                "UPDATE oidc_signing_keys SET retired_at = ?2
                  WHERE alg = ?1 AND retired_at IS NULL",
                params![key.alg, key.created_at],
            )?;
            insert_key(tx, &key).map(drop)
        })
        .await
    }

    async fn subject_of(&self, user: UserId, fresh: String) -> StoreResult<String> {
        self.write(move |tx| {
            tx.execute(
                "INSERT INTO oidc_subjects (user_id, subject) VALUES (?1, ?2)
                 ON CONFLICT (user_id) DO NOTHING",
                params![user, fresh],
            )?;
            tx.query_row(
                "SELECT subject FROM oidc_subjects WHERE user_id = ?1",
                [user],
                |row| row.get(0),
            )
        })
        .await
    }

    async fn consent(&self, user: UserId, client_id: &str) -> StoreResult<Option<String>> {
        let client_id = client_id.to_owned();
        self.call(move |conn| {
            conn.query_row(
                "SELECT scope FROM oidc_consents WHERE user_id = ?1 AND client_id = ?2",
                params![user, client_id],
                |row| row.get(0),
            )
            .optional()
        })
        .await
    }

    async fn put_consent(
        &self,
        user: UserId,
        client_id: &str,
        scope: &str,
        at: Timestamp,
    ) -> StoreResult<()> {
        let (client_id, scope) = (client_id.to_owned(), scope.to_owned());
        self.write(move |tx| {
            tx.execute(
                "INSERT INTO oidc_consents (user_id, client_id, scope, granted_at)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (user_id, client_id)
                 DO UPDATE SET scope = excluded.scope, granted_at = excluded.granted_at",
                params![user, client_id, scope, at],
            )
            .map(drop)
        })
        .await
    }

    async fn insert_code(&self, code: CodeRecord, keep_at_most: u32) -> StoreResult<()> {
        self.write(move |tx| {
            tx.execute(
                &format!(
                    "INSERT INTO oidc_codes ({CODE_COLUMNS})
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
                ),
                params![
                    code.code_hash,
                    code.family,
                    code.client_id,
                    code.user_id,
                    code.redirect_uri,
                    code.scope,
                    code.nonce,
                    code.code_challenge,
                    code.auth_time,
                    code.method,
                    code.created_at,
                    code.expires_at
                ],
            )?;
            keep_newest(tx, "oidc_codes", code.user_id, keep_at_most)
        })
        .await
    }

    async fn redeem_code(
        &self,
        code_hash: TokenHash,
        now: Timestamp,
        issue: IssueFromCode,
    ) -> StoreResult<Redemption<CodeRecord>> {
        self.write(move |tx| {
            let found = tx
                .query_row(
                    &format!("SELECT {CODE_COLUMNS}, used_at FROM oidc_codes WHERE code_hash = ?1"),
                    [code_hash],
                    |row| Ok((code_from_row(row)?, row.get::<_, Option<i64>>(12)?)),
                )
                .optional()?;
            let Some((code, used_at)) = found else {
                return Ok(Redemption::Unknown);
            };
            if used_at.is_some() {
                delete_family(tx, &code.family)?;
                return Ok(Redemption::Replayed(code));
            }
            if code.expires_at <= now {
                return Ok(Redemption::Unknown);
            }
            tx.execute(
                "UPDATE oidc_codes SET used_at = ?2 WHERE code_hash = ?1",
                params![code_hash, now],
            )?;
            match issue(&code) {
                Some(tokens) => {
                    insert_tokens(tx, &tokens)?;
                    keep_newest_families(tx, code.user_id, &code.client_id)?;
                    Ok(Redemption::Issued(code))
                }
                None => Ok(Redemption::Refused(code)),
            }
        })
        .await
    }

    async fn redeem_refresh_token(
        &self,
        token_hash: TokenHash,
        now: Timestamp,
        issue: IssueFromRefresh,
    ) -> StoreResult<Redemption<OidcTokenRecord>> {
        self.write(move |tx| {
            let found = tx
                .query_row(
                    &format!(
                        "SELECT {TOKEN_COLUMNS} FROM oidc_tokens
                          WHERE token_hash = ?1 AND kind = 'refresh' AND expires_at > ?2"
                    ),
                    params![token_hash, now],
                    token_from_row,
                )
                .optional()?;
            let Some(token) = found else {
                return Ok(Redemption::Unknown);
            };
            if token.used_at.is_some() {
                delete_family(tx, &token.family)?;
                return Ok(Redemption::Replayed(token));
            }
            tx.execute(
                "UPDATE oidc_tokens SET used_at = ?2 WHERE token_hash = ?1",
                params![token_hash, now],
            )?;
            match issue(&token) {
                Some(tokens) => {
                    insert_tokens(tx, &tokens)?;
                    Ok(Redemption::Issued(token))
                }
                None => Ok(Redemption::Refused(token)),
            }
        })
        .await
    }

    async fn oidc_token(
        &self,
        token_hash: TokenHash,
        now: Timestamp,
    ) -> StoreResult<Option<OidcTokenRecord>> {
        self.read_in_place(move |conn| {
            conn.query_row(
                &format!(
                    "SELECT {TOKEN_COLUMNS} FROM oidc_tokens
                      WHERE token_hash = ?1 AND expires_at > ?2"
                ),
                params![token_hash, now],
                token_from_row,
            )
            .optional()
        })
        .await
    }

    async fn revoke_family(&self, family: &str) -> StoreResult<u64> {
        let family = family.to_owned();
        self.write(move |tx| delete_family(tx, &family)).await
    }

    async fn revoke_token(&self, token_hash: TokenHash) -> StoreResult<bool> {
        self.write(move |tx| {
            tx.execute(
                "DELETE FROM oidc_tokens WHERE token_hash = ?1",
                [token_hash],
            )
            .map(|n| n == 1)
        })
        .await
    }

    async fn delete_expired_oidc(
        &self,
        now: Timestamp,
        keys_retired_before: Timestamp,
    ) -> StoreResult<u64> {
        self.write(move |tx| {
            // A spent code is kept a while past its life, so a late replay
            // still revokes what it issued.
            let codes = tx.execute(
                "DELETE FROM oidc_codes WHERE expires_at <= ?1",
                [now - CODE_REPLAY_MEMORY_SECS],
            )?;
            let tokens = tx.execute("DELETE FROM oidc_tokens WHERE expires_at <= ?1", [now])?;
            let keys = tx.execute(
                "DELETE FROM oidc_signing_keys
                  WHERE retired_at IS NOT NULL AND retired_at <= ?1",
                [keys_retired_before],
            )?;
            Ok((codes + tokens + keys) as u64)
        })
        .await
    }
}
