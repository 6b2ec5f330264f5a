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
    /// Webhook subscriptions: signed events to other systems, their delivery log and replays.
    WebhookManage,
    /// Keep the canned responses the whole CAP shares (anyone keeps their own).
    CannedShare,
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
            PersonalData | WebhookManage => matches!(self, Admin),
            CannedShare => matches!(self, CapLead | Admin | QualityOwner),
        }
    }
}

/// What an API token may be used for. A token acts as its owner and never beyond the owner's
/// role: its scopes only narrow what the role allows.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum TokenScope {
    /// Read everything the role may read; change nothing.
    Read,
    /// Contacts and incidents: register, classify, answer, derive, close, answer derivations.
    IncidentsWrite,
    /// Indicators, reports, targets, the survey and nonconformities.
    Quality,
    /// Knowledge-base articles.
    Knowledge,
    /// ARCO requests: a person's file, blocking, suppression, the access log.
    PersonalData,
    /// Everything the role allows, one's own account included.
    Admin,
}

impl TokenScope {
    pub const ALL: [TokenScope; 6] = [
        TokenScope::Read,
        TokenScope::IncidentsWrite,
        TokenScope::Quality,
        TokenScope::Knowledge,
        TokenScope::PersonalData,
        TokenScope::Admin,
    ];

    pub fn code(self) -> &'static str {
        match self {
            TokenScope::Read => "read",
            TokenScope::IncidentsWrite => "incidents_write",
            TokenScope::Quality => "quality",
            TokenScope::Knowledge => "knowledge",
            TokenScope::PersonalData => "personal_data",
            TokenScope::Admin => "admin",
        }
    }

    pub fn from_code(code: &str) -> Option<TokenScope> {
        TokenScope::ALL.into_iter().find(|s| s.code() == code)
    }

    pub fn label(self, lang: crate::classification::Lang) -> &'static str {
        use crate::classification::Lang::*;
        match (self, lang) {
            (TokenScope::Read, Es) => "Solo lectura",
            (TokenScope::Read, En) => "Read only",
            (TokenScope::IncidentsWrite, Es) => "Incidentes y contactos",
            (TokenScope::IncidentsWrite, En) => "Incidents and contacts",
            (TokenScope::Quality, Es) => "Calidad e indicadores",
            (TokenScope::Quality, En) => "Quality and indicators",
            (TokenScope::Knowledge, Es) => "Base de conocimiento",
            (TokenScope::Knowledge, En) => "Knowledge base",
            (TokenScope::PersonalData, Es) => "Datos personales",
            (TokenScope::PersonalData, En) => "Personal data",
            (TokenScope::Admin, Es) => "Todo lo que permite su rol",
            (TokenScope::Admin, En) => "Everything your role allows",
        }
    }

    /// Whether this scope covers `action` (the role is checked apart).
    pub fn covers(self, action: Action) -> bool {
        use Action::*;
        let reads = matches!(
            action,
            ContactRead
                | IncidentRead
                | UnitRead
                | UserRead
                | AuditRead
                | OutboxRead
                | IndicatorRead
        );
        match self {
            TokenScope::Admin => true,
            TokenScope::Read => reads,
            TokenScope::IncidentsWrite => matches!(
                action,
                ContactRead
                    | ContactWrite
                    | ContactMerge
                    | IncidentRead
                    | IncidentCreate
                    | IncidentWork
                    | IncidentNote
                    | IncidentDerive
                    | IncidentAssign
                    | DerivationAnswer
                    | UnitRead
            ),
            TokenScope::Quality => {
                matches!(
                    action,
                    IndicatorRead | QualityManage | SurveyFollowUp | UnitRead
                )
            }
            TokenScope::Knowledge => matches!(action, ArticleWrite | CannedShare | UnitRead),
            TokenScope::PersonalData => matches!(action, PersonalData | ContactRead),
        }
    }
}

/// The scopes of one token (at least one).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TokenScopes(Vec<TokenScope>);

impl TokenScopes {
    /// Every scope: what tokens made before scopes existed may do (their owner's role).
    pub fn everything() -> TokenScopes {
        TokenScopes(vec![TokenScope::Admin])
    }

    /// From codes; unknown ones and an empty list are refused (field `scopes`).
    pub fn parse<'a>(
        codes: impl IntoIterator<Item = &'a str>,
    ) -> Result<TokenScopes, crate::RuleError> {
        let mut scopes = Vec::new();
        for code in codes {
            let scope = TokenScope::from_code(code.trim())
                .ok_or_else(|| crate::RuleError::invalid("scopes", "invalid"))?;
            scopes.push(scope);
        }
        scopes.sort();
        scopes.dedup();
        if scopes.is_empty() {
            return Err(crate::RuleError::invalid("scopes", "required"));
        }
        Ok(TokenScopes(scopes))
    }

    /// As stored: codes separated by spaces.
    pub fn to_codes(&self) -> String {
        self.0
            .iter()
            .map(|s| s.code())
            .collect::<Vec<_>>()
            .join(" ")
    }

    pub fn scopes(&self) -> &[TokenScope] {
        &self.0
    }

    pub fn allow(&self, action: Action) -> bool {
        self.0.iter().any(|s| s.covers(action))
    }

    /// Whether the token may change anything at all (a read-only one is refused any write
    /// before its request is even read).
    pub fn writes(&self) -> bool {
        self.0.iter().any(|s| *s != TokenScope::Read)
    }

    /// Whether the token may manage its owner's account (password, sessions, tokens).
    pub fn manages_account(&self) -> bool {
        self.0.contains(&TokenScope::Admin)
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

    /// Whether this person may change a text kept for the whole CAP (`owner` none: canned
    /// responses, macros) or by someone: their own, or the CAP's with the right to keep them.
    pub fn may_keep(&self, owner: Option<UserId>) -> bool {
        match owner {
            Some(owner) => owner == self.id,
            None => self.may(Action::CannedShare),
        }
    }

    /// Whose a text is once this person saves it: the CAP's when shared, else its owner's
    /// (this person's, when a shared one is made personal again).
    pub fn owner_when_saved(&self, shared: bool, before: Option<UserId>) -> Option<UserId> {
        match (shared, before) {
            (true, _) => None,
            (false, Some(owner)) => Some(owner),
            (false, None) => Some(self.id),
        }
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

    /// Who writes an article: those who may write articles at all, and a unit responsible only
    /// their units' own (an article without an owner unit is the CAP's).
    pub fn may_write_article(&self, owner: Option<UnitId>) -> bool {
        self.may(Action::ArticleWrite)
            && (self.role != Role::UnitResponsible
                || owner.is_some_and(|u| self.unit_ids.contains(&u)))
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

    #[test]
    fn a_token_scope_narrows_what_the_role_allows_and_never_widens_it() {
        let read = TokenScopes::parse(["read"]).expect("read");
        assert!(read.allow(Action::IncidentRead) && read.allow(Action::IndicatorRead));
        assert!(!read.allow(Action::IncidentCreate) && !read.writes());
        let quality = TokenScopes::parse(["quality", "read"]).expect("two");
        assert!(quality.allow(Action::QualityManage) && quality.writes());
        assert!(!quality.allow(Action::IncidentWork) && !quality.allow(Action::PersonalData));
        assert!(!quality.manages_account());
        assert!(TokenScopes::everything().allow(Action::UserWrite));
        // The role is checked apart: an agent's token with every scope is still an agent's.
        let agent = user(Role::Agent, vec![]);
        assert!(!agent.may(Action::UserWrite));
        assert_eq!(quality.to_codes(), "read quality");
    }

    #[test]
    fn unknown_or_no_scopes_are_refused() {
        assert!(TokenScopes::parse(["read", "everything"]).is_err());
        assert!(TokenScopes::parse(std::iter::empty()).is_err());
    }

    #[test]
    fn a_unit_responsible_writes_only_their_units_articles() {
        let responsible = user(Role::UnitResponsible, vec![UnitId(3)]);
        assert!(responsible.may_write_article(Some(UnitId(3))));
        assert!(!responsible.may_write_article(Some(UnitId(4))));
        assert!(!responsible.may_write_article(None));
        assert!(user(Role::CapLead, vec![]).may_write_article(None));
        assert!(!user(Role::Agent, vec![]).may_write_article(None));
    }

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
