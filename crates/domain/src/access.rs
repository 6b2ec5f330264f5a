//! Who may do what. Every handler asks here; nothing else decides access.

use crate::ids::{UnitId, UserId};
use crate::unit::{Unit, UnitKind};
use crate::user::{Role, StaffUser};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    ContactRead,
    ContactWrite,
    ContactMerge,
    IncidentRead,
    IncidentCreate,
    /// Classify, record answers and intervention notes, close, reopen.
    IncidentWork,
    IncidentNote,
    IncidentDerive,
    IncidentAssign,
    DerivationAnswer,
    UnitRead,
    UnitWrite,
    TopicWrite,
    UserRead,
    UserWrite,
    AuditRead,
    OutboxRead,
    /// The quality owner's settings: survey, questionnaire, indicator targets, nonconformity criteria.
    QualityManage,
    /// Low-score follow-ups (the CAP lead's).
    SurveyFollowUp,
    /// The indicators dashboard, exports and period report.
    IndicatorRead,
    /// Write knowledge-base articles (a unit responsible, only their units' own).
    ArticleWrite,
    /// ARCO requests: a person's whole file, blocking and suppression, the access log.
    PersonalData,
}

impl Role {
    pub fn may(self, action: Action) -> bool {
        use Action::*;
        use Role::*;
        match action {
            IncidentRead | UnitRead => true,
            ContactRead => !matches!(self, UnitResponsible),
            ContactWrite | ContactMerge | IncidentCreate | IncidentWork | IncidentDerive => {
                matches!(self, Agent | CapLead | Admin)
            }
            IncidentAssign => matches!(self, Agent | CapLead | Admin),
            IncidentNote => matches!(
                self,
                Agent | CapLead | Admin | UnitResponsible | QualityOwner
            ),
            DerivationAnswer => !matches!(self, Agent),
            UnitWrite | TopicWrite | UserWrite => matches!(self, Admin),
            UserRead => matches!(self, Agent | CapLead | Admin),
            AuditRead => matches!(self, CapLead | Admin | QualityOwner | Management),
            OutboxRead => matches!(self, CapLead | Admin | QualityOwner),
            QualityManage => matches!(self, QualityOwner | Admin),
            SurveyFollowUp => matches!(self, CapLead | Admin),
            IndicatorRead => matches!(self, QualityOwner | Admin | Management | CapLead),
            ArticleWrite => matches!(self, CapLead | Admin | QualityOwner | UnitResponsible),
            PersonalData => matches!(self, Admin),
        }
    }
}

/// Which incidents a person sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    All,
    /// Only incidents derived to one of these units (unit responsibles).
    DerivedTo(Vec<UnitId>),
}

impl StaffUser {
    pub fn may(&self, action: Action) -> bool {
        !self.disabled && !self.must_change_password && self.role.may(action)
    }

    pub fn incident_scope(&self) -> Scope {
        match self.role {
            Role::UnitResponsible => Scope::DerivedTo(self.unit_ids.clone()),
            _ => Scope::All,
        }
    }

    /// A unit answers its own derivations: its responsibles, the quality owner for the SIGA,
    /// top management for critical matters, and the CAP lead or an administrator for any.
    pub fn may_answer_for(&self, unit: &Unit) -> bool {
        if !self.may(Action::DerivationAnswer) {
            return false;
        }
        match self.role {
            Role::CapLead | Role::Admin => true,
            Role::UnitResponsible => self.unit_ids.contains(&unit.id),
            Role::QualityOwner => unit.kind == UnitKind::Quality,
            Role::Management => unit.kind == UnitKind::TopManagement,
            Role::Agent => false,
        }
    }

    /// Agents take or release incidents for themselves; leads and administrators assign anyone.
    pub fn may_assign_to(&self, target: Option<UserId>) -> bool {
        if !self.may(Action::IncidentAssign) {
            return false;
        }
        match self.role {
            Role::CapLead | Role::Admin => true,
            _ => target.is_none() || target == Some(self.id),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classification::Lang;

    fn user(role: Role, units: Vec<UnitId>) -> StaffUser {
        StaffUser {
            id: UserId(7),
            login: "x".into(),
            name: "X".into(),
            email: String::new(),
            role,
            unit_ids: units,
            language: Lang::Es,
            disabled: false,
            must_change_password: false,
            second_factor: false,
            phone_extension: String::new(),
            created_at: chrono::Utc::now(),
        }
    }

    fn unit(id: i64, kind: UnitKind) -> Unit {
        Unit {
            id: UnitId(id),
            name: "U".into(),
            kind,
            responsible_name: String::new(),
            email: String::new(),
            phone: String::new(),
            active: true,
        }
    }

    #[test]
    fn a_unit_responsible_sees_only_what_was_derived_to_their_units() {
        let u = user(Role::UnitResponsible, vec![UnitId(4)]);
        assert_eq!(u.incident_scope(), Scope::DerivedTo(vec![UnitId(4)]));
        assert!(u.may_answer_for(&unit(4, UnitKind::Coordination)));
        assert!(!u.may_answer_for(&unit(5, UnitKind::Coordination)));
        assert!(!u.may(Action::ContactRead));
    }

    #[test]
    fn top_management_reads_everything_and_answers_only_critical_matters() {
        let m = user(Role::Management, vec![]);
        assert_eq!(m.incident_scope(), Scope::All);
        assert!(!m.may(Action::IncidentWork));
        assert!(m.may_answer_for(&unit(2, UnitKind::TopManagement)));
        assert!(!m.may_answer_for(&unit(4, UnitKind::Coordination)));
    }

    #[test]
    fn agents_take_incidents_for_themselves_and_leads_assign_anyone() {
        let a = user(Role::Agent, vec![]);
        assert!(a.may_assign_to(Some(UserId(7))));
        assert!(a.may_assign_to(None));
        assert!(!a.may_assign_to(Some(UserId(8))));
        assert!(user(Role::CapLead, vec![]).may_assign_to(Some(UserId(8))));
    }

    #[test]
    fn a_disabled_user_or_one_with_a_temporary_password_may_do_nothing() {
        let mut a = user(Role::Admin, vec![]);
        a.must_change_password = true;
        assert!(!a.may(Action::IncidentRead));
        a.must_change_password = false;
        a.disabled = true;
        assert!(!a.may(Action::IncidentRead));
    }
}
