//! One second factor of the signed-in user over HTTP: renaming it
//! (`PATCH /api/v1/me/devices/{id}` `{"name"}`, an extension of the API, and
//! its page), and the page that asks before removing it.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::error::ApiResult;
use super::me::DeviceView;
use super::pages::{page, refusal, see_other};
use super::principal::OrSignIn;
use super::request::JsonBody;
use crate::auth::{Account, Auth, AuthError, Client};

#[derive(Deserialize, utoipa::ToSchema)]
pub struct RenameRequest {
    name: String,
}

/// `PATCH /api/v1/me/devices/{id}` `{"name"}`: 200 with the device as it now is.
#[utoipa::path(
    patch,
    path = "/api/v1/me/devices/{id}",
    tag = "account",
    request_body = RenameRequest,
    params(("id" = String, Path, description = "The device id")),
    security(("session" = [])),
    responses(
        (status = 200, description = "The device as it now is", body = super::me::DeviceView),
        (status = 400, description = "invalid_request", body = super::openapi::ErrorBody),
        (status = 401, description = "unauthenticated: no live session", body = super::openapi::ErrorBody),
        (status = 404, description = "not_found", body = super::openapi::ErrorBody)
    )
)]
pub async fn rename_device(
    auth: web::Data<Auth>,
    account: Account,
    client: Client,
    id: web::Path<String>,
    JsonBody(body): JsonBody<RenameRequest>,
) -> ApiResult<HttpResponse> {
    let device = auth
        .rename_device(&account, &id, &body.name, &client)
        .await?;
    Ok(HttpResponse::Ok().json(DeviceView::from(&device)))
}

pub fn page_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/account/devices/{id}/rename", web::get().to(rename_page))
        .route(
            "/account/devices/{id}/rename",
            web::post().to(rename_submit),
        )
        .route("/account/devices/{id}/remove", web::get().to(remove_page));
}

#[derive(Template)]
#[template(path = "remove_device.html")]
struct RemoveView {
    id: String,
    kind: &'static str,
    name: String,
    last_one: bool,
    /// Back here from the step-up the removal asked for.
    stepped_up: bool,
}

/// "Remove this device?": the form posts to `/account/devices/{id}/remove`.
async fn remove_page(
    auth: web::Data<Auth>,
    OrSignIn(account): OrSignIn<Account>,
    id: web::Path<String>,
    query: web::Query<super::security_pages::SteppedUpQuery>,
) -> HttpResponse {
    let Ok(devices) = auth.devices(&account.user).await else {
        return see_other("/account");
    };
    match devices.iter().find(|d| d.id == *id) {
        Some(device) => page(
            StatusCode::OK,
            &RemoveView {
                id: device.id.clone(),
                kind: super::pages::device_kind_words(device),
                name: device.name.clone(),
                last_one: devices.len() == 1,
                stepped_up: query.stepped_up(),
            },
        ),
        None => see_other("/account"),
    }
}

#[derive(Template)]
#[template(path = "rename_device.html")]
struct RenameView {
    id: String,
    kind: &'static str,
    name: String,
    error: Option<String>,
}

#[derive(Deserialize)]
struct RenameForm {
    name: String,
}

/// The form for one device of the signed-in user, or `None` when the user
/// has no such device.
async fn rename_view(
    auth: &Auth,
    account: &Account,
    id: &str,
    name: Option<String>,
    error: Option<String>,
) -> Option<RenameView> {
    let device = auth
        .devices(&account.user)
        .await
        .ok()?
        .into_iter()
        .find(|d| d.id == id)?;
    Some(RenameView {
        kind: super::pages::device_kind_words(&device),
        name: name.unwrap_or(device.name),
        id: device.id,
        error,
    })
}

async fn rename_page(
    auth: web::Data<Auth>,
    OrSignIn(account): OrSignIn<Account>,
    id: web::Path<String>,
) -> HttpResponse {
    match rename_view(&auth, &account, &id, None, None).await {
        Some(view) => page(StatusCode::OK, &view),
        None => see_other("/account"),
    }
}

async fn rename_submit(
    auth: web::Data<Auth>,
    OrSignIn(account): OrSignIn<Account>,
    client: Client,
    id: web::Path<String>,
    form: web::Form<RenameForm>,
) -> HttpResponse {
    match auth.rename_device(&account, &id, &form.name, &client).await {
        Ok(_) => see_other("/account?notice=renamed"),
        Err(AuthError::NotFound(_)) => see_other("/account"),
        Err(error) => {
            let (status, message) = refusal(&error);
            match rename_view(&auth, &account, &id, Some(form.name.clone()), Some(message)).await {
                Some(view) => page(status, &view),
                None => see_other("/account"),
            }
        }
    }
}
