//! The HTML pages: sign in, the second factor, first-login enrolment of an
//! authenticator app, and the account page. Forms post and redirect (303);
//! a refused form is shown again with the reason beside the field.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use secrecy::SecretString;
use serde::Deserialize;

use super::cookies::{self, PENDING_COOKIE, RETURN_COOKIE, SESSION_COOKIE};
use super::error::{public_message, status_and_code};
use super::metrics::counted;
use super::principal::{OrSignIn, Pending, SignInCookies};
use super::return_to;
use super::session_rows::{RememberedRow, SessionRow, remembered_rows, session_rows};
use crate::auth::clock::iso8601;
use crate::auth::devices::TotpEnrolment;
use crate::auth::login::{FirstStep, Method, PasswordOutcome, SignedIn};
use crate::auth::{Account, Auth, AuthError, Client, Enroller, Principal};
use crate::metrics::SignInMethod;
use crate::store::{DeviceKind, DeviceRecord, PendingRecord};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(home))
        .route("/static/style.css", web::get().to(stylesheet))
        .route("/login", web::get().to(login_page))
        .route("/login", web::post().to(login_submit))
        .route("/login/second-factor", web::get().to(second_factor_page))
        .route("/login/totp", web::post().to(totp_submit))
        .route("/login/done", web::get().to(login_done))
        .route("/enrol", web::get().to(enrol_page))
        .route("/enrol/totp", web::post().to(enrol_totp_start))
        .route("/enrol/totp/{id}", web::get().to(enrol_totp_page))
        .route("/enrol/totp/{id}", web::post().to(enrol_totp_confirm))
        .route("/account", web::get().to(account_page))
        .route(
            "/account/devices/{id}/remove",
            web::post().to(remove_device),
        )
        .route("/account/sessions/{id}/end", web::post().to(end_session))
        .route(
            "/account/sessions/end-others",
            web::post().to(end_other_sessions),
        )
        .route(
            "/account/remembered-browsers/{id}/forget",
            web::post().to(forget_remembered_browser),
        )
        .route("/logout", web::post().to(logout));
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginView {
    username: String,
    error: Option<String>,
    /// "Sign in with a passkey" and the browser's passkey autofill offered.
    passkeys: bool,
}

#[derive(Template)]
#[template(path = "second_factor.html")]
struct SecondFactorView {
    error: Option<String>,
    totp: bool,
    security_key: bool,
    passkey: bool,
    recovery_code: bool,
    /// Days this browser may be remembered for, when the operator allows it.
    remember_days: Option<i64>,
}

#[derive(Template)]
#[template(path = "enrol.html")]
struct EnrolView {
    first_login: bool,
    passkeys: bool,
}

#[derive(Template)]
#[template(path = "enrol_totp.html")]
struct EnrolTotpView {
    id: String,
    qr_png_base64: String,
    otpauth_uri: String,
    secret_spaced: String,
    error: Option<String>,
}

struct DeviceRow {
    id: String,
    name: String,
    kind: &'static str,
    security_key: bool,
    created_at: String,
    last_used_at: Option<String>,
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountView {
    username: String,
    admin: bool,
    devices: Vec<DeviceRow>,
    recovery_codes_left: u32,
    sessions: Vec<SessionRow>,
    remembered: Vec<RememberedRow>,
    notice: Option<String>,
    error: Option<String>,
    passkeys: bool,
    access_keys: Vec<super::access_key_pages::AccessKeyRow>,
}

#[derive(Deserialize)]
struct LoginForm {
    username: String,
    password: SecretString,
}

#[derive(Deserialize)]
struct CodeForm {
    code: String,
}

#[derive(Deserialize)]
struct SecondFactorForm {
    code: String,
    /// The "don't ask again on this browser" box (sent only when ticked).
    remember_browser: Option<String>,
}

#[derive(Deserialize)]
struct NameForm {
    name: Option<String>,
}

#[derive(Deserialize)]
struct Notice {
    notice: Option<String>,
}

/// A rendered page; auth pages are never cached.
pub(super) fn page(status: StatusCode, view: &impl Template) -> HttpResponse {
    match view.render() {
        Ok(html) => HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .body(html),
        Err(e) => {
            tracing::error!(error = %e, "rendering a page");
            HttpResponse::InternalServerError().finish()
        }
    }
}

pub(super) fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .finish()
}

/// Status and words for a refused form, as a sentence a person reads.
pub(super) fn refusal(error: &AuthError) -> (StatusCode, String) {
    (status_and_code(error).0, sentence(&public_message(error)))
}

/// "the code is wrong" → "The code is wrong."
pub(super) fn sentence(text: &str) -> String {
    let text = text.trim();
    let mut chars = text.chars();
    let mut out: String = match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => return String::new(),
    };
    if !out.ends_with(['.', '!', '?']) {
        out.push('.');
    }
    out
}

/// How a device's kind reads on a page.
pub(super) fn device_kind_words(device: &DeviceRecord) -> &'static str {
    match device.kind {
        DeviceKind::Totp if device.hardware => "Hardware token",
        DeviceKind::Totp => "Authenticator app",
        DeviceKind::SecurityKey => "Security key",
        DeviceKind::Passkey => "Passkey",
    }
}

/// A day as people read it: "2 Dec 2026".
pub(super) fn human_date(at: crate::auth::clock::Timestamp) -> String {
    let format = time::macros::format_description!("[day padding:none] [month repr:short] [year]");
    time::OffsetDateTime::from_unix_timestamp(at)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| iso8601(at))
}

/// A time as people read it: "2 Dec 2026, 14:05 UTC".
pub(super) fn human_time(at: crate::auth::clock::Timestamp) -> String {
    let format = time::macros::format_description!(
        "[day padding:none] [month repr:short] [year], [hour]:[minute] UTC"
    );
    time::OffsetDateTime::from_unix_timestamp(at)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| iso8601(at))
}

async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(include_str!("../../static/style.css"))
}

async fn home() -> HttpResponse {
    see_other("/account")
}

#[derive(Deserialize)]
struct ReturnTo {
    rd: Option<String>,
    /// The name other apps use for `rd`.
    next: Option<String>,
    /// `login`: sign in again even with a session (an app asked for a
    /// fresh sign-in, OpenID Connect's `prompt=login`).
    prompt: Option<String>,
}

/// Remembers where to go after sign-in (`?rd=`, or `?next=`), if that address is allowed,
/// in a short-lived cookie: the flow may pass through several pages (second
/// factor, first-login enrolment) before the session exists.
async fn login_page(
    auth: web::Data<Auth>,
    principal: Option<Principal>,
    query: web::Query<ReturnTo>,
) -> HttpResponse {
    let target = query
        .rd
        .as_deref()
        .or(query.next.as_deref())
        .and_then(|rd| return_to::allowed(auth.settings(), rd));
    if let Some(target) = &target
        && principal.is_some()
        && query.prompt.as_deref() != Some("login")
    {
        return see_other(target);
    }
    let mut response = page(
        StatusCode::OK,
        &LoginView {
            username: String::new(),
            error: None,
            passkeys: auth.settings().webauthn.passkeys,
        },
    );
    if let Some(target) = target {
        let _ = response.add_cookie(&cookies::return_to(auth.settings(), &target));
    }
    response
}

async fn login_submit(
    auth: web::Data<Auth>,
    req: HttpRequest,
    client: Client,
    form: web::Form<LoginForm>,
) -> HttpResponse {
    let passed = auth
        .login_password(&form.username, &form.password, &client)
        .await;
    match counted(&auth, SignInMethod::Password, passed) {
        Ok(FirstStep::SignedIn(signed_in)) => {
            signed_in_redirect(&auth, &req, &signed_in, "/account")
        }
        Ok(FirstStep::Pending(passed)) => {
            let next = match passed.outcome {
                PasswordOutcome::EnrolmentRequired => "/enrol",
                PasswordOutcome::SecondFactorRequired(_) => "/login/second-factor",
            };
            let mut response = see_other(next);
            let _ = response.add_cookie(&cookies::pending(auth.settings(), &passed.token));
            response
        }
        Err(error) => {
            let (status, message) = refusal(&error);
            let view = LoginView {
                username: form.username.clone(),
                error: Some(message),
                passkeys: auth.settings().webauthn.passkeys,
            };
            page(status, &view)
        }
    }
}

async fn second_factor_page(
    auth: web::Data<Auth>,
    OrSignIn(Pending(pending)): OrSignIn<Pending>,
) -> HttpResponse {
    if pending.enrolment_only {
        return see_other("/enrol");
    }
    second_factor_view(&auth, &pending, StatusCode::OK, None).await
}

async fn totp_submit(
    auth: web::Data<Auth>,
    req: HttpRequest,
    cookies: SignInCookies,
    client: Client,
    form: web::Form<SecondFactorForm>,
) -> HttpResponse {
    let signed_in = auth
        .login_totp(
            cookies.pending.as_ref(),
            &form.code,
            form.remember_browser.is_some(),
            &client,
        )
        .await;
    match counted(&auth, SignInMethod::Totp, signed_in) {
        Ok(signed_in) => signed_in_redirect(&auth, &req, &signed_in, "/account"),
        Err(AuthError::Unauthenticated) => see_other("/login"),
        Err(error) => {
            // A voided pending login sends the user back to the password.
            let Ok(pending) = auth.pending_login(cookies.pending.as_ref()).await else {
                return see_other("/login");
            };
            let (status, message) = refusal(&error);
            second_factor_view(&auth, &pending, status, Some(message)).await
        }
    }
}

/// The second-factor page, offering the methods this login can use.
async fn second_factor_view(
    auth: &Auth,
    pending: &PendingRecord,
    status: StatusCode,
    error: Option<String>,
) -> HttpResponse {
    match auth.methods_of(pending).await {
        Ok(methods) => page(
            status,
            &SecondFactorView {
                error,
                totp: methods.contains(&Method::Totp),
                security_key: methods.contains(&Method::SecurityKey),
                passkey: methods.contains(&Method::Passkey),
                recovery_code: methods.contains(&Method::RecoveryCode),
                remember_days: auth.remember_browser_days(),
            },
        ),
        Err(e) => page_failure(&e),
    }
}

/// Where a sign-in finished by script (a security key) lands: on to the page
/// the person came from, if any and allowed, else the account page.
async fn login_done(
    auth: web::Data<Auth>,
    _: OrSignIn<Principal>,
    req: HttpRequest,
) -> HttpResponse {
    let target = req
        .cookie(RETURN_COOKIE)
        .and_then(|c| return_to::allowed(auth.settings(), c.value()));
    let mut response = see_other(target.as_deref().unwrap_or("/account"));
    if target.is_some() {
        let _ = response.add_cookie(&cookies::removal(auth.settings(), RETURN_COOKIE));
    }
    response
}

/// The session is set: go back where the person came from (if allowed), else
/// to `fallback`.
pub(super) fn signed_in_redirect(
    auth: &Auth,
    req: &HttpRequest,
    signed_in: &SignedIn,
    fallback: &str,
) -> HttpResponse {
    let target = req
        .cookie(RETURN_COOKIE)
        .and_then(|c| return_to::allowed(auth.settings(), c.value()));
    let mut response = see_other(target.as_deref().unwrap_or(fallback));
    for cookie in cookies::signed_in(auth.settings(), signed_in) {
        let _ = response.add_cookie(&cookie);
    }
    if target.is_some() {
        let _ = response.add_cookie(&cookies::removal(auth.settings(), RETURN_COOKIE));
    }
    response
}

async fn enrol_page(auth: web::Data<Auth>, OrSignIn(enroller): OrSignIn<Enroller>) -> HttpResponse {
    page(
        StatusCode::OK,
        &EnrolView {
            first_login: matches!(enroller, Enroller::FirstFactor { .. }),
            passkeys: auth.settings().webauthn.passkeys,
        },
    )
}

async fn enrol_totp_start(
    auth: web::Data<Auth>,
    OrSignIn(enroller): OrSignIn<Enroller>,
    client: Client,
    form: web::Form<NameForm>,
) -> HttpResponse {
    match auth.start_totp(&enroller, form.name.as_deref(), None).await {
        Ok(enrolment) => see_other(&format!("/enrol/totp/{}", enrolment.id)),
        // A first-login user has no account page yet: back to sign in.
        Err(error) => match &enroller {
            Enroller::SignedIn(account) => {
                account_error_page(&auth, account, &client, &error).await
            }
            Enroller::FirstFactor { .. } => see_other("/login"),
        },
    }
}

fn enrol_totp_view(enrolment: TotpEnrolment, error: Option<String>) -> EnrolTotpView {
    let secret_spaced = enrolment
        .secret_base32
        .as_bytes()
        .chunks(4)
        .map(|chunk| String::from_utf8_lossy(chunk).into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    EnrolTotpView {
        id: enrolment.id,
        qr_png_base64: enrolment.qr_png_base64,
        otpauth_uri: enrolment.otpauth_uri,
        secret_spaced,
        error,
    }
}

async fn enrol_totp_page(
    auth: web::Data<Auth>,
    OrSignIn(enroller): OrSignIn<Enroller>,
    id: web::Path<String>,
) -> HttpResponse {
    match auth.show_totp_enrolment(&enroller, &id).await {
        Ok(enrolment) => page(StatusCode::OK, &enrol_totp_view(enrolment, None)),
        Err(_) => see_other("/enrol"),
    }
}

async fn enrol_totp_confirm(
    auth: web::Data<Auth>,
    OrSignIn(enroller): OrSignIn<Enroller>,
    req: HttpRequest,
    client: Client,
    id: web::Path<String>,
    form: web::Form<CodeForm>,
) -> HttpResponse {
    match auth
        .confirm_totp(&enroller, &id, &form.code, None, &client)
        .await
    {
        Ok(confirmed) => match confirmed.signed_in {
            Some(signed_in) => signed_in_redirect(&auth, &req, &signed_in, "/account"),
            None => see_other("/account?notice=added"),
        },
        Err(error) => {
            let (status, message) = refusal(&error);
            match auth.show_totp_enrolment(&enroller, &id).await {
                Ok(enrolment) => page(status, &enrol_totp_view(enrolment, Some(message))),
                Err(_) => see_other("/enrol"),
            }
        }
    }
}

async fn account_view(
    auth: &Auth,
    account: &Account,
    client: &Client,
    notice: Option<String>,
    error: Option<String>,
) -> Result<AccountView, HttpResponse> {
    let devices = auth
        .devices(&account.user)
        .await
        .map_err(|e| page_failure(&e))?
        .iter()
        .map(|d| DeviceRow {
            id: d.id.clone(),
            name: d.name.clone(),
            kind: device_kind_words(d),
            security_key: d.kind.is_webauthn(),
            created_at: human_date(d.created_at),
            last_used_at: d.last_used_at.map(human_time),
        })
        .collect();
    let recovery_codes_left = auth
        .recovery_codes_left_of(&account.user)
        .await
        .map_err(|e| page_failure(&e))?;
    let sessions = auth.sessions(account).await.map_err(|e| page_failure(&e))?;
    let remembered = auth
        .remembered_browsers(account)
        .await
        .map_err(|e| page_failure(&e))?;
    let this_browser = client.remembered_browser.as_ref().map(|t| t.hash());
    let access_keys = auth
        .access_keys(&account.user)
        .await
        .map_err(|e| page_failure(&e))?
        .iter()
        .map(super::access_key_pages::AccessKeyRow::from)
        .collect();
    Ok(AccountView {
        access_keys,
        admin: account.user.admin,
        sessions: session_rows(&sessions, Some(account.session.token_hash), auth.now()),
        remembered: remembered_rows(&remembered, this_browser),
        username: account.user.username.clone(),
        devices,
        recovery_codes_left,
        notice,
        error,
        passkeys: auth.settings().webauthn.passkeys,
    })
}

pub(super) fn page_failure(error: &AuthError) -> HttpResponse {
    let (status, message) = refusal(error);
    HttpResponse::build(status)
        .content_type("text/plain; charset=utf-8")
        .body(message)
}

async fn account_page(
    auth: web::Data<Auth>,
    OrSignIn(account): OrSignIn<Account>,
    client: Client,
    query: web::Query<Notice>,
) -> HttpResponse {
    let notice = match query.notice.as_deref() {
        Some("added") => Some("Your new second factor is ready.".to_owned()),
        Some("removed") => Some("The device was removed.".to_owned()),
        Some("renamed") => Some("The device was renamed.".to_owned()),
        Some("session_ended") => Some("That session has ended.".to_owned()),
        Some("others_ended") => Some(
            "Every other session has ended, and other remembered browsers will be asked \
             for a second factor again."
                .to_owned(),
        ),
        Some("browser_forgotten") => {
            Some("That browser will be asked for a second factor at its next sign-in.".to_owned())
        }
        Some("key_deactivated") => {
            Some("The access key is inactive; the tokens made from it no longer work.".to_owned())
        }
        Some("key_activated") => Some("The access key is active again.".to_owned()),
        Some("key_deleted") => {
            Some("The access key is deleted; the tokens made from it no longer work.".to_owned())
        }
        Some("password_changed") => {
            Some("Your password is changed; your other sessions have ended.".to_owned())
        }
        Some("recovery_used") => Some(
            "You signed in with a recovery code, which now no longer works. \
             If your device is lost, remove it and add a new one."
                .to_owned(),
        ),
        _ => None,
    };
    match account_view(&auth, &account, &client, notice, None).await {
        Ok(view) => page(StatusCode::OK, &view),
        Err(response) => response,
    }
}

pub(super) async fn account_error_page(
    auth: &Auth,
    account: &Account,
    client: &Client,
    error: &AuthError,
) -> HttpResponse {
    let (status, message) = refusal(error);
    match account_view(auth, account, client, None, Some(message)).await {
        Ok(view) => page(status, &view),
        Err(_) => see_other("/login"),
    }
}

async fn remove_device(
    auth: web::Data<Auth>,
    OrSignIn(account): OrSignIn<Account>,
    client: Client,
    id: web::Path<String>,
) -> HttpResponse {
    match auth.remove_device(&account, &id, &client).await {
        Ok(()) => see_other("/account?notice=removed"),
        // Back to this device's removal page, to press "Remove" once more.
        Err(AuthError::ReauthenticationRequired) => {
            let id: String = url::form_urlencoded::byte_serialize(id.as_bytes()).collect();
            super::security_pages::reauthenticate_redirect(&format!("/account/devices/{id}/remove"))
        }
        Err(error) => account_error_page(&auth, &account, &client, &error).await,
    }
}

async fn end_session(
    auth: web::Data<Auth>,
    OrSignIn(account): OrSignIn<Account>,
    client: Client,
    id: web::Path<String>,
) -> HttpResponse {
    match auth.end_session(&account, &id, &client).await {
        Ok(()) => see_other("/account?notice=session_ended"),
        Err(error) => account_error_page(&auth, &account, &client, &error).await,
    }
}

async fn end_other_sessions(
    auth: web::Data<Auth>,
    OrSignIn(account): OrSignIn<Account>,
    client: Client,
) -> HttpResponse {
    match auth.end_other_sessions(&account, &client).await {
        Ok(()) => see_other("/account?notice=others_ended"),
        Err(error) => account_error_page(&auth, &account, &client, &error).await,
    }
}

async fn forget_remembered_browser(
    auth: web::Data<Auth>,
    OrSignIn(account): OrSignIn<Account>,
    client: Client,
    id: web::Path<String>,
) -> HttpResponse {
    match auth.forget_remembered_browser(&account, &id, &client).await {
        Ok(()) => see_other("/account?notice=browser_forgotten"),
        Err(error) => account_error_page(&auth, &account, &client, &error).await,
    }
}

#[derive(Deserialize)]
struct LogoutForm {
    /// Where to come back to after signing in again (step-up with a key).
    next: Option<String>,
}

async fn logout(
    auth: web::Data<Auth>,
    cookies: SignInCookies,
    client: Client,
    form: Option<web::Form<LogoutForm>>,
) -> HttpResponse {
    let _ = auth
        .logout(cookies.session.as_ref(), cookies.pending.as_ref(), &client)
        .await;
    let sign_in_again = form
        .as_ref()
        .and_then(|form| form.next.as_deref())
        .and_then(|next| return_to::allowed(auth.settings(), next))
        .map(|next| {
            let query: String = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("next", &next)
                .finish();
            format!("/login?{query}")
        });
    let mut response = see_other(sign_in_again.as_deref().unwrap_or("/login"));
    let _ = response.add_cookie(&cookies::removal(auth.settings(), SESSION_COOKIE));
    let _ = response.add_cookie(&cookies::removal(auth.settings(), PENDING_COOKIE));
    response
}
