//! For monitors: `/healthz`, 200 while the store answers a read.

use actix_web::{HttpResponse, web};

use super::error::ApiResult;
use crate::auth::Auth;

#[utoipa::path(
    get,
    path = "/healthz",
    tag = "probes",
    responses(
        (status = 200, description = "The store answers a read", content_type = "text/plain", body = String),
        (status = 500, description = "internal_error: the store can't be read", body = super::openapi::ErrorBody)
    )
)]
pub async fn healthz(auth: web::Data<Auth>) -> ApiResult<HttpResponse> {
    auth.check_store().await?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body("ok\n"))
}
