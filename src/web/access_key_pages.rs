//! The account page's access keys: making one (after a fresh second
//! factor; its secret shown on one page only, with a copy button and a
//! warning), deactivating, activating and deleting one. Built on the same
//! domain calls as the JSON API.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, web};
use askama::Template;

use super::pages::{account_error_page, human_date, human_time, page, see_other};
use super::principal::OrSignIn;
use super::security_pages::reauthenticate_redirect;
use crate::auth::{Account, Auth, AuthError, Client};
use crate::store::AccessKeyRecord;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/static/copy.js", web::get().to(copy_script))
        .route("/account/access-keys/new", web::get().to(new_key_page))
        .route("/account/access-keys", web::post().to(create_key))
        .route(
            "/account/access-keys/{id}/{change}",
            web::post().to(change_key),
        );
}

/// One key as the account page lists it.
pub struct AccessKeyRow {
    pub id: String,
    pub active: bool,
    pub created_at: String,
    pub last_used_at: Option<String>,
}

impl From<&AccessKeyRecord> for AccessKeyRow {
    fn from(key: &AccessKeyRecord) -> Self {
        Self {
            id: key.id.clone(),
            active: key.active,
            created_at: human_date(key.created_at),
            last_used_at: key.last_used_at.map(human_time),
        }
    }
}

#[derive(Template)]
#[template(path = "access_key_new.html")]
struct NewKeyView;

#[derive(Template)]
#[template(path = "access_key_created.html")]
struct CreatedKeyView {
    id: String,
    secret: String,
}

async fn copy_script() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(include_str!("../../static/copy.js"))
}

async fn new_key_page(_: OrSignIn<Account>) -> HttpResponse {
    page(StatusCode::OK, &NewKeyView)
}

async fn create_key(
    auth: web::Data<Auth>,
    OrSignIn(account): OrSignIn<Account>,
    client: Client,
) -> HttpResponse {
    use secrecy::ExposeSecret;
    match auth.create_access_key(&account, &client).await {
        Ok(new) => page(
            StatusCode::CREATED,
            &CreatedKeyView {
                id: new.key.id,
                secret: new.secret.expose_secret().to_owned(),
            },
        ),
        // Back to the page that makes one, to press "Create" once more.
        Err(AuthError::ReauthenticationRequired) => {
            reauthenticate_redirect("/account/access-keys/new")
        }
        Err(error) => account_error_page(&auth, &account, &client, &error).await,
    }
}

async fn change_key(
    auth: web::Data<Auth>,
    OrSignIn(account): OrSignIn<Account>,
    client: Client,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    let (id, change) = path.into_inner();
    let done = match change.as_str() {
        "deactivate" => auth
            .set_access_key_status(&account.user, &id, false, &client, None)
            .await
            .map(|_| "key_deactivated"),
        "activate" => auth
            .set_access_key_status(&account.user, &id, true, &client, None)
            .await
            .map(|_| "key_activated"),
        "delete" => auth
            .delete_access_key(&account.user, &id, &client, None)
            .await
            .map(|()| "key_deleted"),
        _ => Err(AuthError::NotFound("page")),
    };
    match done {
        Ok(notice) => see_other(&format!("/account?notice={notice}")),
        Err(error) => account_error_page(&auth, &account, &client, &error).await,
    }
}
