//! A user never removes their last second factor (else the password alone
//! would enrol a new one): refused with 409 `last_factor`, even when two
//! removals of the last two race.

use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error, spawn_app};

/// Enrols and confirms one more authenticator app; its device id.
async fn add_app(app: &TestApp, c: &reqwest::Client, name: &str) -> String {
    let enrolment: Value = app
        .post(c, "/api/v1/me/totp", json!({"name": name}))
        .await
        .json()
        .await
        .unwrap();
    let id = enrolment["id"].as_str().unwrap().to_owned();
    let code = app.totp_code(enrolment["secret"].as_str().unwrap());
    let confirmed = app
        .post(
            c,
            &format!("/api/v1/me/totp/{id}/confirm"),
            json!({"code": code}),
        )
        .await;
    assert_eq!(confirmed.status(), 200);
    id
}

async fn device_count(app: &TestApp, c: &reqwest::Client) -> usize {
    let me: Value = app.get(c, "/api/v1/me").await.json().await.unwrap();
    me["devices"].as_array().unwrap().len()
}

#[tokio::test]
async fn the_last_second_factor_cannot_be_removed_by_api_or_page() {
    let app = spawn_app().await;
    let (c, _, phone) = app.signed_in_user_with_totp("alice").await;
    assert_error(
        app.delete(&c, &format!("/api/v1/me/devices/{phone}")).await,
        409,
        "last_factor",
    )
    .await;
    let page = c
        .post(app.url(&format!("/account/devices/{phone}/remove")))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 409);
    assert!(
        page.text()
            .await
            .unwrap()
            .contains("Add another second factor first"),
        "the page says why"
    );
    assert_eq!(device_count(&app, &c).await, 1);

    // With another factor, either may go; then the other is the last.
    let tablet = add_app(&app, &c, "tablet").await;
    assert_eq!(
        app.delete(&c, &format!("/api/v1/me/devices/{phone}"))
            .await
            .status(),
        204
    );
    assert_error(
        app.delete(&c, &format!("/api/v1/me/devices/{tablet}"))
            .await,
        409,
        "last_factor",
    )
    .await;
    assert_eq!(device_count(&app, &c).await, 1);
}

#[tokio::test]
async fn parallel_removals_of_the_last_two_factors_leave_one() {
    let app = spawn_app().await;
    let (c, _, _) = app.signed_in_user_with_totp("bob").await;
    for round in 0..5 {
        add_app(&app, &c, &format!("app {round}")).await;
        let me: Value = app.get(&c, "/api/v1/me").await.json().await.unwrap();
        let ids: Vec<String> = me["devices"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(ids.len(), 2);
        let removals = ids.iter().map(|id| {
            let (c, url) = (c.clone(), app.url(&format!("/api/v1/me/devices/{id}")));
            tokio::spawn(async move { c.delete(url).send().await.unwrap().status().as_u16() })
        });
        let mut statuses = Vec::new();
        for removal in removals.collect::<Vec<_>>() {
            statuses.push(removal.await.unwrap());
        }
        statuses.sort();
        assert_eq!(statuses, [204, 409], "round {round}");
        assert_eq!(device_count(&app, &c).await, 1, "round {round}");
    }
}
