//! The nonconformity register on both engines: each criterion finds its incident once, a
//! disabled criterion finds nothing, entries added by hand are treated up to the
//! effectiveness check, and the register counts in the indicators.

use atiende_domain::RuleError;
use atiende_domain::classification::{Channel, IncidentType, Medium, UserType};
use atiende_domain::contact::ContactInput;
use atiende_domain::derivation::DeriveInput;
use atiende_domain::ids::{ContactId, IncidentId};
use atiende_domain::incident::{ClassifyInput, NewIncidentInput};
use atiende_domain::indicators::IndicatorKind;
use atiende_domain::nonconformity::{Criteria, Criterion, NcStatus, NonconformityInput};
use atiende_domain::period::month_key;
use atiende_domain::unit::UnitKind;
use atiende_domain::user::{Role, StaffUser, UserInput};
use atiende_store::nonconformities::NcFilter;
use atiende_store::testing::TestDb;
use atiende_store::{Actor, StoreError};
use chrono::{Duration, Utc};

atiende_store::on_both_engines!(
    each_criterion_registers_its_incident_once,
    a_disabled_criterion_finds_nothing,
    a_nonconformity_added_by_hand_is_treated_up_to_its_effectiveness_check,
);

async fn setup(db: &TestDb) -> (StaffUser, ContactId) {
    db.first_run(Some("contraseña-segura-1"))
        .await
        .expect("first run");
    let agent = db
        .create_user(
            Actor::System,
            &UserInput {
                login: Some("agente1".into()),
                role: Some(Role::Agent),
                password: Some("contraseña-segura-2".into()),
                ..Default::default()
            },
        )
        .await
        .expect("agent")
        .user;
    let contact = db
        .create_contact(
            Actor::System,
            &ContactInput {
                name: Some("Ana".into()),
                user_type: Some(UserType::Student),
                ..Default::default()
            },
        )
        .await
        .expect("contact")
        .id;
    (agent, contact)
}

async fn incident(
    db: &TestDb,
    agent: &StaffUser,
    contact: ContactId,
    kind: Option<IncidentType>,
    days_ago: i64,
) -> IncidentId {
    db.create_incident(
        Actor::Staff(agent),
        NewIncidentInput {
            channel: Channel::Phone,
            contact_id: Some(contact),
            subject: "Asunto".into(),
            body: String::new(),
            user_type: None,
            incident_type: kind,
            topic_id: None,
            critical: false,
            assigned_to: Some(agent.id),
            received_at: Some(Utc::now() - Duration::days(days_ago)),
        },
    )
    .await
    .expect("incident")
    .id
}

async fn close(db: &TestDb, agent: &StaffUser, id: IncidentId) {
    let classify = ClassifyInput {
        incident_type: Some(IncidentType::Question),
        user_type: Some(UserType::Student),
        ..Default::default()
    };
    db.classify_incident(Actor::Staff(agent), id, &classify)
        .await
        .expect("classify");
    db.close_incident(Actor::Staff(agent), id, Some("Atendido."))
        .await
        .expect("close");
}

/// One incident per criterion; returns them in the criteria's order.
async fn findings(db: &TestDb, agent: &StaffUser, contact: ContactId) -> Vec<IncidentId> {
    let actor = Actor::Staff(agent);
    // A complaint received 20 days ago and still open.
    let complaint = incident(db, agent, contact, Some(IncidentType::Complaint), 20).await;
    // A survey answered with 1 (written as the survey job and the page would).
    let surveyed = incident(db, agent, contact, None, 3).await;
    close(db, agent, surveyed).await;
    db.execute_admin(&format!(
        "INSERT INTO surveys (incident_id, status, channel, closed_at, sent_at, answered_at, overall, created_at) \
         VALUES ({}, 'answered', 'phone', 1, {now}, {now}, 1, {now})",
        surveyed.0,
        now = Utc::now().timestamp_millis()
    ))
    .await
    .expect("survey");
    // Closed without classification nor notes (as an import might leave it).
    let incomplete = incident(db, agent, contact, None, 2).await;
    db.execute_admin(&format!(
        "UPDATE incidents SET status = 'closed', closed_at = {} WHERE id = {}",
        Utc::now().timestamp_millis(),
        incomplete.0
    ))
    .await
    .expect("closed by hand");
    // Derived 10 days ago and never answered.
    let derived = incident(db, agent, contact, Some(IncidentType::Question), 12).await;
    let unit = db
        .units()
        .await
        .expect("units")
        .into_iter()
        .find(|u| u.kind == UnitKind::Coordination)
        .expect("unit");
    db.derive_incident(
        actor,
        derived,
        &DeriveInput {
            unit_id: unit.id,
            medium: Medium::Email,
            reason: "Corresponde a la coordinación".into(),
            user_told: None,
            told_address: None,
            close: false,
            notes: None,
        },
    )
    .await
    .expect("derive");
    db.execute_admin(&format!(
        "UPDATE derivations SET derived_at = {} WHERE incident_id = {}",
        (Utc::now() - Duration::days(10)).timestamp_millis(),
        derived.0
    ))
    .await
    .expect("age the derivation");
    // Closed and reopened the same day.
    let reopened = incident(db, agent, contact, None, 1).await;
    close(db, agent, reopened).await;
    db.reopen_incident(actor, reopened, "Volvió a llamar")
        .await
        .expect("reopen");
    vec![complaint, surveyed, incomplete, derived, reopened]
}

async fn each_criterion_registers_its_incident_once(db: TestDb) {
    let (agent, contact) = setup(&db).await;
    let ids = findings(&db, &agent, contact).await;
    let criteria = Criteria::default();
    assert_eq!(
        db.detect_nonconformities(&criteria).await.expect("detect"),
        5
    );
    assert_eq!(
        db.detect_nonconformities(&criteria).await.expect("again"),
        0,
        "once per incident and criterion"
    );
    let register = db
        .nonconformities(&NcFilter::default())
        .await
        .expect("register");
    let mut found: Vec<(IncidentId, Criterion)> = register
        .iter()
        .map(|n| (n.incident_id.expect("incident"), n.criterion))
        .collect();
    found.sort_by_key(|(id, _)| id.0);
    let expected: Vec<(IncidentId, Criterion)> = ids
        .into_iter()
        .zip([
            Criterion::ComplaintNotClosed,
            Criterion::LowSurveyScore,
            Criterion::ClosedIncomplete,
            Criterion::DerivationUnanswered,
            Criterion::ReopenedSoon,
        ])
        .collect();
    assert_eq!(found, expected);
    assert!(register.iter().all(|n| n.status == NcStatus::Open));
    let month = month_key(Utc::now(), db.time_zone());
    let rollup = db.period_rollup(month, month, false).await.expect("rollup");
    assert_eq!(
        IndicatorKind::Nonconformities.value(&rollup.totals, &[], &[]),
        Some(5.0)
    );
}

async fn a_disabled_criterion_finds_nothing(db: TestDb) {
    let (agent, contact) = setup(&db).await;
    findings(&db, &agent, contact).await;
    let none = Criteria {
        complaint_business_days: None,
        low_survey_score: None,
        closed_incomplete: false,
        derivation_days: None,
        reopened_days: None,
        service_level_breached: false,
    };
    assert_eq!(db.detect_nonconformities(&none).await.expect("detect"), 0);
    // A stricter threshold: scores of 0 or less never happen.
    let strict = Criteria {
        low_survey_score: Some(0),
        ..none
    };
    assert_eq!(db.detect_nonconformities(&strict).await.expect("detect"), 0);
}

async fn a_nonconformity_added_by_hand_is_treated_up_to_its_effectiveness_check(db: TestDb) {
    let (agent, contact) = setup(&db).await;
    let id = incident(&db, &agent, contact, Some(IncidentType::Complaint), 0).await;
    let actor = Actor::Staff(&agent);
    let input = NonconformityInput {
        description: "Se dio información equivocada sobre fechas de inscripción.".into(),
        ..Default::default()
    };
    let nc = db
        .register_nonconformity(actor, Some(id), &input)
        .await
        .expect("register");
    assert_eq!(nc.criterion, Criterion::Manual);
    assert!(nc.folio.is_some());
    let closing = NonconformityInput {
        status: Some(NcStatus::Closed),
        disposition: "Se llamó al usuario con la fecha correcta.".into(),
        ..input.clone()
    };
    match db.update_nonconformity(actor, nc.id, &closing).await {
        Err(StoreError::Rule(RuleError::Invalid(fields))) => {
            assert_eq!(fields[0].field, "effectiveness");
        }
        other => panic!("closing without the effectiveness check must fail: {other:?}"),
    }
    let closed = NonconformityInput {
        corrective_action: "Se actualizó el artículo de calendario escolar.".into(),
        responsible: "Responsable del CAP".into(),
        due_date: chrono::NaiveDate::from_ymd_opt(2026, 12, 15),
        effectiveness: "Sin quejas por fechas en el mes siguiente.".into(),
        ..closing
    };
    let after = db
        .update_nonconformity(actor, nc.id, &closed)
        .await
        .expect("treated");
    assert_eq!(after.status, NcStatus::Closed);
    assert_eq!(
        after.due_date.map(|d| d.to_string()).as_deref(),
        Some("2026-12-15")
    );
    let without_incident = db
        .register_nonconformity(actor, None, &input)
        .await
        .expect("general finding");
    assert!(without_incident.incident_id.is_none());
    let open = NcFilter {
        status: Some(NcStatus::Open),
        ..Default::default()
    };
    assert_eq!(db.nonconformities(&open).await.expect("open").len(), 1);
}
