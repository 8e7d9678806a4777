//! The OpenID Connect chores of the command line: hashing a client secret,
//! rotating the signing keys on a running server's store, and the one-line
//! reasons a bad `[[oidc.clients]]` entry stops every command.

use serde_json::Value;
use twofold::auth::password::{PasswordHasher, Verified};

use crate::cli::twofold;
use crate::helpers::client;
use openidconnect::TokenResponse;

use crate::oidc::{
    CLIENT_SECRET, attempt, code_of, exchange, follow, id_claims, relying_party, spawn_provider,
};

#[tokio::test]
async fn hash_secret_prints_an_argon2id_hash_of_stdin_without_its_line_break() {
    let data = tempfile::tempdir().unwrap();
    let output = twofold(data.path(), &["oidc", "hash-secret"], "s3cret-of-the-app\n");
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    let hash = stdout.trim_end();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    let hasher = PasswordHasher::new(&Default::default()).unwrap();
    let verified = hasher
        .verify(&"s3cret-of-the-app".into(), Some(hash))
        .await
        .unwrap();
    assert!(matches!(verified, Verified::Match { .. }));
    let verified = hasher
        .verify(&"s3cret-of-the-app\n".into(), Some(hash))
        .await
        .unwrap();
    assert!(matches!(verified, Verified::Mismatch));

    let empty = twofold(data.path(), &["oidc", "hash-secret"], "\n");
    assert!(!empty.status.success());
}

async fn jwks_kids(app: &crate::helpers::TestApp) -> Vec<String> {
    let jwks: Value = client()
        .get(app.url("/oauth2/jwks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn rotate_key_signs_with_a_new_key_and_keeps_the_old_one_published() {
    let app = spawn_provider().await;
    let rp = relying_party(&app, Some(CLIENT_SECRET)).await;
    let (browser, _, old_tokens, old_nonce) =
        crate::oidc::signed_in_to_client(&app, &rp, "alice").await;
    let before = jwks_kids(&app).await;
    assert_eq!(before.len(), 2);

    let output = twofold(app.data.path(), &["oidc", "rotate-key"], "");
    assert!(output.status.success(), "{output:?}");
    let after = jwks_kids(&app).await;
    assert_eq!(after.len(), 4, "old keys stay published: {after:?}");
    assert!(before.iter().all(|kid| after.contains(kid)));

    // A relying party that learns the keys again checks old and new tokens.
    let rp = relying_party(&app, Some(CLIENT_SECRET)).await;
    id_claims(&rp, &old_tokens, &old_nonce);
    let try_ = attempt(&rp, &[]);
    let landing = follow(&app, &browser, try_.url.as_str(), None).await;
    let code = code_of(&app, landing, &try_);
    let nonce = try_.nonce.clone();
    let tokens = exchange(&rp, code, try_).await;
    id_claims(&rp, &tokens, &nonce);
    use openidconnect::JsonWebKey;
    let verifier = rp.id_token_verifier();
    let key = tokens
        .id_token()
        .unwrap()
        .signing_key(&verifier)
        .expect("a published key");
    let kid = key.key_id().expect("a key id").to_string();
    assert!(!before.contains(&kid), "signed with a new key");
}

#[test]
fn a_bad_client_stops_every_command_with_a_one_line_reason() {
    let data = tempfile::tempdir().unwrap();
    for (client, reason) in [
        (
            "id = \"grafana\"\nredirect_uris = [\"https://grafana.example.com/cb#frag\"]",
            "redirect_uris: \"https://grafana.example.com/cb#frag\" must not have a fragment",
        ),
        (
            "id = \"grafana\"\nredirect_uris = [\"/relative\"]",
            "redirect_uris: \"/relative\" is not an absolute URL",
        ),
        (
            "id = \"grafana\"\nredirect_uris = [\"https://g.example.com/cb\"]\nscopes = [\"openid\", \"admin\"]",
            "unknown scope \"admin\"",
        ),
        (
            "id = \"grafana\"\nsecret_hash = \"plain-text\"\nredirect_uris = [\"https://g.example.com/cb\"]",
            "secret_hash must be an Argon2id PHC string",
        ),
    ] {
        let file = data.path().join("twofold.toml");
        std::fs::write(&file, format!("[[oidc.clients]]\n{client}\n")).unwrap();
        let output = twofold(
            data.path(),
            &["--config", file.to_str().unwrap(), "credential-report"],
            "",
        );
        assert!(!output.status.success());
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert!(stderr.contains(reason), "{stderr}");
        assert!(stderr.contains("oidc.clients[0] (grafana)"), "{stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    }
}
