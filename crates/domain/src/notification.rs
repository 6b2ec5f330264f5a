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
    }
);

/// Who is told of an event on an incident: its assignee, the CAP's leads, the responsibles of a
/// unit. The store finds the people; this says which of them, in one place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    Assignee,
    /// The assignee, or the leads when nobody has it.
    AssigneeElseLeads,
    Leads,
    UnitResponsibles,
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
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            NotificationKind::from_code("person_replied"),
            Some(NotificationKind::PersonReplied)
        );
    }
}
