//! Security keys over HTTP: the JSON endpoints that begin and finish a
//! registration or a sign-in (WebAuthn's standard JSON, base64url without
//! padding), the page that enrols a key, and the script bridging both.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;
use serde_json::json;
use webauthn_rs::prelude::{PublicKeyCredential, RegisterPublicKeyCredential};

use super::cookies;
use super::error::ApiResult;
use super::login::authenticated;
use super::metrics::counted;
use super::pages::page;
use super::principal::OrSignIn;
use super::principal::SignInCookies;
use super::request::JsonBody;
use crate::auth::security_key::RegisteredKey;
use crate::auth::{Auth, Client, Enroller};
use crate::metrics::SignInMethod;

#[derive(Deserialize, utoipa::ToSchema)]
pub struct NewKeyRequest {
    name: String,
}

impl NewKeyRequest {
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// `POST /api/v1/me/security-keys/begin` `{"name"}`
#[utoipa::path(
    post,
    path = "/api/v1/me/security-keys/begin",
    tag = "account",
    request_body = NewKeyRequest,
    security(("session" = [])),
    responses(
        (status = 200, description = "Options for navigator.credentials.create", body = super::openapi::PublicKeyOptions),
        (status = 400, description = "invalid_request", body = super::openapi::ErrorBody),
        (status = 401, description = "unauthenticated: no live session", body = super::openapi::ErrorBody),
        (status = 409, description = "too_many_devices", body = super::openapi::ErrorBody)
    )
)]
pub async fn begin_registration(
    auth: web::Data<Auth>,
    enroller: Enroller,
    JsonBody(body): JsonBody<NewKeyRequest>,
) -> ApiResult<HttpResponse> {
    let options = auth
        .start_security_key_registration(&enroller, &body.name)
        .await?;
    Ok(HttpResponse::Ok().json(options))
}

/// `POST /api/v1/me/security-keys/finish` with the new PublicKeyCredential.
#[utoipa::path(
    post,
    path = "/api/v1/me/security-keys/finish",
    tag = "account",
    request_body = Object,
    security(("session" = [])),
    responses(
        (status = 201, description = "The key is enrolled", body = super::openapi::DeviceStatus),
        (status = 400, description = "invalid_attestation or invalid_request", body = super::openapi::ErrorBody),
        (status = 401, description = "unauthenticated: no live session", body = super::openapi::ErrorBody)
    )
)]
pub async fn finish_registration(
    auth: web::Data<Auth>,
    enroller: Enroller,
    client: Client,
    JsonBody(credential): JsonBody<RegisterPublicKeyCredential>,
) -> ApiResult<HttpResponse> {
    let registered = auth
        .finish_security_key_registration(&enroller, &credential, &client)
        .await?;
    Ok(enrolled(&auth, &registered))
}

/// 201 `{"id","name","status":"confirmed"}` for a security key or passkey
/// just enrolled, with the session's cookies when it ended a first login.
pub fn enrolled(auth: &Auth, registered: &RegisteredKey) -> HttpResponse {
    let mut response = HttpResponse::Created();
    if let Some(signed_in) = &registered.signed_in {
        for cookie in cookies::signed_in(auth.settings(), signed_in) {
            response.cookie(cookie);
        }
    }
    response.json(json!({
        "id": registered.device_id,
        "name": registered.name,
        "status": "confirmed",
    }))
}

/// `POST /api/v1/login/security-key/begin`
#[utoipa::path(
    post,
    path = "/api/v1/login/security-key/begin",
    tag = "sign-in",
    responses(
        (status = 200, description = "Options for navigator.credentials.get", body = super::openapi::PublicKeyOptions),
        (status = 401, description = "unauthenticated: no live session", body = super::openapi::ErrorBody)
    )
)]
pub async fn begin_login(auth: web::Data<Auth>, cookies: SignInCookies) -> ApiResult<HttpResponse> {
    let options = auth
        .start_security_key_login(cookies.pending.as_ref())
        .await?;
    Ok(HttpResponse::Ok().json(options))
}

/// The key's PublicKeyCredential, plus (an extension) `"remember_browser":
/// true` to skip the second factor on this client for a while.
#[derive(Deserialize)]
pub struct SecurityKeyLogin {
    #[serde(flatten)]
    credential: PublicKeyCredential,
    #[serde(default)]
    remember_browser: bool,
}

/// `POST /api/v1/login/security-key/finish` with the key's PublicKeyCredential
/// (and, as an extension, `"remember_browser": true`).
#[tracing::instrument(skip_all)]
#[utoipa::path(
    post,
    path = "/api/v1/login/security-key/finish",
    tag = "sign-in",
    request_body = Object,
    responses(
        (status = 200, description = "Signed in; the session cookie is set", body = super::openapi::StatusAnswer),
        (status = 400, description = "invalid_request", body = super::openapi::ErrorBody),
        (status = 401, description = "invalid_assertion", body = super::openapi::ErrorBody),
        (status = 429, description = "too_many_attempts", body = super::openapi::ErrorBody)
    )
)]
pub async fn finish_login(
    auth: web::Data<Auth>,
    cookies: SignInCookies,
    client: Client,
    JsonBody(body): JsonBody<SecurityKeyLogin>,
) -> ApiResult<HttpResponse> {
    let signed_in = auth
        .login_security_key(
            cookies.pending.as_ref(),
            &body.credential,
            body.remember_browser,
            &client,
        )
        .await;
    let signed_in = counted(&auth, SignInMethod::SecurityKey, signed_in)?;
    Ok(authenticated(&auth, &signed_in))
}

/// The pages' routes: enrolling a key, and the script.
pub fn page_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/static/webauthn.js", web::get().to(script))
        .route("/enrol/security-key", web::get().to(enrol_page));
}

#[derive(Template)]
#[template(path = "enrol_security_key.html")]
struct EnrolSecurityKeyView {
    first_login: bool,
}

async fn script() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(include_str!("../../static/webauthn.js"))
}

async fn enrol_page(OrSignIn(enroller): OrSignIn<Enroller>) -> HttpResponse {
    page(
        StatusCode::OK,
        &EnrolSecurityKeyView {
            first_login: matches!(enroller, Enroller::FirstFactor { .. }),
        },
    )
}
