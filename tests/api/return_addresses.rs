//! Return addresses (`rd`, `next`, the forward-auth 401, logout, step-up) as
//! an attacker writes them: every `Location` twofold sends must lead, as a
//! browser resolves it, to twofold's own origin or an allowed domain.

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use twofold::config::Settings;
use twofold::web::return_to;
use url::Url;

use crate::helpers::{PASSWORD, TestApp, client, spawn_app_with};

/// The attacks the security review found, and their relatives.
const FOREIGN: &[&str] = &[
    "/.//evil.example",
    "/%2e//evil.example",
    "/%2E%2e//evil.example",
    "/a/..//evil.example",
    "/./\\evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "/\t/evil.example",
    "/\n/evil.example",
    "\t//evil.example",
    "//evil.example/",
    "https://evil.example/",
    "https://localhost:8080@evil.example",
    "javascript:alert(1)",
    "http://localhost:1/x",
];

/// Where a browser goes for a `Location`, resolved against `origin`.
fn destination(origin: &str, location: &str) -> Url {
    Url::parse(origin).unwrap().join(location).unwrap()
}

fn location(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get("location")
        .map(|value| value.to_str().unwrap().to_owned())
}

/// An app whose operator allows returning to `*.apps.example.com`.
async fn app_with_allowed_domain() -> TestApp {
    spawn_app_with(|settings| {
        settings.server.allowed_redirect_domains = vec![".apps.example.com".into()];
    })
    .await
}

/// True when `location` leads to the app's own origin or an allowed domain.
fn stays_home(settings: &Settings, location: &str) -> bool {
    let origin = Url::parse(&settings.server.origin).unwrap();
    let Ok(to) = origin.join(location) else {
        return false;
    };
    let host = to.host_str().unwrap_or("");
    let own = to.scheme() == origin.scheme()
        && to.host() == origin.host()
        && to.port_or_known_default() == origin.port_or_known_default();
    let allowed = matches!(to.scheme(), "http" | "https")
        && (host == "apps.example.com" || host.ends_with(".apps.example.com"));
    to.username().is_empty() && to.password().is_none() && (own || allowed)
}

#[tokio::test]
async fn a_signed_in_user_is_never_sent_to_a_foreign_host_by_rd_or_next() {
    let app = app_with_allowed_domain().await;
    let (c, _, _) = app.signed_in_user_with_totp("alice").await;
    for name in ["rd", "next"] {
        for target in FOREIGN {
            let answer = c
                .get(app.url("/login"))
                .query(&[(name, target)])
                .send()
                .await
                .unwrap();
            assert_eq!(answer.status(), 200, "{name}={target:?}: the sign-in page");
            assert_eq!(location(&answer), None, "{name}={target:?}");
        }
        // Allowed ones come back normalised, as absolute URLs.
        for (target, sent) in [
            (
                "/account/password",
                format!("{}/account/password", app.address),
            ),
            ("/a/../account", format!("{}/account", app.address)),
            ("/acc\tount", format!("{}/account", app.address)),
            (
                "https://Grafana.Apps.Example.com/d/../x?y=1",
                "https://grafana.apps.example.com/x?y=1".to_owned(),
            ),
        ] {
            let answer = c
                .get(app.url("/login"))
                .query(&[(name, target)])
                .send()
                .await
                .unwrap();
            assert_eq!(answer.status(), 303, "{name}={target:?}");
            assert_eq!(location(&answer).as_deref(), Some(sent.as_str()));
        }
    }
}

#[tokio::test]
async fn a_refused_return_address_ends_the_sign_in_on_the_account_page() {
    let app = app_with_allowed_domain().await;
    let (_, secret, _) = app.signed_in_user_with_totp("alice").await;
    for target in ["/.//evil.example", "http://localhost:1/x"] {
        let c = client();
        let page = c
            .get(app.url("/login"))
            .query(&[("rd", target)])
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200);
        assert_eq!(app.login(&c, "alice", PASSWORD).await.status(), 200);
        app.next_time_step();
        let code = app.totp_code(&secret);
        let signed_in = c
            .post(app.url("/login/totp"))
            .form(&[("code", code.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(signed_in.status(), 303);
        assert_eq!(
            location(&signed_in).as_deref(),
            Some("/account"),
            "{target}"
        );
    }
}

#[tokio::test]
async fn forward_auth_logout_and_step_up_refuse_the_same_addresses() {
    let app = app_with_allowed_domain().await;
    let (c, secret, _) = app.signed_in_user_with_totp("alice").await;
    for target in FOREIGN {
        // The 401 of forward-auth offers the sign-in page without it.
        let verify = client()
            .get(app.url("/api/v1/verify"))
            .header("X-Original-URL", target.replace(['\t', '\n'], ""))
            .send()
            .await
            .unwrap();
        assert_eq!(verify.status(), 401);
        assert_eq!(
            location(&verify),
            Some(format!("{}/login", app.address)),
            "{target:?}"
        );

        // A step-up returns to the account page instead (marked: it says the
        // step-up is done).
        app.next_time_step();
        let code = app.totp_code(&secret);
        let stepped_up = c
            .post(app.url("/reauthenticate"))
            .form(&[("code", code.as_str()), ("next", target)])
            .send()
            .await
            .unwrap();
        assert_eq!(stepped_up.status(), 303, "{target:?}");
        assert_eq!(
            location(&stepped_up).as_deref(),
            Some("/account?stepped_up=1"),
            "{target:?}"
        );
    }
    // Signing out with a foreign `next` offers the plain sign-in page.
    for target in FOREIGN {
        let c = app.sign_in_with_totp("alice", &secret).await;
        let out = c
            .post(app.url("/logout"))
            .form(&[("next", target)])
            .send()
            .await
            .unwrap();
        assert_eq!(location(&out).as_deref(), Some("/login"), "{target:?}");
    }
}

/// Pieces an attacker strings together to make a parser and a check
/// disagree: schemes, slashes of both kinds, dot segments plain and
/// encoded, userinfo, IP literals, ports, and whitespace browsers drop.
fn return_address(own: &str) -> impl Strategy<Value = String> + use<> {
    let own = own.to_owned();
    let fixed = [
        "/",
        "//",
        "\\",
        ".",
        "..",
        "%2e",
        "%2E%2e",
        "%2f",
        "%5c",
        "%09",
        "\t",
        "\n",
        "\r",
        " ",
        "@",
        ":",
        "?",
        "#",
        "http:",
        "https:",
        "HTTPS:",
        "javascript:",
        "ftp:",
        "evil.example",
        "grafana.apps.example.com",
        "apps.example.com.evil.example",
        "evilapps.example.com",
        "localhost:8080@evil.example",
        "user:pw@",
        "[::1]",
        "[::ffff:127.0.0.1]",
        "127.0.0.1",
        "0x7f.1",
        "%65vil.example",
        "ｅvil.example",
        "localhost",
    ];
    let piece = prop_oneof![
        proptest::sample::select(fixed.to_vec()).prop_map(str::to_owned),
        Just(own),
        (0u32..70000).prop_map(|port| format!(":{port}")),
        "[a-z0-9.%/\\\\:@?#\\[\\]\t\n-]{1,8}",
    ];
    proptest::collection::vec(piece, 1..10).prop_map(|pieces| pieces.concat())
}

proptest! {
    #![proptest_config(Config::with_cases(5_000))]

    #[test]
    fn every_address_the_check_lets_through_resolves_to_the_origin_or_an_allowed_domain(
        target in return_address("auth.example.com")
    ) {
        let mut settings = Settings::default();
        settings.server.origin = "https://auth.example.com".into();
        settings.server.allowed_redirect_domains = vec![".apps.example.com".into()];
        if let Some(location) = return_to::allowed(&settings, &target) {
            prop_assert!(stays_home(&settings, &location), "{target:?} -> {location:?}");
            // What is sent is already normal: a browser reads it as sent.
            let reparsed = Url::parse(&location).unwrap();
            prop_assert_eq!(reparsed.as_str(), location.as_str());
        }
        if let Some(location) = return_to::own_page(&settings, &target) {
            prop_assert!(location.starts_with('/') && !location.starts_with("//"), "{target:?} -> {location:?}");
            prop_assert!(stays_home(&settings, &location), "{target:?} -> {location:?}");
        }
    }

    #[test]
    fn arbitrary_text_never_leads_elsewhere(target in any::<String>()) {
        let mut settings = Settings::default();
        settings.server.origin = "https://auth.example.com".into();
        if let Some(location) = return_to::allowed(&settings, &target) {
            prop_assert!(stays_home(&settings, &location), "{target:?} -> {location:?}");
        }
    }
}

#[tokio::test]
async fn generated_return_addresses_sent_over_http_never_lead_elsewhere() {
    let app = app_with_allowed_domain().await;
    let (c, _, _) = app.signed_in_user_with_totp("alice").await;
    let own = format!("localhost:{}", app.port);
    let strategy = return_address(&own);
    let mut runner = TestRunner::new(Config::default());
    let mut followed = 0;
    for round in 0..300 {
        let target = strategy.new_tree(&mut runner).unwrap().current();
        let name = if round % 2 == 0 { "rd" } else { "next" };
        let answer = c
            .get(app.url("/login"))
            .query(&[(name, target.as_str())])
            .send()
            .await
            .unwrap();
        assert!(
            answer.status().as_u16() < 500,
            "{target:?}: {}",
            answer.status()
        );
        if let Some(to) = location(&answer) {
            followed += 1;
            assert!(
                stays_home(&app.settings, &to),
                "{name}={target:?} sent to {to:?} = {}",
                destination(&app.settings.server.origin, &to)
            );
        }
    }
    // The sample also holds addresses that are let through.
    assert!(followed > 0);
}
