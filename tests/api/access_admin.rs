//! Groups, members, policies and attachments over the admin API, on the
//! suite's store: what each endpoint answers, the validation errors, the
//! 404s, the bounds, the step-up, and the audit events naming the admin.

use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error, client, spawn_app};

const GRAFANA: &str = r#"{"Version": "2026-12-01",
 "Statement": [
   {"Sid": "OpsUseGrafana", "Effect": "Allow",
    "Action": ["http:GET", "http:POST"],
    "Resource": ["https://grafana.example.com/*"]}]}"#;

async fn put_policy(
    app: &TestApp,
    admin: &reqwest::Client,
    name: &str,
    document: impl Into<reqwest::Body>,
) -> reqwest::Response {
    admin
        .put(app.url(&format!("/api/v1/admin/policies/{name}")))
        .header("content-type", "application/json")
        .body(document)
        .send()
        .await
        .unwrap()
}

async fn call(app: &TestApp, who: &reqwest::Client, method: &str, path: &str) -> u16 {
    app.call(who, method, path, None).await.status().as_u16()
}

async fn json_of(app: &TestApp, who: &reqwest::Client, path: &str) -> Value {
    let answer = app.get(who, path).await;
    assert_eq!(answer.status(), 200, "{path}");
    answer.json().await.unwrap()
}

/// The audit events of one kind, newest first.
async fn events(app: &TestApp, admin: &reqwest::Client, event: &str) -> Vec<Value> {
    let body = json_of(app, admin, "/api/v1/admin/audit?limit=1000").await;
    body["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"] == event)
        .cloned()
        .collect()
}

#[tokio::test]
async fn an_admin_manages_groups_and_members_and_each_change_is_audited() {
    let app = spawn_app().await;
    let (root, _, _) = app.signed_in_admin_with_totp("root").await;
    let (alice, _, _) = app.signed_in_user_with_totp("Alice").await;
    app.create_user("bob", false).await;

    assert_eq!(
        json_of(&app, &root, "/api/v1/admin/groups").await,
        json!({"groups": []})
    );
    assert_eq!(
        call(&app, &root, "PUT", "/api/v1/admin/groups/ops").await,
        201
    );
    assert_eq!(
        call(&app, &root, "PUT", "/api/v1/admin/groups/ops").await,
        204
    );
    assert_eq!(
        call(&app, &root, "PUT", "/api/v1/admin/groups/devs").await,
        201
    );
    for member in ["alice", "bob", "alice"] {
        let path = format!("/api/v1/admin/groups/ops/members/{member}");
        assert_eq!(call(&app, &root, "PUT", &path).await, 204);
    }
    assert_eq!(
        call(
            &app,
            &root,
            "PUT",
            "/api/v1/admin/groups/devs/members/Alice"
        )
        .await,
        204
    );
    assert_eq!(
        json_of(&app, &root, "/api/v1/admin/groups").await,
        json!({"groups": [
            {"name": "devs", "members": ["Alice"], "policies": []},
            {"name": "ops", "members": ["Alice", "bob"], "policies": []},
        ]})
    );
    // The member sees their groups.
    let me = json_of(&app, &alice, "/api/v1/me").await;
    assert_eq!(me["groups"], json!(["devs", "ops"]));

    assert_eq!(
        call(
            &app,
            &root,
            "DELETE",
            "/api/v1/admin/groups/ops/members/bob"
        )
        .await,
        204
    );
    assert_eq!(
        call(&app, &root, "DELETE", "/api/v1/admin/groups/devs").await,
        204
    );
    assert_eq!(
        json_of(&app, &root, "/api/v1/admin/groups").await,
        json!({"groups": [{"name": "ops", "members": ["Alice"], "policies": []}]})
    );
    assert_eq!(
        json_of(&app, &alice, "/api/v1/me").await["groups"],
        json!(["ops"])
    );

    // Each change once, naming the admin.
    assert_eq!(events(&app, &root, "group_created").await.len(), 2);
    let deleted = &events(&app, &root, "group_deleted").await[0];
    assert_eq!(deleted["detail"], "by=root; group=devs");
    let added = events(&app, &root, "group_member_added").await;
    assert_eq!(added.len(), 4, "{added:?}");
    let removed = &events(&app, &root, "group_member_removed").await[0];
    assert_eq!(removed["username"], "bob");
    assert_eq!(removed["detail"], "by=root; group=ops");
}

#[tokio::test]
async fn an_admin_puts_lists_attaches_detaches_and_deletes_policies() {
    let app = spawn_app().await;
    let (root, _, _) = app.signed_in_admin_with_totp("root").await;
    app.create_user("alice", false).await;
    assert_eq!(
        call(&app, &root, "PUT", "/api/v1/admin/groups/ops").await,
        201
    );

    assert_eq!(
        put_policy(&app, &root, "grafana", GRAFANA).await.status(),
        201
    );
    assert_eq!(
        put_policy(&app, &root, "grafana", GRAFANA).await.status(),
        200
    );
    for path in [
        "/api/v1/admin/groups/ops/policies/grafana",
        "/api/v1/admin/users/alice/policies/grafana",
        "/api/v1/admin/users/ALICE/policies/grafana",
    ] {
        assert_eq!(call(&app, &root, "PUT", path).await, 204, "{path}");
    }
    let listed = json_of(&app, &root, "/api/v1/admin/policies").await;
    let expected_document: Value = serde_json::from_str(GRAFANA).unwrap();
    assert_eq!(
        listed,
        json!({"policies": [{
            "name": "grafana",
            "document": expected_document,
            "attached_to": [{"group": "ops"}, {"user": "alice"}],
        }]})
    );
    assert_eq!(
        json_of(&app, &root, "/api/v1/admin/groups").await["groups"][0]["policies"],
        json!(["grafana"])
    );

    assert_eq!(
        call(
            &app,
            &root,
            "DELETE",
            "/api/v1/admin/users/alice/policies/grafana"
        )
        .await,
        204
    );
    assert_eq!(
        json_of(&app, &root, "/api/v1/admin/policies").await["policies"][0]["attached_to"],
        json!([{"group": "ops"}])
    );
    assert_eq!(
        call(
            &app,
            &root,
            "DELETE",
            "/api/v1/admin/groups/ops/policies/grafana"
        )
        .await,
        204
    );
    assert_eq!(
        put_policy(&app, &root, "other", GRAFANA).await.status(),
        201
    );
    assert_eq!(
        call(
            &app,
            &root,
            "PUT",
            "/api/v1/admin/groups/ops/policies/other"
        )
        .await,
        204
    );
    // Deleting a policy detaches it everywhere.
    assert_eq!(
        call(&app, &root, "DELETE", "/api/v1/admin/policies/other").await,
        204
    );
    assert_eq!(
        json_of(&app, &root, "/api/v1/admin/groups").await["groups"][0]["policies"],
        json!([])
    );

    let put = events(&app, &root, "policy_put").await;
    assert_eq!(put.len(), 3);
    assert_eq!(put[2]["detail"], "by=root; policy=grafana; created");
    assert_eq!(put[1]["detail"], "by=root; policy=grafana; replaced");
    let attached = events(&app, &root, "policy_attached").await;
    assert_eq!(attached.len(), 4);
    assert_eq!(attached[3]["detail"], "by=root; policy=grafana; group=ops");
    assert_eq!(attached[2]["username"], "alice");
    assert_eq!(events(&app, &root, "policy_detached").await.len(), 2);
    assert_eq!(
        events(&app, &root, "policy_deleted").await[0]["detail"],
        "by=root; policy=other"
    );
}

#[tokio::test]
async fn a_malformed_policy_is_refused_naming_where_and_changes_nothing() {
    let app = spawn_app().await;
    let (root, _, _) = app.signed_in_admin_with_totp("root").await;
    let cases: Vec<(String, &str)> = vec![
        (
            r#"{"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"},
                               {"Effect": "Maybe", "Action": "*", "Resource": "*"}]}"#
                .into(),
            "Statement[1].Effect",
        ),
        ("not json".into(), "document"),
        ("[]".into(), "document"),
        (String::new(), "document"),
        // Larger than 10 KiB: invalid_policy, not 413.
        (
            format!(
                r#"{{"Statement": {{"Effect": "Allow", "Action": "*", "Resource": "*"}}, "Version": "2026-12-01"{}}}"#,
                " ".repeat(10 * 1024)
            ),
            "document",
        ),
        // Larger than the server reads of any body (256 KiB): still invalid_policy.
        (
            format!(
                r#"{{"Statement": {{"Effect": "Allow", "Action": "*", "Resource": "*"}}, "Version": "2026-12-01"{}}}"#,
                " ".repeat(300 * 1024)
            ),
            "document",
        ),
    ];
    for (document, at) in cases {
        let answer = put_policy(&app, &root, "bad", document).await;
        assert_eq!(answer.status(), 400);
        let body: Value = answer.json().await.unwrap();
        assert_eq!(body["error"], "invalid_policy", "{body}");
        let message = body["message"].as_str().unwrap();
        assert!(message.starts_with(&format!("{at}: ")), "{message}");
    }
    // Bytes that are not UTF-8.
    let answer = put_policy(&app, &root, "bad", vec![0xff, 0xfe, b'{']).await;
    assert_error(answer, 400, "invalid_policy").await;
    assert_eq!(
        json_of(&app, &root, "/api/v1/admin/policies").await,
        json!({"policies": []})
    );
    assert!(events(&app, &root, "policy_put").await.is_empty());
}

#[tokio::test]
async fn names_must_be_as_iam_allows_and_unknown_things_are_404() {
    let app = spawn_app().await;
    let (root, _, _) = app.signed_in_admin_with_totp("root").await;
    app.create_user("alice", false).await;
    let long = "g".repeat(65);
    for bad in ["with%20space", "semi;colon", long.as_str(), "%C3%BC"] {
        let answer = app
            .call(&root, "PUT", &format!("/api/v1/admin/groups/{bad}"), None)
            .await;
        assert_error(answer, 400, "invalid_request").await;
        let answer = put_policy(&app, &root, bad, GRAFANA).await;
        assert_error(answer, 400, "invalid_request").await;
    }
    assert_eq!(
        call(
            &app,
            &root,
            "PUT",
            &format!("/api/v1/admin/groups/{}", "g".repeat(64))
        )
        .await,
        201
    );
    assert_eq!(put_policy(&app, &root, "p", GRAFANA).await.status(), 201);
    assert_eq!(
        call(&app, &root, "PUT", "/api/v1/admin/groups/ops").await,
        201
    );

    let not_found = [
        ("DELETE", "/api/v1/admin/groups/nope"),
        ("PUT", "/api/v1/admin/groups/nope/members/alice"),
        ("DELETE", "/api/v1/admin/groups/nope/members/alice"),
        ("PUT", "/api/v1/admin/groups/ops/members/nobody"),
        ("DELETE", "/api/v1/admin/groups/ops/members/nobody"),
        ("DELETE", "/api/v1/admin/policies/nope"),
        ("PUT", "/api/v1/admin/groups/ops/policies/nope"),
        ("PUT", "/api/v1/admin/groups/nope/policies/p"),
        ("DELETE", "/api/v1/admin/groups/nope/policies/p"),
        ("PUT", "/api/v1/admin/users/nobody/policies/p"),
        ("DELETE", "/api/v1/admin/users/nobody/policies/p"),
        ("PUT", "/api/v1/admin/users/alice/policies/nope"),
    ];
    for (method, path) in not_found {
        let answer = app.call(&root, method, path, None).await;
        assert_error(answer, 404, "not_found").await;
    }
    assert!(events(&app, &root, "group_member_added").await.is_empty());
    assert!(events(&app, &root, "policy_attached").await.is_empty());
}

#[tokio::test]
async fn a_comma_in_a_group_name_is_refused_naming_remote_groups() {
    // `Remote-Groups` is comma-separated: a group "ops,admins" would read as
    // two groups to the app behind the proxy.
    let app = spawn_app().await;
    let (root, _, _) = app.signed_in_admin_with_totp("root").await;
    let answer = app
        .call(&root, "PUT", "/api/v1/admin/groups/ops,admins", None)
        .await;
    assert_eq!(answer.status(), 400);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request", "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("','") && message.contains("Remote-Groups"),
        "{message}"
    );
    assert_eq!(
        json_of(&app, &root, "/api/v1/admin/groups").await,
        json!({"groups": []})
    );
    assert!(events(&app, &root, "group_created").await.is_empty());
    // A policy name is never listed in a header and keeps IAM's comma.
    assert_eq!(
        put_policy(&app, &root, "read,write", GRAFANA)
            .await
            .status(),
        201
    );
}

#[tokio::test]
async fn a_group_or_user_holds_ten_policies_and_the_eleventh_is_a_clear_409() {
    let app = spawn_app().await;
    let (root, _, _) = app.signed_in_admin_with_totp("root").await;
    app.create_user("alice", false).await;
    for i in 0..11 {
        assert_eq!(
            put_policy(&app, &root, &format!("p{i}"), GRAFANA)
                .await
                .status(),
            201
        );
    }
    for i in 0..10 {
        let path = format!("/api/v1/admin/users/alice/policies/p{i}");
        assert_eq!(call(&app, &root, "PUT", &path).await, 204);
    }
    let answer = app
        .call(&root, "PUT", "/api/v1/admin/users/alice/policies/p10", None)
        .await;
    assert_eq!(answer.status(), 409);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["error"], "limit_exceeded");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("at most 10 policies"),
        "{body}"
    );
    let listed = json_of(&app, &root, "/api/v1/admin/policies").await;
    let p10 = &listed["policies"].as_array().unwrap()[2];
    assert_eq!(p10["name"], "p10");
    assert_eq!(p10["attached_to"], json!([]));
}

#[tokio::test]
async fn only_admins_reach_access_management_and_writes_need_a_recent_second_factor() {
    let app = spawn_app().await;
    let (root, _, _) = app.signed_in_admin_with_totp("root").await;
    let (alice, _, _) = app.signed_in_user_with_totp("alice").await;
    let anonymous = client();
    for (method, path) in [
        ("GET", "/api/v1/admin/groups"),
        ("PUT", "/api/v1/admin/groups/ops"),
        ("GET", "/api/v1/admin/policies"),
        ("DELETE", "/api/v1/admin/policies/p"),
        ("PUT", "/api/v1/admin/users/alice/policies/p"),
    ] {
        assert_error(app.call(&alice, method, path, None).await, 403, "forbidden").await;
        assert_error(
            app.call(&anonymous, method, path, None).await,
            401,
            "unauthenticated",
        )
        .await;
    }
    assert_error(
        put_policy(&app, &alice, "p", GRAFANA).await,
        403,
        "forbidden",
    )
    .await;

    app.clock
        .advance(app.settings.session.reauth_window_secs + 60);
    for (method, path) in [
        ("PUT", "/api/v1/admin/groups/ops"),
        ("DELETE", "/api/v1/admin/groups/ops"),
        ("PUT", "/api/v1/admin/groups/ops/members/alice"),
        ("DELETE", "/api/v1/admin/policies/p"),
        ("PUT", "/api/v1/admin/users/alice/policies/p"),
        ("DELETE", "/api/v1/admin/groups/ops/policies/p"),
    ] {
        assert_error(
            app.call(&root, method, path, None).await,
            403,
            "reauthentication_required",
        )
        .await;
    }
    assert_error(
        put_policy(&app, &root, "p", GRAFANA).await,
        403,
        "reauthentication_required",
    )
    .await;
    // Reading stays open to the session.
    assert_eq!(
        json_of(&app, &root, "/api/v1/admin/groups").await,
        json!({"groups": []})
    );
    assert_eq!(
        json_of(&app, &root, "/api/v1/admin/policies").await,
        json!({"policies": []})
    );
}

#[tokio::test]
async fn the_access_pages_change_through_forms_and_send_a_stale_admin_through_step_up() {
    let app = spawn_app().await;
    let (root, _, _) = app.signed_in_admin_with_totp("root").await;
    let form = |path: &str, fields: &[(&str, &str)]| {
        root.post(app.url(path)).form(&fields.to_vec()).send()
    };
    let made = form("/admin/groups", &[("name", "ops")]).await.unwrap();
    assert_eq!(made.status(), 303);
    assert_eq!(made.headers()["location"], "/admin/groups?notice=created");
    let saved = form("/admin/policies", &[("name", "p"), ("document", GRAFANA)])
        .await
        .unwrap();
    assert_eq!(saved.headers()["location"], "/admin/policies?notice=saved");
    let refused = form("/admin/policies", &[("name", "p"), ("document", "{")])
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    let page = refused.text().await.unwrap();
    assert!(page.contains(r#"id="document-error""#), "{page}");
    assert!(page.contains("document: not valid JSON"), "{page}");
    let unknown = form("/admin/groups/nope/delete", &[]).await.unwrap();
    assert_eq!(unknown.status(), 404);
    assert!(unknown.text().await.unwrap().contains("Group not found"));

    app.clock
        .advance(app.settings.session.reauth_window_secs + 60);
    let stale = form("/admin/groups/ops/delete", &[]).await.unwrap();
    assert_eq!(stale.status(), 303);
    assert_eq!(
        stale.headers()["location"],
        "/reauthenticate?next=%2Fadmin%2Fgroups"
    );
    let stale = form("/admin/policies", &[("name", "p"), ("document", GRAFANA)])
        .await
        .unwrap();
    assert_eq!(
        stale.headers()["location"],
        "/reauthenticate?next=%2Fadmin%2Fpolicies"
    );
    assert_eq!(
        json_of(&app, &root, "/api/v1/admin/groups").await["groups"],
        json!([{"name": "ops", "members": [], "policies": []}])
    );
    assert_eq!(events(&app, &root, "policy_put").await.len(), 1);
}
