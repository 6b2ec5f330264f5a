//! What staff are told about, and who. A notification names its kind and its incident only:
//! the words are written when it is read, in the reader's language and with what the reader
//! may see then (a unit responsible is told only of incidents derived to their units, and a
//! blocked person's name never appears), so nothing personal is copied into it.

use serde::{Deserialize, Serialize};

use crate::classification::coded_enum;

coded_enum!(
    /// Why someone is told.
    NotificationKind {
        Assigned = "assigned", "Se le asignó un incidente", "An incident was assigned to you";
        PersonReplied = "person_replied", "El usuario respondió", "The person replied";
        UnitAnswered = "unit_answered", "La unidad respondió la derivación", "The unit answered the derivation";
        DerivedToUnit = "derived_to_unit", "Derivación a su unidad", "Derivation to your unit";
        ServiceLevelWarning = "service_level_warning", "Tiempo comprometido por vencer", "Service level due soon";
        ServiceLevelBreach = "service_level_breach", "Tiempo comprometido vencido", "Service level breached";
        CriticalIncident = "critical_incident", "Asunto crítico", "Critical incident";
        LowSurveyScore = "low_survey_score", "Encuesta con calificación baja", "Low survey score";
        NonconformityAssigned = "nonconformity_assigned", "Se le asignó una no conformidad", "A nonconformity was assigned to you";
        ArticleReviewDue = "article_review_due", "Artículo por revisar", "Article due for review";
        Mentioned = "mentioned", "Le mencionaron en una nota", "You were mentioned in a note";
        ExternalServiceFailing = "external_service_failing", "Un servicio externo sigue fallando", "An outside service keeps failing";
    }
);

coded_enum!(
    /// Whether, and when, a person is also told by email.
    EmailDelivery {
        Off = "off", "No", "No";
        Immediate = "immediate", "De inmediato", "Immediately";
        Digest = "digest", "Resumen diario", "Daily digest";
    }
);

/// How one person wants to be told of one kind of event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Preference {
    /// Listed under *Avisos* (and in the header's count, and the browser's notifications).
    pub in_console: bool,
    pub email: EmailDelivery,
}

impl Preference {
    /// Told nowhere: nothing is written.
    pub fn silent(self) -> bool {
        !self.in_console && self.email == EmailDelivery::Off
    }
}

/// Who is told of an event on an incident: its assignee, the CAP's leads, the responsibles of a
/// unit. The store finds the people; this says which of them, in one place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    Assignee,
    /// The assignee, or the leads when nobody has it.
    AssigneeElseLeads,
    Leads,
    UnitResponsibles,
    /// A unit's responsibles, or the leads when it concerns no unit.
    UnitResponsiblesElseLeads,
    /// The people the event names (a nonconformity's responsible, those mentioned in a note).
    Named,
    /// The administrators, who look after the installation's outside services.
    Administrators,
}

impl NotificationKind {
    pub fn audience(self) -> Audience {
        match self {
            NotificationKind::Assigned
            | NotificationKind::PersonReplied
            | NotificationKind::UnitAnswered => Audience::Assignee,
            NotificationKind::ServiceLevelWarning | NotificationKind::ServiceLevelBreach => {
                Audience::AssigneeElseLeads
            }
            NotificationKind::CriticalIncident | NotificationKind::LowSurveyScore => {
                Audience::Leads
            }
            NotificationKind::DerivedToUnit => Audience::UnitResponsibles,
            NotificationKind::NonconformityAssigned | NotificationKind::Mentioned => {
                Audience::Named
            }
            // Of the article's owner unit; the leads look after the CAP's own articles.
            NotificationKind::ArticleReviewDue => Audience::UnitResponsiblesElseLeads,
            NotificationKind::ExternalServiceFailing => Audience::Administrators,
        }
    }

    /// What a person who has not chosen gets: everything in the console, and by email at once
    /// what is theirs to act on now (an incident or nonconformity given to them, a breach).
    pub fn default_preference(self) -> Preference {
        let email = match self {
            NotificationKind::Assigned
            | NotificationKind::NonconformityAssigned
            | NotificationKind::Mentioned
            | NotificationKind::ServiceLevelBreach
            | NotificationKind::ExternalServiceFailing => EmailDelivery::Immediate,
            NotificationKind::ArticleReviewDue => EmailDelivery::Digest,
            _ => EmailDelivery::Off,
        };
        Preference {
            in_console: true,
            email,
        }
    }
}

/// The most people one note can mention: a note that names the whole CAP is a broadcast, not a
/// mention.
pub const MAX_MENTIONS: usize = 10;

/// The logins a note mentions as `@login` (a login's letters, digits, `.`, `_` and `-`), in
/// order, each once. An `@` inside a word (an email address) is not a mention, and a sentence's
/// final period is not part of the login.
pub fn mentions(body: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    let mut previous = ' ';
    for (i, c) in body.char_indices() {
        if c == '@' && !previous.is_alphanumeric() {
            let rest = &body[i + 1..];
            let end = rest
                .find(|ch: char| !(ch.is_alphanumeric() || matches!(ch, '.' | '_' | '-')))
                .unwrap_or(rest.len());
            let login = rest[..end].trim_end_matches(['.', '-', '_']);
            if !login.is_empty() && !found.iter().any(|f| f.eq_ignore_ascii_case(login)) {
                found.push(login.to_lowercase());
            }
        }
        previous = c;
        if found.len() == MAX_MENTIONS {
            break;
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_note_mentions_logins_after_an_at_sign_but_not_email_addresses() {
        assert_eq!(
            mentions("@maria revisa esto con @Carmen.Lider. Escribió a ana@udg.mx (@jose_2)"),
            vec!["maria", "carmen.lider", "jose_2"]
        );
        assert_eq!(mentions("@maria y otra vez @MARIA"), vec!["maria"]);
        assert!(mentions("sin menciones @ ni nada").is_empty());
        let many: String = (0..20).map(|n| format!("@u{n} ")).collect();
        assert_eq!(mentions(&many).len(), MAX_MENTIONS);
    }

    #[test]
    fn each_event_goes_to_those_who_act_on_it() {
        assert_eq!(NotificationKind::Assigned.audience(), Audience::Assignee);
        assert_eq!(
            NotificationKind::DerivedToUnit.audience(),
            Audience::UnitResponsibles
        );
        assert_eq!(
            NotificationKind::ServiceLevelBreach.audience(),
            Audience::AssigneeElseLeads
        );
        assert_eq!(
            NotificationKind::CriticalIncident.audience(),
            Audience::Leads
        );
        assert_eq!(
            NotificationKind::NonconformityAssigned.audience(),
            Audience::Named
        );
        assert_eq!(
            NotificationKind::from_code("person_replied"),
            Some(NotificationKind::PersonReplied)
        );
    }

    #[test]
    fn by_default_what_is_mine_to_act_on_also_comes_by_email() {
        let assigned = NotificationKind::Assigned.default_preference();
        assert!(assigned.in_console);
        assert_eq!(assigned.email, EmailDelivery::Immediate);
        assert_eq!(
            NotificationKind::PersonReplied.default_preference().email,
            EmailDelivery::Off
        );
        assert_eq!(
            NotificationKind::ArticleReviewDue
                .default_preference()
                .email,
            EmailDelivery::Digest
        );
        assert!(
            NotificationKind::ALL
                .iter()
                .all(|k| !k.default_preference().silent())
        );
        assert!(
            Preference {
                in_console: false,
                email: EmailDelivery::Off
            }
            .silent()
        );
    }
}
