//! The account-protection endpoints of the JSON API: recovery codes (make a
//! set, sign in with one), changing one's password, and step-up (passing a
//! second factor again: a code, or a security key's answer to a challenge).
//! Thin: parse, call the domain, answer.

use actix_web::{HttpResponse, web};
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::json;
use webauthn_rs::prelude::PublicKeyCredential;

use super::ApiRoute;
use super::cookies;
use super::error::{ApiError, ApiResult};
use super::login::authenticated;
use super::metrics::counted;
use super::principal::SignInCookies;
use super::request::JsonBody;
use crate::auth::session::Token;
use crate::auth::step_up::SecondFactorProof;
use crate::auth::{Account, Auth, Client};
use crate::metrics::SignInMethod;
use actix_web::http::Method;

/// Routes inside the `/api/v1` scope.
pub fn api_routes() -> Vec<ApiRoute> {
    vec![
        ApiRoute::new(Method::POST, "/login/recovery-code", |r| {
            r.to(login_recovery_code)
        }),
        ApiRoute::new(Method::POST, "/me/recovery-codes", |r| {
            r.to(create_recovery_codes)
        }),
        ApiRoute::new(Method::POST, "/me/password", |r| r.to(change_password)),
        ApiRoute::new(Method::POST, "/me/reauthenticate", |r| r.to(reauthenticate)),
        ApiRoute::new(Method::POST, "/me/reauthenticate/security-key/begin", |r| {
            r.to(begin_security_key_step_up)
        }),
        ApiRoute::new(
            Method::POST,
            "/me/reauthenticate/security-key/finish",
            |r| r.to(finish_security_key_step_up),
        ),
    ]
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct RecoveryCodeRequest {
    code: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct PasswordChangeRequest {
    #[schema(value_type = String)]
    current_password: SecretString,
    #[schema(value_type = String)]
    new_password: SecretString,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct ReauthenticateRequest {
    code: Option<String>,
    recovery_code: Option<String>,
}

#[tracing::instrument(skip_all)]
#[utoipa::path(
    post,
    path = "/api/v1/login/recovery-code",
    tag = "sign-in",
    request_body = RecoveryCodeRequest,
    responses(
        (status = 200, description = "Signed in; the code is used up", body = super::openapi::StatusAnswer),
        (status = 400, description = "invalid_request", body = super::openapi::ErrorBody),
        (status = 401, description = "invalid_code", body = super::openapi::ErrorBody),
        (status = 429, description = "too_many_attempts", body = super::openapi::ErrorBody)
    )
)]
async fn login_recovery_code(
    auth: web::Data<Auth>,
    cookies: SignInCookies,
    client: Client,
    JsonBody(body): JsonBody<RecoveryCodeRequest>,
) -> ApiResult<HttpResponse> {
    let signed_in = auth
        .login_recovery_code(cookies.pending.as_ref(), &body.code, &client)
        .await;
    let signed_in = counted(&auth, SignInMethod::RecoveryCode, signed_in)?;
    Ok(authenticated(&auth, &signed_in))
}

#[utoipa::path(
    post,
    path = "/api/v1/me/recovery-codes",
    tag = "account",
    security(("session" = [])),
    responses(
        (status = 201, description = "A new set of codes; the old set is void", body = super::openapi::RecoveryCodes),
        (status = 401, description = "unauthenticated: no live session", body = super::openapi::ErrorBody),
        (status = 403, description = "reauthentication_required", body = super::openapi::ErrorBody)
    )
)]
async fn create_recovery_codes(
    auth: web::Data<Auth>,
    account: Account,
    client: Client,
) -> ApiResult<HttpResponse> {
    let codes = auth.create_recovery_codes(&account, &client).await?;
    Ok(HttpResponse::Created().json(json!({ "codes": codes })))
}

#[tracing::instrument(skip_all)]
#[utoipa::path(
    post,
    path = "/api/v1/me/password",
    tag = "account",
    request_body = PasswordChangeRequest,
    security(("session" = [])),
    responses(
        (status = 204, description = "The password is changed"),
        (status = 400, description = "weak_password or invalid_request", body = super::openapi::ErrorBody),
        (status = 401, description = "invalid_credentials or unauthenticated", body = super::openapi::ErrorBody),
        (status = 403, description = "reauthentication_required", body = super::openapi::ErrorBody),
        (status = 429, description = "too_many_attempts", body = super::openapi::ErrorBody)
    )
)]
async fn change_password(
    auth: web::Data<Auth>,
    account: Account,
    client: Client,
    JsonBody(body): JsonBody<PasswordChangeRequest>,
) -> ApiResult<HttpResponse> {
    auth.change_password(
        &account,
        &body.current_password,
        &body.new_password,
        &client,
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[tracing::instrument(skip_all)]
#[utoipa::path(
    post,
    path = "/api/v1/me/reauthenticate",
    tag = "account",
    request_body = ReauthenticateRequest,
    security(("session" = [])),
    responses(
        (status = 200, description = "The second factor is passed again (step-up)", body = super::openapi::StatusAnswer),
        (status = 400, description = "invalid_request", body = super::openapi::ErrorBody),
        (status = 401, description = "invalid_code or unauthenticated", body = super::openapi::ErrorBody),
        (status = 429, description = "too_many_attempts", body = super::openapi::ErrorBody)
    )
)]
async fn reauthenticate(
    auth: web::Data<Auth>,
    account: Account,
    client: Client,
    JsonBody(body): JsonBody<ReauthenticateRequest>,
) -> ApiResult<HttpResponse> {
    let proof = match (&body.code, &body.recovery_code) {
        (Some(code), None) => SecondFactorProof::Totp(code),
        (None, Some(code)) => SecondFactorProof::RecoveryCode(code),
        _ => {
            return Err(ApiError::invalid_request(
                "give exactly one of code (from an authenticator app) or recovery_code",
            ));
        }
    };
    let token = auth.reauthenticate(&account, proof, &client).await?;
    Ok(reauthenticated(&auth, &token))
}

/// `POST /api/v1/me/reauthenticate/security-key/begin`: the options for
/// `navigator.credentials.get`, for the session's user's keys.
#[utoipa::path(
    post,
    path = "/api/v1/me/reauthenticate/security-key/begin",
    tag = "account",
    security(("session" = [])),
    responses(
        (status = 200, description = "Options for navigator.credentials.get", body = super::openapi::PublicKeyOptions),
        (status = 401, description = "unauthenticated: no live session", body = super::openapi::ErrorBody)
    )
)]
async fn begin_security_key_step_up(
    auth: web::Data<Auth>,
    account: Account,
) -> ApiResult<HttpResponse> {
    let options = auth.start_security_key_step_up(&account).await?;
    Ok(HttpResponse::Ok().json(options))
}

/// `POST /api/v1/me/reauthenticate/security-key/finish` with the key's
/// PublicKeyCredential.
#[tracing::instrument(skip_all)]
#[utoipa::path(
    post,
    path = "/api/v1/me/reauthenticate/security-key/finish",
    tag = "account",
    request_body = Object,
    security(("session" = [])),
    responses(
        (status = 200, description = "The second factor is passed again (step-up)", body = super::openapi::StatusAnswer),
        (status = 400, description = "invalid_request", body = super::openapi::ErrorBody),
        (status = 401, description = "invalid_assertion or unauthenticated", body = super::openapi::ErrorBody),
        (status = 429, description = "too_many_attempts", body = super::openapi::ErrorBody)
    )
)]
async fn finish_security_key_step_up(
    auth: web::Data<Auth>,
    account: Account,
    client: Client,
    JsonBody(credential): JsonBody<PublicKeyCredential>,
) -> ApiResult<HttpResponse> {
    let proof = SecondFactorProof::SecurityKey(&credential);
    let token = auth.reauthenticate(&account, proof, &client).await?;
    Ok(reauthenticated(&auth, &token))
}

/// 200 `{"status":"reauthenticated"}` with the session's new cookie.
pub(super) fn reauthenticated(auth: &Auth, token: &Token) -> HttpResponse {
    HttpResponse::Ok()
        .cookie(cookies::session(auth.settings(), token))
        .json(json!({"status": "reauthenticated"}))
}
