//! Time per operation of the hot domain steps: a TOTP check, a session lookup
//! in SQLite, a WebAuthn assertion verification, an Argon2id verification,
//! an access decision over 50 compiled policies.
//!
//! Run: `cargo bench --bench micro`

use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use twofold::auth::Client;
use twofold::auth::session::{SessionLifetime, Token};
use twofold::auth::totp::{self, Seed};
use twofold::store::{NewUser, PendingRecord, SessionStore, SqliteStore, UserStore};

fn totp_check(c: &mut Criterion) {
    let seed = Seed::generate();
    let now = 1_800_000_000;
    let code = seed.code_at_step(totp::step_at(now));
    c.bench_function("totp: verify a code (3 steps checked)", |b| {
        b.iter(|| totp::verify(&seed, std::hint::black_box(&code), now, 0, None))
    });
}

fn session_lookup(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("bench.db"), 16).unwrap());
    let lifetime = SessionLifetime {
        idle_secs: 1800,
        absolute_secs: 43200,
    };
    let token = runtime.block_on(async {
        let user = store
            .insert_user(NewUser {
                username: "bench".into(),
                password_hash: "x".into(),
                admin: false,
                created_at: 0,
            })
            .await
            .unwrap();
        let mut token = Token::generate();
        for _ in 0..10_000 {
            token = Token::generate();
            let pending = PendingRecord {
                token_hash: token.hash(),
                user_id: user.id,
                enrolment_only: false,
                created_at: 0,
                expires_at: 300,
                failures: 0,
            };
            store.insert_pending(pending).await.unwrap();
            let session = lifetime.new_session(&token, user.id, 0, "totp", 0, &Client::default());
            // No per-user cap here: the point is a lookup among 10k rows.
            store
                .promote_pending(token.hash(), session, u32::MAX)
                .await
                .unwrap();
        }
        token
    });
    c.bench_function(
        "session: look up a session and its user (10k sessions)",
        |b| {
            b.to_async(&runtime).iter(|| async {
                store
                    .session_with_user(token.hash())
                    .await
                    .unwrap()
                    .unwrap()
            })
        },
    );
}

fn argon2_verify(c: &mut Criterion) {
    use argon2::password_hash::{PasswordHasher, PasswordVerifier};
    let argon2 = argon2::Argon2::default();
    let hash = argon2
        .hash_password(b"correct horse battery staple")
        .unwrap()
        .to_string();
    let mut group = c.benchmark_group("password");
    group.sample_size(20);
    group.bench_function("argon2id: verify (m=19 MiB, t=2, p=1)", |b| {
        b.iter(|| {
            argon2
                .verify_password(b"correct horse battery staple", hash.as_str())
                .unwrap()
        })
    });
    group.finish();
}

fn webauthn_assertion_verify(c: &mut Criterion) {
    use webauthn_authenticator_rs::AuthenticatorBackend;
    use webauthn_authenticator_rs::softtoken::SoftToken;
    let mut settings = twofold::config::Settings::default();
    settings.server.origin = "http://localhost:8080".into();
    let rp = twofold::auth::security_key::relying_party(&settings).unwrap();
    let origin = url::Url::parse(&settings.server.origin).unwrap();
    let (mut token, _) = SoftToken::new(false).unwrap();
    let (options, registration) = rp
        .start_securitykey_registration(uuid::Uuid::new_v4(), "bench", "bench", None, None, None)
        .unwrap();
    let credential = token
        .perform_register(origin.clone(), options.public_key, 60_000)
        .unwrap();
    let key = rp
        .finish_securitykey_registration(&credential, &registration)
        .unwrap();
    let (request, state) = rp.start_securitykey_authentication(&[key]).unwrap();
    let assertion = token
        .perform_auth(origin, request.public_key, 60_000)
        .unwrap();
    c.bench_function("webauthn: verify a security key's assertion (ES256)", |b| {
        b.iter(|| {
            rp.finish_securitykey_authentication(&assertion, &state)
                .unwrap()
        })
    });
}

/// 50 policies × 20 statements (each with a condition, a few wildcard
/// resources) that nearly match: every statement is examined, none allows.
fn policy_decision(c: &mut Criterion) {
    use twofold::access::{CompiledPolicy, ConditionKey, Context, Request, decide};
    let policies: Vec<CompiledPolicy> = (0..50)
        .map(|p| {
            let statements: Vec<String> = (0..20)
                .map(|s| {
                    format!(
                        r#"{{"Sid": "S{s}", "Effect": "Allow", "Action": ["http:GET", "http:POST"],
                            "Resource": ["https://app{p}.example.com/*", "https://*.example.com/team{s}/*"],
                            "Condition": {{"StringEquals": {{"twofold:groups": "group{p}"}},
                                           "NumericLessThan": {{"twofold:MultiFactorAuthAge": 3600}}}}}}"#
                    )
                })
                .collect();
            let document = format!(r#"{{"Version": "2026-12-01", "Statement": [{}]}}"#, statements.join(","));
            CompiledPolicy::compile(&format!("policy{p}"), &document).unwrap()
        })
        .collect();
    let context = Context::new()
        .with(ConditionKey::Username, "alice")
        .with_all(ConditionKey::Groups, ["ops", "dev", "group-x"])
        .with(ConditionKey::MultiFactorAuthAge, "120")
        .with(ConditionKey::SourceIp, "10.1.2.3");
    c.bench_function("access: decide over 50 policies × 20 statements", |b| {
        b.iter(|| {
            let request = Request::new(
                "http:GET",
                std::hint::black_box("https://app7.example.com/team99/dashboards/42"),
                &context,
            );
            decide(&policies, &request)
        })
    });
}

criterion_group!(
    benches,
    policy_decision,
    totp_check,
    session_lookup,
    webauthn_assertion_verify,
    argon2_verify
);
criterion_main!(benches);
