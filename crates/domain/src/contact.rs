//! Contacts (usuarios): the people who reach the CAP, and the identifiers that find them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::classification::{ProgrammeLine, UserType, coded_enum};
use crate::error::{FieldError, Validator};
use crate::ids::ContactId;
use crate::{RuleError, classification::Lang};

coded_enum!(
    /// Kinds of identifier a person is found by. No two contacts share one (kind, value).
    IdentifierKind {
        Email = "email", "Correo", "Email";
        Phone = "phone", "Teléfono", "Phone";
        Whatsapp = "whatsapp", "WhatsApp", "WhatsApp";
        Facebook = "facebook", "Facebook", "Facebook";
        Instagram = "instagram", "Instagram", "Instagram";
        StudentCode = "student_code", "Código de alumno", "Student code";
    }
);

/// A parsed, normalised identifier: two spellings of the same address compare equal.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Identifier {
    pub kind: IdentifierKind,
    pub value: String,
}

impl Identifier {
    pub fn parse(kind: IdentifierKind, raw: &str) -> Result<Self, FieldError> {
        let field = kind.code();
        let raw = raw.trim();
        let value = match kind {
            IdentifierKind::Email => {
                normalize_email(raw).ok_or(FieldError::new(field, "invalid_email"))?
            }
            IdentifierKind::Phone => {
                normalize_phone(raw).ok_or(FieldError::new(field, "invalid_phone"))?
            }
            IdentifierKind::Whatsapp => {
                let digits: String = raw.chars().filter(|c| c.is_ascii_digit()).collect();
                if !(8..=15).contains(&digits.len()) || raw.chars().any(|c| c.is_alphabetic()) {
                    return Err(FieldError::new(field, "invalid_whatsapp"));
                }
                digits
            }
            IdentifierKind::Facebook | IdentifierKind::Instagram => {
                if raw.is_empty() || raw.len() > 64 || raw.chars().any(char::is_whitespace) {
                    return Err(FieldError::new(field, "invalid_social_id"));
                }
                raw.to_string()
            }
            IdentifierKind::StudentCode => {
                let code = raw.to_uppercase();
                if !(4..=20).contains(&code.len())
                    || !code.chars().all(|c| c.is_ascii_alphanumeric())
                {
                    return Err(FieldError::new(field, "invalid_student_code"));
                }
                code
            }
        };
        Ok(Identifier { kind, value })
    }
}

/// Lower-cases and checks the shape of an address; deliverability is the mail server's business.
pub fn normalize_email(raw: &str) -> Option<String> {
    let email = raw.trim().to_lowercase();
    let (local, domain) = email.split_once('@')?;
    let ok = !local.is_empty()
        && local.len() <= 64
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && email.len() <= 254
        && !domain.contains('@')
        && !email
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "<>(),;:\"[]\\".contains(c));
    ok.then_some(email)
}

/// Digits with country code. A ten-digit Mexican number gets 52; the old mobile prefix
/// `52 1` is dropped so that both spellings of one mobile find the same person.
pub fn normalize_phone(raw: &str) -> Option<String> {
    if raw.chars().any(|c| c.is_alphabetic()) {
        return None;
    }
    let mut digits: String = raw.chars().filter(|c| c.is_ascii_digit()).collect();
    if digits.len() == 10 {
        digits.insert_str(0, "52");
    } else if digits.len() == 13 && digits.starts_with("521") {
        digits.remove(2);
    }
    (8..=15).contains(&digits.len()).then_some(digits)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SocialId {
    /// `facebook` or `instagram` (page-scoped id).
    pub network: IdentifierKind,
    pub id: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Contact {
    pub id: ContactId,
    pub name: String,
    pub emails: Vec<String>,
    pub phones: Vec<String>,
    pub whatsapp_id: Option<String>,
    pub social_ids: Vec<SocialId>,
    pub student_code: Option<String>,
    pub user_type: Option<UserType>,
    pub programme_line: Option<ProgrammeLine>,
    /// The person asked not to receive satisfaction surveys.
    pub opt_out_surveys: bool,
    /// The person objects to marketing (Promoción's offers of programmes and courses).
    pub opt_out_marketing: bool,
    pub notes: String,
    /// Set when this contact was merged into another; it then only remains for history.
    pub merged_into: Option<ContactId>,
    /// Cancellation, first stage: kept but out of normal use.
    pub blocked_at: Option<DateTime<Utc>>,
    /// Cancellation, second stage: the person's data was suppressed.
    pub anonymised_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Contact {
    pub fn identifiers(&self) -> Vec<Identifier> {
        let mut out = Vec::new();
        let mut push = |kind, value: &String| {
            out.push(Identifier {
                kind,
                value: value.clone(),
            })
        };
        self.emails
            .iter()
            .for_each(|v| push(IdentifierKind::Email, v));
        self.phones
            .iter()
            .for_each(|v| push(IdentifierKind::Phone, v));
        self.whatsapp_id
            .iter()
            .for_each(|v| push(IdentifierKind::Whatsapp, v));
        self.student_code
            .iter()
            .for_each(|v| push(IdentifierKind::StudentCode, v));
        for s in &self.social_ids {
            out.push(Identifier {
                kind: s.network,
                value: s.id.clone(),
            });
        }
        out
    }

    pub fn cancellation(&self) -> crate::privacy::Cancellation {
        crate::privacy::Cancellation::of(self.blocked_at.is_some(), self.anonymised_at.is_some())
    }

    /// See [`Cancellation::check_in_use`](crate::privacy::Cancellation::check_in_use).
    pub fn check_in_use(&self) -> Result<(), RuleError> {
        self.cancellation().check_in_use()
    }

    pub fn is_continuing_education(&self) -> bool {
        self.programme_line == Some(ProgrammeLine::ContinuingEducation)
    }

    /// Rebuilds the identifier fields from a list, as loaded from storage.
    pub fn set_identifiers(&mut self, ids: impl IntoIterator<Item = Identifier>) {
        self.emails.clear();
        self.phones.clear();
        self.social_ids.clear();
        self.whatsapp_id = None;
        self.student_code = None;
        for id in ids {
            match id.kind {
                IdentifierKind::Email => self.emails.push(id.value),
                IdentifierKind::Phone => self.phones.push(id.value),
                IdentifierKind::Whatsapp => self.whatsapp_id = Some(id.value),
                IdentifierKind::StudentCode => self.student_code = Some(id.value),
                IdentifierKind::Facebook | IdentifierKind::Instagram => {
                    self.social_ids.push(SocialId {
                        network: id.kind,
                        id: id.value,
                    })
                }
            }
        }
    }
}

/// What a person types to create or edit a contact. Absent fields keep their value on edit.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ContactInput {
    pub name: Option<String>,
    pub emails: Option<Vec<String>>,
    pub phones: Option<Vec<String>>,
    pub whatsapp_id: Option<String>,
    pub social_ids: Option<Vec<SocialId>>,
    pub student_code: Option<String>,
    pub user_type: Option<UserType>,
    pub programme_line: Option<ProgrammeLine>,
    pub opt_out_surveys: Option<bool>,
    pub opt_out_marketing: Option<bool>,
    pub notes: Option<String>,
}

/// The contact's editable fields after validation, ready to be stored.
#[derive(Debug, Clone, PartialEq)]
pub struct ContactFields {
    pub name: String,
    pub identifiers: Vec<Identifier>,
    pub user_type: Option<UserType>,
    pub programme_line: Option<ProgrammeLine>,
    pub opt_out_surveys: bool,
    pub opt_out_marketing: bool,
    pub notes: String,
}

impl ContactFields {
    pub fn of(contact: &Contact) -> Self {
        ContactFields {
            name: contact.name.clone(),
            identifiers: contact.identifiers(),
            user_type: contact.user_type,
            programme_line: contact.programme_line,
            opt_out_surveys: contact.opt_out_surveys,
            opt_out_marketing: contact.opt_out_marketing,
            notes: contact.notes.clone(),
        }
    }

    /// Applies an input over the current fields (or over nothing, for a new contact), checking
    /// every identifier. A contact needs a name or at least one identifier.
    pub fn apply(current: Option<&Contact>, input: &ContactInput) -> Result<Self, RuleError> {
        let mut v = Validator::new();
        let mut out = current.map(Self::of).unwrap_or(ContactFields {
            name: String::new(),
            identifiers: Vec::new(),
            user_type: None,
            programme_line: None,
            opt_out_surveys: false,
            opt_out_marketing: false,
            notes: String::new(),
        });
        if let Some(name) = &input.name {
            out.name = v.text("name", name, 200, false);
        }
        let mut replace = |kind: IdentifierKind, raws: Option<Vec<&str>>, v: &mut Validator| {
            if let Some(raws) = raws {
                out.identifiers.retain(|i| i.kind != kind);
                for raw in raws.into_iter().filter(|r| !r.trim().is_empty()) {
                    if let Some(id) = v.take(Identifier::parse(kind, raw))
                        && !out.identifiers.contains(&id)
                    {
                        out.identifiers.push(id);
                    }
                }
            }
        };
        replace(
            IdentifierKind::Email,
            input
                .emails
                .as_ref()
                .map(|l| l.iter().map(String::as_str).collect()),
            &mut v,
        );
        replace(
            IdentifierKind::Phone,
            input
                .phones
                .as_ref()
                .map(|l| l.iter().map(String::as_str).collect()),
            &mut v,
        );
        replace(
            IdentifierKind::Whatsapp,
            input.whatsapp_id.as_deref().map(|s| vec![s]),
            &mut v,
        );
        replace(
            IdentifierKind::StudentCode,
            input.student_code.as_deref().map(|s| vec![s]),
            &mut v,
        );
        if let Some(social) = &input.social_ids {
            for net in [IdentifierKind::Facebook, IdentifierKind::Instagram] {
                let ids = social
                    .iter()
                    .filter(|s| s.network == net)
                    .map(|s| s.id.as_str())
                    .collect();
                replace(net, Some(ids), &mut v);
            }
            if social.iter().any(|s| {
                !matches!(
                    s.network,
                    IdentifierKind::Facebook | IdentifierKind::Instagram
                )
            }) {
                v.push("social_ids", "invalid_social_network");
            }
        }
        if let Some(t) = input.user_type {
            out.user_type = Some(t);
        }
        if let Some(l) = input.programme_line {
            out.programme_line = Some(l);
        }
        if let Some(o) = input.opt_out_surveys {
            out.opt_out_surveys = o;
        }
        if let Some(o) = input.opt_out_marketing {
            out.opt_out_marketing = o;
        }
        if let Some(n) = &input.notes {
            out.notes = v.text("notes", n, 10_000, false);
        }
        // Only when nothing else is wrong: an invalid email already says what to fix.
        if out.name.is_empty() && out.identifiers.is_empty() && v.is_empty() {
            v.push("name", "name_or_identifier_required");
        }
        v.finish()?;
        Ok(out)
    }

    /// A name to show when the person gave none.
    pub fn display_name(&self, lang: Lang) -> String {
        if !self.name.is_empty() {
            return self.name.clone();
        }
        self.identifiers
            .first()
            .map(|i| i.value.clone())
            .unwrap_or_else(|| match lang {
                Lang::Es => "Anónimo".into(),
                Lang::En => "Anonymous".into(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_spellings_of_one_address_are_the_same_identifier() {
        let a = Identifier::parse(IdentifierKind::Email, " Ana.Lopez@Alumnos.UDG.mx ");
        let b = Identifier::parse(IdentifierKind::Email, "ana.lopez@alumnos.udg.mx");
        assert_eq!(a, b);
        assert!(Identifier::parse(IdentifierKind::Email, "not an email").is_err());
        assert!(Identifier::parse(IdentifierKind::Email, "a@b").is_err());
    }

    #[test]
    fn mexican_phone_numbers_are_normalised_with_country_code() {
        assert_eq!(
            normalize_phone("33 1234 5678").as_deref(),
            Some("523312345678")
        );
        assert_eq!(
            normalize_phone("+52 1 33 1234 5678").as_deref(),
            Some("523312345678")
        );
        assert_eq!(
            normalize_phone("(33) 1234-5678").as_deref(),
            Some("523312345678")
        );
        assert_eq!(normalize_phone("call me"), None);
        assert_eq!(normalize_phone("123"), None);
    }

    #[test]
    fn a_contact_needs_a_name_or_an_identifier() {
        let err = ContactFields::apply(None, &ContactInput::default()).unwrap_err();
        assert_eq!(err.fields()[0].code, "name_or_identifier_required");
        let ok = ContactFields::apply(
            None,
            &ContactInput {
                phones: Some(vec!["3312345678".into()]),
                ..Default::default()
            },
        );
        assert_eq!(ok.map(|f| f.identifiers.len()).ok(), Some(1));
    }

    #[test]
    fn every_invalid_identifier_is_named_in_one_answer() {
        let input = ContactInput {
            name: Some("Ana".into()),
            emails: Some(vec!["bad".into()]),
            phones: Some(vec!["xx".into()]),
            ..Default::default()
        };
        let err = ContactFields::apply(None, &input).unwrap_err();
        let fields: Vec<_> = err.fields().iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["email", "phone"]);
    }
}
