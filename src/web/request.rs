//! What handlers read from a request: a JSON body (absent, empty and `{}` all
//! mean "no fields"; anything malformed is 400 `invalid_request`), the tokens
//! in the cookies, and who the client is.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use serde::de::DeserializeOwned;

use super::cookies::{PENDING_COOKIE, SESSION_COOKIE};
use super::error::ApiError;
use crate::auth::Client;
use crate::auth::session::Token;

/// Largest JSON body accepted (a WebAuthn credential is a few KiB).
const MAX_BODY_BYTES: usize = 64 * 1024;

/// A JSON request body parsed into `T`.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for JsonBody<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let bytes = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            let bytes = bytes.await.map_err(|e| {
                ApiError::invalid_request(format!("the request body could not be read: {e}"))
            })?;
            let text: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
                b"{}"
            } else {
                &bytes
            };
            if bytes.len() > MAX_BODY_BYTES {
                return Err(ApiError::invalid_request("the request body is too large"));
            }
            serde_json::from_slice(text)
                .map(JsonBody)
                .map_err(|e| ApiError::invalid_request(format!("the JSON body is invalid: {e}")))
        })
    }
}

/// The session token from the session cookie.
pub fn session_token(req: &HttpRequest) -> Option<Token> {
    req.cookie(SESSION_COOKIE)
        .map(|c| Token::from_client(c.value()))
}

/// The pending-login token from its cookie.
pub fn pending_token(req: &HttpRequest) -> Option<Token> {
    req.cookie(PENDING_COOKIE)
        .map(|c| Token::from_client(c.value()))
}

/// The client as the audit trail records it and throttling counts it: the
/// socket's address, or the one a trusted proxy names in `X-Forwarded-For`.
pub fn client(req: &HttpRequest) -> Client {
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
            .cookie(super::cookies::KNOWN_CLIENT_COOKIE)
            .map(|c| Token::from_client(c.value())),
        remembered_browser: req
            .cookie(super::cookies::REMEMBERED_BROWSER_COOKIE)
            .map(|c| Token::from_client(c.value())),
    }
}
