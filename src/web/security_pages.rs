//! The pages of account protection: signing in with a recovery code, passing
//! a second factor again (step-up), making a new set of recovery codes (shown
//! once) and changing one's password.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::metrics::counted;
use super::pages::{page, refusal, see_other, signed_in_redirect};
use super::principal::{OrSignIn, Pending, SignInCookies};
use super::{cookies, return_to};
use crate::access::StepUp;
use crate::auth::login::Method;
use crate::auth::step_up::SecondFactorProof;
use crate::auth::{Account, Auth, AuthError, Client};
use crate::metrics::SignInMethod;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/login/recovery-code", web::get().to(recovery_login_page))
        .route(
            "/login/recovery-code",
            web::post().to(recovery_login_submit),
        )
        .route("/reauthenticate", web::get().to(reauthenticate_page))
        .route("/reauthenticate", web::post().to(reauthenticate_submit))
        .route(
            "/account/recovery-codes",
            web::get().to(recovery_codes_page),
        )
        .route(
            "/account/recovery-codes",
            web::post().to(create_recovery_codes),
        )
        .route("/account/password", web::get().to(password_page))
        .route("/account/password", web::post().to(password_submit));
}

#[derive(Template)]
#[template(path = "login_recovery_code.html")]
struct RecoveryLoginView {
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "reauthenticate.html")]
struct ReauthenticateView {
    next: String,
    /// Forward-auth asked for a security key (`require=security_key`):
    /// only a security key is offered.
    key_required: bool,
    /// Where a security key's step-up lands (`next`, marked as stepped up).
    done: String,
    /// The form field carrying `next`: `next` for a page of ours, `rd` for
    /// an app's address (forward-auth's step-up).
    return_field: &'static str,
    recovery_codes_left: u32,
    error: Option<String>,
    /// The methods the user holds: the page offers those.
    totp: bool,
    security_key: bool,
    /// The refused answer was a recovery code (its field shows the error).
    recovery_refused: bool,
}

#[derive(Template)]
#[template(path = "recovery_codes.html")]
struct RecoveryCodesView {
    codes: Vec<String>,
}

/// "Make recovery codes": where a step-up asked for by that button returns,
/// to be pressed again (a GET never makes codes: another site could link it).
#[derive(Template)]
#[template(path = "make_recovery_codes.html")]
struct MakeRecoveryCodesView {
    stepped_up: bool,
    replacing: bool,
}

#[derive(Template)]
#[template(path = "change_password.html")]
struct ChangePasswordView {
    username: String,
    min_length: usize,
    max_length: usize,
    error: Option<String>,
    /// The field the error is about: `current_password`, `new_password`,
    /// `confirm_password`, or empty for the whole form.
    error_field: &'static str,
    stepped_up: bool,
}

/// Which field of the password form a refusal is about.
fn password_error_field(error: &AuthError) -> &'static str {
    match error {
        AuthError::InvalidCredentials => "current_password",
        AuthError::WeakPassword(_) => "new_password",
        AuthError::InvalidRequest(_) => "confirm_password",
        _ => "",
    }
}

#[derive(Deserialize)]
struct CodeForm {
    code: String,
}

#[derive(Deserialize)]
struct NextQuery {
    next: Option<String>,
    /// From forward-auth: the app address to return to, and what it needs.
    rd: Option<String>,
    require: Option<String>,
}

/// What a page reads after a step-up sent the person back to it.
#[derive(Deserialize)]
pub(super) struct SteppedUpQuery {
    stepped_up: Option<String>,
}

impl SteppedUpQuery {
    pub(super) fn stepped_up(&self) -> bool {
        self.stepped_up.is_some()
    }
}

/// `next` marked so that its page says the step-up is done and the action
/// waits for one more press (a form can't be re-posted by a redirect).
fn after_step_up(next: &str) -> String {
    // An app's address (forward-auth's `rd`) is returned to as it was.
    if !next.starts_with('/') {
        return next.to_owned();
    }
    let join = if next.contains('?') { '&' } else { '?' };
    format!("{next}{join}stepped_up=1")
}

#[derive(Deserialize)]
struct ReauthenticateForm {
    code: Option<String>,
    recovery_code: Option<String>,
    next: Option<String>,
    rd: Option<String>,
}

#[derive(Deserialize)]
struct PasswordForm {
    current_password: SecretString,
    new_password: SecretString,
    confirm_password: SecretString,
}

/// Where to go after a step-up: a page on this origin only (judged as a
/// browser resolves it), else the account page.
fn local_path(auth: &Auth, next: Option<&str>) -> String {
    next.and_then(|next| return_to::own_page(auth.settings(), next))
        .unwrap_or_else(|| "/account".to_owned())
}

/// Where a step-up returns: forward-auth's `rd` (an app on a configured
/// domain, judged as a browser resolves it), else `next` on this origin.
fn step_up_return(auth: &Auth, rd: Option<&str>, next: Option<&str>) -> String {
    rd.and_then(|rd| return_to::allowed(auth.settings(), rd))
        .unwrap_or_else(|| local_path(auth, next))
}

/// The step-up page, coming back to `next` (the page of the action that
/// asked for it) afterwards.
pub(super) fn reauthenticate_redirect(next: &str) -> HttpResponse {
    let query: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("next", next)
        .finish();
    see_other(&format!("/reauthenticate?{query}"))
}

async fn recovery_login_page(OrSignIn(Pending(pending)): OrSignIn<Pending>) -> HttpResponse {
    if pending.enrolment_only {
        return see_other("/enrol");
    }
    page(StatusCode::OK, &RecoveryLoginView { error: None })
}

async fn recovery_login_submit(
    auth: web::Data<Auth>,
    req: HttpRequest,
    cookies: SignInCookies,
    client: Client,
    form: web::Form<CodeForm>,
) -> HttpResponse {
    let signed_in = auth
        .login_recovery_code(cookies.pending.as_ref(), &form.code, &client)
        .await;
    match counted(&auth, SignInMethod::RecoveryCode, signed_in) {
        Ok(signed_in) => {
            signed_in_redirect(&auth, &req, &signed_in, "/account?notice=recovery_used")
        }
        Err(AuthError::Unauthenticated) => see_other("/login"),
        Err(error) => {
            if auth.pending_login(cookies.pending.as_ref()).await.is_err() {
                return see_other("/login");
            }
            let (status, message) = refusal(&error);
            page(
                status,
                &RecoveryLoginView {
                    error: Some(message),
                },
            )
        }
    }
}

async fn reauthenticate_page(
    auth: web::Data<Auth>,
    OrSignIn(account): OrSignIn<Account>,
    query: web::Query<NextQuery>,
) -> HttpResponse {
    let next = step_up_return(&auth, query.rd.as_deref(), query.next.as_deref());
    let key_required =
        query.require.as_deref().and_then(StepUp::parse) == Some(StepUp::SecurityKey);
    let mut view = reauthenticate_view(&auth, &account, next, None, false).await;
    if key_required {
        view.key_required = true;
        view.totp = false;
        view.recovery_codes_left = 0;
    }
    page(StatusCode::OK, &view)
}

/// The step-up page, offering the second factors the user holds.
async fn reauthenticate_view(
    auth: &Auth,
    account: &Account,
    next: String,
    error: Option<String>,
    recovery_refused: bool,
) -> ReauthenticateView {
    let recovery_codes_left = auth
        .recovery_codes_left_of(&account.user)
        .await
        .unwrap_or(0);
    let methods = auth.step_up_methods(account).await.unwrap_or_default();
    ReauthenticateView {
        done: after_step_up(&next),
        return_field: if next.starts_with('/') { "next" } else { "rd" },
        next,
        key_required: false,
        recovery_codes_left,
        error,
        // With nothing known, the code form is the one to show.
        totp: methods.contains(&Method::Totp) || methods.is_empty(),
        security_key: methods.contains(&Method::SecurityKey),
        recovery_refused,
    }
}

async fn reauthenticate_submit(
    auth: web::Data<Auth>,
    OrSignIn(account): OrSignIn<Account>,
    client: Client,
    form: web::Form<ReauthenticateForm>,
) -> HttpResponse {
    let next = step_up_return(&auth, form.rd.as_deref(), form.next.as_deref());
    let given = |field: &Option<String>| {
        field
            .as_deref()
            .map(str::trim)
            .filter(|text| !text.is_empty())
            .map(str::to_owned)
    };
    let (code, recovery_code) = (given(&form.code), given(&form.recovery_code));
    let proof = match (&code, &recovery_code) {
        (Some(code), _) => SecondFactorProof::Totp(code),
        (None, Some(code)) => SecondFactorProof::RecoveryCode(code),
        (None, None) => SecondFactorProof::Totp(""),
    };
    match auth.reauthenticate(&account, proof, &client).await {
        Ok(token) => {
            let mut response = see_other(&after_step_up(&next));
            let _ = response.add_cookie(&cookies::session(auth.settings(), &token));
            response
        }
        Err(error) => {
            let (status, message) = refusal(&error);
            page(
                status,
                &reauthenticate_view(
                    &auth,
                    &account,
                    next,
                    Some(message),
                    code.is_none() && recovery_code.is_some(),
                )
                .await,
            )
        }
    }
}

async fn create_recovery_codes(
    auth: web::Data<Auth>,
    OrSignIn(account): OrSignIn<Account>,
    client: Client,
) -> HttpResponse {
    match auth.create_recovery_codes(&account, &client).await {
        Ok(codes) => page(StatusCode::OK, &RecoveryCodesView { codes }),
        Err(AuthError::ReauthenticationRequired) => {
            reauthenticate_redirect("/account/recovery-codes")
        }
        Err(error) => {
            let (status, message) = refusal(&error);
            HttpResponse::build(status)
                .content_type("text/plain; charset=utf-8")
                .body(message)
        }
    }
}

async fn recovery_codes_page(
    auth: web::Data<Auth>,
    OrSignIn(account): OrSignIn<Account>,
    query: web::Query<SteppedUpQuery>,
) -> HttpResponse {
    let replacing = auth
        .recovery_codes_left_of(&account.user)
        .await
        .unwrap_or(0)
        > 0;
    page(
        StatusCode::OK,
        &MakeRecoveryCodesView {
            stepped_up: query.stepped_up(),
            replacing,
        },
    )
}

fn password_view(
    auth: &Auth,
    account: &Account,
    refused: Option<&AuthError>,
    stepped_up: bool,
) -> (StatusCode, ChangePasswordView) {
    let policy = auth.password_policy();
    let (status, error) = match refused.map(refusal) {
        Some((status, message)) => (status, Some(message)),
        None => (StatusCode::OK, None),
    };
    let view = ChangePasswordView {
        username: account.user.username.clone(),
        min_length: policy.min_length,
        max_length: policy.max_length,
        error,
        error_field: refused.map_or("", password_error_field),
        stepped_up,
    };
    (status, view)
}

async fn password_page(
    auth: web::Data<Auth>,
    OrSignIn(account): OrSignIn<Account>,
    query: web::Query<SteppedUpQuery>,
) -> HttpResponse {
    if !auth.has_recent_second_factor(&account) {
        return reauthenticate_redirect("/account/password");
    }
    let (status, view) = password_view(&auth, &account, None, query.stepped_up());
    page(status, &view)
}

async fn password_submit(
    auth: web::Data<Auth>,
    OrSignIn(account): OrSignIn<Account>,
    client: Client,
    form: web::Form<PasswordForm>,
) -> HttpResponse {
    if form.new_password.expose_secret() != form.confirm_password.expose_secret() {
        let error = AuthError::InvalidRequest("the two new passwords differ".into());
        let (status, view) = password_view(&auth, &account, Some(&error), false);
        return page(status, &view);
    }
    match auth
        .change_password(
            &account,
            &form.current_password,
            &form.new_password,
            &client,
        )
        .await
    {
        Ok(()) => see_other("/account?notice=password_changed"),
        Err(AuthError::ReauthenticationRequired) => reauthenticate_redirect("/account/password"),
        Err(error) => {
            let (status, view) = password_view(&auth, &account, Some(&error), false);
            page(status, &view)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_after_a_step_up_is_marked_as_such() {
        assert_eq!(
            after_step_up("/account/password"),
            "/account/password?stepped_up=1"
        );
        assert_eq!(after_step_up("/a?b=c"), "/a?b=c&stepped_up=1");
    }
}
