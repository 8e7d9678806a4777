//! The signed-in user's own account in the JSON API: devices (enrol, confirm,
//! list, remove).

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::cookies;
use super::error::ApiResult;
use super::request::{JsonBody, client, pending_token, session_token};
use crate::auth::Auth;
use crate::auth::clock::iso8601;
use crate::store::DeviceRecord;

#[derive(Deserialize)]
pub struct NewTotpRequest {
    name: Option<String>,
    /// A hardware token's base32 seed from its vendor.
    secret: Option<String>,
}

#[derive(Deserialize)]
pub struct ConfirmRequest {
    code: String,
    next_code: Option<String>,
}

#[derive(Serialize)]
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

pub async fn me(auth: web::Data<Auth>, req: HttpRequest) -> ApiResult<HttpResponse> {
    let account = auth.signed_in(session_token(&req).as_ref()).await?;
    let devices: Vec<DeviceView> = auth
        .devices(&account)
        .await?
        .iter()
        .map(Into::into)
        .collect();
    let recovery_codes_left = auth.recovery_codes_left_of(&account).await?;
    Ok(HttpResponse::Ok().json(json!({
        "username": account.user.username,
        "admin": account.user.admin,
        "devices": devices,
        "recovery_codes_left": recovery_codes_left,
    })))
}

pub async fn start_totp(
    auth: web::Data<Auth>,
    req: HttpRequest,
    JsonBody(body): JsonBody<NewTotpRequest>,
) -> ApiResult<HttpResponse> {
    let enroller = auth
        .enroller(session_token(&req).as_ref(), pending_token(&req).as_ref())
        .await?;
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

pub async fn confirm_totp(
    auth: web::Data<Auth>,
    req: HttpRequest,
    id: web::Path<String>,
    JsonBody(body): JsonBody<ConfirmRequest>,
) -> ApiResult<HttpResponse> {
    let enroller = auth
        .enroller(session_token(&req).as_ref(), pending_token(&req).as_ref())
        .await?;
    let confirmed = auth
        .confirm_totp(
            &enroller,
            &id,
            &body.code,
            body.next_code.as_deref(),
            &client(&req),
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

pub async fn remove_device(
    auth: web::Data<Auth>,
    req: HttpRequest,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let account = auth.signed_in(session_token(&req).as_ref()).await?;
    auth.remove_device(&account, &id, &client(&req)).await?;
    Ok(HttpResponse::NoContent().finish())
}
