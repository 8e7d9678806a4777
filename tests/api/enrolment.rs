use base64::Engine;
use serde_json::{Value, json};

use crate::helpers::{assert_error, client, spawn_app, totp_code_at};

/// Reads the QR code in a PNG the way a phone camera would.
pub(crate) fn decode_qr(png_bytes: &[u8]) -> String {
    let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let frame = reader.next_frame(&mut pixels).unwrap();
    let (width, height) = (frame.width as usize, frame.height as usize);
    assert_eq!(frame.color_type, png::ColorType::Grayscale);
    let mut image =
        rqrr::PreparedImage::prepare_from_greyscale(width, height, |x, y| pixels[y * width + x]);
    let grids = image.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code in the image");
    grids[0].decode().unwrap().1
}

#[tokio::test]
async fn the_qr_code_decodes_to_exactly_the_otpauth_uri() {
    let app = spawn_app().await;
    app.create_user("alice", false).await;
    let c = client();
    app.login(&c, "alice", crate::helpers::PASSWORD).await;
    let enrolment: Value = app
        .post(&c, "/api/v1/me/totp", json!({"name": "phone"}))
        .await
        .json()
        .await
        .unwrap();
    let uri = enrolment["otpauth_uri"].as_str().unwrap();
    let secret = enrolment["secret"].as_str().unwrap();
    assert_eq!(
        uri,
        format!("otpauth://totp/twofold:alice?secret={secret}&issuer=twofold")
    );
    assert_eq!(secret.len(), 32, "160 bits in base32");
    let png = base64::engine::general_purpose::STANDARD
        .decode(enrolment["qr_png"].as_str().unwrap())
        .unwrap();
    assert_eq!(decode_qr(&png), uri);
}

#[tokio::test]
async fn the_issuer_is_configurable() {
    let app = crate::helpers::spawn_app_with(|s| s.totp.issuer = "Example Corp".into()).await;
    app.create_user("bob", false).await;
    let c = client();
    app.login(&c, "bob", crate::helpers::PASSWORD).await;
    let enrolment: Value = app
        .post(&c, "/api/v1/me/totp", json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert!(
        enrolment["otpauth_uri"]
            .as_str()
            .unwrap()
            .starts_with("otpauth://totp/Example%20Corp:bob?"),
        "{enrolment}"
    );
}

#[tokio::test]
async fn a_wrong_confirmation_code_is_a_400_and_leaves_the_device_unconfirmed() {
    let app = spawn_app().await;
    let (c, _, _) = app.signed_in_user_with_totp("carol").await;
    let enrolment: Value = app
        .post(&c, "/api/v1/me/totp", json!({"name": "tablet"}))
        .await
        .json()
        .await
        .unwrap();
    let path = format!(
        "/api/v1/me/totp/{}/confirm",
        enrolment["id"].as_str().unwrap()
    );
    assert_error(
        app.post(&c, &path, json!({"code": "000000"})).await,
        400,
        "invalid_code",
    )
    .await;
    let me: Value = app.get(&c, "/api/v1/me").await.json().await.unwrap();
    assert_eq!(me["devices"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn several_named_devices_are_listed_and_one_can_be_removed() {
    let app = spawn_app().await;
    let (c, _, first) = app.signed_in_user_with_totp("dave").await;
    let enrolment: Value = app
        .post(&c, "/api/v1/me/totp", json!({"name": "tablet"}))
        .await
        .json()
        .await
        .unwrap();
    let secret = enrolment["secret"].as_str().unwrap();
    let second = enrolment["id"].as_str().unwrap();
    let path = format!("/api/v1/me/totp/{second}/confirm");
    assert_eq!(
        app.post(&c, &path, json!({"code": app.totp_code(secret)}))
            .await
            .status(),
        200
    );

    let me: Value = app.get(&c, "/api/v1/me").await.json().await.unwrap();
    let names: Vec<&str> = me["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["phone", "tablet"]);
    let device = &me["devices"][1];
    assert_eq!(device["kind"], "totp");
    assert!(device["created_at"].as_str().unwrap().ends_with('Z'));
    assert!(device["last_used_at"].as_str().unwrap().ends_with('Z'));

    let answer = c
        .delete(app.url(&format!("/api/v1/me/devices/{first}")))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 204);
    let me: Value = app.get(&c, "/api/v1/me").await.json().await.unwrap();
    assert_eq!(me["devices"].as_array().unwrap().len(), 1);
    assert_eq!(me["devices"][0]["name"], "tablet");
    let again = c
        .delete(app.url(&format!("/api/v1/me/devices/{first}")))
        .send()
        .await
        .unwrap();
    assert_error(again, 404, "not_found").await;
}

#[tokio::test]
async fn another_users_device_cannot_be_removed() {
    let app = spawn_app().await;
    let (_, _, erins_device) = app.signed_in_user_with_totp("erin").await;
    let (frank, _, _) = app.signed_in_user_with_totp("frank").await;
    let answer = frank
        .delete(app.url(&format!("/api/v1/me/devices/{erins_device}")))
        .send()
        .await
        .unwrap();
    assert_error(answer, 404, "not_found").await;
}

#[tokio::test]
async fn removing_a_device_needs_a_recent_second_factor() {
    let app = spawn_app().await;
    let (c, _, device) = app.signed_in_user_with_totp("grace").await;
    app.clock.advance(11 * 60);
    let answer = c
        .delete(app.url(&format!("/api/v1/me/devices/{device}")))
        .send()
        .await
        .unwrap();
    assert_error(answer, 403, "reauthentication_required").await;
    let me: Value = app.get(&c, "/api/v1/me").await.json().await.unwrap();
    assert_eq!(
        me["devices"].as_array().unwrap().len(),
        1,
        "nothing was removed"
    );
}

#[tokio::test]
async fn a_user_holds_at_most_eight_second_factors() {
    let app = spawn_app().await;
    let (c, _, _) = app.signed_in_user_with_totp("heidi").await;
    for n in 2..=8 {
        let enrolment: Value = app
            .post(&c, "/api/v1/me/totp", json!({"name": format!("app {n}")}))
            .await
            .json()
            .await
            .unwrap();
        let path = format!(
            "/api/v1/me/totp/{}/confirm",
            enrolment["id"].as_str().unwrap()
        );
        let code = app.totp_code(enrolment["secret"].as_str().unwrap());
        assert_eq!(
            app.post(&c, &path, json!({"code": code})).await.status(),
            200,
            "device {n}"
        );
    }
    assert_error(
        app.post(&c, "/api/v1/me/totp", json!({"name": "ninth"}))
            .await,
        409,
        "too_many_devices",
    )
    .await;
}

#[tokio::test]
async fn device_names_have_one_to_sixty_four_characters() {
    let app = spawn_app().await;
    let (c, _, _) = app.signed_in_user_with_totp("ivan").await;
    for name in [String::new(), "x".repeat(65)] {
        assert_error(
            app.post(&c, "/api/v1/me/totp", json!({"name": name})).await,
            400,
            "invalid_request",
        )
        .await;
    }
}

#[tokio::test]
async fn a_hardware_token_is_confirmed_by_two_consecutive_codes() {
    let app = spawn_app().await;
    let (c, _, _) = app.signed_in_user_with_totp("judy").await;
    let vendor_seed = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
    let enrolment: Value = app
        .post(
            &c,
            "/api/v1/me/totp",
            json!({"name": "token 42", "secret": vendor_seed}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(enrolment["secret"], vendor_seed);
    let path = format!(
        "/api/v1/me/totp/{}/confirm",
        enrolment["id"].as_str().unwrap()
    );
    let now = twofold::auth::clock::Clock::now(app.clock.as_ref());
    let (code, next, later) = (
        totp_code_at(vendor_seed, now),
        totp_code_at(vendor_seed, now + 30),
        totp_code_at(vendor_seed, now + 90),
    );
    assert_error(
        app.post(&c, &path, json!({"code": code})).await,
        400,
        "invalid_request",
    )
    .await;
    assert_error(
        app.post(&c, &path, json!({"code": code, "next_code": later}))
            .await,
        400,
        "invalid_code",
    )
    .await;
    assert_error(
        app.post(&c, &path, json!({"code": next, "next_code": code}))
            .await,
        400,
        "invalid_code",
    )
    .await;
    let answer = app
        .post(&c, &path, json!({"code": code, "next_code": next}))
        .await;
    assert_eq!(answer.status(), 200);
}

#[tokio::test]
async fn a_vendor_seed_that_is_not_base32_is_refused() {
    let app = spawn_app().await;
    let (c, _, _) = app.signed_in_user_with_totp("ken").await;
    let answer = app
        .post(
            &c,
            "/api/v1/me/totp",
            json!({"name": "t", "secret": "not-a-seed!"}),
        )
        .await;
    assert_error(answer, 400, "invalid_request").await;
}
