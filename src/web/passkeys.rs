//! Passkeys over HTTP: enrolling one (`/api/v1/me/passkeys/*` and the page),
//! the passwordless sign-in (`/api/v1/login/passkey/*`, its ceremony named by
//! a short-lived cookie) and a step-up with one. Thin: parse, call the
//! domain, set cookies; the script is `webauthn.js`, shared with security keys.

use actix_web::http::{Method, StatusCode};
use actix_web::{HttpResponse, web};
use askama::Template;
use webauthn_rs::prelude::{PublicKeyCredential, RegisterPublicKeyCredential};

use super::ApiRoute;
use super::cookies::{self, PASSKEY_COOKIE};
use super::error::ApiResult;
use super::metrics::counted;
use super::pages::{page, see_other};
use super::principal::{OrSignIn, SignInCookies};
use super::protection::reauthenticated;
use super::request::JsonBody;
use super::security_keys::{NewKeyRequest, enrolled};
use crate::auth::step_up::SecondFactorProof;
use crate::auth::{Account, Auth, Client, Enroller};
use crate::metrics::SignInMethod;

/// Routes inside the `/api/v1` scope.
pub fn api_routes() -> Vec<ApiRoute> {
    vec![
        ApiRoute::new(Method::POST, "/me/passkeys/begin", |r| {
            r.to(begin_passkey_registration)
        }),
        ApiRoute::new(Method::POST, "/me/passkeys/finish", |r| {
            r.to(finish_passkey_registration)
        }),
        ApiRoute::new(Method::POST, "/login/passkey/begin", |r| {
            r.to(begin_passkey_login)
        }),
        ApiRoute::new(Method::POST, "/login/passkey/finish", |r| {
            r.to(finish_passkey_login)
        }),
        ApiRoute::new(Method::POST, "/me/reauthenticate/passkey/begin", |r| {
            r.to(begin_passkey_step_up)
        }),
        ApiRoute::new(Method::POST, "/me/reauthenticate/passkey/finish", |r| {
            r.to(finish_passkey_step_up)
        }),
    ]
}

/// `POST /api/v1/me/passkeys/begin` `{"name"}`
#[utoipa::path(
    post,
    path = "/api/v1/me/passkeys/begin",
    tag = "account",
    request_body = NewKeyRequest,
    security(("session" = [])),
    responses(
        (status = 200, description = "Options for navigator.credentials.create (resident key and user verification required)", body = super::openapi::PublicKeyOptions),
        (status = 400, description = "invalid_request", body = super::openapi::ErrorBody),
        (status = 401, description = "unauthenticated: no live session", body = super::openapi::ErrorBody),
        (status = 404, description = "not_found: passkeys are turned off (webauthn.passkeys)", body = super::openapi::ErrorBody),
        (status = 409, description = "too_many_devices", body = super::openapi::ErrorBody)
    )
)]
pub async fn begin_passkey_registration(
    auth: web::Data<Auth>,
    enroller: Enroller,
    JsonBody(body): JsonBody<NewKeyRequest>,
) -> ApiResult<HttpResponse> {
    let options = auth
        .start_passkey_registration(&enroller, body.name())
        .await?;
    Ok(HttpResponse::Ok().json(options))
}

/// `POST /api/v1/me/passkeys/finish` with the new PublicKeyCredential.
#[utoipa::path(
    post,
    path = "/api/v1/me/passkeys/finish",
    tag = "account",
    request_body = Object,
    security(("session" = [])),
    responses(
        (status = 201, description = "The passkey is enrolled (a device of kind passkey)", body = super::openapi::DeviceStatus),
        (status = 400, description = "invalid_attestation (also: a model webauthn.allowed_aaguids does not list) or invalid_request", body = super::openapi::ErrorBody),
        (status = 401, description = "unauthenticated: no live session", body = super::openapi::ErrorBody),
        (status = 404, description = "not_found: passkeys are turned off", body = super::openapi::ErrorBody)
    )
)]
pub async fn finish_passkey_registration(
    auth: web::Data<Auth>,
    enroller: Enroller,
    client: Client,
    JsonBody(credential): JsonBody<RegisterPublicKeyCredential>,
) -> ApiResult<HttpResponse> {
    let registered = auth
        .finish_passkey_registration(&enroller, &credential, &client)
        .await?;
    Ok(enrolled(&auth, &registered))
}

/// `POST /api/v1/login/passkey/begin`
#[utoipa::path(
    post,
    path = "/api/v1/login/passkey/begin",
    tag = "sign-in",
    responses(
        (status = 200, description = "Options for navigator.credentials.get with no allowCredentials; the ceremony cookie is set", body = super::openapi::PublicKeyOptions),
        (status = 404, description = "not_found: passkeys are turned off", body = super::openapi::ErrorBody),
        (status = 429, description = "too_many_attempts: this address began too many passkey sign-ins this minute, with Retry-After", body = super::openapi::ErrorBody)
    )
)]
pub async fn begin_passkey_login(auth: web::Data<Auth>, client: Client) -> ApiResult<HttpResponse> {
    let challenge = auth.start_passkey_login(&client).await?;
    Ok(HttpResponse::Ok()
        .cookie(cookies::passkey_ceremony(auth.settings(), &challenge.token))
        .json(challenge.options))
}

/// `POST /api/v1/login/passkey/finish` with the passkey's PublicKeyCredential.
#[tracing::instrument(skip_all)]
#[utoipa::path(
    post,
    path = "/api/v1/login/passkey/finish",
    tag = "sign-in",
    request_body = Object,
    responses(
        (status = 200, description = "Signed in; the session cookie is set", body = super::openapi::StatusAnswer),
        (status = 400, description = "invalid_request", body = super::openapi::ErrorBody),
        (status = 401, description = "invalid_assertion: unknown credential, user not verified, disabled user", body = super::openapi::ErrorBody),
        (status = 404, description = "not_found: passkeys are turned off", body = super::openapi::ErrorBody),
        (status = 429, description = "too_many_attempts, with Retry-After", body = super::openapi::ErrorBody)
    )
)]
pub async fn finish_passkey_login(
    auth: web::Data<Auth>,
    sign_in: SignInCookies,
    client: Client,
    JsonBody(credential): JsonBody<PublicKeyCredential>,
) -> ApiResult<HttpResponse> {
    let signed_in = auth
        .login_passkey(sign_in.passkey.as_ref(), &credential, &client)
        .await;
    let signed_in = counted(&auth, SignInMethod::Passkey, signed_in)?;
    let mut response = super::login::authenticated(&auth, &signed_in);
    let _ = response.add_cookie(&cookies::removal(auth.settings(), PASSKEY_COOKIE));
    Ok(response)
}

/// `POST /api/v1/me/reauthenticate/passkey/begin` (an extension): the
/// options for a step-up with one of the user's passkeys.
#[utoipa::path(
    post,
    path = "/api/v1/me/reauthenticate/passkey/begin",
    tag = "account",
    security(("session" = [])),
    responses(
        (status = 200, description = "Options for navigator.credentials.get", body = super::openapi::PublicKeyOptions),
        (status = 401, description = "unauthenticated: no live session", body = super::openapi::ErrorBody)
    )
)]
pub async fn begin_passkey_step_up(
    auth: web::Data<Auth>,
    account: Account,
) -> ApiResult<HttpResponse> {
    let options = auth.start_passkey_step_up(&account).await?;
    Ok(HttpResponse::Ok().json(options))
}

/// `POST /api/v1/me/reauthenticate/passkey/finish` with the passkey's
/// PublicKeyCredential: the session's method becomes `passkey`.
#[tracing::instrument(skip_all)]
#[utoipa::path(
    post,
    path = "/api/v1/me/reauthenticate/passkey/finish",
    tag = "account",
    request_body = Object,
    security(("session" = [])),
    responses(
        (status = 200, description = "The second factor is passed again (step-up)", body = super::openapi::StatusAnswer),
        (status = 401, description = "invalid_assertion or unauthenticated", body = super::openapi::ErrorBody),
        (status = 429, description = "too_many_attempts", body = super::openapi::ErrorBody)
    )
)]
pub async fn finish_passkey_step_up(
    auth: web::Data<Auth>,
    account: Account,
    client: Client,
    JsonBody(credential): JsonBody<PublicKeyCredential>,
) -> ApiResult<HttpResponse> {
    let proof = SecondFactorProof::Passkey {
        credential: &credential,
        ceremony: None,
    };
    let token = auth.reauthenticate(&account, proof, &client).await?;
    Ok(reauthenticated(&auth, &token))
}

/// The page that enrols a passkey.
pub fn page_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/enrol/passkey", web::get().to(enrol_page));
}

#[derive(Template)]
#[template(path = "enrol_passkey.html")]
struct EnrolPasskeyView {
    first_login: bool,
}

async fn enrol_page(auth: web::Data<Auth>, OrSignIn(enroller): OrSignIn<Enroller>) -> HttpResponse {
    if !auth.settings().webauthn.passkeys {
        return see_other("/account");
    }
    page(
        StatusCode::OK,
        &EnrolPasskeyView {
            first_login: matches!(enroller, Enroller::FirstFactor { .. }),
        },
    )
}
