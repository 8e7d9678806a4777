//! Renaming a second factor: `PATCH /api/v1/me/devices/{id}` `{"name"}`, and
//! the `next` alias of `rd` on the sign-in page.

use serde_json::{Value, json};

use crate::helpers::{assert_error, client, spawn_app};

async fn patch(
    app: &crate::helpers::TestApp,
    c: &reqwest::Client,
    id: &str,
    body: Value,
) -> reqwest::Response {
    c.patch(app.url(&format!("/api/v1/me/devices/{id}")))
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_device_gets_a_new_name_that_the_account_then_shows() {
    let app = spawn_app().await;
    let (c, _, id) = app.signed_in_user_with_totp("alice").await;
    let answer = patch(&app, &c, &id, json!({"name": "  Work phone  "})).await;
    assert_eq!(answer.status(), 200);
    let device: Value = answer.json().await.unwrap();
    assert_eq!(device["id"], id.as_str());
    assert_eq!(device["name"], "Work phone");
    assert_eq!(device["kind"], "totp");

    let me: Value = app.get(&c, "/api/v1/me").await.json().await.unwrap();
    assert_eq!(me["devices"][0]["name"], "Work phone");
    let trail = app
        .auth()
        .await
        .audit_events(
            &twofold::auth::admin::Actor::host_operator(),
            Some("alice"),
            10,
        )
        .await
        .unwrap();
    assert!(
        trail.iter().any(|e| e.event == "device_renamed"
            && e.detail.contains("device=phone new_name=Work phone")),
        "{trail:?}"
    );
}

#[tokio::test]
async fn a_bad_name_or_someone_elses_device_is_refused() {
    let app = spawn_app().await;
    let (alice, _, alice_phone) = app.signed_in_user_with_totp("alice").await;
    let (bob, _, _) = app.signed_in_user_with_totp("bob").await;

    for bad in [
        json!({"name": ""}),
        json!({"name": "   "}),
        json!({"name": "x".repeat(65)}),
        json!({"name": "a\nb"}),
        json!({}),
        json!({"name": 7}),
    ] {
        assert_error(
            patch(&app, &alice, &alice_phone, bad).await,
            400,
            "invalid_request",
        )
        .await;
    }
    assert_error(
        patch(&app, &bob, &alice_phone, json!({"name": "mine now"})).await,
        404,
        "not_found",
    )
    .await;
    assert_error(
        patch(&app, &alice, "no-such-device", json!({"name": "x"})).await,
        404,
        "not_found",
    )
    .await;
    assert_error(
        patch(&app, &client(), &alice_phone, json!({"name": "x"})).await,
        401,
        "unauthenticated",
    )
    .await;

    let me: Value = app.get(&alice, "/api/v1/me").await.json().await.unwrap();
    assert_eq!(me["devices"][0]["name"], "phone", "unchanged");
}

#[tokio::test]
async fn the_sign_in_page_takes_next_as_well_as_rd() {
    let app = spawn_app().await;
    let (c, _, _) = app.signed_in_user_with_totp("carol").await;
    let login = c
        .get(app.url("/login"))
        .query(&[("next", "/account/password")])
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 303, "already signed in: straight there");
    assert_eq!(
        login.headers()["location"].to_str().unwrap(),
        format!("{}/account/password", app.address),
        "the address as a browser resolves it"
    );

    let foreign = client()
        .get(app.url("/login"))
        .query(&[("next", "//evil.example/")])
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), 200);
    assert!(
        foreign.headers().get("set-cookie").is_none(),
        "nothing remembered"
    );
}
