use serde_json::json;

use crate::helpers::{assert_error, client, spawn_app};

#[tokio::test]
async fn healthz_answers_200() {
    let app = spawn_app().await;
    assert_eq!(app.get(&client(), "/healthz").await.status(), 200);
}

#[tokio::test]
async fn malformed_json_is_an_invalid_request() {
    let app = spawn_app().await;
    let answer = client()
        .post(app.url("/api/v1/login"))
        .header("content-type", "application/json")
        .body("{\"username\": ")
        .send()
        .await
        .unwrap();
    assert_error(answer, 400, "invalid_request").await;
}

#[tokio::test]
async fn missing_or_mistyped_fields_are_invalid_requests() {
    let app = spawn_app().await;
    let c = client();
    for body in [
        json!({"username": "alice"}),
        json!({}),
        json!({"username": 5, "password": "x"}),
        json!([]),
    ] {
        assert_error(
            app.post(&c, "/api/v1/login", body).await,
            400,
            "invalid_request",
        )
        .await;
    }
    assert_error(
        app.post(&c, "/api/v1/login/totp", json!({"kode": "1"}))
            .await,
        400,
        "invalid_request",
    )
    .await;
}

#[tokio::test]
async fn unknown_fields_are_ignored() {
    let app = spawn_app().await;
    let answer = app
        .post(
            &client(),
            "/api/v1/login",
            json!({"username": "x", "password": "y", "remember": true}),
        )
        .await;
    assert_error(answer, 401, "invalid_credentials").await;
}

#[tokio::test]
async fn an_unknown_api_route_is_a_json_404() {
    let app = spawn_app().await;
    assert_error(
        app.get(&client(), "/api/v1/nothing-here").await,
        404,
        "not_found",
    )
    .await;
    assert_error(app.get(&client(), "/api/v2/me").await, 404, "not_found").await;
}

#[tokio::test]
async fn a_method_a_path_does_not_take_is_405() {
    let app = spawn_app().await;
    assert_error(
        app.get(&client(), "/api/v1/login").await,
        405,
        "method_not_allowed",
    )
    .await;
    let answer = client().delete(app.url("/api/v1/me")).send().await.unwrap();
    assert_error(answer, 405, "method_not_allowed").await;
}

#[tokio::test]
async fn a_bodiless_request_works_without_a_body_with_an_empty_one_and_with_braces() {
    let app = spawn_app().await;
    let c = client();
    assert_eq!(
        c.post(app.url("/api/v1/logout"))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert_eq!(
        c.post(app.url("/api/v1/logout"))
            .body("")
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert_eq!(
        app.post(&c, "/api/v1/logout", json!({})).await.status(),
        204
    );
}

#[tokio::test]
async fn api_answers_are_never_cached() {
    let app = spawn_app().await;
    let answer = app
        .post(
            &client(),
            "/api/v1/login",
            json!({"username": "a", "password": "b"}),
        )
        .await;
    assert_eq!(answer.headers()["cache-control"], "no-store");
}

#[tokio::test]
async fn verify_tells_a_browser_where_to_sign_in_with_the_original_url() {
    let app = spawn_app().await;
    let answer = client()
        .get(app.url("/api/v1/verify"))
        .header("Accept", "text/html,application/xhtml+xml")
        .header(
            "X-Original-URL",
            format!("http://localhost:{}/wiki?page=1", app.port),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 401);
    let location = answer.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(
        location,
        format!(
            "{}/login?rd=http%3A%2F%2Flocalhost%3A{}%2Fwiki%3Fpage%3D1",
            app.address, app.port
        )
    );
    assert!(answer.text().await.unwrap().contains("sign in"));
}

#[tokio::test]
async fn verify_never_offers_to_send_people_to_a_foreign_site() {
    let app = spawn_app().await;
    let answer = client()
        .get(app.url("/api/v1/verify"))
        .header("X-Forwarded-Proto", "https")
        .header("X-Forwarded-Host", "evil.example")
        .header("X-Forwarded-Uri", "/")
        .send()
        .await
        .unwrap();
    assert_eq!(
        answer.headers()["location"].to_str().unwrap(),
        format!("{}/login", app.address)
    );
    assert_error(answer, 401, "unauthenticated").await;
}

#[tokio::test]
async fn verify_refreshes_the_idle_timeout() {
    let app = spawn_app().await;
    let (c, _, _) = app.signed_in_user_with_totp("zoe").await;
    for _ in 0..4 {
        app.clock.advance(20 * 60);
        let answer = app.get(&c, "/api/v1/verify").await;
        assert_eq!(answer.status(), 200);
        assert_eq!(answer.headers()["Remote-Admin"], "false");
    }
}
