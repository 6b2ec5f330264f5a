//! The second factor of local-password accounts: time-based one-time codes (TOTP, RFC 6238)
//! from an authenticator app, and single-use recovery codes for the day the phone is lost.
//!
//! A code is accepted once: the time step it matched is remembered, and a code of that step or
//! an earlier one is refused (someone who saw it over a shoulder cannot replay it). Recovery
//! codes are kept only as hashes.

use rand::Rng;
use serde::{Deserialize, Serialize};
use totp_rs::{Builder, Secret, Totp};

use crate::user::Role;

/// What the authenticator app shows as the account's issuer.
pub const ISSUER: &str = "atiende";
/// Recovery codes given at enrolment.
pub const RECOVERY_CODES: usize = 10;

/// Which roles must have a second factor before they work (with a password; the identity
/// provider answers for those who sign in through it). Administrators by default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecondFactorRule {
    pub required_roles: Vec<Role>,
}

impl Default for SecondFactorRule {
    fn default() -> Self {
        SecondFactorRule {
            required_roles: vec![Role::Admin],
        }
    }
}

impl SecondFactorRule {
    pub fn required_for(&self, role: Role) -> bool {
        self.required_roles.contains(&role)
    }
}

/// A fresh secret (160 random bits, as RFC 4226 recommends), in base32 as apps take it.
pub fn new_secret() -> String {
    let bytes: [u8; 20] = rand::thread_rng().r#gen();
    Secret::from(bytes).to_base32()
}

fn totp(secret: &str, account: &str) -> Option<Totp> {
    Builder::new()
        .with_secret(Secret::try_from_base32(secret).ok()?)
        .with_account_name(account.replace(':', "_"))
        .with_issuer(Some(ISSUER))
        .build()
        .ok()
}

/// The `otpauth://` address the enrolment's QR code holds.
pub fn otpauth_url(secret: &str, account: &str) -> Option<String> {
    totp(secret, account)?.to_url().ok()
}

/// The time step `code` matches at `unix_seconds` (the one before and after count too, for
/// clocks that drift), if it is later than `last_step`, the last one accepted.
pub fn accepted_step(
    secret: &str,
    code: &str,
    unix_seconds: u64,
    last_step: Option<i64>,
) -> Option<i64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    let step = i64::try_from(totp(secret, "x")?.check(&code, unix_seconds)?).ok()?;
    (last_step.is_none_or(|last| step > last)).then_some(step)
}

/// Ten recovery codes like `k7q2-m9xd`, to be shown once.
pub fn new_recovery_codes() -> Vec<String> {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    let mut rng = rand::thread_rng();
    (0..RECOVERY_CODES)
        .map(|_| {
            let mut code: String = (0..8)
                .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
                .collect();
            code.insert(4, '-');
            code
        })
        .collect()
}

/// What is stored of a recovery code: its hash, however it was typed (case, dash, spaces).
pub fn recovery_code_hash(code: &str) -> String {
    use sha2::Digest;
    let normal: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    hex::encode(sha2::Sha256::digest(
        format!("recovery\n{normal}").as_bytes(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code_at(secret: &str, unix: u64) -> String {
        totp(secret, "x").expect("totp").generate(unix).to_string()
    }

    #[test]
    fn the_rfc_6238_vector_matches() {
        // RFC 6238, appendix B: the ASCII secret "12345678901234567890", SHA-1, at 59 s.
        let secret = Secret::from(b"12345678901234567890".to_vec()).to_base32();
        let eight = Builder::new()
            .with_secret(Secret::try_from_base32(&secret).expect("base32"))
            .with_digits(8)
            .build_noncompliant();
        assert_eq!(eight.generate(59).to_string(), "94287082");
    }

    #[test]
    fn a_code_is_accepted_once_and_only_near_its_time() {
        let secret = new_secret();
        let now = 1_796_500_000;
        let code = code_at(&secret, now);
        let step = accepted_step(&secret, &code, now, None).expect("accepted");
        assert_eq!(step, (now / 30) as i64);
        assert_eq!(
            accepted_step(&secret, &code, now, Some(step)),
            None,
            "replayed"
        );
        assert!(
            accepted_step(&secret, &code, now + 30, None).is_some(),
            "a step late"
        );
        assert_eq!(
            accepted_step(&secret, &code, now + 120, None),
            None,
            "too late"
        );
        assert_eq!(accepted_step(&secret, "000000x", now, None), None);
        let spaced = format!("{} {}", &code[..3], &code[3..]);
        assert!(accepted_step(&secret, &spaced, now, None).is_some());
    }

    #[test]
    fn recovery_codes_are_distinct_and_hashed_however_typed() {
        let codes = new_recovery_codes();
        assert_eq!(codes.len(), RECOVERY_CODES);
        let mut unique = codes.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), RECOVERY_CODES);
        let c = &codes[0];
        assert_eq!(
            recovery_code_hash(c),
            recovery_code_hash(&format!(" {} ", c.to_uppercase().replace('-', "")))
        );
        assert_ne!(recovery_code_hash(c), recovery_code_hash(&codes[1]));
    }

    #[test]
    fn administrators_need_a_second_factor_by_default() {
        let rule = SecondFactorRule::default();
        assert!(rule.required_for(Role::Admin));
        assert!(!rule.required_for(Role::Agent));
    }

    #[test]
    fn the_enrolment_address_names_atiende_and_the_account() {
        let url = otpauth_url(&new_secret(), "ana").expect("url");
        assert!(url.starts_with("otpauth://totp/atiende:ana?"), "{url}");
    }
}
