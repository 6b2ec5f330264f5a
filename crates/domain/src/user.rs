//! Staff accounts (not the people who contact the CAP: those are contacts).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::classification::{Lang, coded_enum};
use crate::error::FieldError;
use crate::ids::{UnitId, UserId};

coded_enum!(
    Role {
        Agent = "agent", "Agente CAP", "CAP agent";
        CapLead = "cap_lead", "Responsable del CAP", "CAP lead";
        UnitResponsible = "unit_responsible", "Responsable de unidad", "Unit responsible";
        QualityOwner = "quality_owner", "Responsable del SIGA", "Quality owner";
        Management = "management", "Alta dirección", "Top management";
        Admin = "admin", "Administrador", "Administrator";
    }
);

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StaffUser {
    pub id: UserId,
    pub login: String,
    pub name: String,
    pub email: String,
    pub role: Role,
    /// For unit responsibles: the units whose derivations they see and answer.
    pub unit_ids: Vec<UnitId>,
    pub language: Lang,
    pub disabled: bool,
    /// Set for a generated first password: the person must choose their own before working.
    pub must_change_password: bool,
    /// Has a second factor (an authenticator app) for signing in with the password.
    #[serde(default)]
    pub second_factor: bool,
    /// The extension or number the telephone system names when this agent answers a call.
    #[serde(default)]
    pub phone_extension: String,
    pub created_at: DateTime<Utc>,
}

/// Logins are short, lower-case and safe to show anywhere.
pub fn parse_login(raw: &str) -> Result<String, FieldError> {
    let login = raw.trim().to_lowercase();
    let ok = (2..=64).contains(&login.len())
        && login
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-@".contains(c));
    if ok {
        Ok(login)
    } else {
        Err(FieldError::new("login", "invalid_login"))
    }
}

/// A password long enough to resist guessing; the hash is Argon2id, done in storage.
pub fn check_password(raw: &str, about_the_person: &[&str]) -> Result<(), FieldError> {
    if raw.chars().count() < 10 {
        Err(FieldError::new("password", "password_too_short"))
    } else if raw.len() > 1024 {
        Err(FieldError::new("password", "too_long"))
    } else if zxcvbn::zxcvbn(raw, about_the_person).score() < zxcvbn::Score::Three {
        // NIST SP 800-63B: no composition rules, but nothing common, repetitive or built
        // from the person's own login or name (zxcvbn's dictionaries and patterns).
        Err(FieldError::new("password", "password_too_guessable"))
    } else {
        Ok(())
    }
}

/// Creating or editing a staff account; absent fields keep their value on edit.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UserInput {
    pub login: Option<String>,
    pub name: Option<String>,
    pub email: Option<String>,
    pub role: Option<Role>,
    pub unit_ids: Option<Vec<UnitId>>,
    pub language: Option<Lang>,
    pub disabled: Option<bool>,
    #[serde(default)]
    pub phone_extension: Option<String>,
    /// On create: absent means a one-time password is generated and must be changed at login.
    pub password: Option<String>,
}

impl UserInput {
    /// Validates over the current account (edit) or a blank one (create). Returns the account
    /// and the new password, if one was given.
    pub fn apply(
        &self,
        current: Option<&StaffUser>,
        now: DateTime<Utc>,
    ) -> Result<(StaffUser, Option<String>), crate::RuleError> {
        let mut v = crate::error::Validator::new();
        let mut user = current.cloned().unwrap_or(StaffUser {
            id: UserId(0),
            login: String::new(),
            name: String::new(),
            email: String::new(),
            role: Role::Agent,
            unit_ids: Vec::new(),
            language: Lang::Es,
            disabled: false,
            must_change_password: false,
            second_factor: false,
            phone_extension: String::new(),
            created_at: now,
        });
        match (&self.login, current) {
            (Some(l), None) => user.login = v.take(parse_login(l)).unwrap_or_default(),
            (None, None) => v.push("login", "required"),
            (Some(l), Some(c)) if parse_login(l).ok().as_deref() != Some(c.login.as_str()) => {
                v.push("login", "immutable")
            }
            _ => {}
        }
        if let Some(n) = &self.name {
            user.name = v.text("name", n, 200, false);
        }
        if user.name.is_empty() {
            user.name = user.login.clone();
        }
        if let Some(e) = &self.email {
            user.email = if e.trim().is_empty() {
                String::new()
            } else {
                crate::contact::normalize_email(e).unwrap_or_else(|| {
                    v.push("email", "invalid_email");
                    String::new()
                })
            };
        }
        match (self.role, current) {
            (Some(r), _) => user.role = r,
            (None, None) => v.push("role", "required"),
            _ => {}
        }
        if let Some(units) = &self.unit_ids {
            user.unit_ids = units.clone();
            user.unit_ids.sort();
            user.unit_ids.dedup();
        }
        if user.role == Role::UnitResponsible && user.unit_ids.is_empty() {
            v.push("unit_ids", "required_for_unit_responsible");
        }
        if let Some(l) = self.language {
            user.language = l;
        }
        if let Some(d) = self.disabled {
            user.disabled = d;
        }
        if let Some(x) = &self.phone_extension {
            let x = x.trim();
            if x.len() > 20 || !x.chars().all(|c| c.is_ascii_digit() || "+*#".contains(c)) {
                v.push("phone_extension", "invalid_phone");
            } else {
                user.phone_extension = x.to_string();
            }
        }
        if let Some(p) = &self.password {
            v.take(check_password(p, &[&user.login, &user.name, &user.email]));
        }
        v.finish()?;
        Ok((user, self.password.clone()))
    }
}

#[cfg(test)]
mod password_tests {
    use super::check_password;

    fn code(password: &str, about: &[&str]) -> Option<String> {
        check_password(password, about).err().map(|e| e.code)
    }

    #[test]
    fn a_password_is_long_and_hard_to_guess_and_nothing_else_is_asked() {
        assert_eq!(code("corta", &[]).as_deref(), Some("password_too_short"));
        for common in ["aaaaaaaaaa", "password123", "1234567890", "qwertyuiop"] {
            assert_eq!(
                code(common, &[]).as_deref(),
                Some("password_too_guessable"),
                "{common}"
            );
        }
        assert_eq!(
            code("mcastellanos2026", &["mcastellanos", "Mariana Castellanos"]).as_deref(),
            Some("password_too_guessable"),
            "built from the login"
        );
        // No rule about digits, capitals or symbols: a phrase passes as it is.
        assert_eq!(code("tardes de lluvia en zapopan", &[]), None);
        assert_eq!(code("clave-de-prueba-123", &["agente"]), None);
    }
}
