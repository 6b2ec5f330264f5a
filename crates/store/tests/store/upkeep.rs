//! Every kind of change to an incident keeps what depends on it in step — indicator facts and
//! rollups, the search document — because the transaction's commit does it for every incident
//! it touched. Each step below is one write path; after each, the live rollups equal a recount
//! from scratch and the search finds (or no longer finds) the words the step wrote.

use atiende_domain::access::Scope;
use atiende_domain::chat::{ChatContent, InboundChat, Provider};
use atiende_domain::classification::{Channel, IncidentType, Medium, UserType};
use atiende_domain::contact::ContactInput;
use atiende_domain::derivation::{DeriveInput, UnitAnswer};
use atiende_domain::email::InboundEmail;
use atiende_domain::ids::IncidentId;
use atiende_domain::incident::{ClassifyInput, EntryKind, NewIncidentInput};
use atiende_domain::knowledge::SearchQuery;
use atiende_domain::survey::SurveyPolicy;
use atiende_domain::unit::UnitKind;
use atiende_store::Actor;
use atiende_store::testing::{TestDb, sending_mailbox};

atiende_store::on_both_engines!(
    every_change_to_an_incident_keeps_its_facts_rollups_and_search_in_step,
    unchanged_text_and_clocks_are_kept_as_written_and_a_changed_document_in_its_place
);

/// A call from a new contact, registered unclassified with `body` as what the person said.
async fn phone_call(
    db: &TestDb,
    staff: Actor<'_>,
    person: &ContactInput,
    body: &str,
) -> (atiende_domain::contact::Contact, IncidentId) {
    let person = db
        .create_contact(Actor::System, person)
        .await
        .expect("contact");
    let input = NewIncidentInput {
        channel: Channel::Phone,
        contact_id: Some(person.id),
        subject: "Credencial".into(),
        body: body.into(),
        user_type: None,
        incident_type: None,
        topic_id: None,
        critical: false,
        assigned_to: None,
        received_at: None,
    };
    let id = db.create_incident(staff, input).await.expect("incident").id;
    (person, id)
}

async fn classify_as_a_students_question(db: &TestDb, staff: Actor<'_>, id: IncidentId) {
    let classify = ClassifyInput {
        user_type: Some(UserType::Student),
        incident_type: Some(IncidentType::Question),
        ..Default::default()
    };
    db.classify_incident(staff, id, &classify)
        .await
        .expect("classify");
}

/// The live rollups equal a recount from scratch.
async fn rollups_in_step(db: &TestDb, step: &str) {
    let live = db.period_rollup(0, 999_999, true).await.expect("rollup");
    db.rebuild_indicators(true).await.expect("recount");
    let recounted = db.period_rollup(0, 999_999, true).await.expect("rollup");
    assert_eq!(live.totals, recounted.totals, "after {step}: totals");
    assert_eq!(
        live.breakdowns, recounted.breakdowns,
        "after {step}: breakdowns"
    );
    assert_eq!(
        live.first_response, recounted.first_response,
        "after {step}: first response"
    );
    assert_eq!(live.close, recounted.close, "after {step}: time to close");
}

async fn found(db: &TestDb, word: &str) -> Vec<IncidentId> {
    db.search_incidents(&Scope::All, &SearchQuery::parse(word), 20)
        .await
        .expect("search")
        .into_iter()
        .map(|h| h.id)
        .collect()
}

/// After a step that wrote `word` on incident `id`: rollups in step, the word finds it.
async fn in_step(db: &TestDb, step: &str, id: IncidentId, word: &str) {
    rollups_in_step(db, step).await;
    assert_eq!(
        found(db, word).await,
        vec![id],
        "after {step}: search for {word}"
    );
}

async fn every_change_to_an_incident_keeps_its_facts_rollups_and_search_in_step(db: TestDb) {
    db.first_run(Some("contraseña-segura-1"))
        .await
        .expect("first run");
    db.save_mailbox(Actor::System, &sending_mailbox())
        .await
        .expect("mailbox");
    let admin = db.user_by_login("admin").await.expect("admin");
    let staff = Actor::Staff(&admin);

    // A person writes on WhatsApp, then by email: each channel opens an incident.
    let chat = db
        .ingest_chat(&InboundChat {
            provider: Provider::Whatsapp,
            account_id: "106540352242922".into(),
            peer_id: "5213312345678".into(),
            peer_name: Some("Mariana Ruiz".into()),
            external_id: "wamid.1".into(),
            sent_at: chrono::Utc::now(),
            contents: vec![ChatContent::Text {
                body: "Pregunta sobre zarzamora".into(),
            }],
        })
        .await
        .expect("chat");
    let chat_incident = found(&db, "zarzamora").await;
    assert_eq!(chat_incident.len(), 1, "{chat:?}");
    rollups_in_step(&db, "a chat message").await;
    let email = InboundEmail {
        message_id: "m1@gmail.example".into(),
        from_address: Some("rosa@gmail.example".into()),
        from_name: "Rosa Díaz".into(),
        to: vec!["cap@udgvirtual.example".into()],
        subject: "Duda de membrillo".into(),
        text: "Quisiera saber del membrillo".into(),
        ..Default::default()
    };
    db.ingest_email(None, &email, b"raw").await.expect("email");
    assert_eq!(found(&db, "membrillo").await.len(), 1);
    rollups_in_step(&db, "an email").await;

    // The procedure on a phone call, step by step.
    let person = ContactInput {
        name: Some("Luis Pérez".into()),
        emails: Some(vec!["luis@alumnos.udg.example".into()]),
        ..Default::default()
    };
    let (person, id) = phone_call(&db, staff, &person, "Perdió su credencial de arándano").await;
    in_step(&db, "registering", id, "arándano").await;
    classify_as_a_students_question(&db, staff, id).await;
    rollups_in_step(&db, "classifying").await;
    // Messages and intervention notes are searched; internal notes are not.
    for (kind, word) in [
        (EntryKind::OutboundMessage, "guayaba"),
        (EntryKind::Intervention, "carambola"),
    ] {
        db.add_entry(staff, id, kind, &format!("Texto con {word}"))
            .await
            .expect("entry");
        in_step(&db, kind.code(), id, word).await;
    }
    db.add_entry(staff, id, EntryKind::Note, "Nota interna")
        .await
        .expect("note");
    rollups_in_step(&db, "an internal note").await;
    db.assign_incident(staff, id, Some(admin.id))
        .await
        .expect("assign");
    rollups_in_step(&db, "assigning").await;
    let unit = db
        .units()
        .await
        .expect("units")
        .into_iter()
        .find(|u| u.kind == UnitKind::Coordination)
        .expect("unit");
    let derive = DeriveInput {
        unit_id: unit.id,
        medium: Medium::Phone,
        reason: "Reposición por mandarina".into(),
        user_told: Some(true),
        told_address: None,
        close: false,
        notes: None,
    };
    let (_, derivation) = db
        .derive_incident(staff, id, &derive)
        .await
        .expect("derive");
    rollups_in_step(&db, "deriving").await;
    db.answer_derivation(
        staff,
        id,
        derivation.id,
        &UnitAnswer::returning("Lista la toronja"),
    )
    .await
    .expect("unit answers");
    rollups_in_step(&db, "the unit's answer").await;
    db.close_incident(staff, id, Some("Se entregó la pitahaya"))
        .await
        .expect("close");
    in_step(&db, "closing", id, "pitahaya").await;

    // The survey: invited, then answered through the link that was sent.
    let now = SurveyPolicy {
        delay_hours: 0,
        ..Default::default()
    };
    db.process_survey_due(id, &now, "https://cap.example.mx", None)
        .await
        .expect("invite");
    rollups_in_step(&db, "the survey invitation").await;
    let link = db.sent_link(Some(id), "encuesta").await;
    let token = link.rsplit('/').next().expect("token");
    let answers = [
        ("overall", "5"),
        ("resolved", "yes"),
        ("clarity", "4"),
        ("speed", "5"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    db.answer_survey(token, &answers, &now)
        .await
        .expect("answer");
    rollups_in_step(&db, "the survey's answer").await;

    db.reopen_incident(staff, id, "Volvió por el tamarindo")
        .await
        .expect("reopen");
    rollups_in_step(&db, "reopening").await;

    // Suppression rewrites the texts: the rollups stay, the words are gone from search.
    db.block_contact(staff, person.id, "ARCO-2026-090")
        .await
        .expect("block");
    db.anonymise_contact(staff, person.id)
        .await
        .expect("suppress");
    rollups_in_step(&db, "suppression").await;
    for word in ["arándano", "guayaba", "carambola", "pitahaya"] {
        assert!(found(&db, word).await.is_empty(), "{word} suppressed");
    }
}

/// Each row the upkeep keeps for incident `id`, with the version of the row PostgreSQL wrote
/// (its `xmin`; SQLite keeps none, and its contentless index no text to compare: there the
/// rows' contents alone are compared).
async fn kept_rows(db: &TestDb, id: IncidentId) -> Vec<Vec<String>> {
    let version = if db.engine() == atiende_store::Engine::Postgres {
        "CAST(CAST(xmin AS TEXT) AS BIGINT)"
    } else {
        "0"
    };
    let clocks = format!(
        "SELECT clocks, next_check_at, {version} FROM incident_clocks WHERE incident_id = {}",
        id.0
    );
    let mut rows = db.rows_as_text(&clocks).await;
    if db.engine() == atiende_store::Engine::Postgres {
        let document = format!(
            "SELECT title, body, {version} FROM search_docs WHERE kind = 'incident' AND ref_id = {}",
            id.0
        );
        rows.extend(db.rows_as_text(&document).await);
    }
    rows
}

async fn unchanged_text_and_clocks_are_kept_as_written_and_a_changed_document_in_its_place(
    db: TestDb,
) {
    db.first_run(Some("contraseña-segura-1"))
        .await
        .expect("first run");
    let admin = db.user_by_login("admin").await.expect("admin");
    let staff = Actor::Staff(&admin);
    let person = ContactInput {
        name: Some("Ana Gómez".into()),
        ..Default::default()
    };
    let (_, id) = phone_call(&db, staff, &person, "Pide su constancia de nectarina").await;
    // More documents after it, so that its page is not the one new rows go to.
    for n in 0..150 {
        let other = ContactInput {
            name: Some(format!("Persona de relleno número {n}")),
            ..Default::default()
        };
        db.create_contact(Actor::System, &other)
            .await
            .expect("contact");
    }
    let registered = kept_rows(&db, id).await;
    let page = document_page(&db, id).await;
    assert_eq!(
        registered.len(),
        1 + usize::from(db.engine() == atiende_store::Engine::Postgres)
    );

    // A classification, an internal note, an assignment: the text searched and the clocks
    // are as they were, and their rows stay as written.
    classify_as_a_students_question(&db, staff, id).await;
    db.add_entry(staff, id, EntryKind::Note, "Nota interna")
        .await
        .expect("note");
    db.assign_incident(staff, id, Some(admin.id))
        .await
        .expect("assign");
    assert_eq!(kept_rows(&db, id).await, registered);
    rollups_in_step(&db, "classifying, a note, assigning").await;
    assert_eq!(found(&db, "nectarina").await, vec![id]);

    // An answer is searched and meets the first response's clock: both are written.
    db.add_entry(
        staff,
        id,
        EntryKind::OutboundMessage,
        "Se envió la constancia de toronja",
    )
    .await
    .expect("answer");
    let answered = kept_rows(&db, id).await;
    assert_eq!(answered.len(), registered.len());
    for (before, after) in registered.iter().zip(&answered) {
        assert_ne!(before, after, "rewritten after an answer");
    }
    in_step(&db, "an answer", id, "toronja").await;
    // PostgreSQL rewrote it in place, and its new words joined the list of words that a
    // search's beginnings are spelled out from.
    assert_eq!(document_page(&db, id).await, page);
    if db.engine() == atiende_store::Engine::Postgres {
        let words = db
            .rows_as_text("SELECT word FROM search_words WHERE word LIKE 'toronj%'")
            .await;
        assert_eq!(words.len(), 1, "{words:?}");
    }
}

/// The heap page PostgreSQL keeps incident `id`'s document on (none on SQLite).
async fn document_page(db: &TestDb, id: IncidentId) -> Vec<Vec<String>> {
    if db.engine() != atiende_store::Engine::Postgres {
        return Vec::new();
    }
    let sql = format!(
        "SELECT CAST((CAST(CAST(ctid AS TEXT) AS point))[0] AS BIGINT) FROM search_docs \
         WHERE kind = 'incident' AND ref_id = {}",
        id.0
    );
    db.rows_as_text(&sql).await
}
