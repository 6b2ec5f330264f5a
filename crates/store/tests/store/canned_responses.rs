//! Canned responses in storage, on both engines: each person keeps their own and leads keep
//! the CAP's; a text is filled for the incident at hand (never with a blocked person's name);
//! an answer sent from one counts its use, and the quality office sees how many of those
//! incidents closed at first contact.

use atiende_domain::canned_response::CannedResponseInput;
use atiende_domain::classification::{Channel, IncidentType, Medium, UserType};
use atiende_domain::derivation::DeriveInput;
use atiende_domain::ids::{ContactId, IncidentId};
use atiende_domain::incident::{EntryKind, NewIncidentInput};
use atiende_domain::user::{Role, StaffUser, UserInput};
use atiende_store::testing::TestDb;
use atiende_store::{Actor, Store};
use chrono::{Duration, Utc};

atiende_store::on_both_engines!(
    each_keeps_their_own_and_leads_keep_the_caps,
    a_text_is_filled_for_the_incident_and_never_with_a_blocked_name,
    an_answer_from_a_canned_response_is_counted_with_its_first_contact_closings,
);

async fn person(db: &TestDb, login: &str, name: &str, role: Role) -> StaffUser {
    db.create_user(
        Actor::System,
        &UserInput {
            login: Some(login.into()),
            name: Some(name.into()),
            role: Some(role),
            password: Some("contraseña-segura-2".into()),
            ..Default::default()
        },
    )
    .await
    .expect("user")
    .user
}

async fn cap(db: &TestDb) -> (StaffUser, StaffUser, StaffUser) {
    db.first_run(Some("contraseña-segura-1"))
        .await
        .expect("first run");
    (
        person(db, "lider", "Carmen Ruiz", Role::CapLead).await,
        person(db, "maria", "María Pérez", Role::Agent).await,
        person(db, "jorge", "Jorge Díaz", Role::Agent).await,
    )
}

fn text(title: &str, body: &str, shared: bool) -> CannedResponseInput {
    CannedResponseInput {
        title: title.into(),
        body: body.into(),
        topic_id: None,
        shared,
    }
}

async fn contact(db: &Store, by: &StaffUser, name: &str) -> ContactId {
    db.create_contact(
        Actor::Staff(by),
        &atiende_domain::contact::ContactInput {
            name: Some(name.into()),
            ..Default::default()
        },
    )
    .await
    .expect("contact")
    .id
}

async fn phone_incident(db: &Store, by: &StaffUser, person: ContactId) -> IncidentId {
    db.create_incident(
        Actor::Staff(by),
        NewIncidentInput {
            channel: Channel::Phone,
            contact_id: Some(person),
            subject: "Constancia".into(),
            body: String::new(),
            user_type: Some(UserType::Student),
            incident_type: Some(IncidentType::Question),
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

async fn derive(db: &Store, by: &StaffUser, id: IncidentId) -> atiende_domain::unit::Unit {
    let unit = db
        .units()
        .await
        .expect("units")
        .into_iter()
        .find(|u| {
            u.active
                && !u.email.is_empty()
                && u.kind == atiende_domain::unit::UnitKind::Coordination
        })
        .expect("a coordination");
    db.derive_incident(
        Actor::Staff(by),
        id,
        &DeriveInput {
            unit_id: unit.id,
            medium: Medium::Email,
            reason: "Revisión".into(),
            user_told: None,
            told_address: None,
            close: false,
            notes: None,
        },
    )
    .await
    .expect("derived");
    unit
}

async fn each_keeps_their_own_and_leads_keep_the_caps(db: TestDb) {
    let (lead, maria, jorge) = cap(&db).await;
    let shared = db
        .create_canned_response(&lead, &text("Horario", "De 9 a 18 h.", true))
        .await
        .expect("the CAP's");
    let own = db
        .create_canned_response(&maria, &text("Mi saludo", "Hola, {{ nombre }}.", false))
        .await
        .expect("her own");
    assert!(shared.shared && !own.shared);
    let titles = |list: Vec<atiende_store::canned_responses::CannedResponse>| {
        list.into_iter().map(|c| c.title).collect::<Vec<_>>()
    };
    assert_eq!(
        titles(
            db.canned_responses(maria.id, None, None)
                .await
                .expect("list")
        ),
        ["Horario", "Mi saludo"]
    );
    assert_eq!(
        titles(
            db.canned_responses(jorge.id, None, None)
                .await
                .expect("list")
        ),
        ["Horario"],
        "another's own is theirs alone"
    );
    assert_eq!(
        titles(
            db.canned_responses(maria.id, Some("SALUDO"), None)
                .await
                .expect("list")
        ),
        ["Mi saludo"]
    );
    // An agent keeps no text for the whole CAP, nor changes the CAP's or another's.
    assert!(
        db.create_canned_response(&maria, &text("Todos", "x", true))
            .await
            .is_err()
    );
    assert!(
        db.update_canned_response(&maria, shared.id, &text("Horario", "Cambiado", false))
            .await
            .is_err()
    );
    assert!(
        db.update_canned_response(&jorge, own.id, &text("Mío", "x", false))
            .await
            .is_err()
    );
    // A typo in a variable is refused when saved.
    let err = db
        .create_canned_response(&maria, &text("Mal", "Hola, {{ nombr }}", false))
        .await
        .expect_err("unknown variable");
    assert!(format!("{err:?}").contains("unknown_variable"), "{err:?}");
    db.archive_canned_response(&maria, own.id)
        .await
        .expect("archived");
    assert_eq!(
        titles(
            db.canned_responses(maria.id, None, None)
                .await
                .expect("list")
        ),
        ["Horario"]
    );
}

async fn a_text_is_filled_for_the_incident_and_never_with_a_blocked_name(db: TestDb) {
    let (lead, maria, _) = cap(&db).await;
    let canned = db
        .create_canned_response(
            &lead,
            &text(
                "Derivado",
                "Hola, {{ nombre }}: su folio {{ folio }} pasó a {{ unidad }} ({{ unidad_correo }}).\n{{ agente }}",
                true,
            ),
            )
        .await
        .expect("canned");
    let ana = contact(&db, &maria, "Ana López").await;
    let id = phone_incident(&db, &maria, ana).await;
    let unit = derive(&db, &maria, id).await;
    let folio = db.incident(id).await.expect("incident").folio.to_string();
    let filled = db
        .fill_canned_response(&maria, canned.id, id)
        .await
        .expect("filled");
    assert_eq!(
        filled,
        format!(
            "Hola, Ana López: su folio {folio} pasó a {} ({}).\nMaría Pérez",
            unit.name, unit.email
        )
    );
    db.block_contact(Actor::Staff(&lead), ana, "Cancelación")
        .await
        .expect("blocked");
    let filled = db
        .fill_canned_response(&maria, canned.id, id)
        .await
        .expect("filled");
    assert!(filled.starts_with("Hola, : su folio"), "{filled}");
}

async fn an_answer_from_a_canned_response_is_counted_with_its_first_contact_closings(db: TestDb) {
    let (lead, maria, jorge) = cap(&db).await;
    let canned = db
        .create_canned_response(
            &lead,
            &text("Constancia", "Pídala en el portal, {{ nombre }}.", true),
        )
        .await
        .expect("canned");
    let mine = db
        .create_canned_response(&jorge, &text("De Jorge", "Hola", false))
        .await
        .expect("Jorge's");
    let ana = contact(&db, &maria, "Ana López").await;
    let first = phone_incident(&db, &maria, ana).await;
    let second = phone_incident(&db, &maria, ana).await;
    for id in [first, second] {
        let body = db
            .fill_canned_response(&maria, canned.id, id)
            .await
            .expect("filled");
        let entry = db
            .add_entry_from_canned(
                Actor::Staff(&maria),
                id,
                EntryKind::OutboundMessage,
                &body,
                &[],
                canned.id,
            )
            .await
            .expect("answered");
        assert_eq!(entry.data["canned_response_id"], canned.id);
    }
    // Another's own cannot be used: nothing is written.
    assert!(
        db.add_entry_from_canned(
            Actor::Staff(&maria),
            first,
            EntryKind::OutboundMessage,
            "Hola",
            &[],
            mine.id,
        )
        .await
        .is_err()
    );
    // The first closes at first contact; the second is derived.
    db.close_incident(Actor::Staff(&maria), first, Some("Se indicó el trámite."))
        .await
        .expect("closed");
    derive(&db, &maria, second).await;
    let now = Utc::now();
    let usage = db
        .canned_usage(now - Duration::days(1), now + Duration::days(1))
        .await
        .expect("usage");
    assert_eq!(usage.len(), 1);
    assert_eq!(
        (usage[0].uses, usage[0].incidents, usage[0].first_contact),
        (2, 2, 1)
    );
    assert!(
        db.canned_usage(now - Duration::days(30), now - Duration::days(29))
            .await
            .expect("usage")
            .is_empty()
    );
}
