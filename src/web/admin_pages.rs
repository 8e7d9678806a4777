//! The administration pages under `/admin`: the user table (MFA state, last
//! sign-in, disabled), creating a user, disable / enable, the lost-device
//! reset, the credential report download and the audit trail. Only a signed-in
//! administrator gets in; forms post and redirect (303).

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::{Next, from_fn};
use actix_web::{HttpMessage, HttpResponse, web};
use askama::Template;
use secrecy::SecretString;
use serde::Deserialize;

use super::admin::csv_download;
use super::pages::{page, page_failure, refusal, see_other};
use super::session_rows::{RememberedRow, SessionRow, remembered_rows, session_rows};
use crate::auth::admin::{Actor, DEFAULT_AUDIT_LIMIT, UserSummary};
use crate::auth::clock::iso8601;
use crate::auth::{Auth, AuthError, Client, Principal};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/admin")
            .wrap(from_fn(require_administrator))
            .route("", web::get().to(users_page))
            .route("/users", web::post().to(create_user))
            .route("/users/{username}/disable", web::post().to(disable_user))
            .route("/users/{username}/enable", web::post().to(enable_user))
            .route("/users/{username}/reset", web::get().to(reset_page))
            .route("/users/{username}/reset", web::post().to(reset_user))
            .route("/users/{username}/sessions", web::get().to(sessions_page))
            .route(
                "/users/{username}/sessions/end-all",
                web::post().to(end_all_sessions),
            )
            .route(
                "/users/{username}/sessions/{id}/end",
                web::post().to(end_session),
            )
            .route("/credential-report.csv", web::get().to(credential_report))
            .route("/audit", web::get().to(audit_page))
            .configure(super::access_pages::routes),
    );
}

#[derive(Template)]
#[template(path = "admin_forbidden.html")]
struct ForbiddenView;

/// Sends anyone without a session to sign in, shows others a 403 page, and
/// hands administrators' requests on with their `Actor`.
async fn require_administrator(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let Some(auth) = req.app_data::<web::Data<Auth>>().cloned() else {
        return Err(actix_web::error::ErrorInternalServerError(
            "the service is not configured",
        ));
    };
    let principal = req.extract::<Principal>().await;
    let refused = match principal.and_then(|principal| auth.administrator(&principal)) {
        Ok(actor) => {
            req.extensions_mut().insert(actor);
            return Ok(next.call(req).await?.map_into_left_body());
        }
        Err(AuthError::Unauthenticated) => see_other("/login"),
        Err(AuthError::Forbidden) => page(StatusCode::FORBIDDEN, &ForbiddenView),
        Err(error) => page_failure(&error),
    };
    Ok(req.into_response(refused).map_into_right_body())
}

struct UserRow {
    username: String,
    admin: bool,
    disabled: bool,
    mfa: String,
    created_at: String,
    last_sign_in: String,
    is_me: bool,
}

#[derive(Template)]
#[template(path = "admin_users.html")]
struct UsersView {
    users: Vec<UserRow>,
    notice: Option<&'static str>,
    error: Option<String>,
    /// The create-user field the error is about (`username`, `password`),
    /// or empty for an error about the table.
    error_field: &'static str,
    new_username: String,
    new_admin: bool,
}

#[derive(Template)]
#[template(path = "admin_reset.html")]
struct ResetView {
    username: String,
}

#[derive(Template)]
#[template(path = "admin_sessions.html")]
struct SessionsView {
    username: String,
    sessions: Vec<SessionRow>,
    remembered: Vec<RememberedRow>,
    notice: Option<&'static str>,
}

struct EventRow {
    at: String,
    username: String,
    event: String,
    ip: String,
    user_agent: String,
    detail: String,
}

#[derive(Template)]
#[template(path = "admin_audit.html")]
struct AuditView {
    username: String,
    events: Vec<EventRow>,
    limit: u32,
}

#[derive(Deserialize)]
struct NoticeQuery {
    notice: Option<String>,
    /// Back from "Confirm it's you": the action waits for one more press.
    stepped_up: Option<String>,
}

#[derive(Deserialize)]
struct NewUserForm {
    username: String,
    password: SecretString,
    admin: Option<String>,
}

#[derive(Deserialize)]
struct AuditQuery {
    username: Option<String>,
}

/// How a user's second factors read in the table.
fn mfa_description(user: &UserSummary) -> String {
    let plural = |n: u32, one: &str, many: &str| match n {
        0 => None,
        1 => Some(format!("1 {one}")),
        n => Some(format!("{n} {many}")),
    };
    let parts: Vec<String> = [
        plural(user.totp_devices, "authenticator", "authenticators"),
        plural(user.security_keys, "security key", "security keys"),
    ]
    .into_iter()
    .flatten()
    .collect();
    if parts.is_empty() {
        "none: must enrol at next sign-in".into()
    } else {
        parts.join(", ")
    }
}

async fn users_view(
    auth: &Auth,
    by: &Actor,
    notice: Option<&'static str>,
    error: Option<String>,
    new_username: String,
    new_admin: bool,
) -> Result<UsersView, HttpResponse> {
    let users = auth
        .users(by)
        .await
        .map_err(|e| page_failure(&e))?
        .into_iter()
        .map(|user| UserRow {
            mfa: mfa_description(&user),
            is_me: user.username == by.name(),
            created_at: super::pages::human_date(user.created_at),
            last_sign_in: user
                .last_sign_in_at
                .map_or_else(|| "never".into(), super::pages::human_time),
            username: user.username,
            admin: user.admin,
            disabled: user.disabled,
        })
        .collect();
    Ok(UsersView {
        users,
        notice,
        error,
        error_field: "",
        new_username,
        new_admin,
    })
}

async fn users_page(
    auth: web::Data<Auth>,
    by: web::ReqData<Actor>,
    query: web::Query<NoticeQuery>,
) -> HttpResponse {
    let notice = match query.notice.as_deref() {
        Some("created") => {
            Some("The user was created. They enrol a second factor at their first sign-in.")
        }
        Some("disabled") => Some("The user was disabled and their sessions ended."),
        Some("enabled") => Some("The user can sign in again."),
        Some("reset") => Some(
            "Every second factor and recovery code of the user was removed and their sessions ended. \
             They enrol a new factor at their next sign-in.",
        ),
        _ if query.stepped_up.is_some() => {
            Some("You confirmed it's you. Press the button of the change once more to make it.")
        }
        _ => None,
    };
    match users_view(&auth, &by, notice, None, String::new(), false).await {
        Ok(view) => page(StatusCode::OK, &view),
        Err(response) => response,
    }
}

/// Shows the user table again with the reason an action was refused.
async fn refused(
    auth: &Auth,
    by: &Actor,
    error: &AuthError,
    form: Option<&NewUserForm>,
) -> HttpResponse {
    // A stale second factor: step up, then back to the table to do it again.
    if matches!(error, AuthError::ReauthenticationRequired) {
        return super::security_pages::reauthenticate_redirect("/admin");
    }
    let (status, message) = refusal(error);
    let (username, admin) = form.map_or((String::new(), false), |f| {
        (f.username.clone(), f.admin.is_some())
    });
    let error_field = match (form, error) {
        (None, _) => "",
        (Some(_), AuthError::WeakPassword(_)) => "password",
        (Some(_), _) => "username",
    };
    match users_view(auth, by, None, Some(message), username, admin).await {
        Ok(view) => page(
            status,
            &UsersView {
                error_field,
                ..view
            },
        ),
        Err(response) => response,
    }
}

async fn create_user(
    auth: web::Data<Auth>,
    by: web::ReqData<Actor>,
    client: Client,
    form: web::Form<NewUserForm>,
) -> HttpResponse {
    let admin = form.admin.is_some();
    match auth
        .add_user(&by, form.username.trim(), &form.password, admin, &client)
        .await
    {
        Ok(_) => see_other("/admin?notice=created"),
        Err(error) => refused(&auth, &by, &error, Some(&form)).await,
    }
}

async fn disable_user(
    auth: web::Data<Auth>,
    by: web::ReqData<Actor>,
    client: Client,
    username: web::Path<String>,
) -> HttpResponse {
    match auth.disable_user(&by, &username, &client).await {
        Ok(()) => see_other("/admin?notice=disabled"),
        Err(error) => refused(&auth, &by, &error, None).await,
    }
}

async fn enable_user(
    auth: web::Data<Auth>,
    by: web::ReqData<Actor>,
    client: Client,
    username: web::Path<String>,
) -> HttpResponse {
    match auth.enable_user(&by, &username, &client).await {
        Ok(()) => see_other("/admin?notice=enabled"),
        Err(error) => refused(&auth, &by, &error, None).await,
    }
}

/// Asks before the lost-device reset, which can't be undone.
async fn reset_page(username: web::Path<String>) -> HttpResponse {
    page(
        StatusCode::OK,
        &ResetView {
            username: username.into_inner(),
        },
    )
}

async fn reset_user(
    auth: web::Data<Auth>,
    by: web::ReqData<Actor>,
    client: Client,
    username: web::Path<String>,
) -> HttpResponse {
    match auth.reset_second_factors(&by, &username, &client).await {
        Ok(_) => see_other("/admin?notice=reset"),
        Err(error) => refused(&auth, &by, &error, None).await,
    }
}

async fn credential_report(auth: web::Data<Auth>, _by: web::ReqData<Actor>) -> HttpResponse {
    match auth.credential_report().await {
        Ok(report) => csv_download(report),
        Err(error) => page_failure(&error),
    }
}

async fn audit_page(
    auth: web::Data<Auth>,
    by: web::ReqData<Actor>,
    query: web::Query<AuditQuery>,
) -> HttpResponse {
    let username = query.username.as_deref().unwrap_or("").trim().to_owned();
    let limit = DEFAULT_AUDIT_LIMIT * 2;
    let events = match auth.audit_events(&by, Some(&username), limit).await {
        Ok(events) => events,
        Err(error) => return page_failure(&error),
    };
    let events = events
        .into_iter()
        .map(|e| EventRow {
            at: iso8601(e.at),
            username: e.username.unwrap_or_default(),
            event: e.event,
            ip: e.ip.unwrap_or_else(|| "host".into()),
            user_agent: e.user_agent.unwrap_or_default(),
            detail: e.detail,
        })
        .collect();
    page(
        StatusCode::OK,
        &AuditView {
            username,
            events,
            limit,
        },
    )
}

/// A user's sessions and remembered browsers, each with "Sign out".
async fn sessions_page(
    auth: web::Data<Auth>,
    by: web::ReqData<Actor>,
    username: web::Path<String>,
    query: web::Query<NoticeQuery>,
) -> HttpResponse {
    let listed = match auth.user_sessions(&by, &username).await {
        Ok(listed) => listed,
        Err(error) => return page_failure(&error),
    };
    let notice = match query.notice.as_deref() {
        Some("session_ended") => Some("That session has ended."),
        Some("all_ended") => Some(
            "Every session has ended, and remembered browsers will be asked for a second factor again.",
        ),
        _ if query.stepped_up.is_some() => {
            Some("You confirmed it's you. Press “Sign out” once more to end the session.")
        }
        _ => None,
    };
    page(
        StatusCode::OK,
        &SessionsView {
            sessions: session_rows(&listed.sessions, listed.current, auth.now()),
            remembered: remembered_rows(&listed.remembered_browsers, None),
            username: listed.user.username,
            notice,
        },
    )
}

fn sessions_address(username: &str, notice: &str) -> String {
    let name: String = url::form_urlencoded::byte_serialize(username.as_bytes()).collect();
    format!("/admin/users/{name}/sessions?notice={notice}")
}

/// A refused session write: a stale second factor steps up and comes back
/// to the user's sessions page (to press the button again), else the table.
async fn sessions_refused(
    auth: &Auth,
    by: &Actor,
    username: &str,
    error: &AuthError,
) -> HttpResponse {
    if matches!(error, AuthError::ReauthenticationRequired) {
        let name: String = url::form_urlencoded::byte_serialize(username.as_bytes()).collect();
        return super::security_pages::reauthenticate_redirect(&format!(
            "/admin/users/{name}/sessions"
        ));
    }
    refused(auth, by, error, None).await
}

async fn end_all_sessions(
    auth: web::Data<Auth>,
    by: web::ReqData<Actor>,
    client: Client,
    username: web::Path<String>,
) -> HttpResponse {
    match auth.end_user_sessions(&by, &username, &client).await {
        Ok(()) => see_other(&sessions_address(&username, "all_ended")),
        Err(error) => sessions_refused(&auth, &by, &username, &error).await,
    }
}

async fn end_session(
    auth: web::Data<Auth>,
    by: web::ReqData<Actor>,
    client: Client,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    let (username, id) = path.into_inner();
    match auth.end_user_session(&by, &username, &id, &client).await {
        Ok(()) => see_other(&sessions_address(&username, "session_ended")),
        Err(error) => sessions_refused(&auth, &by, &username, &error).await,
    }
}
