//! The rules a user's factors obey, attacked with parallel requests over real
//! HTTP: a first login enrols exactly one factor however many confirmations
//! race, and a signed-in user never ends with more than eight.

use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, assert_error, client, spawn_app};
use crate::soft_key::{Key, begin_registration, json_of};

/// Each race is run this many times, so an interleaving bug shows.
const ROUNDS: usize = 5;

/// Sends every request at once (each on its own task); the answers, in the
/// order given.
async fn all_at_once(
    app: &TestApp,
    c: &reqwest::Client,
    requests: Vec<(String, Value)>,
) -> Vec<reqwest::Response> {
    let sent: Vec<_> = requests
        .into_iter()
        .map(|(path, body)| {
            let request = c.post(app.url(&path)).json(&body);
            tokio::spawn(async move { request.send().await.unwrap() })
        })
        .collect();
    let mut answers = Vec::new();
    for answer in sent {
        answers.push(answer.await.unwrap());
    }
    answers
}

/// Starts an app enrolment; the confirmation request with the app's current code.
async fn start_app(app: &TestApp, c: &reqwest::Client, name: &str) -> (String, Value) {
    let answer = app.post(c, "/api/v1/me/totp", json!({"name": name})).await;
    assert_eq!(answer.status(), 201, "{}", answer.text().await.unwrap());
    let enrolment = json_of(answer).await;
    let id = enrolment["id"].as_str().unwrap();
    let code = app.totp_code(enrolment["secret"].as_str().unwrap());
    (
        format!("/api/v1/me/totp/{id}/confirm"),
        json!({"code": code}),
    )
}

/// Password of a user with no second factor: the client holds a first-login state.
async fn first_login(app: &TestApp, username: &str) -> reqwest::Client {
    app.create_user(username, false).await;
    let c = client();
    let answer = json_of(app.login(&c, username, PASSWORD).await).await;
    assert_eq!(answer["status"], "enrolment_required");
    c
}

/// The devices `GET /api/v1/me` lists for the client's session.
async fn listed_devices(app: &TestApp, c: &reqwest::Client) -> Vec<Value> {
    let me = app.get(c, "/api/v1/me").await;
    assert_eq!(me.status(), 200, "the client is signed in");
    json_of(me).await["devices"].as_array().unwrap().clone()
}

/// Confirmed devices of a user, read through the store the server uses.
async fn confirmed_in_database(app: &TestApp, username: &str) -> i64 {
    let store = app.store().await;
    let user = store
        .user_by_name(username)
        .await
        .unwrap()
        .expect("the user");
    let devices = store.devices_of(user.id).await.unwrap();
    devices.iter().filter(|d| d.confirmed).count() as i64
}

/// Asserts one success among the answers and `unauthenticated` for the rest;
/// the position of the success.
async fn one_succeeded_rest_unauthenticated(answers: Vec<reqwest::Response>) -> usize {
    let won: Vec<usize> = (0..answers.len())
        .filter(|&i| answers[i].status().is_success())
        .collect();
    assert_eq!(won.len(), 1, "exactly one confirmation is accepted");
    for answer in answers.into_iter().filter(|a| !a.status().is_success()) {
        assert_error(answer, 401, "unauthenticated").await;
    }
    won[0]
}

#[tokio::test]
async fn a_first_login_confirming_eight_apps_at_once_enrols_exactly_one() {
    let app = spawn_app().await;
    for round in 0..ROUNDS {
        let username = format!("ivan{round}");
        let c = first_login(&app, &username).await;
        let mut confirmations = Vec::new();
        for n in 0..8 {
            confirmations.push(start_app(&app, &c, &format!("app {n}")).await);
        }
        let paths: Vec<String> = confirmations.iter().map(|(p, _)| p.clone()).collect();

        let answers = all_at_once(&app, &c, confirmations).await;
        let won = one_succeeded_rest_unauthenticated(answers).await;

        let devices = listed_devices(&app, &c).await;
        assert_eq!(devices.len(), 1, "round {round}: {devices:?}");
        assert_eq!(devices[0]["name"], format!("app {won}"));
        assert!(paths[won].contains(devices[0]["id"].as_str().unwrap()));
        assert_eq!(confirmed_in_database(&app, &username).await, 1);
    }
}

#[tokio::test]
async fn a_first_login_confirming_an_app_and_a_key_at_once_enrols_exactly_one() {
    let app = spawn_app().await;
    for round in 0..ROUNDS {
        let username = format!("judy{round}");
        let c = first_login(&app, &username).await;
        let app_confirmation = start_app(&app, &c, "phone").await;
        let options = begin_registration(&app, &c, "YubiKey").await;
        let credential = Key::new().create(&app.address, options).unwrap();
        let key_finish = ("/api/v1/me/security-keys/finish".to_owned(), credential);

        let answers = all_at_once(&app, &c, vec![app_confirmation, key_finish]).await;
        let statuses: Vec<u16> = answers.iter().map(|a| a.status().as_u16()).collect();
        let won = one_succeeded_rest_unauthenticated(answers).await;

        let devices = listed_devices(&app, &c).await;
        assert_eq!(devices.len(), 1, "round {round}: {statuses:?} {devices:?}");
        let expected = if won == 0 { "totp" } else { "security_key" };
        assert_eq!(devices[0]["kind"], expected);
        assert_eq!(confirmed_in_database(&app, &username).await, 1);
    }
}

#[tokio::test]
async fn a_user_with_seven_factors_confirming_five_at_once_ends_with_eight() {
    let app = spawn_app().await;
    let (c, _, _) = app.signed_in_user_with_totp("kim").await;
    for n in 2..=7 {
        let (path, body) = start_app(&app, &c, &format!("app {n}")).await;
        assert_eq!(app.post(&c, &path, body).await.status(), 200);
    }
    for round in 0..ROUNDS {
        if round > 0 {
            // Back to seven, so exactly one more fits again.
            let id = listed_devices(&app, &c).await[0]["id"].clone();
            let path = format!("/api/v1/me/devices/{}", id.as_str().unwrap());
            assert_eq!(app.delete(&c, &path).await.status(), 204);
        }
        assert_eq!(listed_devices(&app, &c).await.len(), 7);
        let mut confirmations = Vec::new();
        for n in 0..5 {
            confirmations.push(start_app(&app, &c, &format!("new {round}.{n}")).await);
        }

        let answers = all_at_once(&app, &c, confirmations).await;
        let statuses: Vec<u16> = answers.iter().map(|a| a.status().as_u16()).collect();
        assert_eq!(
            statuses.iter().filter(|s| **s == 200).count(),
            1,
            "{statuses:?}"
        );
        for answer in answers.into_iter().filter(|a| a.status() != 200) {
            assert_error(answer, 409, "too_many_devices").await;
        }
        assert_eq!(listed_devices(&app, &c).await.len(), 8, "round {round}");
        assert_eq!(confirmed_in_database(&app, "kim").await, 8);
    }
}
