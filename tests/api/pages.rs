//! The HTML pages over plain HTTP (the browser suite drives them for real).

use crate::helpers::{PASSWORD, client, spawn_app};

#[tokio::test]
async fn the_sign_in_page_has_labelled_fields_with_autocomplete() {
    let app = spawn_app().await;
    let answer = app.get(&client(), "/login").await;
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.headers()["cache-control"], "no-store");
    let html = answer.text().await.unwrap();
    assert!(html.contains(r#"<label for="username">"#));
    assert!(html.contains(r#"autocomplete="username""#));
    assert!(html.contains(r#"autocomplete="current-password""#));
}

#[tokio::test]
async fn a_form_sign_in_redirects_a_new_user_to_enrolment() {
    let app = spawn_app().await;
    app.create_user("alice", false).await;
    let c = client();
    let answer = c
        .post(app.url("/login"))
        .form(&[("username", "alice"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 303);
    assert_eq!(answer.headers()["location"], "/enrol");
    let enrol = app.get(&c, "/enrol").await.text().await.unwrap();
    assert!(enrol.contains("Protect your account"));
}

#[tokio::test]
async fn a_wrong_password_shows_the_form_again_with_the_reason() {
    let app = spawn_app().await;
    app.create_user("bob", false).await;
    let answer = client()
        .post(app.url("/login"))
        .form(&[("username", "bob"), ("password", "nope")])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 401);
    let html = answer.text().await.unwrap();
    assert!(html.contains("the username or password is wrong"));
    assert!(html.contains(r#"value="bob""#));
}

#[tokio::test]
async fn the_account_page_needs_a_session() {
    let app = spawn_app().await;
    let answer = app.get(&client(), "/account").await;
    assert_eq!(answer.status(), 303);
    assert_eq!(answer.headers()["location"], "/login");
}
