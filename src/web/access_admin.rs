//! The authorization endpoints of the admin API (`/api/v1/admin/groups`,
//! `/policies` and attachments): thin handlers over `access::management`,
//! behind the same administrator gate as the rest of `/api/v1/admin`.

use actix_web::http::Method;
use actix_web::{HttpResponse, web};
use serde::Serialize;
use serde_json::json;
use serde_json::value::RawValue;

use super::ApiRoute;
use super::error::{ApiError, ApiResult};
use crate::access::management::{AccessError, policy_text};
use crate::auth::admin::Actor;
use crate::auth::{Auth, Client};
use crate::model::access::{Attachment, GroupRow, PolicyRow};

/// Routes inside `/api/v1/admin`.
pub fn api_routes() -> Vec<ApiRoute> {
    vec![
        ApiRoute::new(Method::GET, "/groups", |r| r.to(list_groups)),
        ApiRoute::new(Method::PUT, "/groups/{name}", |r| r.to(put_group)),
        ApiRoute::new(Method::DELETE, "/groups/{name}", |r| r.to(delete_group)),
        ApiRoute::new(Method::PUT, "/groups/{name}/members/{username}", |r| {
            r.to(add_member)
        }),
        ApiRoute::new(Method::DELETE, "/groups/{name}/members/{username}", |r| {
            r.to(remove_member)
        }),
        ApiRoute::new(Method::PUT, "/groups/{name}/policies/{policy}", |r| {
            r.to(attach_to_group)
        }),
        ApiRoute::new(Method::DELETE, "/groups/{name}/policies/{policy}", |r| {
            r.to(detach_from_group)
        }),
        ApiRoute::new(Method::PUT, "/users/{username}/policies/{policy}", |r| {
            r.to(attach_to_user)
        }),
        ApiRoute::new(Method::DELETE, "/users/{username}/policies/{policy}", |r| {
            r.to(detach_from_user)
        }),
        ApiRoute::new(Method::GET, "/policies", |r| r.to(list_policies)),
        ApiRoute::new(Method::PUT, "/policies/{name}", |r| r.to(put_policy)),
        ApiRoute::new(Method::DELETE, "/policies/{name}", |r| r.to(delete_policy)),
    ]
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct GroupView {
    name: String,
    /// Usernames, sorted.
    members: Vec<String>,
    /// Names of the policies attached to the group, sorted.
    policies: Vec<String>,
}

impl From<GroupRow> for GroupView {
    fn from(row: GroupRow) -> Self {
        Self {
            name: row.name,
            members: row.members,
            policies: row.policies,
        }
    }
}

/// `{"group": name}` or `{"user": name}`.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AttachmentView {
    Group(String),
    User(String),
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct PolicyView {
    name: String,
    /// The JSON document exactly as it was stored.
    #[schema(value_type = Object)]
    document: Box<RawValue>,
    attached_to: Vec<AttachmentView>,
}

impl TryFrom<PolicyRow> for PolicyView {
    type Error = ApiError;

    fn try_from(row: PolicyRow) -> Result<Self, ApiError> {
        let document = RawValue::from_string(row.document).map_err(|e| {
            ApiError::from(crate::auth::AuthError::Unexpected(anyhow::anyhow!(
                "the stored policy {} is not JSON: {e}",
                row.name
            )))
        })?;
        Ok(Self {
            name: row.name,
            document,
            attached_to: row
                .attached_to
                .into_iter()
                .map(|to| match to {
                    Attachment::Group(name) => AttachmentView::Group(name),
                    Attachment::User(name) => AttachmentView::User(name),
                })
                .collect(),
        })
    }
}

/// `201 Created` for something new, else the given status.
fn created_or(created: bool, otherwise: HttpResponse) -> HttpResponse {
    if created {
        HttpResponse::Created().finish()
    } else {
        otherwise
    }
}

#[utoipa::path(
    get,
    path = "/api/v1/admin/groups",
    tag = "admin",
    security(("session" = [])),
    responses(
        (status = 200, description = "Every group with its members and policies", body = super::openapi::GroupList),
        (status = 401, description = "unauthenticated: no live session", body = super::openapi::ErrorBody),
        (status = 403, description = "forbidden", body = super::openapi::ErrorBody)
    )
)]
async fn list_groups(auth: web::Data<Auth>, by: web::ReqData<Actor>) -> ApiResult<HttpResponse> {
    let groups: Vec<GroupView> = auth
        .groups(&by)
        .await?
        .into_iter()
        .map(Into::into)
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "groups": groups })))
}

#[utoipa::path(
    put,
    path = "/api/v1/admin/groups/{name}",
    tag = "admin",
    params(("name" = String, Path, description = "The group's name: 1 to 64 of A-Z a-z 0-9 + = . @ _ - (no comma: Remote-Groups is comma-separated)")),
    security(("session" = [])),
    responses(
        (status = 201, description = "Created"),
        (status = 204, description = "It existed"),
        (status = 400, description = "invalid_request: the name", body = super::openapi::ErrorBody),
        (status = 401, description = "unauthenticated: no live session", body = super::openapi::ErrorBody),
        (status = 403, description = "forbidden, reauthentication_required", body = super::openapi::ErrorBody),
        (status = 409, description = "limit_exceeded: 1000 groups", body = super::openapi::ErrorBody)
    )
)]
async fn put_group(
    auth: web::Data<Auth>,
    by: web::ReqData<Actor>,
    client: Client,
    name: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let created = auth.create_group(&by, &name, &client).await?;
    Ok(created_or(created, HttpResponse::NoContent().finish()))
}

#[utoipa::path(
    delete,
    path = "/api/v1/admin/groups/{name}",
    tag = "admin",
    params(("name" = String, Path, description = "The group's name")),
    security(("session" = [])),
    responses(
        (status = 204, description = "Deleted, with its memberships and attachments"),
        (status = 401, description = "unauthenticated: no live session", body = super::openapi::ErrorBody),
        (status = 403, description = "forbidden, reauthentication_required", body = super::openapi::ErrorBody),
        (status = 404, description = "not_found", body = super::openapi::ErrorBody)
    )
)]
async fn delete_group(
    auth: web::Data<Auth>,
    by: web::ReqData<Actor>,
    client: Client,
    name: web::Path<String>,
) -> ApiResult<HttpResponse> {
    auth.delete_group(&by, &name, &client).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(
    put,
    path = "/api/v1/admin/groups/{name}/members/{username}",
    tag = "admin",
    params(("name" = String, Path, description = "The group's name"), ("username" = String, Path, description = "The user's name")),
    security(("session" = [])),
    responses(
        (status = 204, description = "A member (already one is not an error)"),
        (status = 401, description = "unauthenticated: no live session", body = super::openapi::ErrorBody),
        (status = 403, description = "forbidden, reauthentication_required", body = super::openapi::ErrorBody),
        (status = 404, description = "not_found: no such group or user", body = super::openapi::ErrorBody)
    )
)]
async fn add_member(
    auth: web::Data<Auth>,
    by: web::ReqData<Actor>,
    client: Client,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let (group, username) = path.into_inner();
    auth.add_group_member(&by, &group, &username, &client)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(
    delete,
    path = "/api/v1/admin/groups/{name}/members/{username}",
    tag = "admin",
    params(("name" = String, Path, description = "The group's name"), ("username" = String, Path, description = "The user's name")),
    security(("session" = [])),
    responses(
        (status = 204, description = "Not a member (any more)"),
        (status = 401, description = "unauthenticated: no live session", body = super::openapi::ErrorBody),
        (status = 403, description = "forbidden, reauthentication_required", body = super::openapi::ErrorBody),
        (status = 404, description = "not_found: no such group or user", body = super::openapi::ErrorBody)
    )
)]
async fn remove_member(
    auth: web::Data<Auth>,
    by: web::ReqData<Actor>,
    client: Client,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let (group, username) = path.into_inner();
    auth.remove_group_member(&by, &group, &username, &client)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn attach(
    auth: &Auth,
    by: &Actor,
    client: &Client,
    policy: &str,
    to: Attachment,
) -> ApiResult<HttpResponse> {
    auth.attach_policy(by, policy, &to, client).await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn detach(
    auth: &Auth,
    by: &Actor,
    client: &Client,
    policy: &str,
    to: Attachment,
) -> ApiResult<HttpResponse> {
    auth.detach_policy(by, policy, &to, client).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(
    put,
    path = "/api/v1/admin/groups/{name}/policies/{policy}",
    tag = "admin",
    params(("name" = String, Path, description = "The group's name"), ("policy" = String, Path, description = "The policy's name")),
    security(("session" = [])),
    responses(
        (status = 204, description = "Attached (already attached is not an error)"),
        (status = 401, description = "unauthenticated: no live session", body = super::openapi::ErrorBody),
        (status = 403, description = "forbidden, reauthentication_required", body = super::openapi::ErrorBody),
        (status = 404, description = "not_found: no such group or policy", body = super::openapi::ErrorBody),
        (status = 409, description = "limit_exceeded: 10 policies a group", body = super::openapi::ErrorBody)
    )
)]
async fn attach_to_group(
    auth: web::Data<Auth>,
    by: web::ReqData<Actor>,
    client: Client,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let (group, policy) = path.into_inner();
    attach(&auth, &by, &client, &policy, Attachment::Group(group)).await
}

#[utoipa::path(
    delete,
    path = "/api/v1/admin/groups/{name}/policies/{policy}",
    tag = "admin",
    params(("name" = String, Path, description = "The group's name"), ("policy" = String, Path, description = "The policy's name")),
    security(("session" = [])),
    responses(
        (status = 204, description = "Not attached (any more)"),
        (status = 401, description = "unauthenticated: no live session", body = super::openapi::ErrorBody),
        (status = 403, description = "forbidden, reauthentication_required", body = super::openapi::ErrorBody),
        (status = 404, description = "not_found: no such group or policy", body = super::openapi::ErrorBody)
    )
)]
async fn detach_from_group(
    auth: web::Data<Auth>,
    by: web::ReqData<Actor>,
    client: Client,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let (group, policy) = path.into_inner();
    detach(&auth, &by, &client, &policy, Attachment::Group(group)).await
}

#[utoipa::path(
    put,
    path = "/api/v1/admin/users/{username}/policies/{policy}",
    tag = "admin",
    params(("username" = String, Path, description = "The user's name"), ("policy" = String, Path, description = "The policy's name")),
    security(("session" = [])),
    responses(
        (status = 204, description = "Attached (already attached is not an error)"),
        (status = 401, description = "unauthenticated: no live session", body = super::openapi::ErrorBody),
        (status = 403, description = "forbidden, reauthentication_required", body = super::openapi::ErrorBody),
        (status = 404, description = "not_found: no such user or policy", body = super::openapi::ErrorBody),
        (status = 409, description = "limit_exceeded: 10 policies a user", body = super::openapi::ErrorBody)
    )
)]
async fn attach_to_user(
    auth: web::Data<Auth>,
    by: web::ReqData<Actor>,
    client: Client,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let (username, policy) = path.into_inner();
    attach(&auth, &by, &client, &policy, Attachment::User(username)).await
}

#[utoipa::path(
    delete,
    path = "/api/v1/admin/users/{username}/policies/{policy}",
    tag = "admin",
    params(("username" = String, Path, description = "The user's name"), ("policy" = String, Path, description = "The policy's name")),
    security(("session" = [])),
    responses(
        (status = 204, description = "Not attached (any more)"),
        (status = 401, description = "unauthenticated: no live session", body = super::openapi::ErrorBody),
        (status = 403, description = "forbidden, reauthentication_required", body = super::openapi::ErrorBody),
        (status = 404, description = "not_found: no such user or policy", body = super::openapi::ErrorBody)
    )
)]
async fn detach_from_user(
    auth: web::Data<Auth>,
    by: web::ReqData<Actor>,
    client: Client,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let (username, policy) = path.into_inner();
    detach(&auth, &by, &client, &policy, Attachment::User(username)).await
}

#[utoipa::path(
    get,
    path = "/api/v1/admin/policies",
    tag = "admin",
    security(("session" = [])),
    responses(
        (status = 200, description = "Every policy with its document and attachments", body = super::openapi::PolicyList),
        (status = 401, description = "unauthenticated: no live session", body = super::openapi::ErrorBody),
        (status = 403, description = "forbidden", body = super::openapi::ErrorBody)
    )
)]
async fn list_policies(auth: web::Data<Auth>, by: web::ReqData<Actor>) -> ApiResult<HttpResponse> {
    let policies = auth
        .policies(&by)
        .await?
        .into_iter()
        .map(PolicyView::try_from)
        .collect::<ApiResult<Vec<_>>>()?;
    Ok(HttpResponse::Ok().json(json!({ "policies": policies })))
}

#[utoipa::path(
    put,
    path = "/api/v1/admin/policies/{name}",
    tag = "admin",
    params(("name" = String, Path, description = "The policy's name: 1 to 64 of A-Z a-z 0-9 + = , . @ _ -")),
    request_body(content = Object, description = "The policy document (at most 10 KiB, 100 statements)", content_type = "application/json"),
    security(("session" = [])),
    responses(
        (status = 201, description = "Created"),
        (status = 200, description = "Replaced"),
        (status = 400, description = "invalid_policy (the message names where), invalid_request: the name", body = super::openapi::ErrorBody),
        (status = 401, description = "unauthenticated: no live session", body = super::openapi::ErrorBody),
        (status = 403, description = "forbidden, reauthentication_required", body = super::openapi::ErrorBody),
        (status = 409, description = "limit_exceeded: 1000 policies", body = super::openapi::ErrorBody)
    )
)]
async fn put_policy(
    auth: web::Data<Auth>,
    by: web::ReqData<Actor>,
    client: Client,
    name: web::Path<String>,
    body: web::Bytes,
) -> ApiResult<HttpResponse> {
    let document = policy_text(&body).map_err(AccessError::from)?;
    let created = auth.put_policy(&by, &name, document, &client).await?;
    Ok(created_or(created, HttpResponse::Ok().finish()))
}

#[utoipa::path(
    delete,
    path = "/api/v1/admin/policies/{name}",
    tag = "admin",
    params(("name" = String, Path, description = "The policy's name")),
    security(("session" = [])),
    responses(
        (status = 204, description = "Deleted and detached everywhere"),
        (status = 401, description = "unauthenticated: no live session", body = super::openapi::ErrorBody),
        (status = 403, description = "forbidden, reauthentication_required", body = super::openapi::ErrorBody),
        (status = 404, description = "not_found", body = super::openapi::ErrorBody)
    )
)]
async fn delete_policy(
    auth: web::Data<Auth>,
    by: web::ReqData<Actor>,
    client: Client,
    name: web::Path<String>,
) -> ApiResult<HttpResponse> {
    auth.delete_policy(&by, &name, &client).await?;
    Ok(HttpResponse::NoContent().finish())
}
