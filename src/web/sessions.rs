//! Sessions in the JSON API: a user's own (`/api/v1/me/sessions`, with the
//! remembered browsers beside them) and, for admins, anyone's
//! (`/api/v1/admin/users/{username}/sessions`).

use actix_web::{HttpResponse, web};
use serde::Serialize;

use super::error::ApiResult;
use crate::auth::admin::Actor;
use crate::auth::clock::iso8601;
use crate::auth::{Account, Auth, Client};
use crate::store::{RememberedBrowserRecord, SessionRecord, TokenHash};

/// One session: `id` is an opaque handle (never the token or its hash),
/// `method` the second factor that opened it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SessionView {
    id: String,
    current: bool,
    created_at: String,
    last_seen_at: String,
    expires_at: String,
    ip: Option<String>,
    user_agent: Option<String>,
    method: String,
}

impl SessionView {
    fn new(session: &SessionRecord, current: Option<TokenHash>) -> Self {
        Self {
            id: session.id.clone(),
            current: current == Some(session.token_hash),
            created_at: iso8601(session.created_at),
            last_seen_at: iso8601(session.last_seen_at),
            expires_at: iso8601(session.expires_at),
            ip: session.ip.clone(),
            user_agent: session.user_agent.clone(),
            method: session.method.clone(),
        }
    }
}

/// A browser that may skip the second factor until `expires_at`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RememberedBrowserView {
    id: String,
    current: bool,
    created_at: String,
    last_used_at: Option<String>,
    expires_at: String,
    ip: Option<String>,
    user_agent: Option<String>,
    method: String,
}

impl RememberedBrowserView {
    fn new(browser: &RememberedBrowserRecord, current: Option<TokenHash>) -> Self {
        Self {
            id: browser.id.clone(),
            current: current == Some(browser.token_hash),
            created_at: iso8601(browser.created_at),
            last_used_at: browser.last_used_at.map(iso8601),
            expires_at: iso8601(browser.expires_at),
            ip: browser.ip.clone(),
            user_agent: browser.user_agent.clone(),
            method: browser.method.clone(),
        }
    }
}

/// `{"sessions": [...], "remembered_browsers": [...]}`, newest first.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SessionList {
    sessions: Vec<SessionView>,
    /// An extension: the browsers remembered for the user.
    remembered_browsers: Vec<RememberedBrowserView>,
}

impl SessionList {
    fn new(
        sessions: &[SessionRecord],
        current_session: Option<TokenHash>,
        browsers: &[RememberedBrowserRecord],
        current_browser: Option<TokenHash>,
    ) -> Self {
        Self {
            sessions: sessions
                .iter()
                .map(|s| SessionView::new(s, current_session))
                .collect(),
            remembered_browsers: browsers
                .iter()
                .map(|b| RememberedBrowserView::new(b, current_browser))
                .collect(),
        }
    }
}

#[utoipa::path(
    get,
    path = "/api/v1/me/sessions",
    tag = "account",
    security(("session" = [])),
    responses(
        (status = 200, description = "The user's sessions (the current one marked) and remembered browsers", body = SessionList),
        (status = 401, description = "unauthenticated: no live session", body = super::openapi::ErrorBody)
    )
)]
pub async fn mine(
    auth: web::Data<Auth>,
    account: Account,
    client: Client,
) -> ApiResult<HttpResponse> {
    let sessions = auth.sessions(&account).await?;
    let browsers = auth.remembered_browsers(&account).await?;
    let this_browser = client.remembered_browser.map(|t| t.hash());
    Ok(HttpResponse::Ok().json(SessionList::new(
        &sessions,
        Some(account.session.token_hash),
        &browsers,
        this_browser,
    )))
}

#[utoipa::path(
    delete,
    path = "/api/v1/me/sessions/{id}",
    tag = "account",
    params(("id" = String, Path, description = "The session's handle")),
    security(("session" = [])),
    responses(
        (status = 204, description = "That session ended at once"),
        (status = 401, description = "unauthenticated: no live session", body = super::openapi::ErrorBody),
        (status = 404, description = "not_found: no session of yours by that id", body = super::openapi::ErrorBody)
    )
)]
pub async fn end_mine(
    auth: web::Data<Auth>,
    account: Account,
    client: Client,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    auth.end_session(&account, &id, &client).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(
    delete,
    path = "/api/v1/me/sessions",
    tag = "account",
    security(("session" = [])),
    responses(
        (status = 204, description = "Every session but this one ended; other remembered browsers forgotten"),
        (status = 401, description = "unauthenticated: no live session", body = super::openapi::ErrorBody)
    )
)]
pub async fn end_my_others(
    auth: web::Data<Auth>,
    account: Account,
    client: Client,
) -> ApiResult<HttpResponse> {
    auth.end_other_sessions(&account, &client).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(
    delete,
    path = "/api/v1/me/remembered-browsers/{id}",
    tag = "account",
    params(("id" = String, Path, description = "The remembered browser's handle")),
    security(("session" = [])),
    responses(
        (status = 204, description = "Forgotten: it asks for a second factor again"),
        (status = 401, description = "unauthenticated: no live session", body = super::openapi::ErrorBody),
        (status = 404, description = "not_found: none of yours by that id", body = super::openapi::ErrorBody)
    )
)]
pub async fn forget_remembered_browser(
    auth: web::Data<Auth>,
    account: Account,
    client: Client,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    auth.forget_remembered_browser(&account, &id, &client)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(
    get,
    path = "/api/v1/admin/users/{username}/sessions",
    tag = "admin",
    params(("username" = String, Path, description = "The user's name")),
    security(("session" = [])),
    responses(
        (status = 200, description = "The user's sessions and remembered browsers", body = SessionList),
        (status = 401, description = "unauthenticated: no live session", body = super::openapi::ErrorBody),
        (status = 403, description = "forbidden: not an administrator", body = super::openapi::ErrorBody),
        (status = 404, description = "not_found: no such user", body = super::openapi::ErrorBody)
    )
)]
pub async fn of_user(
    auth: web::Data<Auth>,
    by: web::ReqData<Actor>,
    username: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let listed = auth.user_sessions(&by, &username).await?;
    Ok(HttpResponse::Ok().json(SessionList::new(
        &listed.sessions,
        listed.current,
        &listed.remembered_browsers,
        None,
    )))
}

#[utoipa::path(
    delete,
    path = "/api/v1/admin/users/{username}/sessions",
    tag = "admin",
    params(("username" = String, Path, description = "The user's name")),
    security(("session" = [])),
    responses(
        (status = 204, description = "Every session of the user ended, remembered browsers forgotten"),
        (status = 401, description = "unauthenticated: no live session", body = super::openapi::ErrorBody),
        (status = 403, description = "forbidden: not an administrator; reauthentication_required: no second factor within session.reauth_window_secs", body = super::openapi::ErrorBody),
        (status = 404, description = "not_found: no such user", body = super::openapi::ErrorBody)
    )
)]
pub async fn end_of_user(
    auth: web::Data<Auth>,
    by: web::ReqData<Actor>,
    client: Client,
    username: web::Path<String>,
) -> ApiResult<HttpResponse> {
    auth.end_user_sessions(&by, &username, &client).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(
    delete,
    path = "/api/v1/admin/users/{username}/sessions/{id}",
    tag = "admin",
    params(
        ("username" = String, Path, description = "The user's name"),
        ("id" = String, Path, description = "The session's handle")
    ),
    security(("session" = [])),
    responses(
        (status = 204, description = "That session ended at once"),
        (status = 401, description = "unauthenticated: no live session", body = super::openapi::ErrorBody),
        (status = 403, description = "forbidden: not an administrator; reauthentication_required: no second factor within session.reauth_window_secs", body = super::openapi::ErrorBody),
        (status = 404, description = "not_found: no such user or session", body = super::openapi::ErrorBody)
    )
)]
pub async fn end_one_of_user(
    auth: web::Data<Auth>,
    by: web::ReqData<Actor>,
    client: Client,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let (username, id) = path.into_inner();
    auth.end_user_session(&by, &username, &id, &client).await?;
    Ok(HttpResponse::NoContent().finish())
}
