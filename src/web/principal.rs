//! Who is asking, as extractors: `Principal` (a live credential: a session
//! cookie or a Bearer token), `Account` (a browser's session alone, for
//! what changes credentials), `Pending` (a login between its two factors),
//! `Enroller`, `Client` and the raw `SignInCookies`; handlers take these
//! instead of reading cookies and headers. `OrSignIn<T>` is the pages' flavour.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::{StatusCode, header};
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError, web};

use super::cookies::{
    KNOWN_CLIENT_COOKIE, PASSKEY_COOKIE, PENDING_COOKIE, REMEMBERED_BROWSER_COOKIE, SESSION_COOKIE,
};
use super::pages::see_other;
use crate::auth::session::Token;
use crate::auth::{Account, Auth, AuthError, Client, Enroller, PresentedCredential, Principal};
use crate::store::PendingRecord;

type Extraction<T, E> = Pin<Box<dyn Future<Output = Result<T, E>>>>;

/// The domain service, as every extractor here needs it.
fn service(req: &HttpRequest) -> Result<web::Data<Auth>, AuthError> {
    req.app_data::<web::Data<Auth>>()
        .cloned()
        .ok_or_else(|| AuthError::Unexpected(anyhow::anyhow!("the service is not configured")))
}

/// The credential the request carries, if any: an `Authorization` header
/// (a script's, which wins when a browser's cookie comes along), else the
/// session cookie.
pub(super) fn presented_credential(req: &HttpRequest) -> Option<PresentedCredential> {
    match req.headers().get(header::AUTHORIZATION) {
        Some(value) => Some(authorization(value.as_bytes())),
        None => session_token(req).map(PresentedCredential::Session),
    }
}

/// The credential forward-auth judges: the session cookie when there is
/// one, else the `Authorization` header. Behind a proxy the header may be
/// the app's own (its API token, its Basic login) riding along with a
/// browser's cookie: that browser is still let in by its session.
pub(super) fn forwarded_credential(req: &HttpRequest) -> Option<PresentedCredential> {
    match session_token(req) {
        Some(token) => Some(PresentedCredential::Session(token)),
        None => presented_credential(req),
    }
}

/// The longest `Authorization` value read (a Basic key and secret, or a
/// Bearer token, are far shorter).
const MAX_AUTHORIZATION_BYTES: usize = 512;

/// Reads `Authorization: Bearer <token>` or `Authorization: Basic
/// base64(id:secret)`; anything else is malformed, with why.
fn authorization(value: &[u8]) -> PresentedCredential {
    use base64::Engine;
    if value.len() > MAX_AUTHORIZATION_BYTES {
        return PresentedCredential::Malformed("the Authorization header is too long");
    }
    let Ok(text) = std::str::from_utf8(value) else {
        return PresentedCredential::Malformed("the Authorization header is not text");
    };
    let (scheme, rest) = text.trim().split_once(' ').unwrap_or((text.trim(), ""));
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        if rest.is_empty() || rest.contains(char::is_whitespace) {
            return PresentedCredential::Malformed("Authorization: Bearer needs one token");
        }
        return PresentedCredential::Bearer(Token::from_client(rest));
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok());
        return match decoded.as_deref().and_then(|pair| pair.split_once(':')) {
            Some((id, secret)) if !id.is_empty() && !secret.is_empty() => {
                PresentedCredential::AccessKey {
                    id: id.to_owned(),
                    secret: secret.to_owned().into(),
                }
            }
            _ => PresentedCredential::Malformed(
                "Authorization: Basic needs base64 of access_key_id:secret",
            ),
        };
    }
    PresentedCredential::Malformed("the Authorization header is neither Bearer nor Basic")
}

/// A request that carries a script's credential (any `Authorization`
/// header): refused where credentials change.
fn carries_authorization(req: &HttpRequest) -> bool {
    req.headers().contains_key(header::AUTHORIZATION)
}

/// The session token from the session cookie.
fn session_token(req: &HttpRequest) -> Option<Token> {
    req.cookie(SESSION_COOKIE)
        .map(|c| Token::from_client(c.value()))
}

/// The pending-login token from its cookie.
fn pending_token(req: &HttpRequest) -> Option<Token> {
    req.cookie(PENDING_COOKIE)
        .map(|c| Token::from_client(c.value()))
}

/// The client as the audit trail records it and throttling counts it: the
/// socket's address, or the one a trusted proxy names in `X-Forwarded-For`.
fn client(req: &HttpRequest) -> Client {
    let user_agent = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|ua| ua.chars().take(256).collect());
    let trusted_proxies = req
        .app_data::<web::Data<crate::auth::Auth>>()
        .map(|auth| auth.settings().server.trusted_proxies.as_slice())
        .unwrap_or_default();
    Client {
        ip: super::client_ip::client_ip(req, trusted_proxies).map(|ip| ip.to_string()),
        user_agent,
        known_client: req
            .cookie(KNOWN_CLIENT_COOKIE)
            .map(|c| Token::from_client(c.value())),
        remembered_browser: req
            .cookie(REMEMBERED_BROWSER_COOKIE)
            .map(|c| Token::from_client(c.value())),
    }
}

/// A live credential's principal; refused as the API refuses (401
/// `unauthenticated`, or 503 while the store is out of reach).
impl FromRequest for Principal {
    type Error = AuthError;
    type Future = Extraction<Self, AuthError>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let (auth, presented) = (service(req), presented_credential(req));
        Box::pin(async move { auth?.principal(presented.as_ref()).await })
    }
}

/// A browser's signed-in session: what changes credentials (password,
/// devices, access keys, passkeys, sessions) takes nothing else. A
/// temporary credential or access key gets 403 `forbidden`.
impl FromRequest for Account {
    type Error = AuthError;
    type Future = Extraction<Self, AuthError>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let (auth, presented) = (service(req), presented_credential(req));
        let scripted = carries_authorization(req);
        Box::pin(async move {
            if scripted {
                return Err(AuthError::NotWithTemporaryCredential);
            }
            auth?.principal(presented.as_ref()).await?.into_account()
        })
    }
}

/// A password accepted and a second factor still owed (the pending-login
/// cookie, still live).
pub struct Pending(pub PendingRecord);

impl FromRequest for Pending {
    type Error = AuthError;
    type Future = Extraction<Self, AuthError>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let (auth, token) = (service(req), pending_token(req));
        Box::pin(async move { auth?.pending_login(token.as_ref()).await.map(Pending) })
    }
}

/// Who may enrol a second factor: a principal, or a first-login user.
impl FromRequest for Enroller {
    type Error = AuthError;
    type Future = Extraction<Self, AuthError>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let (auth, session, pending) = (service(req), session_token(req), pending_token(req));
        let scripted = carries_authorization(req);
        Box::pin(async move {
            if scripted {
                return Err(AuthError::NotWithTemporaryCredential);
            }
            auth?.enroller(session.as_ref(), pending.as_ref()).await
        })
    }
}

/// The client as the audit trail and throttling see it; never refused.
impl FromRequest for Client {
    type Error = std::convert::Infallible;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(Ok(client(req)))
    }
}

/// The sign-in tokens a browser holds, unchecked: for the login steps, which
/// judge (and count) a missing or stale pending login themselves, and for
/// logout, which ends whatever they name.
pub struct SignInCookies {
    pub session: Option<Token>,
    pub pending: Option<Token>,
    /// A passwordless sign-in's ceremony, between its begin and finish.
    pub passkey: Option<Token>,
}

impl FromRequest for SignInCookies {
    type Error = std::convert::Infallible;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(Ok(SignInCookies {
            session: session_token(req),
            pending: pending_token(req),
            passkey: req
                .cookie(PASSKEY_COOKIE)
                .map(|c| Token::from_client(c.value())),
        }))
    }
}

/// `T` for a page: when `T` is refused for any reason, the browser is sent
/// to sign in (303 to `/login`), as the pages always did.
pub struct OrSignIn<T>(pub T);

impl<T: FromRequest + 'static> FromRequest for OrSignIn<T> {
    type Error = SignInFirst;
    type Future = Extraction<Self, SignInFirst>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let extraction = T::from_request(req, payload);
        Box::pin(async move { extraction.await.map(OrSignIn).map_err(|_| SignInFirst) })
    }
}

/// A page's refusal: go and sign in.
#[derive(Debug)]
pub struct SignInFirst;

impl std::fmt::Display for SignInFirst {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("sign in first")
    }
}

impl ResponseError for SignInFirst {
    fn status_code(&self) -> StatusCode {
        StatusCode::SEE_OTHER
    }

    fn error_response(&self) -> HttpResponse {
        see_other("/login")
    }
}
