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
pub fn check_password(raw: &str) -> Result<(), FieldError> {
    if raw.chars().count() < 10 {
        Err(FieldError::new("password", "password_too_short"))
    } else if raw.len() > 1024 {
        Err(FieldError::new("password", "too_long"))
    } else {
        Ok(())
    }
}
