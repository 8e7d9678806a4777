//! Programmatic access over HTTP: a user's access keys (and an
//! administrator's view of anyone's), the STS endpoints that turn a key (and
//! a code) into a temporary credential or assume a role, and the roles an
//! administrator defines. Handlers stay thin: the rules are `auth`'s.

use actix_web::http::Method;
use actix_web::{HttpResponse, web};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};

use super::ApiRoute;
use super::error::ApiResult;
use super::principal::presented_credential;
use super::request::JsonBody;
use crate::access::roles::RoleSpec;
use crate::auth::access_keys::NewAccessKey;
use crate::auth::admin::Actor;
use crate::auth::clock::iso8601;
use crate::auth::temporary_credentials::IssuedToken;
use crate::auth::{Account, Auth, AuthError, Client, PresentedCredential, Principal};
use crate::model::access::RoleRow;
use crate::store::AccessKeyRecord;

/// Routes inside `/api/v1` for the signed-in user and for scripts.
pub fn api_routes() -> Vec<ApiRoute> {
    vec![
        ApiRoute::new(Method::GET, "/me/access-keys", |r| r.to(my_keys)),
        ApiRoute::new(Method::POST, "/me/access-keys", |r| r.to(create_my_key)),
        ApiRoute::new(Method::PATCH, "/me/access-keys/{id}", |r| {
            r.to(set_my_key_status)
        }),
        ApiRoute::new(Method::DELETE, "/me/access-keys/{id}", |r| {
            r.to(delete_my_key)
        }),
        ApiRoute::new(Method::POST, "/sts/session-token", |r| r.to(session_token)),
        ApiRoute::new(Method::POST, "/sts/assume-role", |r| r.to(assume_role)),
    ]
}

/// Routes inside `/api/v1/admin`.
pub fn admin_routes() -> Vec<ApiRoute> {
    vec![
        ApiRoute::new(Method::GET, "/users/{username}/access-keys", |r| {
            r.to(keys_of_user)
        }),
        ApiRoute::new(Method::POST, "/users/{username}/access-keys", |r| {
            r.to(create_key_of_user)
        }),
        ApiRoute::new(Method::PATCH, "/users/{username}/access-keys/{id}", |r| {
            r.to(set_key_status_of_user)
        }),
        ApiRoute::new(Method::DELETE, "/users/{username}/access-keys/{id}", |r| {
            r.to(delete_key_of_user)
        }),
        ApiRoute::new(Method::GET, "/roles", |r| r.to(list_roles)),
        ApiRoute::new(Method::PUT, "/roles/{name}", |r| r.to(put_role)),
        ApiRoute::new(Method::DELETE, "/roles/{name}", |r| r.to(delete_role)),
    ]
}

/// An access key as listed (never its secret).
#[derive(Serialize, utoipa::ToSchema)]
pub struct AccessKeyView {
    access_key_id: String,
    /// `active` or `inactive`.
    status: &'static str,
    created_at: String,
    last_used_at: Option<String>,
}

impl From<&AccessKeyRecord> for AccessKeyView {
    fn from(key: &AccessKeyRecord) -> Self {
        Self {
            access_key_id: key.id.clone(),
            status: status_name(key.active),
            created_at: iso8601(key.created_at),
            last_used_at: key.last_used_at.map(iso8601),
        }
    }
}

pub fn status_name(active: bool) -> &'static str {
    if active { "active" } else { "inactive" }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct AccessKeyList {
    access_keys: Vec<AccessKeyView>,
}

impl AccessKeyList {
    fn of(keys: &[AccessKeyRecord]) -> Self {
        Self {
            access_keys: keys.iter().map(Into::into).collect(),
        }
    }
}

/// A key just made: the secret is shown this once.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CreatedAccessKey {
    access_key_id: String,
    secret_access_key: String,
    status: &'static str,
    created_at: String,
}

fn created(new: NewAccessKey) -> HttpResponse {
    HttpResponse::Created().json(CreatedAccessKey {
        access_key_id: new.key.id,
        secret_access_key: new.secret.expose_secret().to_owned(),
        status: status_name(new.key.active),
        created_at: iso8601(new.key.created_at),
    })
}

/// `{"status": "active" | "inactive"}`.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct KeyStatusRequest {
    status: KeyStatus,
}

#[derive(Deserialize, utoipa::ToSchema, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub enum KeyStatus {
    Active,
    Inactive,
}

#[utoipa::path(
    get,
    path = "/api/v1/me/access-keys",
    tag = "account",
    security(("session" = [])),
    responses(
        (status = 200, description = "The user's access keys, oldest first", body = AccessKeyList),
        (status = 401, description = "unauthenticated", body = super::openapi::ErrorBody),
        (status = 403, description = "forbidden: a temporary credential can't manage access keys", body = super::openapi::ErrorBody)
    )
)]
pub async fn my_keys(auth: web::Data<Auth>, account: Account) -> ApiResult<HttpResponse> {
    let keys = auth.access_keys(&account.user).await?;
    Ok(HttpResponse::Ok().json(AccessKeyList::of(&keys)))
}

#[utoipa::path(
    post,
    path = "/api/v1/me/access-keys",
    tag = "account",
    security(("session" = [])),
    responses(
        (status = 201, description = "A new key; the secret is shown this once", body = CreatedAccessKey),
        (status = 401, description = "unauthenticated", body = super::openapi::ErrorBody),
        (status = 403, description = "reauthentication_required (a second factor within the re-auth window), or forbidden for a temporary credential", body = super::openapi::ErrorBody),
        (status = 409, description = "too_many_access_keys: two already", body = super::openapi::ErrorBody)
    )
)]
pub async fn create_my_key(
    auth: web::Data<Auth>,
    account: Account,
    client: Client,
) -> ApiResult<HttpResponse> {
    Ok(created(auth.create_access_key(&account, &client).await?))
}

#[utoipa::path(
    patch,
    path = "/api/v1/me/access-keys/{id}",
    tag = "account",
    params(("id" = String, Path, description = "The access key id")),
    request_body = KeyStatusRequest,
    security(("session" = [])),
    responses(
        (status = 200, description = "The key with its new status; deactivating ends its temporary credentials", body = AccessKeyView),
        (status = 400, description = "invalid_request", body = super::openapi::ErrorBody),
        (status = 401, description = "unauthenticated", body = super::openapi::ErrorBody),
        (status = 403, description = "forbidden for a temporary credential", body = super::openapi::ErrorBody),
        (status = 404, description = "not_found: no key of yours by that id", body = super::openapi::ErrorBody)
    )
)]
pub async fn set_my_key_status(
    auth: web::Data<Auth>,
    account: Account,
    client: Client,
    id: web::Path<String>,
    JsonBody(body): JsonBody<KeyStatusRequest>,
) -> ApiResult<HttpResponse> {
    let active = matches!(body.status, KeyStatus::Active);
    let key = auth
        .set_access_key_status(&account.user, &id, active, &client, None)
        .await?;
    Ok(HttpResponse::Ok().json(AccessKeyView::from(&key)))
}

#[utoipa::path(
    delete,
    path = "/api/v1/me/access-keys/{id}",
    tag = "account",
    params(("id" = String, Path, description = "The access key id")),
    security(("session" = [])),
    responses(
        (status = 204, description = "Deleted, with every temporary credential made from it"),
        (status = 401, description = "unauthenticated", body = super::openapi::ErrorBody),
        (status = 403, description = "forbidden for a temporary credential", body = super::openapi::ErrorBody),
        (status = 404, description = "not_found", body = super::openapi::ErrorBody)
    )
)]
pub async fn delete_my_key(
    auth: web::Data<Auth>,
    account: Account,
    client: Client,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    auth.delete_access_key(&account.user, &id, &client, None)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(
    get,
    path = "/api/v1/admin/users/{username}/access-keys",
    tag = "admin",
    params(("username" = String, Path, description = "The user's name")),
    security(("session" = [])),
    responses(
        (status = 200, description = "The user's access keys", body = AccessKeyList),
        (status = 401, description = "unauthenticated", body = super::openapi::ErrorBody),
        (status = 403, description = "forbidden: needs twofold:ManageAccessKeys", body = super::openapi::ErrorBody),
        (status = 404, description = "not_found: no such user", body = super::openapi::ErrorBody)
    )
)]
pub async fn keys_of_user(
    auth: web::Data<Auth>,
    _by: web::ReqData<Actor>,
    username: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let user = auth.user_for_admin(&username).await?;
    let keys = auth.access_keys(&user).await?;
    Ok(HttpResponse::Ok().json(AccessKeyList::of(&keys)))
}

#[utoipa::path(
    post,
    path = "/api/v1/admin/users/{username}/access-keys",
    tag = "admin",
    params(("username" = String, Path, description = "The user's name")),
    security(("session" = [])),
    responses(
        (status = 201, description = "A new key for the user; the secret is shown this once", body = CreatedAccessKey),
        (status = 401, description = "unauthenticated", body = super::openapi::ErrorBody),
        (status = 403, description = "forbidden, or reauthentication_required", body = super::openapi::ErrorBody),
        (status = 404, description = "not_found: no such user", body = super::openapi::ErrorBody),
        (status = 409, description = "too_many_access_keys", body = super::openapi::ErrorBody)
    )
)]
pub async fn create_key_of_user(
    auth: web::Data<Auth>,
    by: web::ReqData<Actor>,
    client: Client,
    username: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let user = auth.user_for_admin(&username).await?;
    Ok(created(
        auth.create_access_key_for(&by, &user, &client).await?,
    ))
}

#[utoipa::path(
    patch,
    path = "/api/v1/admin/users/{username}/access-keys/{id}",
    tag = "admin",
    params(
        ("username" = String, Path, description = "The user's name"),
        ("id" = String, Path, description = "The access key id")
    ),
    request_body = KeyStatusRequest,
    security(("session" = [])),
    responses(
        (status = 200, description = "The key with its new status", body = AccessKeyView),
        (status = 400, description = "invalid_request", body = super::openapi::ErrorBody),
        (status = 401, description = "unauthenticated", body = super::openapi::ErrorBody),
        (status = 403, description = "forbidden, or reauthentication_required", body = super::openapi::ErrorBody),
        (status = 404, description = "not_found", body = super::openapi::ErrorBody)
    )
)]
pub async fn set_key_status_of_user(
    auth: web::Data<Auth>,
    by: web::ReqData<Actor>,
    client: Client,
    path: web::Path<(String, String)>,
    JsonBody(body): JsonBody<KeyStatusRequest>,
) -> ApiResult<HttpResponse> {
    let (username, id) = path.into_inner();
    let user = auth.user_for_admin(&username).await?;
    auth.require_recent_second_factor_of(&by)?;
    let active = matches!(body.status, KeyStatus::Active);
    let key = auth
        .set_access_key_status(&user, &id, active, &client, Some(&by))
        .await?;
    Ok(HttpResponse::Ok().json(AccessKeyView::from(&key)))
}

#[utoipa::path(
    delete,
    path = "/api/v1/admin/users/{username}/access-keys/{id}",
    tag = "admin",
    params(
        ("username" = String, Path, description = "The user's name"),
        ("id" = String, Path, description = "The access key id")
    ),
    security(("session" = [])),
    responses(
        (status = 204, description = "Deleted, with its temporary credentials"),
        (status = 401, description = "unauthenticated", body = super::openapi::ErrorBody),
        (status = 403, description = "forbidden, or reauthentication_required", body = super::openapi::ErrorBody),
        (status = 404, description = "not_found", body = super::openapi::ErrorBody)
    )
)]
pub async fn delete_key_of_user(
    auth: web::Data<Auth>,
    by: web::ReqData<Actor>,
    client: Client,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let (username, id) = path.into_inner();
    let user = auth.user_for_admin(&username).await?;
    auth.require_recent_second_factor_of(&by)?;
    auth.delete_access_key(&user, &id, &client, Some(&by))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `{"code"?, "duration_secs"?}`.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct SessionTokenRequest {
    /// A TOTP code of the key owner's device: the token then carries MFA.
    code: Option<String>,
    /// 900 to 43200; 3600 when absent.
    duration_secs: Option<i64>,
}

/// A temporary credential, for `Authorization: Bearer`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct IssuedTokenView {
    token: String,
    expires_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    mfa: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<String>,
}

impl From<IssuedToken> for IssuedTokenView {
    fn from(issued: IssuedToken) -> Self {
        let role = issued.role;
        Self {
            token: issued.token.as_str().to_owned(),
            expires_at: iso8601(issued.expires_at),
            mfa: role.is_none().then_some(issued.mfa),
            role,
        }
    }
}

#[utoipa::path(
    post,
    path = "/api/v1/sts/session-token",
    tag = "programmatic",
    request_body = SessionTokenRequest,
    security(("access_key" = [])),
    responses(
        (status = 200, description = "A temporary credential (`mfa` true when a right code was given)", body = IssuedTokenView),
        (status = 400, description = "invalid_request: duration_secs out of 900..=43200, or a malformed body", body = super::openapi::ErrorBody),
        (status = 401, description = "invalid_credentials (a wrong, unknown or inactive key), invalid_code, or unauthenticated (no or a malformed Authorization: Basic)", body = super::openapi::ErrorBody),
        (status = 429, description = "too_many_attempts, with Retry-After", body = super::openapi::ErrorBody)
    )
)]
pub async fn session_token(
    auth: web::Data<Auth>,
    client: Client,
    req: actix_web::HttpRequest,
    JsonBody(body): JsonBody<SessionTokenRequest>,
) -> ApiResult<HttpResponse> {
    let (id, secret) = match presented_credential(&req) {
        Some(PresentedCredential::AccessKey { id, secret }) => (id, secret),
        Some(PresentedCredential::Malformed(why)) => {
            return Err(AuthError::UnauthenticatedBecause(why).into());
        }
        _ => {
            return Err(AuthError::UnauthenticatedBecause(
                "this needs Authorization: Basic base64(access_key_id:secret)",
            )
            .into());
        }
    };
    let issued = auth
        .issue_session_token(
            &id,
            secret.expose_secret(),
            body.code.as_deref(),
            body.duration_secs,
            &client,
        )
        .await?;
    Ok(HttpResponse::Ok().json(IssuedTokenView::from(issued)))
}

/// `{"role", "duration_secs"?}`.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct AssumeRoleRequest {
    role: String,
    /// 900 to the role's maximum; 3600 (or the maximum, if lower) when absent.
    duration_secs: Option<i64>,
}

#[utoipa::path(
    post,
    path = "/api/v1/sts/assume-role",
    tag = "programmatic",
    request_body = AssumeRoleRequest,
    security(("session" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "A role's temporary credential: its permissions are the role's policies alone", body = IssuedTokenView),
        (status = 400, description = "invalid_request: duration out of bounds, or a malformed body", body = super::openapi::ErrorBody),
        (status = 401, description = "unauthenticated", body = super::openapi::ErrorBody),
        (status = 403, description = "forbidden: sts:AssumeRole not allowed, the role's trust does not name you, or no such role", body = super::openapi::ErrorBody)
    )
)]
pub async fn assume_role(
    auth: web::Data<Auth>,
    principal: Principal,
    client: Client,
    JsonBody(body): JsonBody<AssumeRoleRequest>,
) -> ApiResult<HttpResponse> {
    let issued = auth
        .assume_role(&principal, &body.role, body.duration_secs, &client)
        .await?;
    Ok(HttpResponse::Ok().json(IssuedTokenView::from(issued)))
}

/// A role as an admin puts it.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct RoleRequest {
    #[serde(default)]
    trusted_groups: Vec<String>,
    #[serde(default)]
    trusted_users: Vec<String>,
    #[serde(default)]
    policies: Vec<String>,
    /// 900 to 43200; 3600 when absent.
    max_duration_secs: Option<i64>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct RoleView {
    name: String,
    trusted_groups: Vec<String>,
    trusted_users: Vec<String>,
    policies: Vec<String>,
    max_duration_secs: i64,
    updated_at: String,
}

impl From<RoleRow> for RoleView {
    fn from(row: RoleRow) -> Self {
        Self {
            name: row.name,
            trusted_groups: row.trusted_groups,
            trusted_users: row.trusted_users,
            policies: row.policies,
            max_duration_secs: row.max_duration_secs,
            updated_at: iso8601(row.updated_at),
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct RoleList {
    roles: Vec<RoleView>,
}

#[utoipa::path(
    get,
    path = "/api/v1/admin/roles",
    tag = "admin",
    security(("session" = [])),
    responses(
        (status = 200, description = "Every role, by name", body = RoleList),
        (status = 401, description = "unauthenticated", body = super::openapi::ErrorBody),
        (status = 403, description = "forbidden: needs twofold:ManageRoles", body = super::openapi::ErrorBody)
    )
)]
pub async fn list_roles(auth: web::Data<Auth>, by: web::ReqData<Actor>) -> ApiResult<HttpResponse> {
    let roles = auth.roles(&by).await?;
    Ok(HttpResponse::Ok().json(RoleList {
        roles: roles.into_iter().map(Into::into).collect(),
    }))
}

#[utoipa::path(
    put,
    path = "/api/v1/admin/roles/{name}",
    tag = "admin",
    params(("name" = String, Path, description = "The role's name")),
    request_body = RoleRequest,
    security(("session" = [])),
    responses(
        (status = 201, description = "Created", body = RoleView),
        (status = 200, description = "Replaced", body = RoleView),
        (status = 400, description = "invalid_request: a bad name or duration", body = super::openapi::ErrorBody),
        (status = 401, description = "unauthenticated", body = super::openapi::ErrorBody),
        (status = 403, description = "forbidden, or reauthentication_required", body = super::openapi::ErrorBody),
        (status = 404, description = "not_found: a policy, group or user it names", body = super::openapi::ErrorBody),
        (status = 409, description = "limit_exceeded", body = super::openapi::ErrorBody)
    )
)]
pub async fn put_role(
    auth: web::Data<Auth>,
    by: web::ReqData<Actor>,
    client: Client,
    name: web::Path<String>,
    JsonBody(body): JsonBody<RoleRequest>,
) -> ApiResult<HttpResponse> {
    let spec = RoleSpec {
        trusted_groups: body.trusted_groups,
        trusted_users: body.trusted_users,
        policies: body.policies,
        max_duration_secs: body.max_duration_secs,
    };
    let created = auth.put_role(&by, &name, spec, &client).await?;
    let role = auth
        .roles(&by)
        .await?
        .into_iter()
        .find(|r| r.name == *name)
        .ok_or(AuthError::NotFound("role"))?;
    let view = RoleView::from(role);
    Ok(if created {
        HttpResponse::Created().json(view)
    } else {
        HttpResponse::Ok().json(view)
    })
}

#[utoipa::path(
    delete,
    path = "/api/v1/admin/roles/{name}",
    tag = "admin",
    params(("name" = String, Path, description = "The role's name")),
    security(("session" = [])),
    responses(
        (status = 204, description = "Deleted; its tokens end with it"),
        (status = 401, description = "unauthenticated", body = super::openapi::ErrorBody),
        (status = 403, description = "forbidden, or reauthentication_required", body = super::openapi::ErrorBody),
        (status = 404, description = "not_found", body = super::openapi::ErrorBody)
    )
)]
pub async fn delete_role(
    auth: web::Data<Auth>,
    by: web::ReqData<Actor>,
    client: Client,
    name: web::Path<String>,
) -> ApiResult<HttpResponse> {
    auth.delete_role(&by, &name, &client).await?;
    Ok(HttpResponse::NoContent().finish())
}
