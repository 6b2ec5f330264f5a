//! Signing in with the institution's accounts (OpenID Connect): who an identity provider's
//! answer makes a person in atiende, and when a password may still be used.
//!
//! The provider proves who someone is; atiende decides what they may do. A person is matched
//! to a staff account by a verified email; an unknown person gets an account only where the
//! institution turned that on, with a role that is never administrator; groups the provider
//! sends may set the role and units, never administrator either (administrators are managed
//! in atiende, where a break-glass account keeps its password).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::ids::UserId;
use crate::secret::Secret;
use crate::user::{Role, StaffUser};

/// How staff may sign in, set by an administrator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct SignInPolicy {
    /// Only through the institution's identity provider: passwords are refused, except the
    /// break-glass account's.
    pub sso_required: bool,
    /// The local administrator who keeps a password when SSO is required, for the day the
    /// identity provider is down.
    pub break_glass_login: String,
}

impl Default for SignInPolicy {
    fn default() -> Self {
        SignInPolicy {
            sso_required: false,
            break_glass_login: "admin".into(),
        }
    }
}

impl SignInPolicy {
    /// Whether `login` may sign in with its password.
    pub fn allows_password(&self, login: &str) -> bool {
        !self.sso_required
            || login
                .trim()
                .eq_ignore_ascii_case(self.break_glass_login.trim())
    }
}

/// What one provider's accounts become in atiende.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AccountRules {
    /// Create an account for a verified person atiende does not know (off by default).
    pub create_accounts: bool,
    /// The role of a created account (never administrator).
    pub default_role: Option<Role>,
    /// Group (from the provider's groups claim) → role; the first group listed here that the
    /// person belongs to decides. Never administrator.
    pub group_roles: BTreeMap<String, Role>,
    /// Group → units (by name) of a unit responsible.
    pub group_units: BTreeMap<String, Vec<String>>,
}

impl AccountRules {
    /// Refuses rules that would let a provider make someone an administrator.
    pub fn check(&self) -> Result<(), String> {
        if self.default_role == Some(Role::Admin) {
            return Err(
                "default_role cannot be admin: administrators are created in atiende".into(),
            );
        }
        if let Some((group, _)) = self.group_roles.iter().find(|(_, r)| **r == Role::Admin) {
            return Err(format!(
                "group_roles: `{group}` cannot give admin: administrators are created in atiende"
            ));
        }
        Ok(())
    }

    /// The role and unit names the person's groups give, if any group maps.
    pub fn from_groups(&self, groups: &[String]) -> (Option<Role>, Vec<String>) {
        let role = self
            .group_roles
            .iter()
            .find(|(g, _)| groups.contains(g))
            .map(|(_, r)| *r);
        let mut units: Vec<String> = self
            .group_units
            .iter()
            .filter(|(g, _)| groups.contains(g))
            .flat_map(|(_, u)| u.iter().cloned())
            .collect();
        units.sort();
        units.dedup();
        (role, units)
    }
}

/// One identity provider staff sign in with: given in the configuration file (`[[sso]]`) or
/// added by an administrator.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityProvider {
    /// Short and stable: it is part of the address the provider sends people back to
    /// (`/login/sso/<id>/callback`).
    pub id: String,
    /// What the login page's button says: "Entrar con <name>".
    pub name: String,
    /// The issuer URL; its discovery document says the rest.
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Secret,
    /// Scopes besides `openid email profile` (e.g. `groups`).
    #[serde(default)]
    pub scopes: Vec<String>,
    /// The ID token claim that lists the person's groups (empty: none is read).
    #[serde(default)]
    pub groups_claim: String,
    /// What the provider's people become in atiende (`[sso.accounts]`).
    #[serde(default)]
    pub accounts: AccountRules,
}

impl IdentityProvider {
    /// Refuses a provider that could not work or would be unsafe.
    pub fn check(&self) -> Result<(), String> {
        let id_ok = !self.id.is_empty()
            && self.id.len() <= 40
            && self
                .id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !id_ok {
            return Err(format!(
                "sso id `{}`: use lowercase letters, digits and dashes",
                self.id
            ));
        }
        let local = self.issuer.starts_with("http://127.0.0.1")
            || self.issuer.starts_with("http://localhost")
            || self.issuer.starts_with("http://[::1]");
        if !self.issuer.starts_with("https://") && !local {
            return Err(format!("sso `{}`: the issuer must be https", self.id));
        }
        if self.name.trim().is_empty() || self.client_id.is_empty() {
            return Err(format!(
                "sso `{}`: name and client_id are required",
                self.id
            ));
        }
        self.accounts
            .check()
            .map_err(|e| format!("sso `{}`: {e}", self.id))
    }
}

/// Who the provider says the person is, from a verified ID token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub email: String,
    pub email_verified: bool,
    pub name: String,
    pub groups: Vec<String>,
}

/// Why a provider's answer signs nobody in; each has its sentence on the login page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No email, or one the provider did not verify.
    UnverifiedEmail,
    /// No staff account has this email, and accounts are not created.
    UnknownPerson,
    /// The account is disabled in atiende.
    Disabled,
    /// Several accounts share the email: an administrator must tell them apart.
    Ambiguous,
}

impl Refusal {
    pub fn code(self) -> &'static str {
        match self {
            Refusal::UnverifiedEmail => "sso_unverified_email",
            Refusal::UnknownPerson => "sso_unknown_person",
            Refusal::Disabled => "sso_disabled_account",
            Refusal::Ambiguous => "sso_ambiguous_account",
        }
    }
}

/// What to do with a verified identity, given the accounts that have its email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    SignIn(UserId),
    /// Create this account (login = the email), then sign in.
    Create {
        role: Role,
        units: Vec<String>,
    },
    Refuse(Refusal),
}

/// The rule: a verified email, exactly one enabled account with it, or a new account where
/// the rules allow it.
pub fn decide(identity: &Identity, accounts: &[StaffUser], rules: &AccountRules) -> Decision {
    if identity.email.is_empty() || !identity.email_verified {
        return Decision::Refuse(Refusal::UnverifiedEmail);
    }
    match accounts {
        [one] if one.disabled => Decision::Refuse(Refusal::Disabled),
        [one] => Decision::SignIn(one.id),
        [] if rules.create_accounts => {
            let (role, units) = rules.from_groups(&identity.groups);
            let role = role.or(rules.default_role).unwrap_or(Role::Agent);
            Decision::Create { role, units }
        }
        [] => Decision::Refuse(Refusal::UnknownPerson),
        _ => Decision::Refuse(Refusal::Ambiguous),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classification::Lang;

    fn staff(login: &str, disabled: bool) -> StaffUser {
        StaffUser {
            id: UserId(7),
            login: login.into(),
            name: login.into(),
            email: format!("{login}@udg.mx"),
            role: Role::Agent,
            unit_ids: vec![],
            language: Lang::Es,
            disabled,
            must_change_password: false,
            second_factor: false,
            phone_extension: String::new(),
            created_at: chrono::Utc::now(),
        }
    }

    fn ana(verified: bool, groups: &[&str]) -> Identity {
        Identity {
            email: "ana@udg.mx".into(),
            email_verified: verified,
            name: "Ana".into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
        }
    }

    #[test]
    fn a_verified_email_of_one_enabled_account_signs_that_account_in() {
        let rules = AccountRules::default();
        let account = staff("ana", false);
        assert_eq!(
            decide(&ana(true, &[]), std::slice::from_ref(&account), &rules),
            Decision::SignIn(account.id)
        );
    }

    #[test]
    fn an_unverified_email_a_disabled_account_or_two_accounts_sign_nobody_in() {
        let rules = AccountRules {
            create_accounts: true,
            ..Default::default()
        };
        assert_eq!(
            decide(&ana(false, &[]), &[staff("ana", false)], &rules),
            Decision::Refuse(Refusal::UnverifiedEmail)
        );
        assert_eq!(
            decide(&ana(true, &[]), &[staff("ana", true)], &rules),
            Decision::Refuse(Refusal::Disabled)
        );
        assert_eq!(
            decide(
                &ana(true, &[]),
                &[staff("ana", false), staff("ana2", false)],
                &rules
            ),
            Decision::Refuse(Refusal::Ambiguous)
        );
    }

    #[test]
    fn an_unknown_person_gets_an_account_only_where_the_institution_allows_it() {
        let off = AccountRules::default();
        assert_eq!(
            decide(&ana(true, &[]), &[], &off),
            Decision::Refuse(Refusal::UnknownPerson)
        );
        let on = AccountRules {
            create_accounts: true,
            default_role: Some(Role::Agent),
            group_roles: [("cap-lideres".to_string(), Role::CapLead)].into(),
            group_units: [("escolar".to_string(), vec!["Control Escolar".to_string()])].into(),
        };
        assert_eq!(
            decide(&ana(true, &["otros"]), &[], &on),
            Decision::Create {
                role: Role::Agent,
                units: vec![]
            }
        );
        assert_eq!(
            decide(&ana(true, &["cap-lideres", "escolar"]), &[], &on),
            Decision::Create {
                role: Role::CapLead,
                units: vec!["Control Escolar".into()]
            }
        );
    }

    #[test]
    fn no_provider_rule_may_make_an_administrator() {
        let by_default = AccountRules {
            default_role: Some(Role::Admin),
            ..Default::default()
        };
        assert!(by_default.check().is_err());
        let by_group = AccountRules {
            group_roles: [("ti".to_string(), Role::Admin)].into(),
            ..Default::default()
        };
        assert!(by_group.check().is_err());
        assert!(AccountRules::default().check().is_ok());
    }

    #[test]
    fn a_provider_needs_a_safe_id_an_https_issuer_and_no_admin_rule() {
        let good = IdentityProvider {
            id: "udg".into(),
            name: "Cuenta UDG".into(),
            issuer: "https://accounts.google.com".into(),
            client_id: "x".into(),
            client_secret: Secret::default(),
            scopes: vec![],
            groups_claim: String::new(),
            accounts: AccountRules::default(),
        };
        assert!(good.check().is_ok());
        let plain = IdentityProvider {
            issuer: "http://idp.example".into(),
            ..good.clone()
        };
        assert!(plain.check().is_err());
        let odd = IdentityProvider {
            id: "../x".into(),
            ..good.clone()
        };
        assert!(odd.check().is_err());
        let admin = IdentityProvider {
            accounts: AccountRules {
                default_role: Some(Role::Admin),
                ..Default::default()
            },
            ..good
        };
        assert!(admin.check().is_err());
    }

    #[test]
    fn when_sso_is_required_only_the_break_glass_account_keeps_its_password() {
        let open = SignInPolicy::default();
        assert!(open.allows_password("ana"));
        let required = SignInPolicy {
            sso_required: true,
            ..Default::default()
        };
        assert!(!required.allows_password("ana"));
        assert!(required.allows_password("Admin"));
    }
}
