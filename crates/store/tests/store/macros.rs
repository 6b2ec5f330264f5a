//! Macros in storage, on both engines: the whole of a frequent case in one step, every step
//! through the procedure's rules, and nothing written when one of them is refused.

use atiende_domain::canned_response::CannedResponseInput;
use atiende_domain::classification::{Channel, IncidentType, Medium, UserType};
use atiende_domain::ids::IncidentId;
use atiende_domain::incident::{EntryKind, NewIncidentInput, Status};
use atiende_domain::macros::{MacroFinish, MacroInput, MacroSteps};
use atiende_domain::user::{Role, StaffUser, UserInput};
use atiende_store::testing::TestDb;
use atiende_store::{Actor, Store};

atiende_store::on_both_engines!(
    a_macro_handles_a_frequent_case_in_one_step,
    a_step_the_procedure_refuses_leaves_nothing_written,
    a_macro_can_derive_and_anothers_own_is_not_found,
);

async fn person(db: &TestDb, login: &str, role: Role) -> StaffUser {
    db.create_user(
        Actor::System,
        &UserInput {
            login: Some(login.into()),
            name: Some(format!("Persona {login}")),
            role: Some(role),
            password: Some("contraseña-segura-2".into()),
            ..Default::default()
        },
    )
    .await
    .expect("user")
    .user
}

async fn cap(db: &TestDb) -> (StaffUser, StaffUser) {
    db.first_run(Some("contraseña-segura-1"))
        .await
        .expect("first run");
    (
        person(db, "lider", Role::CapLead).await,
        person(db, "maria", Role::Agent).await,
    )
}

async fn phone_incident(db: &Store, by: &StaffUser) -> IncidentId {
    let person = db
        .create_contact(
            Actor::Staff(by),
            &atiende_domain::contact::ContactInput {
                name: Some("Ana López".into()),
                ..Default::default()
            },
        )
        .await
        .expect("contact");
    db.create_incident(
        Actor::Staff(by),
        NewIncidentInput {
            channel: Channel::Phone,
            contact_id: Some(person.id),
            subject: "Constancia de estudios".into(),
            body: String::new(),
            user_type: None,
            incident_type: None,
            topic_id: None,
            critical: false,
            assigned_to: None,
            received_at: None,
        },
    )
    .await
    .expect("incident")
    .id
}

async fn a_macro_handles_a_frequent_case_in_one_step(db: TestDb) {
    let (lead, maria) = cap(&db).await;
    let canned = db
        .create_canned_response(
            &lead,
            &CannedResponseInput {
                title: "Constancia".into(),
                body: "Hola, {{ nombre }}: pídala en el portal.".into(),
                topic_id: None,
                shared: true,
            },
        )
        .await
        .expect("canned");
    let m = db
        .create_macro(
            &lead,
            &MacroInput {
                name: "Constancia: orientar y cerrar".into(),
                steps: MacroSteps {
                    user_type: Some(UserType::Student),
                    incident_type: Some(IncidentType::Question),
                    canned_response_id: Some(canned.id),
                    notes: "Se indicó cómo pedirla en el portal.".into(),
                    finish: MacroFinish::Close,
                    ..Default::default()
                },
                shared: true,
            },
        )
        .await
        .expect("macro");
    let id = phone_incident(&db, &maria).await;
    let after = db.apply_macro(&maria, m.id, id).await.expect("applied");
    assert_eq!(after.status, Status::Closed);
    assert_eq!(after.user_type, Some(UserType::Student));
    assert_eq!(after.incident_type, Some(IncidentType::Question));
    let timeline = db.incident_detail(id, 7).await.expect("detail").timeline;
    let kinds: Vec<EntryKind> = timeline.iter().map(|e| e.kind).collect();
    for kind in [
        EntryKind::Classification,
        EntryKind::OutboundMessage,
        EntryKind::Intervention,
        EntryKind::StatusChange,
    ] {
        assert!(kinds.contains(&kind), "{kind:?} in {kinds:?}");
    }
    let answer = timeline
        .iter()
        .find(|e| e.kind == EntryKind::OutboundMessage)
        .expect("answer");
    assert_eq!(answer.body, "Hola, Ana López: pídala en el portal.");
    // The survey is due, as for any closing; the canned response's use is counted.
    let outbox = db.outbox(Some(id), 20).await.expect("outbox");
    assert!(outbox.iter().any(|o| o.kind == "survey_due"));
    let now = chrono::Utc::now();
    let usage = db
        .canned_usage(
            now - chrono::Duration::hours(1),
            now + chrono::Duration::hours(1),
        )
        .await
        .expect("usage");
    assert_eq!(usage[0].uses, 1);
}

async fn a_step_the_procedure_refuses_leaves_nothing_written(db: TestDb) {
    let (lead, maria) = cap(&db).await;
    let canned = db
        .create_canned_response(
            &lead,
            &CannedResponseInput {
                title: "Saludo".into(),
                body: "Hola, {{ nombre }}.".into(),
                topic_id: None,
                shared: true,
            },
        )
        .await
        .expect("canned");
    // Answers and closes, but never says the incident type the procedure needs to close.
    let m = db
        .create_macro(
            &maria,
            &MacroInput {
                name: "Cerrar sin clasificar".into(),
                steps: MacroSteps {
                    canned_response_id: Some(canned.id),
                    notes: "Se atendió.".into(),
                    finish: MacroFinish::Close,
                    ..Default::default()
                },
                shared: false,
            },
        )
        .await
        .expect("macro");
    let id = phone_incident(&db, &maria).await;
    let before = db.incident_detail(id, 7).await.expect("detail");
    let err = db
        .apply_macro(&maria, m.id, id)
        .await
        .expect_err("closing an unclassified incident is refused");
    assert!(format!("{err:?}").contains("incident_type"), "{err:?}");
    let after = db.incident_detail(id, 7).await.expect("detail");
    assert_eq!(after.incident.status, Status::Open);
    assert_eq!(
        after.timeline.len(),
        before.timeline.len(),
        "nothing written"
    );
    assert!(
        db.outbox(Some(id), 20)
            .await
            .expect("outbox")
            .iter()
            .all(|o| o.kind != "survey_due"),
    );
    let now = chrono::Utc::now();
    assert!(
        db.canned_usage(
            now - chrono::Duration::hours(1),
            now + chrono::Duration::hours(1)
        )
        .await
        .expect("usage")
        .is_empty(),
        "no use counted"
    );
}

async fn a_macro_can_derive_and_anothers_own_is_not_found(db: TestDb) {
    let (lead, maria) = cap(&db).await;
    let unit = db
        .units()
        .await
        .expect("units")
        .into_iter()
        .find(|u| u.kind == atiende_domain::unit::UnitKind::Coordination)
        .expect("a coordination");
    let m = db
        .create_macro(
            &lead,
            &MacroInput {
                name: "Revalidación: a la coordinación".into(),
                steps: MacroSteps {
                    user_type: Some(UserType::Student),
                    incident_type: Some(IncidentType::Question),
                    notes: "Pide revalidar materias.".into(),
                    finish: MacroFinish::Derive {
                        unit_id: unit.id,
                        medium: Medium::Email,
                        reason: "Revalidación de materias".into(),
                    },
                    ..Default::default()
                },
                shared: false,
            },
        )
        .await
        .expect("the lead's own");
    let id = phone_incident(&db, &maria).await;
    assert!(
        db.apply_macro(&maria, m.id, id).await.is_err(),
        "another's own macro"
    );
    let after = db.apply_macro(&lead, m.id, id).await.expect("applied");
    assert_eq!(after.status, Status::WaitingUnit);
    let detail = db.incident_detail(id, 7).await.expect("detail");
    assert_eq!(detail.derivations.len(), 1);
    assert_eq!(detail.derivations[0].unit_id, unit.id);
}
