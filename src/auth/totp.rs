//! Authenticator-app codes (RFC 6238: HMAC-SHA1, 6 digits, 30 s steps): seeds,
//! the `otpauth://` URI and its QR code, and pure verification that names the
//! matched time step so the caller can refuse a step it already accepted.

use anyhow::Context;
use rand::RngCore;
use totp_rs::{Builder, Totp};

use super::clock::Timestamp;

pub const STEP_SECS: i64 = 30;
pub const DIGITS: usize = 6;
/// Steps of clock drift tolerated either side at sign-in (RFC 6238 §5.2).
pub const SKEW_STEPS: i64 = 1;
/// Seed length: 160 bits, as RFC 4226 recommends.
pub const SEED_BYTES: usize = 20;
/// Shortest vendor seed accepted for a hardware token (128 bits, what
/// totp-rs requires).
pub const MIN_SEED_BYTES: usize = 16;
/// Longest vendor seed accepted: hardware tokens ship at most 64 bytes (an
/// HMAC-SHA1 block). With the username and issuer bounds this keeps every
/// `otpauth://` URI well inside what one QR code holds.
pub const MAX_SEED_BYTES: usize = 64;
/// Longest `totp.issuer` (characters); it appears twice in the URI.
pub const MAX_ISSUER_CHARS: usize = 64;

/// A TOTP seed. Never logged: `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct Seed(Vec<u8>);

impl std::fmt::Debug for Seed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Seed(..)")
    }
}

impl Seed {
    pub fn generate() -> Self {
        let mut bytes = vec![0u8; SEED_BYTES];
        rand::rng().fill_bytes(&mut bytes);
        Self(bytes)
    }

    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// Reads a vendor's base32 seed: case, spaces, dashes and padding ignored;
    /// `MIN_SEED_BYTES` to `MAX_SEED_BYTES` long once decoded.
    pub fn from_base32(text: &str) -> Option<Self> {
        // Generous room for separators, but never decode a megabyte.
        if text.len() > 4 * MAX_SEED_BYTES {
            return None;
        }
        let cleaned: String = text
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '='))
            .map(|c| c.to_ascii_uppercase())
            .collect();
        let bytes = data_encoding::BASE32_NOPAD
            .decode(cleaned.as_bytes())
            .ok()?;
        (MIN_SEED_BYTES..=MAX_SEED_BYTES)
            .contains(&bytes.len())
            .then_some(Self(bytes))
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn to_base32(&self) -> String {
        data_encoding::BASE32_NOPAD.encode(&self.0)
    }

    fn totp(&self) -> Totp {
        // Builder::build only refuses short seeds; ours are checked on the way in.
        Builder::new()
            .with_secret(self.0.clone())
            .with_skew(0)
            .build_noncompliant()
    }

    /// The code an authenticator shows at time step `step`.
    pub fn code_at_step(&self, step: i64) -> String {
        self.totp()
            .generate(step.max(0) as u64 * STEP_SECS as u64)
            .to_string()
    }
}

/// The time step containing `now`.
pub fn step_at(now: Timestamp) -> i64 {
    now.div_euclid(STEP_SECS)
}

/// Keeps digits only, so "123 456" works; anything else is not a code.
fn normalise(code: &str) -> Option<String> {
    let digits: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    (digits.len() == DIGITS && digits.bytes().all(|b| b.is_ascii_digit())).then_some(digits)
}

fn same_code(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// Checks `code` against the steps around `now` (shifted by the device's known
/// drift), skipping steps at or before `last_step`. Returns the matched step.
pub fn verify(
    seed: &Seed,
    code: &str,
    now: Timestamp,
    offset_steps: i64,
    last_step: Option<i64>,
) -> Option<i64> {
    let code = normalise(code)?;
    let centre = step_at(now) + offset_steps;
    let totp = seed.totp();
    // The newest matching step wins, so a code for the next step is not
    // shadowed by a stale match.
    (centre - SKEW_STEPS..=centre + SKEW_STEPS)
        .rev()
        .filter(|step| last_step.is_none_or(|last| *step > last) && *step >= 0)
        .find(|step| {
            same_code(
                &totp.generate(*step as u64 * STEP_SECS as u64).to_string(),
                &code,
            )
        })
}

/// Finds a step `s` within `window_steps` of `now` where `code` is the code of
/// `s` and `next_code` the code of `s + 1`: how a hardware token is confirmed,
/// and how a drifted token is found again. Returns `s + 1`, the last step used.
pub fn find_consecutive(
    seed: &Seed,
    code: &str,
    next_code: &str,
    now: Timestamp,
    window_steps: i64,
) -> Option<i64> {
    let (code, next_code) = (normalise(code)?, normalise(next_code)?);
    let centre = step_at(now);
    let totp = seed.totp();
    let at = |step: i64| {
        totp.generate(step.max(0) as u64 * STEP_SECS as u64)
            .to_string()
    };
    (centre - window_steps..=centre + window_steps)
        .filter(|step| *step >= 0)
        .find(|step| same_code(&at(*step), &code) && same_code(&at(step + 1), &next_code))
        .map(|step| step + 1)
}

/// `otpauth://totp/ISSUER:ACCOUNT?secret=…&issuer=ISSUER`, what apps scan.
pub fn otpauth_uri(seed: &Seed, issuer: &str, account: &str) -> anyhow::Result<String> {
    Builder::new()
        .with_secret(seed.0.clone())
        .with_issuer(Some(issuer))
        .with_account_name(account)
        .build()
        .context("building the TOTP description")?
        .to_url()
        .context("writing the otpauth URI")
}

/// The URI as a QR code in a PNG: black modules on white, with the quiet zone.
pub fn qr_png(uri: &str) -> anyhow::Result<Vec<u8>> {
    const SCALE: usize = 6;
    const QUIET: usize = 4;
    let code = qrcode::QrCode::new(uri.as_bytes()).context("encoding the QR code")?;
    let modules = code.width();
    let colors = code.to_colors();
    let side = (modules + 2 * QUIET) * SCALE;
    let mut pixels = vec![255u8; side * side];
    for (index, color) in colors.iter().enumerate() {
        if *color == qrcode::Color::Dark {
            let (mx, my) = (index % modules + QUIET, index / modules + QUIET);
            for y in my * SCALE..(my + 1) * SCALE {
                pixels[y * side + mx * SCALE..y * side + (mx + 1) * SCALE].fill(0);
            }
        }
    }
    let mut png_bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut png_bytes, side as u32, side as u32);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().context("writing the PNG header")?;
    writer
        .write_image_data(&pixels)
        .context("writing the PNG")?;
    writer.finish().context("finishing the PNG")?;
    Ok(png_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B, SHA-1 rows, truncated to the 6 digits apps show.
    const RFC_SEED: &[u8] = b"12345678901234567890";
    const RFC_VECTORS: &[(i64, &str)] = &[
        (59, "94287082"),
        (1_111_111_109, "07081804"),
        (1_111_111_111, "14050471"),
        (1_234_567_890, "89005924"),
        (2_000_000_000, "69279037"),
        (20_000_000_000, "65353130"),
    ];

    #[test]
    fn codes_match_rfc_6238_appendix_b() {
        let seed = Seed::from_bytes(RFC_SEED.to_vec());
        for (time, eight_digits) in RFC_VECTORS {
            assert_eq!(
                seed.code_at_step(step_at(*time)),
                eight_digits[2..],
                "time {time}"
            );
        }
    }

    #[test]
    fn verify_accepts_the_current_and_adjacent_steps_only() {
        let seed = Seed::from_bytes(RFC_SEED.to_vec());
        let now = 1_234_567_890;
        let step = step_at(now);
        for delta in -1..=1 {
            let code = seed.code_at_step(step + delta);
            assert_eq!(verify(&seed, &code, now, 0, None), Some(step + delta));
        }
        for delta in [-3, -2, 2, 3] {
            let code = seed.code_at_step(step + delta);
            assert_eq!(verify(&seed, &code, now, 0, None), None, "delta {delta}");
        }
    }

    #[test]
    fn verify_refuses_a_step_already_used() {
        let seed = Seed::from_bytes(RFC_SEED.to_vec());
        let now = 1_234_567_890;
        let code = seed.code_at_step(step_at(now));
        assert_eq!(verify(&seed, &code, now, 0, Some(step_at(now))), None);
        assert_eq!(
            verify(&seed, &code, now, 0, Some(step_at(now) - 1)),
            Some(step_at(now))
        );
    }

    #[test]
    fn verify_refuses_malformed_codes() {
        let seed = Seed::from_bytes(RFC_SEED.to_vec());
        for code in ["", "12345", "1234567", "abcdef", "12345x"] {
            assert_eq!(verify(&seed, code, 1_234_567_890, 0, None), None);
        }
    }

    #[test]
    fn a_code_used_a_moment_ago_is_told_apart_from_a_wrong_one() {
        let seed = Seed::from_bytes(RFC_SEED.to_vec());
        let now = 1_234_567_890;
        let code = seed.code_at_step(step_at(now));
        let used = verify(&seed, &code, now, 0, None).unwrap();
        assert_eq!(verify(&seed, &code, now, 0, Some(used)), None);
        // Refused with the used step, right without it: a replay, not a guess.
        assert_eq!(verify(&seed, &code, now, 0, None), Some(used));
        let next = seed.code_at_step(step_at(now) + 1);
        assert!(verify(&seed, &next, now, 0, Some(used)).is_some());
    }

    #[test]
    fn verify_applies_the_device_offset() {
        let seed = Seed::from_bytes(RFC_SEED.to_vec());
        let now = 1_234_567_890;
        let drifted = seed.code_at_step(step_at(now) + 10);
        assert_eq!(verify(&seed, &drifted, now, 0, None), None);
        assert_eq!(
            verify(&seed, &drifted, now, 10, None),
            Some(step_at(now) + 10)
        );
    }

    #[test]
    fn consecutive_codes_are_found_within_the_window() {
        let seed = Seed::generate();
        let now = 1_800_000_000;
        let at = step_at(now) - 8;
        let (a, b) = (seed.code_at_step(at), seed.code_at_step(at + 1));
        assert_eq!(find_consecutive(&seed, &a, &b, now, 20), Some(at + 1));
        assert_eq!(find_consecutive(&seed, &b, &a, now, 20), None);
        assert_eq!(find_consecutive(&seed, &a, &b, now, 2), None);
    }

    #[test]
    fn base32_seeds_round_trip_and_short_ones_are_refused() {
        let seed = Seed::generate();
        let text = seed.to_base32();
        assert_eq!(text.len(), 32);
        assert_eq!(Seed::from_base32(&text.to_lowercase()), Some(seed));
        assert_eq!(
            Seed::from_base32("JBSWY3DPEHPK3PXP"),
            None,
            "80 bits is too short"
        );
        assert_eq!(Seed::from_base32("not base32!"), None);
        let longest = data_encoding::BASE32_NOPAD.encode(&[7; MAX_SEED_BYTES]);
        assert!(Seed::from_base32(&longest).is_some());
        let too_long = data_encoding::BASE32_NOPAD.encode(&[7; MAX_SEED_BYTES + 1]);
        assert_eq!(Seed::from_base32(&too_long), None, "65 bytes");
        assert_eq!(Seed::from_base32(&"A".repeat(4000)), None);
    }

    /// The worst case the bounds allow: the longest seed, a 64-character
    /// username of characters the URI escapes, an issuer of the longest
    /// characters UTF-8 has. It still fits in one QR code.
    #[test]
    fn the_longest_uri_the_bounds_allow_fits_a_qr_code() {
        let seed = Seed::from_bytes(vec![0xff; MAX_SEED_BYTES]);
        let username = format!(
            "a{}",
            "@".repeat(crate::auth::users::MAX_USERNAME_CHARS - 1)
        );
        assert!(crate::auth::users::check_username(&username).is_ok());
        let issuer = "\u{1F512}".repeat(MAX_ISSUER_CHARS);
        let uri = otpauth_uri(&seed, &issuer, &username).unwrap();
        assert!(qr_png(&uri).is_ok(), "{} bytes", uri.len());
    }

    #[test]
    fn the_uri_names_issuer_account_and_secret() {
        let seed = Seed::from_bytes(RFC_SEED.to_vec());
        let uri = otpauth_uri(&seed, "twofold", "alice").unwrap();
        assert_eq!(
            uri,
            "otpauth://totp/twofold:alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=twofold"
        );
    }
}
