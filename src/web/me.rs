//! The signed-in user's own account in the JSON API: devices (enrol, confirm,
//! list, remove).

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::cookies;
use super::error::ApiResult;
use super::request::JsonBody;
use crate::auth::clock::iso8601;
use crate::auth::{Account, Auth, Client, Enroller, Principal};
use crate::store::DeviceRecord;

#[derive(Deserialize, utoipa::ToSchema)]
pub struct NewTotpRequest {
    name: Option<String>,
    /// A hardware token's base32 seed from its vendor.
    secret: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct ConfirmRequest {
    code: String,
    next_code: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct DeviceView {
    id: String,
    kind: &'static str,
    name: String,
    created_at: String,
    last_used_at: Option<String>,
}

impl From<&DeviceRecord> for DeviceView {
    fn from(device: &DeviceRecord) -> Self {
        Self {
            id: device.id.clone(),
            kind: device.kind.as_str(),
            name: device.name.clone(),
            created_at: iso8601(device.created_at),
            last_used_at: device.last_used_at.map(iso8601),
        }
    }
}

#[utoipa::path(
    get,
    path = "/api/v1/me",
    tag = "account",
    security(("session" = [])),
    responses(
        (status = 200, description = "The signed-in user and their second factors", body = super::openapi::MeAnswer),
        (status = 401, description = "unauthenticated: no live session", body = super::openapi::ErrorBody)
    )
)]
pub async fn me(auth: web::Data<Auth>, principal: Principal) -> ApiResult<HttpResponse> {
    let user = principal.user();
    let devices: Vec<DeviceView> = auth.devices(user).await?.iter().map(Into::into).collect();
    let recovery_codes_left = auth.recovery_codes_left_of(user).await?;
    let groups = auth.groups_of(&user.username).await?;
    Ok(HttpResponse::Ok().json(json!({
        "username": user.username,
        "admin": user.admin,
        "groups": groups,
        "devices": devices,
        "recovery_codes_left": recovery_codes_left,
    })))
}

#[utoipa::path(
    post,
    path = "/api/v1/me/totp",
    tag = "account",
    request_body = NewTotpRequest,
    security(("session" = [])),
    responses(
        (status = 201, description = "An unconfirmed authenticator-app device", body = super::openapi::TotpEnrolment),
        (status = 400, description = "invalid_request", body = super::openapi::ErrorBody),
        (status = 401, description = "unauthenticated: no live session", body = super::openapi::ErrorBody),
        (status = 409, description = "too_many_devices", body = super::openapi::ErrorBody)
    )
)]
pub async fn start_totp(
    auth: web::Data<Auth>,
    enroller: Enroller,
    JsonBody(body): JsonBody<NewTotpRequest>,
) -> ApiResult<HttpResponse> {
    let enrolment = auth
        .start_totp(&enroller, body.name.as_deref(), body.secret.as_deref())
        .await?;
    Ok(HttpResponse::Created().json(json!({
        "id": enrolment.id,
        "secret": enrolment.secret_base32,
        "otpauth_uri": enrolment.otpauth_uri,
        "qr_png": enrolment.qr_png_base64,
    })))
}

#[utoipa::path(
    post,
    path = "/api/v1/me/totp/{id}/confirm",
    tag = "account",
    request_body = ConfirmRequest,
    params(("id" = String, Path, description = "The device id")),
    security(("session" = [])),
    responses(
        (status = 200, description = "The device is confirmed", body = super::openapi::DeviceStatus),
        (status = 400, description = "invalid_code or invalid_request", body = super::openapi::ErrorBody),
        (status = 401, description = "unauthenticated: no live session", body = super::openapi::ErrorBody),
        (status = 404, description = "not_found", body = super::openapi::ErrorBody)
    )
)]
pub async fn confirm_totp(
    auth: web::Data<Auth>,
    enroller: Enroller,
    client: Client,
    id: web::Path<String>,
    JsonBody(body): JsonBody<ConfirmRequest>,
) -> ApiResult<HttpResponse> {
    let confirmed = auth
        .confirm_totp(
            &enroller,
            &id,
            &body.code,
            body.next_code.as_deref(),
            &client,
        )
        .await?;
    let mut response = HttpResponse::Ok();
    if let Some(signed_in) = &confirmed.signed_in {
        for cookie in cookies::signed_in(auth.settings(), signed_in) {
            response.cookie(cookie);
        }
    }
    Ok(response.json(json!({"id": confirmed.device_id, "status": "confirmed"})))
}

#[utoipa::path(
    delete,
    path = "/api/v1/me/devices/{id}",
    tag = "account",
    params(("id" = String, Path, description = "The device id")),
    security(("session" = [])),
    responses(
        (status = 204, description = "The device is removed"),
        (status = 401, description = "unauthenticated: no live session", body = super::openapi::ErrorBody),
        (status = 403, description = "reauthentication_required", body = super::openapi::ErrorBody),
        (status = 404, description = "not_found", body = super::openapi::ErrorBody)
    )
)]
pub async fn remove_device(
    auth: web::Data<Auth>,
    account: Account,
    client: Client,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    auth.remove_device(&account, &id, &client).await?;
    Ok(HttpResponse::NoContent().finish())
}
