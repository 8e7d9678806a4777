//! The sign-in endpoints of the JSON API: password, then a second factor; and
//! logout. Thin: parse, call the domain, set cookies.

use actix_web::{HttpResponse, web};
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::json;

use super::cookies::{self, PENDING_COOKIE, SESSION_COOKIE};
use super::error::ApiResult;
use super::metrics::counted;
use super::principal::SignInCookies;
use super::request::JsonBody;
use crate::auth::login::{FirstStep, PasswordOutcome, SignedIn};
use crate::auth::{Auth, Client};
use crate::metrics::SignInMethod;

#[derive(Deserialize, utoipa::ToSchema)]
pub struct LoginRequest {
    username: String,
    #[schema(value_type = String)]
    password: SecretString,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct CodeRequest {
    code: String,
    /// Extension: skip the second factor on this client for
    /// `session.remember_browser_days` (ignored when that is 0).
    #[serde(default)]
    remember_browser: bool,
}

#[tracing::instrument(skip_all)]
#[utoipa::path(
    post,
    path = "/api/v1/login",
    tag = "sign-in",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "The password is right; the pending-login cookie is set", body = super::openapi::PasswordAnswer),
        (status = 400, description = "invalid_request", body = super::openapi::ErrorBody),
        (status = 401, description = "invalid_credentials: wrong password or unknown user", body = super::openapi::ErrorBody),
        (status = 429, description = "too_many_attempts, with Retry-After", body = super::openapi::ErrorBody)
    )
)]
pub async fn password(
    auth: web::Data<Auth>,
    client: Client,
    JsonBody(body): JsonBody<LoginRequest>,
) -> ApiResult<HttpResponse> {
    let step = auth
        .login_password(&body.username, &body.password, &client)
        .await;
    let passed = match counted(&auth, SignInMethod::Password, step)? {
        // A remembered browser: signed in with the password alone.
        FirstStep::SignedIn(signed_in) => return Ok(authenticated(&auth, &signed_in)),
        FirstStep::Pending(passed) => passed,
    };
    let answer = match passed.outcome {
        PasswordOutcome::SecondFactorRequired(methods) => {
            json!({"status": "second_factor_required", "methods": methods})
        }
        PasswordOutcome::EnrolmentRequired => json!({"status": "enrolment_required"}),
    };
    Ok(HttpResponse::Ok()
        .cookie(cookies::pending(auth.settings(), &passed.token))
        .json(answer))
}

#[tracing::instrument(skip_all)]
#[utoipa::path(
    post,
    path = "/api/v1/login/totp",
    tag = "sign-in",
    request_body = CodeRequest,
    responses(
        (status = 200, description = "Signed in; the session cookie is set", body = super::openapi::StatusAnswer),
        (status = 400, description = "invalid_request", body = super::openapi::ErrorBody),
        (status = 401, description = "invalid_code, or unauthenticated without a pending login", body = super::openapi::ErrorBody),
        (status = 429, description = "too_many_attempts, with Retry-After", body = super::openapi::ErrorBody)
    )
)]
pub async fn totp(
    auth: web::Data<Auth>,
    cookies: SignInCookies,
    client: Client,
    JsonBody(body): JsonBody<CodeRequest>,
) -> ApiResult<HttpResponse> {
    let signed_in = auth
        .login_totp(
            cookies.pending.as_ref(),
            &body.code,
            body.remember_browser,
            &client,
        )
        .await;
    let signed_in = counted(&auth, SignInMethod::Totp, signed_in)?;
    Ok(authenticated(&auth, &signed_in))
}

/// 200 `{"status":"authenticated"}` with the new session cookie.
pub fn authenticated(auth: &Auth, signed_in: &SignedIn) -> HttpResponse {
    let mut response = HttpResponse::Ok();
    for cookie in cookies::signed_in(auth.settings(), signed_in) {
        response.cookie(cookie);
    }
    response.json(json!({"status": "authenticated"}))
}

#[utoipa::path(
    post,
    path = "/api/v1/logout",
    tag = "sign-in",
    security(("session" = [])),
    responses(
        (status = 204, description = "The session is revoked on the server")
    )
)]
pub async fn logout(
    auth: web::Data<Auth>,
    cookies: SignInCookies,
    client: Client,
) -> ApiResult<HttpResponse> {
    auth.logout(cookies.session.as_ref(), cookies.pending.as_ref(), &client)
        .await?;
    Ok(HttpResponse::NoContent()
        .cookie(cookies::removal(auth.settings(), SESSION_COOKIE))
        .cookie(cookies::removal(auth.settings(), PENDING_COOKIE))
        .finish())
}
