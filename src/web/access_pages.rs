//! The authorization pages under `/admin`: groups with their members and
//! policies, the policy list with attachments, and a policy's document edited
//! in a text area whose validation error is shown under it. Registered in the
//! administrators' scope of `admin_pages`; forms post and redirect (303).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::pages::{page, refusal, see_other};
use super::security_pages::reauthenticate_redirect;
use crate::access::management::{AccessError, AccessResult};
use crate::auth::admin::Actor;
use crate::auth::{Auth, AuthError, Client};
use crate::model::access::{Attachment, GroupRow};

/// Form bodies of the policy editor: a 10 KiB document, URL-encoded.
const MAX_FORM_BYTES: usize = 64 * 1024;

/// Routes inside the `/admin` scope.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/groups", web::get().to(groups_page))
        .route("/groups", web::post().to(create_group))
        .route("/groups/{name}/delete", web::post().to(delete_group))
        .route("/groups/{name}/members", web::post().to(add_member))
        .route(
            "/groups/{name}/members/{username}/remove",
            web::post().to(remove_member),
        )
        .route("/groups/{name}/policies", web::post().to(attach_to_group))
        .route(
            "/groups/{name}/policies/{policy}/detach",
            web::post().to(detach_from_group),
        )
        .route("/policies", web::get().to(policies_page))
        .service(
            web::resource("/policies")
                .app_data(web::FormConfig::default().limit(MAX_FORM_BYTES))
                .route(web::post().to(save_policy)),
        )
        .route("/policies/{name}/delete", web::post().to(delete_policy))
        .route("/policies/{name}/attach", web::post().to(attach_policy))
        .route("/policies/{name}/detach", web::post().to(detach_policy))
        .route("/policy", web::get().to(policy_page));
}

#[derive(Template)]
#[template(path = "admin_groups.html")]
struct GroupsView {
    groups: Vec<GroupRow>,
    policy_names: Vec<String>,
    notice: Option<&'static str>,
    error: Option<String>,
}

struct AttachmentRow {
    kind: &'static str,
    name: String,
}

struct PolicyRowView {
    name: String,
    updated: String,
    attached_to: Vec<AttachmentRow>,
}

#[derive(Template)]
#[template(path = "admin_policies.html")]
struct PoliciesView {
    policies: Vec<PolicyRowView>,
    notice: Option<&'static str>,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "admin_policy.html")]
struct PolicyView {
    editing: bool,
    name: String,
    document: String,
    error: Option<String>,
    /// The field the error is about (`name`, `document`), or empty.
    error_field: &'static str,
}

#[derive(Deserialize)]
struct NoticeQuery {
    notice: Option<String>,
}

#[derive(Deserialize)]
struct NameForm {
    name: String,
}

#[derive(Deserialize)]
struct MemberForm {
    username: String,
}

#[derive(Deserialize)]
struct PolicyChoice {
    policy: String,
}

#[derive(Deserialize)]
struct TargetForm {
    kind: String,
    target: String,
}

#[derive(Deserialize)]
struct PolicyForm {
    name: String,
    document: String,
}

#[derive(Deserialize)]
struct PolicyQuery {
    name: Option<String>,
}

/// Status and words for a refused change, as the pages show them.
fn refusal_of(error: &AccessError) -> (StatusCode, String) {
    match error {
        AccessError::InvalidPolicy(invalid) => (StatusCode::BAD_REQUEST, invalid.to_string()),
        AccessError::Auth(error) => refusal(error),
    }
}

fn needs_step_up(error: &AccessError) -> bool {
    matches!(
        error,
        AccessError::Auth(AuthError::ReauthenticationRequired)
    )
}

fn groups_notice(notice: Option<&str>) -> Option<&'static str> {
    Some(match notice? {
        "created" => "The group was created.",
        "deleted" => "The group was deleted, with its memberships and attachments.",
        "member_added" => "The member was added.",
        "member_removed" => "The member was removed.",
        "attached" => "The policy was attached.",
        "detached" => "The policy was detached.",
        _ => return None,
    })
}

fn policies_notice(notice: Option<&str>) -> Option<&'static str> {
    Some(match notice? {
        "saved" => "The policy was saved.",
        "deleted" => "The policy was deleted and detached everywhere.",
        "attached" => "The policy was attached.",
        "detached" => "The policy was detached.",
        _ => return None,
    })
}

async fn groups_view(
    auth: &Auth,
    by: &Actor,
    notice: Option<&'static str>,
    error: Option<String>,
    status: StatusCode,
) -> HttpResponse {
    let rows = match (auth.groups(by).await, auth.policies(by).await) {
        (Ok(groups), Ok(policies)) => (groups, policies),
        (Err(e), _) | (_, Err(e)) => return failure(&e),
    };
    let view = GroupsView {
        groups: rows.0,
        policy_names: rows.1.into_iter().map(|p| p.name).collect(),
        notice,
        error,
    };
    page(status, &view)
}

async fn policies_view(
    auth: &Auth,
    by: &Actor,
    notice: Option<&'static str>,
    error: Option<String>,
    status: StatusCode,
) -> HttpResponse {
    let policies = match auth.policies(by).await {
        Ok(policies) => policies,
        Err(e) => return failure(&e),
    };
    let policies = policies
        .into_iter()
        .map(|p| PolicyRowView {
            updated: super::pages::human_time(p.updated_at),
            attached_to: p
                .attached_to
                .into_iter()
                .map(|to| match to {
                    Attachment::Group(name) => AttachmentRow {
                        kind: "group",
                        name,
                    },
                    Attachment::User(name) => AttachmentRow { kind: "user", name },
                })
                .collect(),
            name: p.name,
        })
        .collect();
    page(
        status,
        &PoliciesView {
            policies,
            notice,
            error,
        },
    )
}

/// A page that could not be read at all.
fn failure(error: &AccessError) -> HttpResponse {
    let (status, message) = refusal_of(error);
    HttpResponse::build(status)
        .content_type("text/plain; charset=utf-8")
        .body(message)
}

/// After a change on the groups page: back to it with a notice, or the page
/// again with the reason (a stale second factor steps up first).
async fn after_group_change(
    auth: &Auth,
    by: &Actor,
    done: AccessResult<()>,
    notice: &str,
) -> HttpResponse {
    match done {
        Ok(()) => see_other(&format!("/admin/groups?notice={notice}")),
        Err(error) if needs_step_up(&error) => reauthenticate_redirect("/admin/groups"),
        Err(error) => {
            let (status, message) = refusal_of(&error);
            groups_view(auth, by, None, Some(message), status).await
        }
    }
}

async fn after_policy_change(
    auth: &Auth,
    by: &Actor,
    done: AccessResult<()>,
    notice: &str,
) -> HttpResponse {
    match done {
        Ok(()) => see_other(&format!("/admin/policies?notice={notice}")),
        Err(error) if needs_step_up(&error) => reauthenticate_redirect("/admin/policies"),
        Err(error) => {
            let (status, message) = refusal_of(&error);
            policies_view(auth, by, None, Some(message), status).await
        }
    }
}

async fn groups_page(
    auth: web::Data<Auth>,
    by: web::ReqData<Actor>,
    query: web::Query<NoticeQuery>,
) -> HttpResponse {
    let notice = groups_notice(query.notice.as_deref());
    groups_view(&auth, &by, notice, None, StatusCode::OK).await
}

async fn create_group(
    auth: web::Data<Auth>,
    by: web::ReqData<Actor>,
    client: Client,
    form: web::Form<NameForm>,
) -> HttpResponse {
    let done = auth
        .create_group(&by, form.name.trim(), &client)
        .await
        .map(drop);
    after_group_change(&auth, &by, done, "created").await
}

async fn delete_group(
    auth: web::Data<Auth>,
    by: web::ReqData<Actor>,
    client: Client,
    name: web::Path<String>,
) -> HttpResponse {
    let done = auth.delete_group(&by, &name, &client).await;
    after_group_change(&auth, &by, done, "deleted").await
}

async fn add_member(
    auth: web::Data<Auth>,
    by: web::ReqData<Actor>,
    client: Client,
    name: web::Path<String>,
    form: web::Form<MemberForm>,
) -> HttpResponse {
    let done = auth
        .add_group_member(&by, &name, form.username.trim(), &client)
        .await;
    after_group_change(&auth, &by, done, "member_added").await
}

async fn remove_member(
    auth: web::Data<Auth>,
    by: web::ReqData<Actor>,
    client: Client,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    let (group, username) = path.into_inner();
    let done = auth
        .remove_group_member(&by, &group, &username, &client)
        .await;
    after_group_change(&auth, &by, done, "member_removed").await
}

async fn attach_to_group(
    auth: web::Data<Auth>,
    by: web::ReqData<Actor>,
    client: Client,
    name: web::Path<String>,
    form: web::Form<PolicyChoice>,
) -> HttpResponse {
    let to = Attachment::Group(name.into_inner());
    let done = auth.attach_policy(&by, &form.policy, &to, &client).await;
    after_group_change(&auth, &by, done, "attached").await
}

async fn detach_from_group(
    auth: web::Data<Auth>,
    by: web::ReqData<Actor>,
    client: Client,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    let (group, policy) = path.into_inner();
    let to = Attachment::Group(group);
    let done = auth.detach_policy(&by, &policy, &to, &client).await;
    after_group_change(&auth, &by, done, "detached").await
}

async fn policies_page(
    auth: web::Data<Auth>,
    by: web::ReqData<Actor>,
    query: web::Query<NoticeQuery>,
) -> HttpResponse {
    let notice = policies_notice(query.notice.as_deref());
    policies_view(&auth, &by, notice, None, StatusCode::OK).await
}

/// The editor: an existing policy's document, or an empty one.
async fn policy_page(
    auth: web::Data<Auth>,
    by: web::ReqData<Actor>,
    query: web::Query<PolicyQuery>,
) -> HttpResponse {
    let name = query.name.clone().unwrap_or_default();
    let existing = match auth.policies(&by).await {
        Ok(policies) => policies.into_iter().find(|p| p.name == name),
        Err(e) => return failure(&e),
    };
    if !name.is_empty() && existing.is_none() {
        return failure(&AuthError::NotFound("policy").into());
    }
    let view = PolicyView {
        editing: existing.is_some(),
        document: existing.map(|p| p.document).unwrap_or_default(),
        name,
        error: None,
        error_field: "",
    };
    page(StatusCode::OK, &view)
}

async fn save_policy(
    auth: web::Data<Auth>,
    by: web::ReqData<Actor>,
    client: Client,
    form: web::Form<PolicyForm>,
) -> HttpResponse {
    let form = form.into_inner();
    let name = form.name.trim().to_owned();
    let saved = match crate::access::management::policy_text(form.document.as_bytes()) {
        Ok(document) => auth
            .put_policy(&by, &name, document, &client)
            .await
            .map(drop),
        Err(invalid) => Err(invalid.into()),
    };
    let error = match saved {
        Ok(()) => return see_other("/admin/policies?notice=saved"),
        Err(error) if needs_step_up(&error) => {
            return reauthenticate_redirect("/admin/policies");
        }
        Err(error) => error,
    };
    let error_field = match &error {
        AccessError::InvalidPolicy(_) => "document",
        AccessError::Auth(AuthError::InvalidRequest(_)) => "name",
        AccessError::Auth(_) => "",
    };
    let (status, message) = refusal_of(&error);
    let editing = auth
        .policies(&by)
        .await
        .is_ok_and(|policies| policies.iter().any(|p| p.name == name));
    page(
        status,
        &PolicyView {
            editing,
            name,
            document: form.document,
            error: Some(message),
            error_field,
        },
    )
}

async fn delete_policy(
    auth: web::Data<Auth>,
    by: web::ReqData<Actor>,
    client: Client,
    name: web::Path<String>,
) -> HttpResponse {
    let done = auth.delete_policy(&by, &name, &client).await;
    after_policy_change(&auth, &by, done, "deleted").await
}

fn target_of(form: TargetForm) -> Result<Attachment, AccessError> {
    let target = form.target.trim().to_owned();
    match form.kind.as_str() {
        "group" => Ok(Attachment::Group(target)),
        "user" => Ok(Attachment::User(target)),
        _ => Err(AuthError::InvalidRequest("attach to a group or a user".into()).into()),
    }
}

async fn attach_policy(
    auth: web::Data<Auth>,
    by: web::ReqData<Actor>,
    client: Client,
    name: web::Path<String>,
    form: web::Form<TargetForm>,
) -> HttpResponse {
    let done = match target_of(form.into_inner()) {
        Ok(to) => auth.attach_policy(&by, &name, &to, &client).await,
        Err(error) => Err(error),
    };
    after_policy_change(&auth, &by, done, "attached").await
}

async fn detach_policy(
    auth: web::Data<Auth>,
    by: web::ReqData<Actor>,
    client: Client,
    name: web::Path<String>,
    form: web::Form<TargetForm>,
) -> HttpResponse {
    let done = match target_of(form.into_inner()) {
        Ok(to) => auth.detach_policy(&by, &name, &to, &client).await,
        Err(error) => Err(error),
    };
    after_policy_change(&auth, &by, done, "detached").await
}
