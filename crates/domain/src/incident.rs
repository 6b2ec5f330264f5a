//! Incidents and the procedure's rules: classify, derive, close, reopen.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::RuleError;
use crate::classification::{Channel, IncidentType, Medium, ProgrammeLine, UserType, coded_enum};
use crate::contact::normalize_email;
use crate::derivation::{Derivation, DerivationPlan, DeriveInput};
use crate::error::{FieldError, Validator};
use crate::folio::Folio;
use crate::ids::{ContactId, EntryId, IncidentId, TopicId, UserId};
use crate::unit::{Unit, UnitKind};
use crate::user::{Role, StaffUser};

/// The longest text of one timeline entry (a message, an answer, a note), in characters.
pub const MAX_ENTRY_CHARS: usize = 100_000;

coded_enum!(
    Status {
        Open = "open", "Abierto", "Open";
        WaitingUnit = "waiting_unit", "En espera de la unidad", "Waiting on a unit";
        Closed = "closed", "Cerrado", "Closed";
    }
);

coded_enum!(
    /// Kinds of timeline entry.
    EntryKind {
        InboundMessage = "inbound_message", "Mensaje del usuario", "Message from the user";
        OutboundMessage = "outbound_message", "Respuesta al usuario", "Answer to the user";
        Note = "note", "Nota interna", "Internal note";
        Intervention = "intervention", "Pormenores de la intervención", "Intervention notes";
        Derivation = "derivation", "Derivación", "Derivation";
        DerivationAnswer = "derivation_answer", "Respuesta de la unidad", "Answer from the unit";
        StatusChange = "status_change", "Cambio de estado", "Status change";
        Classification = "classification", "Clasificación", "Classification";
        Assignment = "assignment", "Asignación", "Assignment";
        Survey = "survey", "Encuesta de satisfacción", "Satisfaction survey";
        WaitingOnPerson = "waiting_on_person", "En espera del usuario", "Waiting on the person";
        ServiceLevel = "service_level", "Tiempo comprometido", "Service level";
    }
);

impl EntryKind {
    /// Entries that count as the CAP's first response (SPEC: time to first response).
    pub fn is_response(self) -> bool {
        matches!(self, EntryKind::OutboundMessage | EntryKind::Intervention)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Incident {
    pub id: IncidentId,
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "CAP-2026-000123"))]
    pub folio: Folio,
    pub channel: Channel,
    pub contact_id: Option<ContactId>,
    pub subject: String,
    /// The user type at the time of the incident (a later reclassification of the contact does
    /// not rewrite history).
    pub user_type: Option<UserType>,
    pub incident_type: Option<IncidentType>,
    pub topic_id: Option<TopicId>,
    pub critical: bool,
    pub status: Status,
    pub assigned_to: Option<UserId>,
    pub received_at: DateTime<Utc>,
    pub first_response_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub reopened_count: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TimelineEntry {
    pub id: EntryId,
    pub incident_id: IncidentId,
    pub kind: EntryKind,
    pub at: DateTime<Utc>,
    pub author_id: Option<UserId>,
    pub body: String,
    /// Details by kind: status changes carry `from` and `to`, derivations their id.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub data: serde_json::Value,
}

impl TimelineEntry {
    pub fn status_change(&self) -> Option<(Status, Status)> {
        if self.kind != EntryKind::StatusChange {
            return None;
        }
        let get = |k: &str| self.data.get(k)?.as_str().and_then(Status::from_code);
        Some((get("from")?, get("to")?))
    }
}

/// The facts closing depends on, gathered by storage.
#[derive(Debug, Clone, Copy)]
pub struct CloseFacts<'a> {
    pub derivations: &'a [Derivation],
    pub has_intervention_notes: bool,
    pub contact_programme_line: Option<ProgrammeLine>,
}

/// A new incident as typed by an agent or built by a channel.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewIncidentInput {
    pub channel: Channel,
    pub contact_id: Option<ContactId>,
    #[serde(default)]
    pub subject: String,
    /// The user's words (first inbound message), if any.
    #[serde(default)]
    pub body: String,
    pub user_type: Option<UserType>,
    pub incident_type: Option<IncidentType>,
    pub topic_id: Option<TopicId>,
    #[serde(default)]
    pub critical: bool,
    pub assigned_to: Option<UserId>,
    /// When the user reached the CAP; defaults to now (set for typed-in buzón entries).
    pub received_at: Option<DateTime<Utc>>,
}

/// How far back a registration may date an incident's reception (a typed-in buzón entry, a
/// call noted late).
pub const MAX_RECEIVED_DAYS_AGO: i64 = 31;

impl NewIncidentInput {
    /// Checks the input; `contact_user_type` prefills the user type from the contact's
    /// classification (procedure step 2: set once, reused for later incidents).
    pub fn validate(
        &mut self,
        contact_user_type: Option<UserType>,
        now: DateTime<Utc>,
    ) -> Result<(), RuleError> {
        let mut v = Validator::new();
        self.subject = v.text("subject", &self.subject, 300, false);
        self.body = v.text("body", &self.body, MAX_ENTRY_CHARS, false);
        if self.subject.is_empty() {
            self.subject = summary_of(&self.body);
        }
        // Agents register the person they talk to; only an anonymous buzón entry or a message
        // whose sender cannot be read has nobody behind it.
        if self.contact_id.is_none()
            && !matches!(self.channel, Channel::SuggestionBox | Channel::Email)
        {
            v.push("contact_id", "required_except_suggestion_box");
        }
        if self.user_type.is_none() {
            self.user_type = contact_user_type;
        }
        if self.user_type == Some(UserType::Unidentified)
            && !nobody_to_ask(self.channel, self.contact_id)
        {
            v.push("user_type", "unidentified_with_a_person");
        }
        if let Some(at) = self.received_at {
            if at > now + chrono::Duration::minutes(5) {
                v.push("received_at", "in_the_future");
            } else if at < now - chrono::Duration::days(MAX_RECEIVED_DAYS_AGO) {
                // A date far back would give the incident another period's indicators, or
                // another year's folio; history comes in through the imports.
                v.push("received_at", "too_long_ago");
            }
        }
        v.finish()
    }
}

impl NewIncidentInput {
    /// The open incident this (validated) input registers, before it has an id.
    pub fn open_incident(
        &self,
        folio: Folio,
        received_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Incident {
        Incident {
            id: IncidentId(0),
            folio,
            channel: self.channel,
            contact_id: self.contact_id,
            subject: self.subject.clone(),
            user_type: self.user_type,
            incident_type: self.incident_type,
            topic_id: self.topic_id,
            critical: self.critical,
            status: Status::Open,
            assigned_to: self.assigned_to,
            received_at,
            first_response_at: None,
            closed_at: None,
            reopened_count: 0,
            created_at: now,
            updated_at: now,
        }
    }

    /// Whether an incident registered with this input could be closed at once with the given
    /// intervention notes: the console asks before creating anything, so a blocked closing
    /// leaves no half-done incident behind.
    pub fn check_close_at_registration(
        &self,
        contact_line: Option<ProgrammeLine>,
        notes: &str,
    ) -> Result<(), RuleError> {
        let now = DateTime::<Utc>::MIN_UTC;
        let draft = self.open_incident(Folio { year: 0, seq: 0 }, now, now);
        draft.check_close(CloseFacts {
            derivations: &[],
            has_intervention_notes: !notes.trim().is_empty(),
            contact_programme_line: contact_line,
        })
    }
}

/// A subject line made from the first words of a message.
pub fn summary_of(body: &str) -> String {
    let line = body
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    let mut out: String = line.chars().take(80).collect();
    if line.chars().count() > 80 {
        out.push('…');
    }
    out
}

/// Whether an incident has nobody to ask their user type: an anonymous buzón entry, or a
/// message whose sender is unknown. Only then may it be "no identificado".
fn nobody_to_ask(channel: Channel, contact: Option<ContactId>) -> bool {
    contact.is_none() || channel == Channel::SuggestionBox
}

/// A classification change; absent fields stay as they are.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ClassifyInput {
    pub channel: Option<Channel>,
    pub user_type: Option<UserType>,
    pub incident_type: Option<IncidentType>,
    pub topic_id: Option<TopicId>,
    pub critical: Option<bool>,
    #[serde(default)]
    pub subject: Option<String>,
}

impl Incident {
    pub fn is_closed(&self) -> bool {
        self.status == Status::Closed
    }

    /// Classification is part of attending; a closed incident is reopened first so that the
    /// indicators of a closed period do not move silently.
    pub fn classify(&mut self, input: &ClassifyInput) -> Result<(), RuleError> {
        if self.is_closed() {
            return Err(RuleError::AlreadyClosed);
        }
        let mut v = Validator::new();
        if let Some(c) = input.channel {
            self.channel = c;
        }
        if let Some(t) = input.user_type {
            let channel = input.channel.unwrap_or(self.channel);
            if t == UserType::Unidentified && !nobody_to_ask(channel, self.contact_id) {
                v.push("user_type", "unidentified_with_a_person");
            } else {
                self.user_type = Some(t);
            }
        }
        if let Some(t) = input.incident_type {
            self.incident_type = Some(t);
        }
        if let Some(t) = input.topic_id {
            self.topic_id = Some(t);
        }
        if let Some(c) = input.critical {
            self.critical = c;
        }
        if let Some(s) = &input.subject {
            self.subject = v.text("subject", s, 300, false);
        }
        v.finish()
    }

    /// Procedure step 6: closing requires channel, user type, incident type and intervention
    /// notes; a critical matter first goes to top management (step 7); a continuing-education
    /// user first goes to the Unidad de Promoción (step 2).
    pub fn check_close(&self, facts: CloseFacts<'_>) -> Result<(), RuleError> {
        if self.is_closed() {
            return Err(RuleError::AlreadyClosed);
        }
        // The channel is required when the incident is created, so it is always present here.
        let mut missing = Vec::new();
        if self.user_type.is_none() {
            missing.push(FieldError::new("user_type", "required_to_close"));
        }
        if self.incident_type.is_none() {
            missing.push(FieldError::new("incident_type", "required_to_close"));
        }
        if !facts.has_intervention_notes {
            missing.push(FieldError::new("notes", "required_to_close"));
        }
        if !missing.is_empty() {
            return Err(RuleError::CloseMissing(missing));
        }
        let derived_to = |kind| facts.derivations.iter().any(|d| d.unit_kind == kind);
        if self.critical && !derived_to(UnitKind::TopManagement) {
            return Err(RuleError::CriticalNeedsTopManagement);
        }
        if facts.contact_programme_line == Some(ProgrammeLine::ContinuingEducation)
            && !derived_to(UnitKind::Promotion)
        {
            return Err(RuleError::ContinuingEducationNeedsPromotion);
        }
        Ok(())
    }

    /// Closes it as a duplicate of `original` (the same matter registered twice), or merges it
    /// into `original` (`merge`: the same person's, and its timeline is then shown with the
    /// original's). Nobody is surveyed about a duplicate. What it lacks of the classification is
    /// taken from the original, so that it is not counted as unclassified; a derivation still
    /// waiting on a unit must be settled first.
    pub fn close_as_duplicate(
        &mut self,
        original: &Incident,
        merge: bool,
        now: DateTime<Utc>,
    ) -> Result<(), RuleError> {
        if self.is_closed() {
            return Err(RuleError::AlreadyClosed);
        }
        if original.id == self.id {
            return Err(RuleError::invalid("original", "same_incident"));
        }
        if merge && (self.contact_id.is_none() || self.contact_id != original.contact_id) {
            return Err(RuleError::invalid("original", "not_the_same_person"));
        }
        if self.status == Status::WaitingUnit {
            return Err(RuleError::invalid("original", "derivation_waiting"));
        }
        self.user_type = self.user_type.or(original.user_type);
        self.incident_type = self.incident_type.or(original.incident_type);
        self.topic_id = self.topic_id.or(original.topic_id);
        self.status = Status::Closed;
        self.closed_at = Some(now);
        Ok(())
    }

    pub fn close(&mut self, facts: CloseFacts<'_>, now: DateTime<Utc>) -> Result<(), RuleError> {
        self.check_close(facts)?;
        self.status = Status::Closed;
        self.closed_at = Some(now);
        Ok(())
    }

    /// Procedure steps 6a, 7 and 9: derive to a unit by phone or email, recording whether the
    /// user was told to write to it; only a CAP lead derives to top management.
    pub fn plan_derivation(
        &self,
        actor: &StaffUser,
        unit: &Unit,
        input: &DeriveInput,
        facts: CloseFacts<'_>,
    ) -> Result<DerivationPlan, RuleError> {
        if self.is_closed() {
            return Err(RuleError::AlreadyClosed);
        }
        if unit.kind == UnitKind::TopManagement && actor.role != Role::CapLead {
            return Err(RuleError::OnlyLeadDerivesToTopManagement);
        }
        if !unit.active {
            return Err(RuleError::UnitInactive);
        }
        let mut v = Validator::new();
        let reason = v.text("reason", &input.reason, 5_000, true);
        let user_told = input.user_told.unwrap_or(!self.channel.derives_directly());
        let told_address = if user_told {
            let raw = input.told_address.as_deref().unwrap_or(&unit.email);
            match normalize_email(raw) {
                Some(e) => Some(e),
                None => {
                    v.push(
                        "told_address",
                        if raw.trim().is_empty() {
                            "required"
                        } else {
                            "invalid_email"
                        },
                    );
                    None
                }
            }
        } else {
            None
        };
        let notes = input
            .notes
            .as_deref()
            .map(|n| v.text("notes", n, 50_000, false))
            .filter(|n| !n.is_empty());
        v.finish()?;
        if input.close {
            // Check closing as it will be once this derivation exists.
            let mut derivations = facts.derivations.to_vec();
            derivations.push(Derivation {
                unit_kind: unit.kind,
                ..placeholder_derivation(self.id)
            });
            self.check_close(CloseFacts {
                derivations: &derivations,
                has_intervention_notes: facts.has_intervention_notes || notes.is_some(),
                ..facts
            })?;
        }
        Ok(DerivationPlan {
            medium: input.medium,
            reason,
            user_told,
            told_address,
            close: input.close,
            notes,
        })
    }

    /// The status an incident takes after a derivation: closed, or waiting for the unit.
    pub fn apply_derivation(&mut self, plan: &DerivationPlan, now: DateTime<Utc>) {
        if plan.close {
            self.status = Status::Closed;
            self.closed_at = Some(now);
        } else {
            self.status = Status::WaitingUnit;
        }
    }

    /// When the last waiting derivation is answered, the incident returns to the CAP.
    pub fn apply_unit_answer(&mut self, still_waiting: bool) {
        if self.status == Status::WaitingUnit && !still_waiting {
            self.status = Status::Open;
        }
    }

    /// Procedure step 4 to its end: the quality owner attends a buzón suggestion or compliment
    /// routed to the SIGA and may close it with their answer, which is its treatment and so its
    /// intervention notes. Any other unit's answer returns the incident to the CAP, which closes
    /// it. The user type may be given here because the quality owner does not classify; an
    /// anonymous entry is "no identificado".
    pub fn close_on_unit_answer(
        &mut self,
        unit: &Unit,
        user_type: Option<UserType>,
        facts: CloseFacts<'_>,
        now: DateTime<Utc>,
    ) -> Result<(), RuleError> {
        if !self.closes_on_unit_answer(unit) {
            return Err(RuleError::invalid("close", "closed_by_the_cap"));
        }
        if let Some(t) = user_type {
            self.classify(&ClassifyInput {
                user_type: Some(t),
                ..ClassifyInput::default()
            })?;
        }
        self.close(
            CloseFacts {
                has_intervention_notes: true,
                ..facts
            },
            now,
        )
    }

    /// Whether this unit's answer may close the incident (see [`Incident::close_on_unit_answer`]).
    pub fn closes_on_unit_answer(&self, unit: &Unit) -> bool {
        unit.kind == UnitKind::Quality
            && self.channel == Channel::SuggestionBox
            && matches!(
                self.incident_type,
                Some(IncidentType::Suggestion | IncidentType::Compliment)
            )
    }

    pub fn reopen(&mut self) -> Result<(), RuleError> {
        if !self.is_closed() {
            return Err(RuleError::NotClosed);
        }
        self.status = Status::Open;
        self.closed_at = None;
        self.reopened_count += 1;
        Ok(())
    }

    /// The first answer or intervention recorded by staff starts the response clock.
    pub fn record_response(&mut self, at: DateTime<Utc>) {
        if self.first_response_at.is_none() {
            self.first_response_at = Some(at);
        }
    }

    /// Procedure step 4: suggestions and compliments from the buzón go to the quality owner.
    pub fn needs_quality_routing(&self, derivations: &[Derivation]) -> bool {
        self.channel == Channel::SuggestionBox
            && matches!(
                self.incident_type,
                Some(IncidentType::Suggestion | IncidentType::Compliment)
            )
            && !derivations.iter().any(|d| d.unit_kind == UnitKind::Quality)
    }

    /// Procedure step 7: a critical matter waits in the leads' queue until they derive it.
    pub fn in_leads_queue(&self, derivations: &[Derivation]) -> bool {
        self.critical
            && !self.is_closed()
            && !derivations
                .iter()
                .any(|d| d.unit_kind == UnitKind::TopManagement)
    }
}

/// The derivation the procedure suggests for a contact, if any (step 2).
pub fn suggested_unit_kind(programme_line: Option<ProgrammeLine>) -> Option<UnitKind> {
    (programme_line == Some(ProgrammeLine::ContinuingEducation)).then_some(UnitKind::Promotion)
}

/// The reason recorded when a continuing-education user is handed to the Unidad de Promoción
/// (in the institution's language, whatever the agent's interface language).
pub const PROMOTION_REASON: &str =
    "Usuario de Educación Continua: se canaliza a la Unidad de Promoción (procedimiento, paso 2).";

/// The fields of the automatic derivation of buzón suggestions to the quality owner.
pub fn quality_routing_plan() -> DerivationPlan {
    DerivationPlan {
        medium: Medium::Email,
        reason:
            "Sugerencia o felicitación recibida en el buzón: se canaliza al responsable del SIGA \
                 (procedimiento Satisfacción del Cliente)."
                .into(),
        user_told: false,
        told_address: None,
        close: false,
        notes: None,
    }
}

fn placeholder_derivation(incident_id: IncidentId) -> Derivation {
    Derivation {
        id: crate::ids::DerivationId(0),
        incident_id,
        unit_id: crate::ids::UnitId(0),
        unit_name: String::new(),
        unit_kind: UnitKind::Coordination,
        medium: Medium::Email,
        reason: String::new(),
        derived_by: None,
        derived_at: DateTime::<Utc>::MIN_UTC,
        user_told: false,
        told_address: None,
        closed_incident: false,
        answer: None,
        answered_by: None,
        answered_at: None,
    }
}

#[cfg(test)]
mod tests;
