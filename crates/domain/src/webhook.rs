//! Signed outbound events (webhooks) as the Standard Webhooks specification defines them: what
//! an integrator subscribes to, how each delivery is signed (`webhook-id`, `webhook-timestamp`,
//! `webhook-signature: v1,<base64 HMAC-SHA256>` with a `whsec_` secret), when a failing
//! endpoint is tried again and when it is turned off, and which addresses are never called
//! (the server's own network: a subscription must not reach inside it).

use std::net::IpAddr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::error::{RuleError, Validator};

/// What happened, as an event's `type` names it. (Written out rather than with `coded_enum!`:
/// the codes have dots, and the OpenAPI schema reads renames only from plain attributes.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum EventType {
    #[serde(rename = "incident.created")]
    IncidentCreated,
    #[serde(rename = "incident.classified")]
    IncidentClassified,
    #[serde(rename = "incident.answered")]
    IncidentAnswered,
    #[serde(rename = "incident.derived")]
    IncidentDerived,
    #[serde(rename = "derivation.answered")]
    DerivationAnswered,
    #[serde(rename = "incident.closed")]
    IncidentClosed,
    #[serde(rename = "incident.reopened")]
    IncidentReopened,
    #[serde(rename = "survey.answered")]
    SurveyAnswered,
    #[serde(rename = "nonconformity.registered")]
    NonconformityRegistered,
    #[serde(rename = "contact.changed")]
    ContactChanged,
    #[serde(rename = "contact.blocked")]
    ContactBlocked,
    #[serde(rename = "contact.suppressed")]
    ContactSuppressed,
}

impl EventType {
    pub const ALL: &'static [EventType] = &[
        EventType::IncidentCreated,
        EventType::IncidentClassified,
        EventType::IncidentAnswered,
        EventType::IncidentDerived,
        EventType::DerivationAnswered,
        EventType::IncidentClosed,
        EventType::IncidentReopened,
        EventType::SurveyAnswered,
        EventType::NonconformityRegistered,
        EventType::ContactChanged,
        EventType::ContactBlocked,
        EventType::ContactSuppressed,
    ];

    pub fn code(self) -> &'static str {
        match self {
            EventType::IncidentCreated => "incident.created",
            EventType::IncidentClassified => "incident.classified",
            EventType::IncidentAnswered => "incident.answered",
            EventType::IncidentDerived => "incident.derived",
            EventType::DerivationAnswered => "derivation.answered",
            EventType::IncidentClosed => "incident.closed",
            EventType::IncidentReopened => "incident.reopened",
            EventType::SurveyAnswered => "survey.answered",
            EventType::NonconformityRegistered => "nonconformity.registered",
            EventType::ContactChanged => "contact.changed",
            EventType::ContactBlocked => "contact.blocked",
            EventType::ContactSuppressed => "contact.suppressed",
        }
    }

    pub fn from_code(code: &str) -> Option<EventType> {
        EventType::ALL.iter().copied().find(|e| e.code() == code)
    }

    pub fn label(self, lang: crate::classification::Lang) -> &'static str {
        use crate::classification::Lang::{En, Es};
        match (self, lang) {
            (EventType::IncidentCreated, Es) => "Incidente registrado",
            (EventType::IncidentClassified, Es) => "Incidente clasificado",
            (EventType::IncidentAnswered, Es) => "Respuesta enviada al usuario",
            (EventType::IncidentDerived, Es) => "Incidente derivado a una unidad",
            (EventType::DerivationAnswered, Es) => "Derivación respondida por la unidad",
            (EventType::IncidentClosed, Es) => "Incidente cerrado",
            (EventType::IncidentReopened, Es) => "Incidente reabierto",
            (EventType::SurveyAnswered, Es) => "Encuesta respondida",
            (EventType::NonconformityRegistered, Es) => "Producto no conforme registrado",
            (EventType::ContactChanged, Es) => "Datos de un usuario modificados",
            (EventType::ContactBlocked, Es) => "Datos de un usuario bloqueados",
            (EventType::ContactSuppressed, Es) => "Datos de un usuario suprimidos",
            (EventType::IncidentCreated, En) => "Incident registered",
            (EventType::IncidentClassified, En) => "Incident classified",
            (EventType::IncidentAnswered, En) => "Answer sent to the user",
            (EventType::IncidentDerived, En) => "Incident derived to a unit",
            (EventType::DerivationAnswered, En) => "Derivation answered by the unit",
            (EventType::IncidentClosed, En) => "Incident closed",
            (EventType::IncidentReopened, En) => "Incident reopened",
            (EventType::SurveyAnswered, En) => "Survey answered",
            (EventType::NonconformityRegistered, En) => "Nonconformity registered",
            (EventType::ContactChanged, En) => "A user's data changed",
            (EventType::ContactBlocked, En) => "A user's data blocked",
            (EventType::ContactSuppressed, En) => "A user's data suppressed",
        }
    }
}

/// Consecutive failed deliveries after which a subscription is turned off (an administrator
/// turns it on again once the endpoint works).
pub const DISABLE_AFTER_FAILURES: i64 = 20;

/// What an administrator gives to subscribe an endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SubscriptionInput {
    /// Where events are POSTed: `https://…` (plain `http://` only where the configuration
    /// allows private addresses, for tests and internal networks).
    pub url: String,
    /// The event types it receives (at least one).
    pub events: Vec<EventType>,
    #[serde(default)]
    pub description: String,
}

impl SubscriptionInput {
    pub fn check(&self, allow_private: bool) -> Result<(), RuleError> {
        let mut v = Validator::new();
        match url::Url::parse(self.url.trim()) {
            Ok(u) if u.scheme() == "https" || (allow_private && u.scheme() == "http") => {
                if u.host_str().is_none_or(str::is_empty) || !u.username().is_empty() {
                    v.push("url", "invalid_url");
                } else if !allow_private
                    && let Some(url::Host::Ipv4(_) | url::Host::Ipv6(_)) = u.host()
                    && u.host_str()
                        .and_then(|h| h.trim_matches(['[', ']']).parse::<IpAddr>().ok())
                        .is_some_and(forbidden_address)
                {
                    v.push("url", "private_address");
                }
            }
            Ok(_) => v.push("url", "https_required"),
            Err(_) => v.push("url", "invalid_url"),
        }
        if self.events.is_empty() {
            v.push("events", "required");
        }
        v.text("description", &self.description, 200, false);
        v.finish()
    }
}

/// A new signing secret: `whsec_` and 32 random bytes in base64.
pub fn new_secret() -> String {
    let bytes: [u8; 32] = rand::random();
    format!("whsec_{}", STANDARD.encode(bytes))
}

/// The `webhook-signature` header of one delivery: `v1,` and the base64 HMAC-SHA256, keyed with
/// the secret's bytes, of `{id}.{timestamp}.{body}`.
pub fn signature(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> String {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap_or(secret))
        .unwrap_or_else(|_| secret.as_bytes().to_vec());
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes a key of any length");
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// Addresses a webhook never calls unless the configuration allows private ones: this host,
/// private and shared networks, link-local (the cloud's metadata service), multicast and the
/// unspecified address, in IPv4 and IPv6 (and IPv4 written as IPv6).
pub fn forbidden_address(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 198 && (18..20).contains(&b))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return forbidden_address(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delivery_is_signed_as_the_standard_webhooks_test_vector_says() {
        // The specification's own example.
        let sig = signature(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        let secret = new_secret();
        assert!(secret.starts_with("whsec_") && secret.len() > 40);
        assert_ne!(secret, new_secret());
    }

    #[test]
    fn an_event_type_reads_back_from_its_code_and_its_json() {
        for e in EventType::ALL {
            assert_eq!(EventType::from_code(e.code()), Some(*e));
            assert_eq!(
                serde_json::to_value(e).expect("json"),
                serde_json::json!(e.code())
            );
        }
    }

    #[test]
    fn the_servers_own_network_is_never_called() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.10",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(forbidden_address(ip.parse().expect("ip")), "{ip}");
        }
        for ip in ["148.202.1.1", "8.8.8.8", "2001:4860:4860::8888"] {
            assert!(!forbidden_address(ip.parse().expect("ip")), "{ip}");
        }
    }

    #[test]
    fn a_subscription_needs_https_a_public_host_and_an_event() {
        let input = |url: &str, events: Vec<EventType>| SubscriptionInput {
            url: url.into(),
            events,
            description: String::new(),
        };
        let closed = vec![EventType::IncidentClosed];
        assert!(
            input("https://bi.udg.mx/hooks", closed.clone())
                .check(false)
                .is_ok()
        );
        let code = |i: SubscriptionInput, private: bool| match i.check(private) {
            Err(RuleError::Invalid(f)) => f[0].code.clone(),
            other => format!("{other:?}"),
        };
        assert_eq!(
            code(input("http://bi.udg.mx/hooks", closed.clone()), false),
            "https_required"
        );
        assert_eq!(
            code(input("https://169.254.169.254/", closed.clone()), false),
            "private_address"
        );
        assert_eq!(
            code(input("https://[::1]/x", closed.clone()), false),
            "private_address"
        );
        assert_eq!(
            code(input("no es url", closed.clone()), false),
            "invalid_url"
        );
        assert_eq!(
            code(input("https://bi.udg.mx/hooks", vec![]), false),
            "required"
        );
        assert!(input("http://127.0.0.1:9000/x", closed).check(true).is_ok());
    }
}
