//! The administration endpoints of the JSON API (`/api/v1/admin/...`). One
//! middleware admits a signed-in administrator, or a signed-in user whom a
//! policy allows the endpoint's `twofold:<Action>` on its resource (401
//! without a session, 403 `forbidden` for anyone else), before any handler
//! or body is looked at.

use actix_web::body::MessageBody;
use actix_web::dev::{ResourceDef, ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::{Next, from_fn};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use percent_encoding::percent_decode_str;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::error::{ApiError, ApiResult};
use super::request::JsonBody;
use super::{ApiRoute, not_found, register_api_routes};
use crate::access::admin_actions::{self, ADMIN_ENDPOINTS, AdminAction};
use crate::auth::admin::{Actor, UserSummary, audit_limit};
use crate::auth::clock::iso8601;
use crate::auth::{Auth, AuthError, Client, Principal};
use crate::store::AuditRecord;
use actix_web::http::Method;

/// Routes inside `/api/v1/admin`.
pub fn api_routes() -> Vec<ApiRoute> {
    vec![
        ApiRoute::new(Method::GET, "/users", |r| r.to(list_users)),
        ApiRoute::new(Method::POST, "/users", |r| r.to(create_user)),
        ApiRoute::new(Method::POST, "/users/{username}/disable", |r| {
            r.to(disable_user)
        }),
        ApiRoute::new(Method::POST, "/users/{username}/enable", |r| {
            r.to(enable_user)
        }),
        ApiRoute::new(Method::DELETE, "/users/{username}/devices", |r| {
            r.to(reset_second_factors)
        }),
        ApiRoute::new(Method::GET, "/users/{username}/sessions", |r| {
            r.to(super::sessions::of_user)
        }),
        ApiRoute::new(Method::DELETE, "/users/{username}/sessions", |r| {
            r.to(super::sessions::end_of_user)
        }),
        ApiRoute::new(Method::DELETE, "/users/{username}/sessions/{id}", |r| {
            r.to(super::sessions::end_one_of_user)
        }),
        ApiRoute::new(Method::GET, "/credential-report", |r| {
            r.to(credential_report)
        }),
        ApiRoute::new(Method::GET, "/audit", |r| r.to(audit)),
    ]
    .into_iter()
    .chain(super::access_admin::api_routes())
    .chain(super::simulate::api_routes())
    .chain(super::programmatic::admin_routes())
    .collect()
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/admin")
            .wrap(from_fn(require_administrator))
            .configure(|cfg| register_api_routes(cfg, api_routes()))
            .default_service(web::to(not_found)),
    );
}

/// Admits a signed-in administrator and hands the handlers their `Actor`.
async fn require_administrator(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let Some(auth) = req.app_data::<web::Data<Auth>>().cloned() else {
        return Err(actix_web::error::ErrorInternalServerError(
            "the service is not configured",
        ));
    };
    let principal = req.extract::<Principal>().await?;
    if !principal.is_admin() {
        let (action, resource) =
            endpoint_permission(&req).ok_or(ApiError::from(AuthError::Forbidden))?;
        // A resource named in the body (creating a user) is checked by the handler.
        if let Some(resource) = resource {
            let client = req.extract::<Client>().await?;
            auth.permit(&principal, action, &resource, &client)
                .await
                .map_err(ApiError::from)?;
        }
    }
    req.extensions_mut().insert(Actor::delegated(&principal));
    req.extensions_mut().insert(principal);
    next.call(req).await
}

/// The `twofold:<Action>` of the endpoint a request is for and the resource
/// it acts on (`None` when the body names it), from `ADMIN_ENDPOINTS`, its
/// path parameters percent-decoded as the handler's `web::Path` decodes
/// them. `None` for an endpoint not in the table: administrators only.
fn endpoint_permission(req: &ServiceRequest) -> Option<(AdminAction, Option<String>)> {
    ADMIN_ENDPOINTS.iter().find_map(|endpoint| {
        if req.method().as_str() != endpoint.method {
            return None;
        }
        let mut path = req.match_info().clone();
        if !ResourceDef::new(endpoint.path).capture_match_info(&mut path) {
            return None;
        }
        let resource = endpoint.resource.name(|key| {
            path.get(key)
                .map(|raw| percent_decode_str(raw).decode_utf8_lossy().into_owned())
        });
        Some((endpoint.action, resource))
    })
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct UserView {
    username: String,
    admin: bool,
    disabled: bool,
    mfa_active: bool,
    created_at: String,
    last_sign_in_at: Option<String>,
}

impl From<UserSummary> for UserView {
    fn from(user: UserSummary) -> Self {
        Self {
            username: user.username,
            admin: user.admin,
            disabled: user.disabled,
            mfa_active: user.mfa_active,
            created_at: iso8601(user.created_at),
            last_sign_in_at: user.last_sign_in_at.map(iso8601),
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct EventView {
    at: String,
    username: Option<String>,
    event: String,
    ip: Option<String>,
    user_agent: Option<String>,
    detail: String,
}

impl From<AuditRecord> for EventView {
    fn from(record: AuditRecord) -> Self {
        Self {
            at: iso8601(record.at),
            username: record.username,
            event: record.event,
            ip: record.ip,
            user_agent: record.user_agent,
            detail: record.detail,
        }
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct NewUserRequest {
    username: String,
    #[schema(value_type = String)]
    password: SecretString,
    #[serde(default)]
    admin: bool,
}

#[derive(Deserialize)]
pub struct AuditQuery {
    username: Option<String>,
    limit: Option<String>,
}

#[utoipa::path(
    get,
    path = "/api/v1/admin/users",
    tag = "admin",
    security(("session" = [])),
    responses(
        (status = 200, description = "Every user", body = super::openapi::UserList),
        (status = 401, description = "unauthenticated: no live session", body = super::openapi::ErrorBody),
        (status = 403, description = "forbidden: not an administrator", body = super::openapi::ErrorBody)
    )
)]
async fn list_users(auth: web::Data<Auth>, by: web::ReqData<Actor>) -> ApiResult<HttpResponse> {
    let users: Vec<UserView> = auth.users(&by).await?.into_iter().map(Into::into).collect();
    Ok(HttpResponse::Ok().json(json!({ "users": users })))
}

#[tracing::instrument(skip_all)]
#[utoipa::path(
    post,
    path = "/api/v1/admin/users",
    tag = "admin",
    request_body = NewUserRequest,
    security(("session" = [])),
    responses(
        (status = 201, description = "The user is created", body = UserView),
        (status = 400, description = "weak_password or invalid_request", body = super::openapi::ErrorBody),
        (status = 401, description = "unauthenticated: no live session", body = super::openapi::ErrorBody),
        (status = 403, description = "forbidden", body = super::openapi::ErrorBody),
        (status = 409, description = "username_taken", body = super::openapi::ErrorBody)
    )
)]
async fn create_user(
    auth: web::Data<Auth>,
    by: web::ReqData<Actor>,
    principal: web::ReqData<Principal>,
    client: Client,
    JsonBody(body): JsonBody<NewUserRequest>,
) -> ApiResult<HttpResponse> {
    let resource = admin_actions::resource("user", &body.username);
    auth.permit(&principal, AdminAction::CreateUser, &resource, &client)
        .await?;
    let user = auth
        .add_user(&by, &body.username, &body.password, body.admin, &client)
        .await?;
    Ok(HttpResponse::Created().json(UserView::from(user)))
}

#[utoipa::path(
    post,
    path = "/api/v1/admin/users/{username}/disable",
    tag = "admin",
    params(("username" = String, Path, description = "The user's name")),
    security(("session" = [])),
    responses(
        (status = 204, description = "Disabled; their sessions end"),
        (status = 400, description = "invalid_request: one's own account", body = super::openapi::ErrorBody),
        (status = 401, description = "unauthenticated: no live session", body = super::openapi::ErrorBody),
        (status = 403, description = "forbidden", body = super::openapi::ErrorBody),
        (status = 404, description = "not_found", body = super::openapi::ErrorBody)
    )
)]
async fn disable_user(
    auth: web::Data<Auth>,
    by: web::ReqData<Actor>,
    client: Client,
    username: web::Path<String>,
) -> ApiResult<HttpResponse> {
    auth.disable_user(&by, &username, &client).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(
    post,
    path = "/api/v1/admin/users/{username}/enable",
    tag = "admin",
    params(("username" = String, Path, description = "The user's name")),
    security(("session" = [])),
    responses(
        (status = 204, description = "Enabled"),
        (status = 401, description = "unauthenticated: no live session", body = super::openapi::ErrorBody),
        (status = 403, description = "forbidden", body = super::openapi::ErrorBody),
        (status = 404, description = "not_found", body = super::openapi::ErrorBody)
    )
)]
async fn enable_user(
    auth: web::Data<Auth>,
    by: web::ReqData<Actor>,
    client: Client,
    username: web::Path<String>,
) -> ApiResult<HttpResponse> {
    auth.enable_user(&by, &username, &client).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(
    delete,
    path = "/api/v1/admin/users/{username}/devices",
    tag = "admin",
    params(("username" = String, Path, description = "The user's name")),
    security(("session" = [])),
    responses(
        (status = 204, description = "Every second factor and recovery code removed; sessions end"),
        (status = 401, description = "unauthenticated: no live session", body = super::openapi::ErrorBody),
        (status = 403, description = "forbidden", body = super::openapi::ErrorBody),
        (status = 404, description = "not_found", body = super::openapi::ErrorBody)
    )
)]
async fn reset_second_factors(
    auth: web::Data<Auth>,
    by: web::ReqData<Actor>,
    client: Client,
    username: web::Path<String>,
) -> ApiResult<HttpResponse> {
    auth.reset_second_factors(&by, &username, &client).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The credential report as CSV, the same bytes `twofold credential-report` prints.
pub fn csv_download(report: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            "attachment; filename=\"credential-report.csv\"",
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(report)
}

#[utoipa::path(
    get,
    path = "/api/v1/admin/credential-report",
    tag = "admin",
    security(("session" = [])),
    responses(
        (status = 200, description = "The credential report", content_type = "text/csv", body = String),
        (status = 401, description = "unauthenticated: no live session", body = super::openapi::ErrorBody),
        (status = 403, description = "forbidden", body = super::openapi::ErrorBody)
    )
)]
async fn credential_report(
    auth: web::Data<Auth>,
    _by: web::ReqData<Actor>,
) -> ApiResult<HttpResponse> {
    Ok(csv_download(auth.credential_report().await?))
}

#[utoipa::path(
    get,
    path = "/api/v1/admin/audit",
    tag = "admin",
    params(("username" = Option<String>, Query, description = "Only this user's events"), ("limit" = Option<u32>, Query, description = "At most this many events")),
    security(("session" = [])),
    responses(
        (status = 200, description = "Audit events, newest first", body = super::openapi::AuditEvents),
        (status = 400, description = "invalid_request", body = super::openapi::ErrorBody),
        (status = 401, description = "unauthenticated: no live session", body = super::openapi::ErrorBody),
        (status = 403, description = "forbidden", body = super::openapi::ErrorBody)
    )
)]
async fn audit(
    auth: web::Data<Auth>,
    by: web::ReqData<Actor>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let query = web::Query::<AuditQuery>::from_query(req.query_string())
        .map_err(|e| ApiError::invalid_request(format!("the query string is invalid: {e}")))?;
    let limit = audit_limit(query.limit.as_deref())?;
    let events: Vec<EventView> = auth
        .audit_events(&by, query.username.as_deref(), limit)
        .await?
        .into_iter()
        .map(Into::into)
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "events": events })))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A new admin endpoint must be given its action deliberately (without
    /// one it is for `admin: true` users only, which is safe but easy to miss).
    #[test]
    fn every_admin_endpoint_has_its_action() {
        for route in api_routes() {
            assert!(
                ADMIN_ENDPOINTS
                    .iter()
                    .any(|e| e.method == route.method.as_str() && e.path == route.path),
                "{} {} is missing from access::admin_actions::ADMIN_ENDPOINTS",
                route.method,
                route.path
            );
        }
    }
}
