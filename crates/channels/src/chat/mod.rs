//! Meta's channels: WhatsApp Business Cloud API ([`whatsapp`]) and Messenger/Instagram
//! ([`messenger`]) share one webhook family, one signature ([`signature_valid`]) and one Graph
//! API ([`graph`]) reached through a configurable base URL, so tests and staging can point it at
//! a local stand-in.

pub mod graph;
pub mod jobs;
pub mod messenger;
pub mod payload;
#[cfg(feature = "testing")]
pub mod stand_in;

pub use payload::PayloadError;
pub mod whatsapp;

use atiende_domain::chat::{Provider, Template};
use atiende_domain::secret::Secret;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// Meta's settings, from the configuration file (`[meta]`) or the environment.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetaConfig {
    /// The Graph API with its version, e.g. `https://graph.facebook.com/v21.0`.
    #[serde(default = "default_graph_url")]
    pub graph_url: String,
    /// The app secret: webhooks are signed with it (`X-Hub-Signature-256`).
    #[serde(default)]
    pub app_secret: Secret,
    /// The token Meta echoes in the subscription handshake.
    #[serde(default)]
    pub verify_token: Secret,
    /// WhatsApp Business phone numbers.
    #[serde(default)]
    pub whatsapp: Vec<Account>,
    /// Facebook pages (Messenger).
    #[serde(default)]
    pub messenger: Vec<Account>,
    /// Instagram professional accounts.
    #[serde(default)]
    pub instagram: Vec<Account>,
    /// WhatsApp templates approved by Meta that agents may send outside the 24-hour window.
    #[serde(default)]
    pub templates: Vec<Template>,
    /// The approved authentication template (one of `templates`, its text with `{{1}}` for
    /// the code) that sends the portal's sign-in code; empty: the portal offers email only.
    #[serde(default)]
    pub sign_in_template: String,
}

/// One of our accounts on a provider and the token that sends from it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Account {
    /// Phone-number id, page id or Instagram account id.
    pub id: String,
    pub access_token: Secret,
}

fn default_graph_url() -> String {
    "https://graph.facebook.com/v21.0".into()
}

impl Default for MetaConfig {
    fn default() -> Self {
        MetaConfig {
            graph_url: default_graph_url(),
            app_secret: Secret::default(),
            verify_token: Secret::default(),
            whatsapp: vec![],
            messenger: vec![],
            instagram: vec![],
            templates: vec![],
            sign_in_template: String::new(),
        }
    }
}

impl MetaConfig {
    /// Webhooks are accepted only with an app secret to check them against.
    pub fn enabled(&self) -> bool {
        !self.app_secret.is_empty()
    }

    fn accounts(&self, provider: Provider) -> &[Account] {
        match provider {
            Provider::Whatsapp => &self.whatsapp,
            Provider::Messenger => &self.messenger,
            Provider::Instagram => &self.instagram,
        }
    }

    /// The token that sends from one of our accounts; `None` for an account not configured.
    pub fn token(&self, provider: Provider, account_id: &str) -> Option<&str> {
        self.accounts(provider)
            .iter()
            .find(|a| a.id == account_id)
            .map(|a| a.access_token.expose())
    }

    /// The template the portal's sign-in code goes in, when one is configured and there is a
    /// WhatsApp number to send it from.
    pub fn sign_in_template(&self) -> Option<&Template> {
        if self.whatsapp.is_empty() || self.sign_in_template.is_empty() {
            return None;
        }
        self.template(&self.sign_in_template)
    }

    /// Our WhatsApp numbers (phone-number ids).
    pub fn whatsapp_accounts(&self) -> Vec<String> {
        self.whatsapp.iter().map(|a| a.id.clone()).collect()
    }

    pub fn template(&self, name: &str) -> Option<&Template> {
        self.templates.iter().find(|t| t.name == name)
    }

    /// Checks the subscription handshake (`hub.mode`, `hub.verify_token`) in constant time.
    pub fn handshake_valid(&self, mode: &str, token: &str) -> bool {
        use subtle::ConstantTimeEq;
        !self.verify_token.is_empty()
            && mode == "subscribe"
            && bool::from(
                self.verify_token
                    .expose()
                    .as_bytes()
                    .ct_eq(token.as_bytes()),
            )
    }
}

/// True when `header` (`sha256=<hex>`) is the HMAC-SHA256 of the raw body under the app
/// secret. The comparison is constant-time; a missing or malformed header is simply false.
pub fn signature_valid(app_secret: &str, body: &[u8], header: Option<&str>) -> bool {
    let Some(hex_sig) = header.and_then(|h| h.trim().strip_prefix("sha256=")) else {
        return false;
    };
    let Ok(expected) = hex::decode(hex_sig) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(app_secret.as_bytes()) else {
        return false;
    };
    mac.update(body);
    !app_secret.is_empty() && mac.verify_slice(&expected).is_ok()
}

/// The `X-Hub-Signature-256` value for a body, as Meta computes it (for tests and stand-ins).
pub fn sign(app_secret: &str, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(app_secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_signed_with_the_app_secret_is_accepted_and_any_change_is_not() {
        let body = br#"{"object":"whatsapp_business_account"}"#;
        let header = sign("s3cret", body);
        assert!(signature_valid("s3cret", body, Some(&header)));
        assert!(!signature_valid("other", body, Some(&header)));
        assert!(!signature_valid("s3cret", b"{}", Some(&header)));
        assert!(!signature_valid("s3cret", body, None));
        assert!(!signature_valid("s3cret", body, Some("sha256=zz")));
        assert!(!signature_valid(
            "s3cret",
            body,
            Some(header.trim_start_matches("sha256="))
        ));
        assert!(!signature_valid("", body, Some(&sign("", body))));
    }

    #[test]
    fn the_handshake_needs_subscribe_and_the_configured_token() {
        let config = MetaConfig {
            verify_token: "tok".into(),
            ..Default::default()
        };
        assert!(config.handshake_valid("subscribe", "tok"));
        assert!(!config.handshake_valid("subscribe", "nope"));
        assert!(!config.handshake_valid("unsubscribe", "tok"));
        assert!(!MetaConfig::default().handshake_valid("subscribe", ""));
    }
}
