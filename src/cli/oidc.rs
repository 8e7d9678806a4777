//! `twofold oidc …`: the host operator's OpenID Connect chores: hashing a
//! client secret for `[[oidc.clients]]`, and rotating the signing keys.

use std::io::Read;

use anyhow::{Context, bail};
use clap::Subcommand;

use crate::auth::audit::{AuditEvent, record_host_operation};
use crate::auth::clock::{Clock, SystemClock};
use crate::auth::secrets::SecretsKey;
use crate::config::Settings;
use crate::startup::open_store;

/// A client secret longer than this is a mistake (a file piped in).
const MAX_SECRET_BYTES: u64 = 1024;

#[derive(Subcommand)]
pub enum OidcCommand {
    /// Read a client secret from standard input (a trailing line break
    /// dropped) and print its Argon2id hash, for `secret_hash`.
    HashSecret,
    /// Make new signing keys (ES256 and RS256); the old ones stay in the
    /// JWKS until the tokens they signed have expired.
    RotateKey,
}

pub async fn run(settings: Settings, command: OidcCommand) -> anyhow::Result<()> {
    match command {
        OidcCommand::HashSecret => {
            let secret = secret_from_stdin()?;
            let hash = tokio::task::spawn_blocking(move || {
                crate::auth::password::hash_with_default_params(secret.as_bytes())
            })
            .await??;
            println!("{hash}");
            Ok(())
        }
        OidcCommand::RotateKey => rotate_key(&settings).await,
    }
}

/// All of standard input, one trailing `\n` or `\r\n` dropped.
fn secret_from_stdin() -> anyhow::Result<String> {
    let mut bytes = Vec::new();
    std::io::stdin()
        .lock()
        .take(MAX_SECRET_BYTES + 1)
        .read_to_end(&mut bytes)
        .context("reading the secret from standard input")?;
    if bytes.len() as u64 > MAX_SECRET_BYTES {
        bail!("the secret is longer than {MAX_SECRET_BYTES} bytes");
    }
    let text = String::from_utf8(bytes).context("the secret is not UTF-8 text")?;
    let secret = text
        .strip_suffix("\r\n")
        .or_else(|| text.strip_suffix('\n'))
        .unwrap_or(&text);
    if secret.is_empty() {
        bail!(
            "no secret on standard input (e.g. `printf %s \"$SECRET\" | twofold oidc hash-secret`)"
        );
    }
    Ok(secret.to_owned())
}

async fn rotate_key(settings: &Settings) -> anyhow::Result<()> {
    let store = open_store(settings).await?;
    let secrets = SecretsKey::load(settings, store.as_ref()).await?;
    let now = SystemClock.now();
    let kids = crate::oidc::keys::rotate(store.as_ref(), &secrets, now).await?;
    let detail = format!("new keys={}", kids.join(","));
    record_host_operation(
        store.as_ref(),
        now,
        AuditEvent::OidcSigningKeyRotated,
        &detail,
    )
    .await?;
    println!(
        "Made new signing keys ({}); the old ones stay published for {} seconds, until the \
         tokens they signed have expired.",
        kids.join(", "),
        settings.oidc.access_token_ttl_secs
    );
    Ok(())
}
