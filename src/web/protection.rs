//! The account-protection endpoints of the JSON API: recovery codes (make a
//! set, sign in with one), changing one's password, and step-up (passing a
//! second factor again: a code, or a security key's answer to a challenge).
//! Thin: parse, call the domain, answer.

use actix_web::{HttpRequest, HttpResponse, web};
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::json;
use webauthn_rs::prelude::PublicKeyCredential;

use super::api_resource;
use super::cookies;
use super::error::{ApiError, ApiResult};
use super::login::authenticated;
use super::request::{JsonBody, client, pending_token, session_token};
use crate::auth::Auth;
use crate::auth::session::Token;
use crate::auth::step_up::SecondFactorProof;

/// Routes inside the `/api/v1` scope.
pub fn api_routes(cfg: &mut web::ServiceConfig) {
    cfg.service(api_resource(
        "/login/recovery-code",
        vec![web::post().to(login_recovery_code)],
    ))
    .service(api_resource(
        "/me/recovery-codes",
        vec![web::post().to(create_recovery_codes)],
    ))
    .service(api_resource(
        "/me/password",
        vec![web::post().to(change_password)],
    ))
    .service(api_resource(
        "/me/reauthenticate",
        vec![web::post().to(reauthenticate)],
    ))
    .service(api_resource(
        "/me/reauthenticate/security-key/begin",
        vec![web::post().to(begin_security_key_step_up)],
    ))
    .service(api_resource(
        "/me/reauthenticate/security-key/finish",
        vec![web::post().to(finish_security_key_step_up)],
    ));
}

#[derive(Deserialize)]
pub struct RecoveryCodeRequest {
    code: String,
}

#[derive(Deserialize)]
pub struct PasswordChangeRequest {
    current_password: SecretString,
    new_password: SecretString,
}

#[derive(Deserialize)]
pub struct ReauthenticateRequest {
    code: Option<String>,
    recovery_code: Option<String>,
}

#[tracing::instrument(skip_all)]
async fn login_recovery_code(
    auth: web::Data<Auth>,
    req: HttpRequest,
    JsonBody(body): JsonBody<RecoveryCodeRequest>,
) -> ApiResult<HttpResponse> {
    let signed_in = auth
        .login_recovery_code(pending_token(&req).as_ref(), &body.code, &client(&req))
        .await?;
    Ok(authenticated(&auth, &signed_in))
}

async fn create_recovery_codes(auth: web::Data<Auth>, req: HttpRequest) -> ApiResult<HttpResponse> {
    let account = auth.signed_in(session_token(&req).as_ref()).await?;
    let codes = auth.create_recovery_codes(&account, &client(&req)).await?;
    Ok(HttpResponse::Created().json(json!({ "codes": codes })))
}

#[tracing::instrument(skip_all)]
async fn change_password(
    auth: web::Data<Auth>,
    req: HttpRequest,
    JsonBody(body): JsonBody<PasswordChangeRequest>,
) -> ApiResult<HttpResponse> {
    let account = auth.signed_in(session_token(&req).as_ref()).await?;
    auth.change_password(
        &account,
        &body.current_password,
        &body.new_password,
        &client(&req),
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[tracing::instrument(skip_all)]
async fn reauthenticate(
    auth: web::Data<Auth>,
    req: HttpRequest,
    JsonBody(body): JsonBody<ReauthenticateRequest>,
) -> ApiResult<HttpResponse> {
    let account = auth.signed_in(session_token(&req).as_ref()).await?;
    let proof = match (&body.code, &body.recovery_code) {
        (Some(code), None) => SecondFactorProof::Totp(code),
        (None, Some(code)) => SecondFactorProof::RecoveryCode(code),
        _ => {
            return Err(ApiError::invalid_request(
                "give exactly one of code (from an authenticator app) or recovery_code",
            ));
        }
    };
    let token = auth.reauthenticate(&account, proof, &client(&req)).await?;
    Ok(reauthenticated(&auth, &token))
}

/// `POST /api/v1/me/reauthenticate/security-key/begin`: the options for
/// `navigator.credentials.get`, for the session's user's keys.
async fn begin_security_key_step_up(
    auth: web::Data<Auth>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let account = auth.signed_in(session_token(&req).as_ref()).await?;
    let options = auth.start_security_key_step_up(&account).await?;
    Ok(HttpResponse::Ok().json(options))
}

/// `POST /api/v1/me/reauthenticate/security-key/finish` with the key's
/// PublicKeyCredential.
#[tracing::instrument(skip_all)]
async fn finish_security_key_step_up(
    auth: web::Data<Auth>,
    req: HttpRequest,
    JsonBody(credential): JsonBody<PublicKeyCredential>,
) -> ApiResult<HttpResponse> {
    let account = auth.signed_in(session_token(&req).as_ref()).await?;
    let proof = SecondFactorProof::SecurityKey(&credential);
    let token = auth.reauthenticate(&account, proof, &client(&req)).await?;
    Ok(reauthenticated(&auth, &token))
}

/// 200 `{"status":"reauthenticated"}` with the session's new cookie.
fn reauthenticated(auth: &Auth, token: &Token) -> HttpResponse {
    HttpResponse::Ok()
        .cookie(cookies::session(auth.settings(), token))
        .json(json!({"status": "reauthenticated"}))
}
