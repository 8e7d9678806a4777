//! Signing keys: an ES256 key (the default) and an RS256 one, made on first
//! start, kept sealed in the store like TOTP seeds, published in the JWKS,
//! and rotated by `twofold oidc rotate-key` (a retired key stays published
//! until the tokens it signed have expired).

use anyhow::Context;
use jsonwebtoken::jwk::{Jwk, JwkSet, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use p256::pkcs8::EncodePrivateKey;
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::rand_core::OsRng;
use serde::Serialize;

use crate::auth::clock::Timestamp;
use crate::auth::secrets::SecretsKey;
use crate::auth::session::new_handle;
use crate::store::{OidcStore, SigningKeyRecord};

/// The algorithms offered, the default first.
pub const ALGORITHMS: [&str; 2] = ["ES256", "RS256"];
const RSA_BITS: usize = 2048;

fn algorithm(name: &str) -> anyhow::Result<Algorithm> {
    match name {
        "ES256" => Ok(Algorithm::ES256),
        "RS256" => Ok(Algorithm::RS256),
        other => anyhow::bail!("unknown signing algorithm {other}"),
    }
}

/// A private key as DER: PKCS#8 for P-256, PKCS#1 for RSA (what
/// jsonwebtoken reads).
fn generate_der(alg: &str) -> anyhow::Result<Vec<u8>> {
    match alg {
        "ES256" => {
            let secret = p256::SecretKey::random(&mut OsRng);
            Ok(secret
                .to_pkcs8_der()
                .context("encoding a P-256 key")?
                .as_bytes()
                .to_vec())
        }
        "RS256" => {
            let key = rsa::RsaPrivateKey::new(&mut OsRng, RSA_BITS).context("making an RSA key")?;
            Ok(key
                .to_pkcs1_der()
                .context("encoding an RSA key")?
                .as_bytes()
                .to_vec())
        }
        other => anyhow::bail!("unknown signing algorithm {other}"),
    }
}

fn encoding_key(alg: &str, der: &[u8]) -> anyhow::Result<EncodingKey> {
    Ok(match algorithm(alg)? {
        Algorithm::ES256 => EncodingKey::from_ec_der(der),
        _ => EncodingKey::from_rsa_der(der),
    })
}

/// A new key of `alg`, sealed under the secrets key.
pub fn new_key(
    alg: &str,
    secrets: &SecretsKey,
    now: Timestamp,
) -> anyhow::Result<SigningKeyRecord> {
    let kid = new_handle();
    let der = generate_der(alg)?;
    let sealed = secrets.seal_signing_key(&kid, &der)?;
    Ok(SigningKeyRecord {
        kid,
        alg: alg.to_owned(),
        sealed,
        created_at: now,
        retired_at: None,
    })
}

/// Makes the keys a store lacks: one current key of each algorithm.
pub async fn ensure_keys(
    store: &(dyn OidcStore + Send + Sync),
    secrets: &SecretsKey,
    now: Timestamp,
) -> anyhow::Result<()> {
    let keys = store.signing_keys().await?;
    for alg in ALGORITHMS {
        if !keys.iter().any(|k| k.alg == alg && k.retired_at.is_none()) {
            store
                .insert_first_signing_key(new_key(alg, secrets, now)?)
                .await?;
        }
    }
    Ok(())
}

/// `twofold oidc rotate-key`: a new current key of each algorithm; the old
/// ones are retired (still published until their tokens expire). Returns
/// the new key ids.
pub async fn rotate(
    store: &(dyn OidcStore + Send + Sync),
    secrets: &SecretsKey,
    now: Timestamp,
) -> anyhow::Result<Vec<String>> {
    let mut kids = Vec::new();
    for alg in ALGORITHMS {
        let key = new_key(alg, secrets, now)?;
        kids.push(key.kid.clone());
        store.rotate_signing_key(key).await?;
    }
    Ok(kids)
}

/// The keys a relying party may meet: the current ones and those retired
/// less than `published_after_retirement` seconds ago.
fn published(
    keys: Vec<SigningKeyRecord>,
    now: Timestamp,
    published_after_retirement: i64,
) -> impl Iterator<Item = SigningKeyRecord> {
    keys.into_iter().filter(move |key| {
        key.retired_at
            .is_none_or(|at| now - at < published_after_retirement)
    })
}

fn public_jwk(key: &SigningKeyRecord, secrets: &SecretsKey) -> anyhow::Result<Jwk> {
    let der = secrets.open_signing_key(&key.kid, &key.sealed)?;
    let mut jwk = Jwk::from_encoding_key(&encoding_key(&key.alg, &der)?, algorithm(&key.alg)?)
        .context("publishing a signing key")?;
    jwk.common.key_id = Some(key.kid.clone());
    jwk.common.public_key_use = Some(PublicKeyUse::Signature);
    Ok(jwk)
}

/// The JWKS: public halves of every published key.
pub async fn jwks(
    store: &(dyn OidcStore + Send + Sync),
    secrets: &SecretsKey,
    now: Timestamp,
    published_after_retirement: i64,
) -> anyhow::Result<JwkSet> {
    let keys = store.signing_keys().await?;
    let keys = published(keys, now, published_after_retirement)
        .map(|key| public_jwk(&key, secrets))
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(JwkSet { keys })
}

/// Signs `claims` as a JWT with the current key of `alg`.
pub async fn sign(
    store: &(dyn OidcStore + Send + Sync),
    secrets: &SecretsKey,
    alg: &str,
    claims: &impl Serialize,
) -> anyhow::Result<String> {
    let keys = store.signing_keys().await?;
    let key = keys
        .into_iter()
        .find(|key| key.alg == alg && key.retired_at.is_none())
        .with_context(|| format!("no current {alg} signing key"))?;
    let der = secrets.open_signing_key(&key.kid, &key.sealed)?;
    let mut header = Header::new(algorithm(alg)?);
    header.kid = Some(key.kid.clone());
    jsonwebtoken::encode(&header, claims, &encoding_key(alg, &der)?).context("signing a token")
}

/// The claims of a JWT this provider signed with a key it still publishes,
/// whatever its expiry (an `id_token_hint` may have expired); `None` when
/// the signature, the key or the issuer do not check out.
pub async fn verify_own_token(
    store: &(dyn OidcStore + Send + Sync),
    secrets: &SecretsKey,
    issuer: &str,
    now: Timestamp,
    published_after_retirement: i64,
    token: &str,
) -> anyhow::Result<Option<serde_json::Value>> {
    let Ok(header) = jsonwebtoken::decode_header(token) else {
        return Ok(None);
    };
    let Some(kid) = header.kid else {
        return Ok(None);
    };
    let keys = store.signing_keys().await?;
    let Some(key) = published(keys, now, published_after_retirement).find(|key| key.kid == kid)
    else {
        return Ok(None);
    };
    let alg = algorithm(&key.alg)?;
    if header.alg != alg {
        return Ok(None);
    }
    let jwk = public_jwk(&key, secrets)?;
    let decoding = DecodingKey::from_jwk(&jwk).context("reading a published key")?;
    let mut validation = jsonwebtoken::Validation::new(alg);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    validation.set_issuer(&[issuer]);
    Ok(
        jsonwebtoken::decode::<serde_json::Value>(token, &decoding, &validation)
            .ok()
            .map(|data| data.claims),
    )
}
