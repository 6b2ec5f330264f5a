//! How atiende proves itself to a mailbox's IMAP and SMTP servers: a password, or an OAuth 2.0
//! access token (Google Workspace and Microsoft 365 accept nothing else from applications) sent
//! by the SASL mechanism XOAUTH2 or OAUTHBEARER (RFC 7628). Here: the choices, the providers'
//! presets, when an access token is due for a refresh, and the SASL messages themselves.

use serde::{Deserialize, Serialize};

/// How a mailbox signs in to its servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MailAuth {
    /// The user and password given for IMAP and for SMTP.
    #[default]
    Password,
    /// An OAuth 2.0 access token by XOAUTH2 (Google's and Microsoft's mechanism).
    Xoauth2,
    /// An OAuth 2.0 access token by OAUTHBEARER (RFC 7628) for IMAP; SMTP uses XOAUTH2, the
    /// only token mechanism of the SMTP client (every provider that offers OAUTHBEARER on
    /// submission also offers XOAUTH2).
    Oauthbearer,
}

impl MailAuth {
    pub fn code(self) -> &'static str {
        match self {
            MailAuth::Password => "password",
            MailAuth::Xoauth2 => "xoauth2",
            MailAuth::Oauthbearer => "oauthbearer",
        }
    }

    pub fn from_code(code: &str) -> Option<MailAuth> {
        [MailAuth::Password, MailAuth::Xoauth2, MailAuth::Oauthbearer]
            .into_iter()
            .find(|m| m.code() == code)
    }

    pub fn uses_oauth(self) -> bool {
        self != MailAuth::Password
    }
}

/// A provider whose addresses and scopes are known, so that an administrator only gives the
/// client id and secret of the application they registered there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OAuthPreset {
    pub code: &'static str,
    pub label: &'static str,
    pub authorization_url: &'static str,
    pub token_url: &'static str,
    pub scopes: &'static str,
    /// Extra parameters the provider needs to give a refresh token.
    pub extra: &'static [(&'static str, &'static str)],
}

pub const GOOGLE: OAuthPreset = OAuthPreset {
    code: "google",
    label: "Google Workspace",
    authorization_url: "https://accounts.google.com/o/oauth2/v2/auth",
    token_url: "https://oauth2.googleapis.com/token",
    scopes: "https://mail.google.com/",
    extra: &[("access_type", "offline")],
};

/// Microsoft 365 for accounts of any organisation's directory; a single tenant replaces
/// `organizations` with its id in both addresses.
pub const MICROSOFT: OAuthPreset = OAuthPreset {
    code: "microsoft",
    label: "Microsoft 365",
    authorization_url: "https://login.microsoftonline.com/organizations/oauth2/v2.0/authorize",
    token_url: "https://login.microsoftonline.com/organizations/oauth2/v2.0/token",
    scopes: "https://outlook.office.com/IMAP.AccessAsUser.All https://outlook.office.com/SMTP.Send offline_access",
    extra: &[],
};

pub const PRESETS: &[OAuthPreset] = &[GOOGLE, MICROSOFT];

pub fn preset(code: &str) -> Option<OAuthPreset> {
    PRESETS.iter().copied().find(|p| p.code == code)
}

/// The OAuth 2.0 application a mailbox is connected through: a preset's addresses, or any
/// provider's given by hand (`preset` empty).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct OAuthApp {
    pub preset: String,
    pub authorization_url: String,
    pub token_url: String,
    pub client_id: String,
    /// Space-separated.
    pub scopes: String,
}

impl OAuthApp {
    /// The app with a preset's addresses and scopes filled in where left empty.
    pub fn completed(mut self) -> OAuthApp {
        if let Some(p) = preset(&self.preset) {
            for (field, default) in [
                (&mut self.authorization_url, p.authorization_url),
                (&mut self.token_url, p.token_url),
                (&mut self.scopes, p.scopes),
            ] {
                if field.trim().is_empty() {
                    *field = default.to_string();
                }
            }
        }
        self
    }

    /// Parameters added to the consent request: the preset's, and always `prompt=consent`, as
    /// providers give a refresh token only when the person consented just now.
    pub fn consent_parameters(&self) -> Vec<(&'static str, &'static str)> {
        let mut out = vec![("prompt", "consent")];
        if let Some(p) = preset(&self.preset) {
            out.extend(p.extra.iter().copied());
        }
        out
    }

    /// Field errors of an app a mailbox signing in by token needs.
    pub fn check(&self, v: &mut crate::error::Validator) {
        for (field, value) in [
            ("oauth_authorization_url", &self.authorization_url),
            ("oauth_token_url", &self.token_url),
        ] {
            if !(value.starts_with("https://") || value.starts_with("http://")) {
                v.push(field, "invalid");
            }
        }
        if self.client_id.trim().is_empty() {
            v.push("oauth_client_id", "required");
        }
    }
}

/// A stored access token is refreshed this long before it expires, so that a poll or a send
/// never starts with one about to lapse.
pub const REFRESH_MARGIN_SECONDS: i64 = 120;

/// Whether an access token expiring at `expires_at` (seconds) needs refreshing at `now`.
pub fn needs_refresh(expires_at: Option<i64>, now: i64) -> bool {
    expires_at.is_none_or(|e| e - REFRESH_MARGIN_SECONDS <= now)
}

/// What a mailbox's authorization is like, as administrators see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantState {
    /// Signs in by password.
    NotUsed,
    /// Signs in by token, and no one has connected it yet.
    NotConnected,
    Connected,
    /// The provider refused the refresh token: someone withdrew the consent, the account's
    /// password changed, or an administrator revoked it. Only connecting again mends it.
    Revoked,
}

impl GrantState {
    pub fn code(&self) -> &'static str {
        match self {
            GrantState::NotUsed => "not_used",
            GrantState::NotConnected => "not_connected",
            GrantState::Connected => "connected",
            GrantState::Revoked => "revoked",
        }
    }

    pub fn label(&self) -> &'static str {
        match self {
            GrantState::NotUsed => "Contraseña",
            GrantState::NotConnected => "Sin conectar: conéctelo con el proveedor",
            GrantState::Connected => "Conectado",
            GrantState::Revoked => "Autorización revocada: vuelva a conectarlo",
        }
    }
}

/// The XOAUTH2 initial response (Google's and Microsoft's documented format), before base64.
pub fn xoauth2_response(user: &str, token: &str) -> String {
    format!("user={user}\x01auth=Bearer {token}\x01\x01")
}

/// The OAUTHBEARER initial response (RFC 7628 §3.1) with the GS2 header naming the user, before
/// base64.
pub fn oauthbearer_response(user: &str, host: &str, port: u16, token: &str) -> String {
    let user = user.replace('=', "=3D").replace(',', "=2C");
    format!("n,a={user},\x01host={host}\x01port={port}\x01auth=Bearer {token}\x01\x01")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_refreshed_shortly_before_it_expires_or_when_its_expiry_is_unknown() {
        assert!(!needs_refresh(Some(10_000), 10_000 - 121));
        assert!(needs_refresh(Some(10_000), 10_000 - 120));
        assert!(needs_refresh(Some(10_000), 20_000));
        assert!(needs_refresh(None, 0));
    }

    #[test]
    fn a_preset_fills_what_the_administrator_left_empty_and_keeps_what_they_gave() {
        let app = OAuthApp {
            preset: "microsoft".into(),
            authorization_url: "https://login.microsoftonline.com/udg-tenant/oauth2/v2.0/authorize"
                .into(),
            client_id: "abc".into(),
            ..Default::default()
        }
        .completed();
        assert!(app.authorization_url.contains("udg-tenant"));
        assert_eq!(app.token_url, MICROSOFT.token_url);
        assert!(app.scopes.contains("IMAP.AccessAsUser.All"));
        assert!(app.scopes.contains("offline_access"));
        let google = OAuthApp {
            preset: "google".into(),
            ..Default::default()
        };
        assert_eq!(
            google.consent_parameters(),
            vec![("prompt", "consent"), ("access_type", "offline")]
        );
    }

    #[test]
    fn the_sasl_messages_follow_their_documented_formats() {
        assert_eq!(
            xoauth2_response("cap@udg.mx", "tok"),
            "user=cap@udg.mx\u{1}auth=Bearer tok\u{1}\u{1}"
        );
        assert_eq!(
            oauthbearer_response("a,b=c@udg.mx", "imap.udg.mx", 993, "tok"),
            "n,a=a=2Cb=3Dc@udg.mx,\u{1}host=imap.udg.mx\u{1}port=993\u{1}auth=Bearer tok\u{1}\u{1}"
        );
    }

    #[test]
    fn an_app_without_addresses_or_client_is_refused_field_by_field() {
        let mut v = crate::error::Validator::new();
        OAuthApp::default().check(&mut v);
        let fields: Vec<String> = v
            .finish()
            .expect_err("refused")
            .fields()
            .iter()
            .map(|f| f.field.clone())
            .collect();
        assert_eq!(
            fields,
            [
                "oauth_authorization_url",
                "oauth_token_url",
                "oauth_client_id"
            ]
        );
    }
}
