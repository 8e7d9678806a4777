//! The OpenID Connect provider's tables: signing keys, subjects, consents,
//! codes and token families. Using a code or a refresh token locks its row
//! (`FOR UPDATE`) in one transaction, so a code raced across instances is
//! spent exactly once and the loser sees it spent.

use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::sessions::keep_newest;
use super::{
    CODE_REPLAY_MEMORY_SECS, CodeRecord, IssueFromCode, IssueFromRefresh,
    MAX_FAMILIES_PER_USER_AND_CLIENT, OidcStore, OidcTokenKind, OidcTokenRecord, PostgresStore,
    Redemption, SigningKeyRecord, StoreResult, Timestamp, TokenHash, UserId, hash32,
};

const KEY_COLUMNS: &str = "kid, alg, sealed, created_at, retired_at";
const CODE_COLUMNS: &str = "code_hash, family, client_id, user_id, redirect_uri, scope, nonce,
    code_challenge, auth_time, method, created_at, expires_at";
const TOKEN_COLUMNS: &str = "token_hash, kind, family, client_id, user_id, scope, auth_time,
    method, created_at, expires_at, used_at";

fn key_from_row(row: &Row) -> SigningKeyRecord {
    SigningKeyRecord {
        kid: row.get(0),
        alg: row.get(1),
        sealed: row.get(2),
        created_at: row.get(3),
        retired_at: row.get(4),
    }
}

fn code_from_row(row: &Row) -> StoreResult<CodeRecord> {
    Ok(CodeRecord {
        code_hash: hash32(row.get(0))?,
        family: row.get(1),
        client_id: row.get(2),
        user_id: row.get(3),
        redirect_uri: row.get(4),
        scope: row.get(5),
        nonce: row.get(6),
        code_challenge: row.get(7),
        auth_time: row.get(8),
        method: row.get(9),
        created_at: row.get(10),
        expires_at: row.get(11),
    })
}

fn token_from_row(row: &Row) -> StoreResult<OidcTokenRecord> {
    Ok(OidcTokenRecord {
        token_hash: hash32(row.get(0))?,
        kind: OidcTokenKind::parse(row.get(1)),
        family: row.get(2),
        client_id: row.get(3),
        user_id: row.get(4),
        scope: row.get(5),
        auth_time: row.get(6),
        method: row.get(7),
        created_at: row.get(8),
        expires_at: row.get(9),
        used_at: row.get(10),
    })
}

async fn insert_key(
    client: &impl GenericClient,
    key: &SigningKeyRecord,
) -> Result<u64, tokio_postgres::Error> {
    client
        .execute(
            &format!(
                "INSERT INTO oidc_signing_keys ({KEY_COLUMNS}) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (alg) WHERE retired_at IS NULL DO NOTHING"
            ),
            &[
                &key.kid,
                &key.alg,
                &key.sealed,
                &key.created_at,
                &key.retired_at,
            ],
        )
        .await
}

async fn insert_tokens(
    client: &impl GenericClient,
    tokens: &[OidcTokenRecord],
) -> Result<(), tokio_postgres::Error> {
    for token in tokens {
        client
            .execute(
                &format!(
                    "INSERT INTO oidc_tokens ({TOKEN_COLUMNS})
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
                ),
                &[
                    &&token.token_hash[..],
                    &token.kind.as_str(),
                    &token.family,
                    &token.client_id,
                    &token.user_id,
                    &token.scope,
                    &token.auth_time,
                    &token.method,
                    &token.created_at,
                    &token.expires_at,
                    &token.used_at,
                ],
            )
            .await?;
    }
    Ok(())
}

/// Ends the user's oldest token families with a client beyond the bound.
async fn keep_newest_families(
    client: &impl GenericClient,
    user: UserId,
    client_id: &str,
) -> Result<(), tokio_postgres::Error> {
    client
        .execute(
            "DELETE FROM oidc_tokens WHERE user_id = $1 AND client_id = $2 AND family IN
                (SELECT family FROM oidc_tokens WHERE user_id = $1 AND client_id = $2
                  GROUP BY family ORDER BY max(created_at) DESC, family OFFSET $3)",
            &[
                &user,
                &client_id,
                &i64::from(MAX_FAMILIES_PER_USER_AND_CLIENT),
            ],
        )
        .await
        .map(drop)
}

async fn delete_family(
    client: &impl GenericClient,
    family: &str,
) -> Result<u64, tokio_postgres::Error> {
    client
        .execute("DELETE FROM oidc_tokens WHERE family = $1", &[&family])
        .await
}

#[async_trait]
impl OidcStore for PostgresStore {
    async fn signing_keys(&self) -> StoreResult<Vec<SigningKeyRecord>> {
        let client = self.client().await?;
        let rows = client
            .query(
                &format!(
                    "SELECT {KEY_COLUMNS} FROM oidc_signing_keys ORDER BY created_at DESC, kid"
                ),
                &[],
            )
            .await?;
        Ok(rows.iter().map(key_from_row).collect())
    }

    async fn insert_first_signing_key(&self, key: SigningKeyRecord) -> StoreResult<bool> {
        let client = self.client().await?;
        Ok(insert_key(&client, &key).await? == 1)
    }

    async fn rotate_signing_key(&self, key: SigningKeyRecord) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        tx.execute(
            "UPDATE oidc_signing_keys SET retired_at = $2
              WHERE alg = $1 AND retired_at IS NULL",
            &[&key.alg, &key.created_at],
        )
        .await?;
        insert_key(&tx, &key).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn subject_of(&self, user: UserId, fresh: String) -> StoreResult<String> {
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO oidc_subjects (user_id, subject) VALUES ($1, $2)
                 ON CONFLICT (user_id) DO NOTHING",
                &[&user, &fresh],
            )
            .await?;
        Ok(client
            .query_one(
                "SELECT subject FROM oidc_subjects WHERE user_id = $1",
                &[&user],
            )
            .await?
            .get(0))
    }

    async fn consent(&self, user: UserId, client_id: &str) -> StoreResult<Option<String>> {
        let client = self.client().await?;
        Ok(client
            .query_opt(
                "SELECT scope FROM oidc_consents WHERE user_id = $1 AND client_id = $2",
                &[&user, &client_id],
            )
            .await?
            .map(|row| row.get(0)))
    }

    async fn put_consent(
        &self,
        user: UserId,
        client_id: &str,
        scope: &str,
        at: Timestamp,
    ) -> StoreResult<()> {
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO oidc_consents (user_id, client_id, scope, granted_at)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (user_id, client_id)
                 DO UPDATE SET scope = excluded.scope, granted_at = excluded.granted_at",
                &[&user, &client_id, &scope, &at],
            )
            .await?;
        Ok(())
    }

    async fn insert_code(&self, code: CodeRecord, keep_at_most: u32) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        tx.execute(
            &format!(
                "INSERT INTO oidc_codes ({CODE_COLUMNS})
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
            ),
            &[
                &&code.code_hash[..],
                &code.family,
                &code.client_id,
                &code.user_id,
                &code.redirect_uri,
                &code.scope,
                &code.nonce,
                &code.code_challenge,
                &code.auth_time,
                &code.method,
                &code.created_at,
                &code.expires_at,
            ],
        )
        .await?;
        keep_newest(&tx, "oidc_codes", code.user_id, keep_at_most).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn redeem_code(
        &self,
        code_hash: TokenHash,
        now: Timestamp,
        issue: IssueFromCode,
    ) -> StoreResult<Redemption<CodeRecord>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let row = tx
            .query_opt(
                &format!(
                    "SELECT {CODE_COLUMNS}, used_at FROM oidc_codes
                      WHERE code_hash = $1 FOR UPDATE"
                ),
                &[&&code_hash[..]],
            )
            .await?;
        let Some(row) = row else {
            return Ok(Redemption::Unknown);
        };
        let code = code_from_row(&row)?;
        let used_at: Option<i64> = row.get(12);
        let outcome = if used_at.is_some() {
            delete_family(&tx, &code.family).await?;
            Redemption::Replayed(code)
        } else if code.expires_at <= now {
            return Ok(Redemption::Unknown);
        } else {
            tx.execute(
                "UPDATE oidc_codes SET used_at = $2 WHERE code_hash = $1",
                &[&&code_hash[..], &now],
            )
            .await?;
            match issue(&code) {
                Some(tokens) => {
                    insert_tokens(&tx, &tokens).await?;
                    keep_newest_families(&tx, code.user_id, &code.client_id).await?;
                    Redemption::Issued(code)
                }
                None => Redemption::Refused(code),
            }
        };
        tx.commit().await?;
        Ok(outcome)
    }

    async fn redeem_refresh_token(
        &self,
        token_hash: TokenHash,
        now: Timestamp,
        issue: IssueFromRefresh,
    ) -> StoreResult<Redemption<OidcTokenRecord>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let row = tx
            .query_opt(
                &format!(
                    "SELECT {TOKEN_COLUMNS} FROM oidc_tokens
                      WHERE token_hash = $1 AND kind = 'refresh' AND expires_at > $2
                      FOR UPDATE"
                ),
                &[&&token_hash[..], &now],
            )
            .await?;
        let Some(row) = row else {
            return Ok(Redemption::Unknown);
        };
        let token = token_from_row(&row)?;
        let outcome = if token.used_at.is_some() {
            delete_family(&tx, &token.family).await?;
            Redemption::Replayed(token)
        } else {
            tx.execute(
                "UPDATE oidc_tokens SET used_at = $2 WHERE token_hash = $1",
                &[&&token_hash[..], &now],
            )
            .await?;
            match issue(&token) {
                Some(tokens) => {
                    insert_tokens(&tx, &tokens).await?;
                    Redemption::Issued(token)
                }
                None => Redemption::Refused(token),
            }
        };
        tx.commit().await?;
        Ok(outcome)
    }

    async fn oidc_token(
        &self,
        token_hash: TokenHash,
        now: Timestamp,
    ) -> StoreResult<Option<OidcTokenRecord>> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                &format!(
                    "SELECT {TOKEN_COLUMNS} FROM oidc_tokens
                      WHERE token_hash = $1 AND expires_at > $2"
                ),
                &[&&token_hash[..], &now],
            )
            .await?;
        row.as_ref().map(token_from_row).transpose()
    }

    async fn revoke_family(&self, family: &str) -> StoreResult<u64> {
        let client = self.client().await?;
        Ok(delete_family(&client, family).await?)
    }

    async fn revoke_token(&self, token_hash: TokenHash) -> StoreResult<bool> {
        let client = self.client().await?;
        Ok(client
            .execute(
                "DELETE FROM oidc_tokens WHERE token_hash = $1",
                &[&&token_hash[..]],
            )
            .await?
            == 1)
    }

    async fn delete_expired_oidc(
        &self,
        now: Timestamp,
        keys_retired_before: Timestamp,
    ) -> StoreResult<u64> {
        let client = self.client().await?;
        let codes = client
            .execute(
                "DELETE FROM oidc_codes WHERE expires_at <= $1",
                &[&(now - CODE_REPLAY_MEMORY_SECS)],
            )
            .await?;
        let tokens = client
            .execute("DELETE FROM oidc_tokens WHERE expires_at <= $1", &[&now])
            .await?;
        let keys = client
            .execute(
                "DELETE FROM oidc_signing_keys
                  WHERE retired_at IS NOT NULL AND retired_at <= $1",
                &[&keys_retired_before],
            )
            .await?;
        Ok(codes + tokens + keys)
    }
}
