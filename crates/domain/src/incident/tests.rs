//! The procedure's rules, one test each.

use chrono::{TimeZone, Utc};

use super::*;
use crate::classification::Lang;
use crate::ids::{DerivationId, UnitId};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 10, 16, 0, 0)
        .single()
        .expect("valid date")
}

fn incident(channel: Channel) -> Incident {
    Incident {
        id: IncidentId(1),
        folio: Folio { year: 2026, seq: 1 },
        channel,
        contact_id: Some(ContactId(1)),
        subject: "Acceso a la plataforma".into(),
        user_type: None,
        incident_type: None,
        topic_id: None,
        critical: false,
        status: Status::Open,
        assigned_to: None,
        received_at: now(),
        first_response_at: None,
        closed_at: None,
        reopened_count: 0,
        created_at: now(),
        updated_at: now(),
    }
}

fn classified(channel: Channel) -> Incident {
    let mut i = incident(channel);
    i.user_type = Some(UserType::Student);
    i.incident_type = Some(IncidentType::Question);
    i
}

fn staff(role: Role) -> StaffUser {
    StaffUser {
        id: UserId(3),
        login: "ana".into(),
        name: "Ana".into(),
        email: String::new(),
        role,
        unit_ids: vec![],
        language: Lang::Es,
        disabled: false,
        must_change_password: false,
        second_factor: false,
        phone_extension: String::new(),
        created_at: now(),
    }
}

fn unit(kind: UnitKind) -> Unit {
    Unit {
        id: UnitId(9),
        name: "Coordinación de Control Escolar".into(),
        kind,
        responsible_name: "Mtra. Pérez".into(),
        email: "controlescolar@udgvirtual.udg.mx".into(),
        phone: String::new(),
        active: true,
    }
}

fn derivation(kind: UnitKind) -> Derivation {
    Derivation {
        unit_kind: kind,
        id: DerivationId(1),
        ..placeholder_derivation(IncidentId(1))
    }
}

fn facts(derivations: &[Derivation], notes: bool) -> CloseFacts<'_> {
    CloseFacts {
        derivations,
        has_intervention_notes: notes,
        contact_programme_line: None,
    }
}

fn derive_input(close: bool) -> DeriveInput {
    DeriveInput {
        unit_id: UnitId(9),
        medium: Medium::Email,
        reason: "Requiere revisión del kárdex".into(),
        user_told: None,
        told_address: None,
        close,
        notes: None,
    }
}

#[test]
fn closing_names_every_missing_requirement() {
    let err = incident(Channel::Phone)
        .check_close(facts(&[], false))
        .unwrap_err();
    let RuleError::CloseMissing(missing) = err else {
        panic!("expected CloseMissing, got {err:?}")
    };
    let fields: Vec<_> = missing.iter().map(|f| f.field.as_str()).collect();
    assert_eq!(fields, ["user_type", "incident_type", "notes"]);
}

#[test]
fn closing_a_classified_incident_with_notes_sets_status_and_time() {
    let mut i = classified(Channel::Phone);
    i.close(facts(&[], true), now()).expect("closes");
    assert_eq!(i.status, Status::Closed);
    assert_eq!(i.closed_at, Some(now()));
    assert_eq!(
        i.close(facts(&[], true), now()),
        Err(RuleError::AlreadyClosed)
    );
}

#[test]
fn a_critical_incident_is_closed_only_after_top_management_received_it() {
    let mut i = classified(Channel::Email);
    i.critical = true;
    assert!(i.in_leads_queue(&[]));
    assert_eq!(
        i.check_close(facts(&[], true)),
        Err(RuleError::CriticalNeedsTopManagement)
    );
    let top = [derivation(UnitKind::TopManagement)];
    assert!(!i.in_leads_queue(&top));
    assert_eq!(i.check_close(facts(&top, true)), Ok(()));
}

#[test]
fn only_a_cap_lead_derives_to_top_management() {
    let i = classified(Channel::Email);
    let top = unit(UnitKind::TopManagement);
    let as_agent = i.plan_derivation(
        &staff(Role::Agent),
        &top,
        &derive_input(false),
        facts(&[], false),
    );
    assert_eq!(as_agent, Err(RuleError::OnlyLeadDerivesToTopManagement));
    let as_admin = i.plan_derivation(
        &staff(Role::Admin),
        &top,
        &derive_input(false),
        facts(&[], false),
    );
    assert_eq!(as_admin, Err(RuleError::OnlyLeadDerivesToTopManagement));
    let as_lead = i.plan_derivation(
        &staff(Role::CapLead),
        &top,
        &derive_input(false),
        facts(&[], false),
    );
    assert!(as_lead.is_ok());
}

#[test]
fn a_continuing_education_incident_is_derived_to_promotion_and_closed_in_the_same_step() {
    let i = classified(Channel::Phone);
    let ce = CloseFacts {
        contact_programme_line: Some(ProgrammeLine::ContinuingEducation),
        ..facts(&[], true)
    };
    assert_eq!(
        i.check_close(ce),
        Err(RuleError::ContinuingEducationNeedsPromotion)
    );
    assert_eq!(
        suggested_unit_kind(Some(ProgrammeLine::ContinuingEducation)),
        Some(UnitKind::Promotion)
    );

    let mut input = derive_input(true);
    input.notes = Some("Se canaliza a Promoción para el diplomado".into());
    let ce = CloseFacts {
        has_intervention_notes: false,
        ..ce
    };
    let plan = i
        .plan_derivation(&staff(Role::Agent), &unit(UnitKind::Promotion), &input, ce)
        .expect("plan");
    assert!(plan.close);
    let mut i = i;
    i.apply_derivation(&plan, now());
    assert_eq!(i.status, Status::Closed);
}

#[test]
fn closing_at_derivation_time_still_requires_the_classification() {
    let i = incident(Channel::Phone);
    let mut input = derive_input(true);
    input.notes = Some("Notas".into());
    let err = i.plan_derivation(
        &staff(Role::Agent),
        &unit(UnitKind::Coordination),
        &input,
        facts(&[], false),
    );
    assert!(
        matches!(err, Err(RuleError::CloseMissing(ref m)) if m.len() == 2),
        "{err:?}"
    );
}

#[test]
fn a_derived_incident_waits_for_the_unit_and_returns_when_it_answers() {
    let mut i = classified(Channel::Email);
    let plan = i
        .plan_derivation(
            &staff(Role::Agent),
            &unit(UnitKind::Coordination),
            &derive_input(false),
            facts(&[], false),
        )
        .expect("plan");
    i.apply_derivation(&plan, now());
    assert_eq!(i.status, Status::WaitingUnit);
    i.apply_unit_answer(true);
    assert_eq!(
        i.status,
        Status::WaitingUnit,
        "another derivation is still waiting"
    );
    i.apply_unit_answer(false);
    assert_eq!(i.status, Status::Open);
}

#[test]
fn deriving_from_whatsapp_records_that_the_user_was_told_to_write_to_the_unit() {
    let i = classified(Channel::Whatsapp);
    let plan = i
        .plan_derivation(
            &staff(Role::Agent),
            &unit(UnitKind::Coordination),
            &derive_input(false),
            facts(&[], false),
        )
        .expect("plan");
    assert!(plan.user_told);
    assert_eq!(
        plan.told_address.as_deref(),
        Some("controlescolar@udgvirtual.udg.mx")
    );

    let by_phone = classified(Channel::Phone)
        .plan_derivation(
            &staff(Role::Agent),
            &unit(UnitKind::Coordination),
            &derive_input(false),
            facts(&[], false),
        )
        .expect("plan");
    assert!(!by_phone.user_told);
    assert_eq!(by_phone.told_address, None);
}

#[test]
fn a_derivation_needs_a_reason() {
    let mut input = derive_input(false);
    input.reason = "  ".into();
    let err = classified(Channel::Email)
        .plan_derivation(
            &staff(Role::Agent),
            &unit(UnitKind::Coordination),
            &input,
            facts(&[], false),
        )
        .unwrap_err();
    assert_eq!(err.fields()[0].field, "reason");
}

#[test]
fn buzon_suggestions_and_compliments_are_routed_to_the_quality_owner() {
    let mut i = incident(Channel::SuggestionBox);
    i.incident_type = Some(IncidentType::Suggestion);
    assert!(i.needs_quality_routing(&[]));
    assert!(!i.needs_quality_routing(&[derivation(UnitKind::Quality)]));
    i.incident_type = Some(IncidentType::Complaint);
    assert!(
        !i.needs_quality_routing(&[]),
        "complaints are attended by the CAP"
    );
    let mut by_mail = incident(Channel::Email);
    by_mail.incident_type = Some(IncidentType::Compliment);
    assert!(
        !by_mail.needs_quality_routing(&[]),
        "only the buzón is routed"
    );
}

#[test]
fn the_quality_owner_closes_a_buzon_suggestion_with_their_answer_and_no_other_unit_does() {
    let mut entry = incident(Channel::SuggestionBox);
    entry.contact_id = None;
    entry.incident_type = Some(IncidentType::Suggestion);
    entry.status = Status::WaitingUnit;
    let routed = [derivation(UnitKind::Quality)];
    let mut by_unit = entry.clone();
    let err = by_unit
        .close_on_unit_answer(
            &unit(UnitKind::Coordination),
            None,
            facts(&routed, false),
            now(),
        )
        .unwrap_err();
    assert_eq!(err.fields()[0].code, "closed_by_the_cap");
    let mut untyped = entry.clone();
    let err = untyped
        .close_on_unit_answer(&unit(UnitKind::Quality), None, facts(&routed, false), now())
        .unwrap_err();
    assert_eq!(
        err.fields()[0].field,
        "user_type",
        "closing still needs every classification"
    );
    entry
        .close_on_unit_answer(
            &unit(UnitKind::Quality),
            Some(UserType::Unidentified),
            facts(&routed, false),
            now(),
        )
        .expect("the answer is the treatment");
    assert_eq!(entry.status, Status::Closed);
    assert_eq!(entry.user_type, Some(UserType::Unidentified));
    let mut complaint = incident(Channel::SuggestionBox);
    complaint.incident_type = Some(IncidentType::Complaint);
    assert!(
        !complaint.closes_on_unit_answer(&unit(UnitKind::Quality)),
        "complaints are attended by the CAP"
    );
}

#[test]
fn a_closed_incident_is_reopened_and_counted() {
    let mut i = classified(Channel::Phone);
    assert_eq!(i.reopen(), Err(RuleError::NotClosed));
    i.close(facts(&[], true), now()).expect("closes");
    i.reopen().expect("reopens");
    assert_eq!(
        (i.status, i.closed_at, i.reopened_count),
        (Status::Open, None, 1)
    );
}

#[test]
fn a_closed_incident_is_not_reclassified_until_reopened() {
    let mut i = classified(Channel::Phone);
    i.close(facts(&[], true), now()).expect("closes");
    let change = ClassifyInput {
        incident_type: Some(IncidentType::Complaint),
        ..Default::default()
    };
    assert_eq!(i.classify(&change), Err(RuleError::AlreadyClosed));
}

#[test]
fn the_first_answer_starts_the_response_clock_once() {
    let mut i = incident(Channel::Email);
    i.record_response(now());
    i.record_response(now() + chrono::Duration::hours(1));
    assert_eq!(i.first_response_at, Some(now()));
}

#[test]
fn only_anonymous_buzon_entries_may_lack_a_contact() {
    let mut input = NewIncidentInput {
        channel: Channel::Phone,
        contact_id: None,
        subject: String::new(),
        body: "¿Cuándo sale el dictamen?\nGracias".into(),
        user_type: None,
        incident_type: None,
        topic_id: None,
        critical: false,
        assigned_to: None,
        received_at: None,
    };
    assert!(input.validate(None, now()).is_err());
    input.channel = Channel::SuggestionBox;
    input.validate(None, now()).expect("anonymous buzón entry");
    assert_eq!(input.subject, "¿Cuándo sale el dictamen?");
}

#[test]
fn the_user_type_is_prefilled_from_the_contact() {
    let mut input = NewIncidentInput {
        channel: Channel::Phone,
        contact_id: Some(ContactId(1)),
        subject: "Pago".into(),
        body: String::new(),
        user_type: None,
        incident_type: None,
        topic_id: None,
        critical: false,
        assigned_to: None,
        received_at: None,
    };
    input
        .validate(Some(UserType::Applicant), now())
        .expect("valid");
    assert_eq!(input.user_type, Some(UserType::Applicant));
}

#[test]
fn a_registration_dates_its_reception_within_the_last_month_only() {
    let input = |days_ago: i64| NewIncidentInput {
        channel: Channel::SuggestionBox,
        contact_id: None,
        subject: "Sugerencia".into(),
        body: String::new(),
        user_type: None,
        incident_type: None,
        topic_id: None,
        critical: false,
        assigned_to: None,
        received_at: Some(now() - chrono::Duration::days(days_ago)),
    };
    input(30).validate(None, now()).expect("last month");
    let err = input(6 * 365)
        .validate(None, now())
        .expect_err("years back");
    assert_eq!(err.fields()[0].code, "too_long_ago");
    let err = input(-1).validate(None, now()).expect_err("tomorrow");
    assert_eq!(err.fields()[0].code, "in_the_future");
}

#[test]
fn a_duplicate_closes_without_its_own_classification_taking_the_originals() {
    let mut original = classified(Channel::Email);
    original.id = IncidentId(2);
    let mut twice = incident(Channel::Whatsapp);
    twice
        .close_as_duplicate(&original, false, now())
        .expect("closed as a duplicate");
    assert_eq!(twice.status, Status::Closed);
    assert_eq!(twice.closed_at, Some(now()));
    assert_eq!(twice.user_type, Some(UserType::Student));
    assert_eq!(twice.incident_type, Some(IncidentType::Question));
    assert_eq!(
        twice.close_as_duplicate(&original, false, now()),
        Err(RuleError::AlreadyClosed)
    );
}

#[test]
fn only_the_same_persons_incidents_merge_and_never_one_into_itself() {
    let mut original = classified(Channel::Email);
    original.id = IncidentId(2);
    original.contact_id = Some(ContactId(9));
    let field = |r: Result<(), RuleError>| match r {
        Err(RuleError::Invalid(f)) => f[0].code.clone(),
        other => format!("{other:?}"),
    };
    let mut other_persons = incident(Channel::Email);
    assert_eq!(
        field(other_persons.close_as_duplicate(&original, true, now())),
        "not_the_same_person"
    );
    // As a duplicate (not merged) another person's registration may still close.
    let mut waiting = incident(Channel::Email);
    waiting.status = Status::WaitingUnit;
    assert_eq!(
        field(waiting.close_as_duplicate(&original, false, now())),
        "derivation_waiting"
    );
    let mut itself = classified(Channel::Email);
    let copy = itself.clone();
    assert_eq!(
        field(itself.close_as_duplicate(&copy, false, now())),
        "same_incident"
    );
    original.contact_id = Some(ContactId(1));
    other_persons
        .close_as_duplicate(&original, true, now())
        .expect("the same person's: merged");
}
