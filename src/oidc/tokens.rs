//! The token endpoint's grants (`authorization_code`, `refresh_token` with
//! rotation and reuse detection), userinfo, introspection (RFC 7662),
//! revocation (RFC 7009) and the ID-token check of RP-initiated logout.
//! Access and refresh tokens are opaque and kept hashed in the store, so
//! every instance sees a revocation at once.

use base64::Engine;
use serde::Serialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::claims::{IdTokenBase, Person, has_scope};
use super::keys;
use super::{OidcError, OidcResult, Provider};
use crate::auth::Client;
use crate::auth::audit::AuditEvent;
use crate::auth::clock::Timestamp;
use crate::auth::session::Token;
use crate::config::OidcClientSettings;
use crate::store::{OidcTokenKind, OidcTokenRecord, Redemption, UserId, UserRecord};

/// What the client asked the token endpoint for.
#[derive(Debug, Clone)]
pub enum TokenGrant {
    AuthorizationCode {
        code: String,
        redirect_uri: Option<String>,
        code_verifier: Option<String>,
    },
    RefreshToken {
        refresh_token: String,
    },
}

#[derive(Debug, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub id_token: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    pub scope: String,
}

#[derive(Debug, Serialize)]
pub struct UserInfo {
    pub sub: String,
    pub preferred_username: String,
    pub groups: Vec<String>,
}

/// RFC 7662's answer: `{"active": false}` alone for anything not live.
#[derive(Debug, Serialize, Default)]
pub struct Introspection {
    pub active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
}

/// Where RP-initiated logout sends the browser, once the session ended.
#[derive(Debug, Clone)]
pub struct Logout {
    /// The hint checked out for the signed-in person: end their session.
    pub end_session: bool,
    /// `post_logout_redirect_uri` (with `state`) when it is registered for
    /// the hint's client.
    pub redirect: Option<String>,
}

const MAX_VERIFIER: usize = 128;
const MIN_VERIFIER: usize = 43;

/// RFC 7636: `BASE64URL(SHA256(verifier)) == challenge`, compared in
/// constant time; the verifier must be 43–128 unreserved characters.
fn pkce_matches(challenge: &str, verifier: &str) -> bool {
    let well_formed = (MIN_VERIFIER..=MAX_VERIFIER).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
    if !well_formed {
        return false;
    }
    let computed =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier));
    computed.as_bytes().ct_eq(challenge.as_bytes()).into()
}

/// The raw tokens a grant hands out, made before the store's transaction.
struct Minted {
    access: Token,
    refresh: Option<Token>,
}

impl Minted {
    fn records(
        &self,
        like: TokenTemplate,
        settings: &crate::config::OidcSettings,
    ) -> Vec<OidcTokenRecord> {
        let mut records = vec![OidcTokenRecord {
            token_hash: self.access.hash(),
            kind: OidcTokenKind::Access,
            family: like.family.clone(),
            client_id: like.client_id.clone(),
            user_id: like.user_id,
            scope: like.scope.clone(),
            auth_time: like.auth_time,
            method: like.method.clone(),
            created_at: like.now,
            expires_at: like.now + settings.access_token_ttl_secs,
            used_at: None,
        }];
        if let Some(refresh) = &self.refresh {
            records.push(OidcTokenRecord {
                token_hash: refresh.hash(),
                kind: OidcTokenKind::Refresh,
                expires_at: like.now + settings.refresh_token_ttl_secs,
                ..records[0].clone()
            });
        }
        records
    }
}

struct TokenTemplate {
    family: String,
    client_id: String,
    user_id: UserId,
    scope: String,
    auth_time: Timestamp,
    method: String,
    now: Timestamp,
}

impl Provider {
    /// The token endpoint, for an authenticated client.
    pub async fn exchange(
        &self,
        client: &OidcClientSettings,
        grant: TokenGrant,
        who: &Client,
    ) -> OidcResult<TokenResponse> {
        match grant {
            TokenGrant::AuthorizationCode {
                code,
                redirect_uri,
                code_verifier,
            } => {
                self.exchange_code(client, &code, redirect_uri, code_verifier, who)
                    .await
            }
            TokenGrant::RefreshToken { refresh_token } => {
                self.exchange_refresh(client, &refresh_token, who).await
            }
        }
    }

    async fn exchange_code(
        &self,
        client: &OidcClientSettings,
        code: &str,
        redirect_uri: Option<String>,
        verifier: Option<String>,
        who: &Client,
    ) -> OidcResult<TokenResponse> {
        let now = self.auth.clock.now();
        let minted = Minted {
            access: Token::generate(),
            refresh: Some(Token::generate()),
        };
        let settings = self.auth.settings.oidc.clone();
        let client_id = client.id.clone();
        let needs_pkce = client.needs_pkce();
        let records = {
            let minted_access = minted.access.clone();
            let minted_refresh = minted.refresh.clone();
            move |code: &crate::store::CodeRecord| {
                let pkce = match (&code.code_challenge, &verifier) {
                    (Some(challenge), Some(verifier)) => pkce_matches(challenge, verifier),
                    (None, None) => !needs_pkce,
                    // A verifier for a code made without a challenge is a
                    // downgrade attempt (RFC 9700 §2.1.1).
                    _ => false,
                };
                let right = code.client_id == client_id
                    && redirect_uri.as_deref() == Some(code.redirect_uri.as_str())
                    && pkce;
                if !right {
                    return None;
                }
                let offline = has_scope(&code.scope, "offline_access");
                let minted = Minted {
                    access: minted_access,
                    refresh: minted_refresh.filter(|_| offline),
                };
                Some(minted.records(
                    TokenTemplate {
                        family: code.family.clone(),
                        client_id: code.client_id.clone(),
                        user_id: code.user_id,
                        scope: code.scope.clone(),
                        auth_time: code.auth_time,
                        method: code.method.clone(),
                        now,
                    },
                    &settings,
                ))
            }
        };
        let redemption = self
            .auth
            .store
            .redeem_code(Token::from_client(code).hash(), now, Box::new(records))
            .await?;
        let code = match redemption {
            Redemption::Issued(code) => code,
            Redemption::Replayed(code) => {
                let user = self.auth.store.user_by_id(code.user_id).await?;
                let detail = format!("client={} family revoked", code.client_id);
                self.auth
                    .audit(
                        AuditEvent::OidcCodeReplayed,
                        user.as_ref().map(|u| u.username.as_str()),
                        who,
                        &detail,
                    )
                    .await;
                return Err(OidcError::InvalidGrant(
                    "the code was already used; what it issued is revoked".into(),
                ));
            }
            Redemption::Refused(_) | Redemption::Unknown => {
                return Err(OidcError::InvalidGrant(
                    "the code is unknown, expired or used, or was issued to another client, \
                     redirect URI or PKCE verifier"
                        .into(),
                ));
            }
        };
        let user = self.live_user(code.user_id, &code.family).await?;
        let refresh = minted
            .refresh
            .filter(|_| has_scope(&code.scope, "offline_access"));
        let response = self
            .respond(
                client,
                &user,
                minted.access,
                refresh,
                &code.scope,
                IdTokenBase {
                    issuer: self.issuer().to_owned(),
                    client_id: client.id.clone(),
                    now,
                    ttl_secs: self.auth.settings.oidc.access_token_ttl_secs,
                    auth_time: code.auth_time,
                    nonce: code.nonce.clone(),
                    method: code.method.clone(),
                },
            )
            .await?;
        let detail = format!("client={} grant=authorization_code", client.id);
        self.auth
            .audit(
                AuditEvent::OidcTokenIssued,
                Some(&user.username),
                who,
                &detail,
            )
            .await;
        Ok(response)
    }

    async fn exchange_refresh(
        &self,
        client: &OidcClientSettings,
        refresh_token: &str,
        who: &Client,
    ) -> OidcResult<TokenResponse> {
        let now = self.auth.clock.now();
        let minted = Minted {
            access: Token::generate(),
            refresh: Some(Token::generate()),
        };
        let settings = self.auth.settings.oidc.clone();
        let client_id = client.id.clone();
        let records = {
            let access = minted.access.clone();
            let refresh = minted.refresh.clone();
            move |old: &OidcTokenRecord| {
                if old.client_id != client_id {
                    return None;
                }
                let minted = Minted { access, refresh };
                Some(minted.records(
                    TokenTemplate {
                        family: old.family.clone(),
                        client_id: old.client_id.clone(),
                        user_id: old.user_id,
                        scope: old.scope.clone(),
                        auth_time: old.auth_time,
                        method: old.method.clone(),
                        now,
                    },
                    &settings,
                ))
            }
        };
        let redemption = self
            .auth
            .store
            .redeem_refresh_token(
                Token::from_client(refresh_token).hash(),
                now,
                Box::new(records),
            )
            .await?;
        let old = match redemption {
            Redemption::Issued(old) => old,
            Redemption::Replayed(old) => {
                let user = self.auth.store.user_by_id(old.user_id).await?;
                let detail = format!("client={} family revoked", old.client_id);
                self.auth
                    .audit(
                        AuditEvent::OidcRefreshTokenReplayed,
                        user.as_ref().map(|u| u.username.as_str()),
                        who,
                        &detail,
                    )
                    .await;
                return Err(OidcError::InvalidGrant(
                    "the refresh token was already used; every token of its sign-in is revoked"
                        .into(),
                ));
            }
            Redemption::Refused(_) | Redemption::Unknown => {
                return Err(OidcError::InvalidGrant(
                    "the refresh token is unknown, expired, revoked or another client's".into(),
                ));
            }
        };
        let user = self.live_user(old.user_id, &old.family).await?;
        let response = self
            .respond(
                client,
                &user,
                minted.access,
                minted.refresh,
                &old.scope,
                IdTokenBase {
                    issuer: self.issuer().to_owned(),
                    client_id: client.id.clone(),
                    now,
                    ttl_secs: self.auth.settings.oidc.access_token_ttl_secs,
                    auth_time: old.auth_time,
                    nonce: None,
                    method: old.method.clone(),
                },
            )
            .await?;
        let detail = format!("client={} grant=refresh_token", client.id);
        self.auth
            .audit(
                AuditEvent::OidcTokenIssued,
                Some(&user.username),
                who,
                &detail,
            )
            .await;
        Ok(response)
    }

    /// The user a grant is for, unless disabled (or gone) since: then the
    /// family is revoked and the grant refused.
    async fn live_user(&self, id: UserId, family: &str) -> OidcResult<UserRecord> {
        match self.auth.store.user_by_id(id).await? {
            Some(user) if !user.disabled => Ok(user),
            _ => {
                self.auth.store.revoke_family(family).await?;
                Err(OidcError::InvalidGrant(
                    "the user can no longer sign in".into(),
                ))
            }
        }
    }

    async fn person(&self, user: &UserRecord) -> OidcResult<Person> {
        let subject = self
            .auth
            .store
            .subject_of(user.id, uuid::Uuid::new_v4().to_string())
            .await?;
        Ok(Person {
            subject,
            username: user.username.clone(),
            groups: self.auth.groups_of(&user.username).await?,
        })
    }

    async fn respond(
        &self,
        client: &OidcClientSettings,
        user: &UserRecord,
        access: Token,
        refresh: Option<Token>,
        scope: &str,
        base: IdTokenBase,
    ) -> OidcResult<TokenResponse> {
        let claims = self.person(user).await?.into_id_token(scope, base);
        let id_token = keys::sign(
            self.auth.store.as_ref(),
            &self.auth.secrets,
            &client.id_token_signed_response_alg,
            &claims,
        )
        .await?;
        Ok(TokenResponse {
            access_token: access.as_str().to_owned(),
            token_type: "Bearer",
            expires_in: self.auth.settings.oidc.access_token_ttl_secs,
            id_token,
            refresh_token: refresh.map(|t| t.as_str().to_owned()),
            scope: scope.to_owned(),
        })
    }

    /// A live token and its (enabled) user.
    async fn live_token(&self, token: &str) -> OidcResult<Option<(OidcTokenRecord, UserRecord)>> {
        let now = self.auth.clock.now();
        let Some(record) = self
            .auth
            .store
            .oidc_token(Token::from_client(token).hash(), now)
            .await?
        else {
            return Ok(None);
        };
        // A spent refresh token is kept only to notice a replay.
        if record.used_at.is_some() {
            return Ok(None);
        }
        match self.auth.store.user_by_id(record.user_id).await? {
            Some(user) if !user.disabled => Ok(Some((record, user))),
            _ => Ok(None),
        }
    }

    /// The userinfo endpoint: who the access token's person is.
    pub async fn userinfo(&self, access_token: &str) -> OidcResult<UserInfo> {
        let Some((record, user)) = self.live_token(access_token).await? else {
            return Err(OidcError::InvalidToken);
        };
        if record.kind != OidcTokenKind::Access {
            return Err(OidcError::InvalidToken);
        }
        let person = self.person(&user).await?;
        Ok(UserInfo {
            sub: person.subject,
            preferred_username: person.username,
            groups: person.groups,
        })
    }

    /// RFC 7662, for an authenticated client: only its own tokens are
    /// described; anything else is `{"active": false}`.
    pub async fn introspect(
        &self,
        client: &OidcClientSettings,
        token: &str,
    ) -> OidcResult<Introspection> {
        let Some((record, user)) = self.live_token(token).await? else {
            return Ok(Introspection::default());
        };
        if record.client_id != client.id {
            return Ok(Introspection::default());
        }
        let person = self.person(&user).await?;
        Ok(Introspection {
            active: true,
            scope: Some(record.scope),
            client_id: Some(record.client_id.clone()),
            username: Some(user.username),
            token_type: Some(match record.kind {
                OidcTokenKind::Access => "Bearer",
                OidcTokenKind::Refresh => "refresh_token",
            }),
            exp: Some(record.expires_at),
            iat: Some(record.created_at),
            sub: Some(person.subject),
            aud: Some(record.client_id),
            iss: Some(self.issuer().to_owned()),
        })
    }

    /// RFC 7009: a client's own token is revoked (a refresh token with its
    /// whole family); anything else is ignored, as the RFC asks.
    pub async fn revoke(
        &self,
        client: &OidcClientSettings,
        token: &str,
        who: &Client,
    ) -> OidcResult<()> {
        let now = self.auth.clock.now();
        let hash = Token::from_client(token).hash();
        let Some(record) = self.auth.store.oidc_token(hash, now).await? else {
            return Ok(());
        };
        if record.client_id != client.id {
            return Ok(());
        }
        match record.kind {
            OidcTokenKind::Refresh => {
                self.auth.store.revoke_family(&record.family).await?;
            }
            OidcTokenKind::Access => {
                self.auth.store.revoke_token(hash).await?;
            }
        }
        let user = self.auth.store.user_by_id(record.user_id).await?;
        let detail = format!("client={} kind={}", client.id, record.kind.as_str());
        self.auth
            .audit(
                AuditEvent::OidcTokenRevoked,
                user.as_ref().map(|u| u.username.as_str()),
                who,
                &detail,
            )
            .await;
        Ok(())
    }

    /// RP-initiated logout: checks `id_token_hint` (signed by a key still
    /// published, issued here) against the signed-in user, and
    /// `post_logout_redirect_uri` against its client's list (exactly).
    pub async fn logout(
        &self,
        id_token_hint: Option<&str>,
        post_logout_redirect_uri: Option<&str>,
        state: Option<&str>,
        signed_in: Option<&UserRecord>,
    ) -> OidcResult<Logout> {
        let now = self.auth.clock.now();
        let claims = match id_token_hint {
            Some(hint) => {
                keys::verify_own_token(
                    self.auth.store.as_ref(),
                    &self.auth.secrets,
                    self.issuer(),
                    now,
                    self.auth.settings.oidc.access_token_ttl_secs,
                    hint,
                )
                .await?
            }
            None => None,
        };
        let Some(claims) = claims else {
            return Ok(Logout {
                end_session: false,
                redirect: None,
            });
        };
        let subject = claims.get("sub").and_then(|v| v.as_str());
        let end_session = match (signed_in, subject) {
            (Some(user), Some(subject)) => self.person(user).await?.subject == subject,
            _ => false,
        };
        let client = claims
            .get("aud")
            .and_then(|v| v.as_str())
            .and_then(|aud| self.client(aud));
        let redirect = match (client, post_logout_redirect_uri) {
            (Some(client), Some(uri))
                if client.post_logout_redirect_uris.iter().any(|u| u == uri) =>
            {
                let mut url = url::Url::parse(uri).map_err(anyhow::Error::from)?;
                if let Some(state) = state {
                    url.query_pairs_mut().append_pair("state", state);
                }
                Some(String::from(url))
            }
            _ => None,
        };
        Ok(Logout {
            end_session,
            redirect,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_is_the_base64url_sha256_of_the_verifier() {
        // Computed apart from this code (Python's hashlib and base64).
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r-wW1gFWFOEjXk";
        let challenge = "NPsYzawS-__wqk67X9gyb4dr3JBo3hnlEi5MNyD5jX0";
        assert!(pkce_matches(challenge, verifier));
        assert!(!pkce_matches(
            challenge,
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r-wW1gFWFOEjXl"
        ));
        assert!(!pkce_matches(challenge, "short"));
    }
}
