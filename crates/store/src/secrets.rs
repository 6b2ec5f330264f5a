//! Secrets the database must keep — mailbox passwords, second-factor secrets, the
//! installation's signing keys — are sealed (XChaCha20-Poly1305) with a key the database does
//! not hold: a copy of the database alone reveals none of them.
//!
//! A keyring holds the current key, which seals, and earlier ones, which still open what they
//! sealed until `Store::rotate_secrets` seals everything again with the current key. A value
//! without the seal's prefix is one written before sealing existed: it opens as it is, and
//! the rotation seals it.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::error::{Result, StoreError};

const PREFIX: &str = "enc:v1:";

/// The keys secrets are sealed with: the first seals, every one opens.
#[derive(Clone)]
pub struct Keyring {
    keys: Vec<(String, Key)>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|(id, _)| id.as_str()).collect();
        write!(f, "Keyring({ids:?})")
    }
}

impl Keyring {
    /// From keys in base64 (32 bytes each), the current one first.
    pub fn parse(keys: &[&str]) -> std::result::Result<Keyring, String> {
        let mut out = Vec::new();
        for (n, k) in keys.iter().enumerate() {
            let bytes = B64
                .decode(k.trim())
                .map_err(|_| format!("secrets key {}: not base64", n + 1))?;
            if bytes.len() != 32 {
                return Err(format!(
                    "secrets key {}: {} bytes, 32 expected (`atiende secrets new-key` makes one)",
                    n + 1,
                    bytes.len()
                ));
            }
            out.push((key_id(&bytes), *Key::from_slice(&bytes)));
        }
        if out.is_empty() {
            return Err("no secrets key given".into());
        }
        Ok(Keyring { keys: out })
    }

    /// A new random key, in base64.
    pub fn new_key() -> String {
        let mut bytes = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut bytes);
        B64.encode(bytes)
    }

    /// The short name of the current key (never the key), for messages.
    pub fn current_id(&self) -> &str {
        &self.keys[0].0
    }

    /// `plain` sealed with the current key.
    pub fn seal(&self, plain: &str) -> String {
        let (id, key) = &self.keys[0];
        let mut nonce = [0u8; 24];
        rand::thread_rng().fill_bytes(&mut nonce);
        let sealed = XChaCha20Poly1305::new(key)
            .encrypt(XNonce::from_slice(&nonce), plain.as_bytes())
            .unwrap_or_default();
        let mut bytes = nonce.to_vec();
        bytes.extend(sealed);
        format!("{PREFIX}{id}:{}", B64.encode(bytes))
    }

    /// What `stored` holds: opened with the key that sealed it, or as it is when it was never
    /// sealed.
    pub fn open(&self, stored: &str) -> Result<String> {
        let Some(rest) = stored.strip_prefix(PREFIX) else {
            return Ok(stored.to_string());
        };
        let (id, body) = rest
            .split_once(':')
            .ok_or_else(|| StoreError::Corrupt("a sealed secret without its key".into()))?;
        let (_, key) = self.keys.iter().find(|(k, _)| k == id).ok_or_else(|| {
            StoreError::Corrupt(format!(
                "a secret is sealed with key {id}, which is not among the configured secrets keys"
            ))
        })?;
        let bytes = B64
            .decode(body)
            .map_err(|_| StoreError::Corrupt("a sealed secret that is not base64".into()))?;
        if bytes.len() < 24 {
            return Err(StoreError::Corrupt("a sealed secret too short".into()));
        }
        let (nonce, sealed) = bytes.split_at(24);
        let plain = XChaCha20Poly1305::new(key)
            .decrypt(XNonce::from_slice(nonce), sealed)
            .map_err(|_| {
                StoreError::Corrupt(format!("a secret sealed with key {id} does not open"))
            })?;
        String::from_utf8(plain).map_err(StoreError::corrupt)
    }

    /// A keyed hash of `value` (HMAC-SHA-256 with the current key, in hex): what a short
    /// one-time code is kept as, so that a copy of the database cannot try every code offline.
    pub fn keyed_hash(&self, value: &str) -> String {
        use hmac::{Hmac, Mac};
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.keys[0].1.as_slice())
            .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
        mac.update(value.as_bytes());
        mac.finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// Whether `stored` is sealed with the current key already.
    pub fn is_current(&self, stored: &str) -> bool {
        stored
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split_once(':'))
            .is_some_and(|(id, _)| id == self.keys[0].0)
    }
}

/// How a store seals and opens: with its keyring, or — a store opened without one (tests of
/// other things, commands that touch no secret) — keeping values as they are and refusing to
/// open a sealed one.
#[derive(Clone, Debug, Default)]
pub struct Sealer(pub(crate) Option<std::sync::Arc<Keyring>>);

impl Sealer {
    pub fn seal(&self, plain: &str) -> String {
        match &self.0 {
            Some(ring) if !plain.is_empty() => ring.seal(plain),
            _ => plain.to_string(),
        }
    }

    /// A keyed hash with the keyring's current key; without a keyring (a store opened for
    /// tests or commands), a plain hash.
    pub fn keyed_hash(&self, value: &str) -> String {
        match &self.0 {
            Some(ring) => ring.keyed_hash(value),
            None => sha256_hex(value),
        }
    }

    pub fn open(&self, stored: &str) -> Result<String> {
        match &self.0 {
            Some(ring) => ring.open(stored),
            None if is_sealed(stored) => Err(StoreError::Corrupt(
                "a secret is sealed, and no secrets key is configured (secrets_key_file or \
                 ATIENDE_SECRETS_KEY)"
                    .into(),
            )),
            None => Ok(stored.to_string()),
        }
    }
}

/// The SHA-256 of `value` in hex: what a one-time token is kept as (`users::token_hash`).
pub fn sha256_hex(value: &str) -> String {
    Sha256::digest(value.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Whether a stored value is sealed (with any key).
pub fn is_sealed(stored: &str) -> bool {
    stored.starts_with(PREFIX)
}

fn key_id(key: &[u8]) -> String {
    let digest = Sha256::digest(key);
    digest[..4].iter().map(|b| format!("{b:02x}")).collect()
}

impl crate::Store {
    /// Seals every secret the database keeps with the current key: those sealed with an
    /// earlier key, and those written before sealing existed. Returns how many changed. Run
    /// after putting a new key first (`atiende secrets rotate`); the earlier key can go once
    /// this is done.
    pub async fn rotate_secrets(&self) -> Result<u64> {
        use sqlx::Row;
        let Some(ring) = self.sealer.0.clone() else {
            return Err(StoreError::Corrupt(
                "no secrets key is configured: nothing to seal with".into(),
            ));
        };
        // (table, key column, secret column): each secret column of the database.
        const SECRETS: &[(&str, &str, &str)] = &[
            ("mailboxes", "id", "imap_password"),
            ("mailboxes", "id", "smtp_password"),
            ("mailboxes", "id", "oauth_client_secret"),
            ("mailboxes", "id", "oauth_refresh_token"),
            ("mailboxes", "id", "oauth_access_token"),
            ("users", "id", "totp_secret"),
            ("users", "id", "totp_pending"),
            ("webhook_subscriptions", "id", "secret"),
        ];
        let mut changed = 0;
        let mut tx = self.begin().await?;
        for (table, id, column) in SECRETS {
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {id} AS id, {column} AS value FROM {table} \
                 WHERE {column} IS NOT NULL AND {column} <> ''"
            )))
            .fetch_all(&mut *tx)
            .await?;
            for r in rows {
                let (key, value): (i64, String) = (r.try_get("id")?, r.try_get("value")?);
                if ring.is_current(&value) {
                    continue;
                }
                let resealed = ring.seal(&ring.open(&value)?);
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "UPDATE {table} SET {column} = $1 WHERE {id} = $2"
                )))
                .bind(resealed)
                .bind(key)
                .execute(&mut *tx)
                .await?;
                changed += 1;
            }
        }
        // Identity providers' client secrets, by their text id.
        let rows = sqlx::query("SELECT id, client_secret FROM identity_providers")
            .fetch_all(&mut *tx)
            .await?;
        for r in rows {
            let (id, value): (String, String) = (r.try_get("id")?, r.try_get("client_secret")?);
            if value.is_empty() || ring.is_current(&value) {
                continue;
            }
            sqlx::query("UPDATE identity_providers SET client_secret = $1 WHERE id = $2")
                .bind(ring.seal(&ring.open(&value)?))
                .bind(id)
                .execute(&mut *tx)
                .await?;
            changed += 1;
        }
        // The installation's own secrets, kept as JSON strings among the settings.
        let rows = sqlx::query("SELECT key, value FROM settings WHERE key LIKE 'secret.%'")
            .fetch_all(&mut *tx)
            .await?;
        for r in rows {
            let key: String = r.try_get("key")?;
            let value: String = serde_json::from_str(&r.try_get::<String, _>("value")?)
                .map_err(StoreError::corrupt)?;
            if ring.is_current(&value) {
                continue;
            }
            let resealed = serde_json::Value::String(ring.seal(&ring.open(&value)?)).to_string();
            sqlx::query("UPDATE settings SET value = $1 WHERE key = $2")
                .bind(resealed)
                .bind(key)
                .execute(&mut *tx)
                .await?;
            changed += 1;
        }
        tx.commit().await?;
        Ok(changed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_secret_opens_with_its_key_and_shows_nothing_of_itself() {
        let ring = Keyring::parse(&[&Keyring::new_key()]).expect("key");
        let sealed = ring.seal("clave-imap-zyxw");
        assert!(!sealed.contains("zyxw") && is_sealed(&sealed));
        assert_ne!(
            sealed,
            ring.seal("clave-imap-zyxw"),
            "a fresh nonce each time"
        );
        assert_eq!(ring.open(&sealed).expect("open"), "clave-imap-zyxw");
        assert!(ring.is_current(&sealed));
    }

    #[test]
    fn another_key_does_not_open_it_and_an_earlier_key_still_does() {
        let (old, new) = (Keyring::new_key(), Keyring::new_key());
        let sealed = Keyring::parse(&[&old]).expect("old").seal("secreto");
        assert!(Keyring::parse(&[&new]).expect("new").open(&sealed).is_err());
        let rotated = Keyring::parse(&[&new, &old]).expect("both");
        assert_eq!(rotated.open(&sealed).expect("open"), "secreto");
        assert!(!rotated.is_current(&sealed), "to be sealed again");
    }

    #[test]
    fn a_changed_seal_does_not_open_and_a_value_never_sealed_reads_as_it_is() {
        let ring = Keyring::parse(&[&Keyring::new_key()]).expect("key");
        let mut sealed = ring.seal("secreto");
        sealed.pop();
        sealed.push(if sealed.ends_with('A') { 'B' } else { 'A' });
        assert!(ring.open(&sealed).is_err());
        assert_eq!(ring.open("legado").expect("plain"), "legado");
    }

    #[test]
    fn a_key_must_be_32_bytes_of_base64() {
        assert!(Keyring::parse(&["corta"]).is_err());
        assert!(Keyring::parse(&[&B64.encode([0u8; 16])]).is_err());
        assert!(Keyring::parse(&[]).is_err());
    }
}
