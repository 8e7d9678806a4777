//! For monitors and reverse proxies: `/healthz`, and `/api/v1/verify`, which
//! nginx `auth_request` and Traefik `forwardAuth` call on every request.

use actix_web::{HttpRequest, HttpResponse, web};

use super::error::ApiResult;
use super::request::session_token;
use crate::auth::Auth;

pub async fn healthz(auth: web::Data<Auth>) -> ApiResult<HttpResponse> {
    auth.check_store().await?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body("ok\n"))
}

pub async fn verify(auth: web::Data<Auth>, req: HttpRequest) -> ApiResult<HttpResponse> {
    let account = auth.signed_in(session_token(&req).as_ref()).await?;
    Ok(HttpResponse::Ok()
        .insert_header(("Remote-User", account.user.username.as_str()))
        .insert_header(("Remote-Admin", account.user.admin.to_string()))
        .finish())
}
