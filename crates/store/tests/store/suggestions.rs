//! Suggestions in storage, on both engines: a model learned from the CAP's closed incidents
//! suggests a new incident's topic and type, the agent's first classification is counted as
//! confirming or correcting it, and a suppression drops the model.

use atiende_domain::classification::{Channel, IncidentType, UserType};
use atiende_domain::ids::{IncidentId, TopicId};
use atiende_domain::incident::{ClassifyInput, NewIncidentInput};
use atiende_domain::user::{Role, StaffUser, UserInput};
use atiende_store::demo::history::{Spec, Staff, write};
use atiende_store::testing::TestDb;
use atiende_store::{Actor, Store};

atiende_store::on_both_engines!(
    a_model_learned_from_history_suggests_and_counts_what_the_agent_chose,
    nothing_is_suggested_without_a_model_nor_for_a_classified_incident,
    a_suppression_drops_the_model_until_it_is_retrained,
);

async fn agent(db: &TestDb) -> StaffUser {
    db.first_run(Some("contraseña-segura-1"))
        .await
        .expect("first run");
    db.create_user(
        Actor::System,
        &UserInput {
            login: Some("maria".into()),
            name: Some("María Agente".into()),
            role: Some(Role::Agent),
            password: Some("contraseña-segura-2".into()),
            ..Default::default()
        },
    )
    .await
    .expect("user")
    .user
}

/// A year of generated history, closed for the most part.
async fn history(db: &Store, agent: &StaffUser) {
    let spec = Spec {
        incidents: 1_500,
        contacts: 300,
        years: 1,
        articles: 0,
        seed: 11,
        end: chrono::Utc::now() - chrono::Duration::days(30),
    };
    let staff = Staff {
        agents: vec![agent.id.0],
        quality_owner: None,
    };
    write(db, &spec, &staff, |_, _, _| {})
        .await
        .expect("history");
}

async fn incident(db: &Store, by: &StaffUser, subject: &str, body: &str) -> IncidentId {
    let person = db
        .create_contact(
            Actor::Staff(by),
            &atiende_domain::contact::ContactInput {
                name: Some("Ana López".into()),
                emails: Some(vec![format!("ana{}@example.org", body.len())]),
                ..Default::default()
            },
        )
        .await
        .expect("contact");
    db.create_incident(
        Actor::Staff(by),
        NewIncidentInput {
            channel: Channel::Email,
            contact_id: Some(person.id),
            subject: subject.into(),
            body: body.into(),
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

async fn topic(db: &Store, name: &str) -> TopicId {
    db.topics()
        .await
        .expect("topics")
        .into_iter()
        .find(|t| t.name == name)
        .expect("seeded topic")
        .id
}

async fn a_model_learned_from_history_suggests_and_counts_what_the_agent_chose(db: TestDb) {
    let maria = agent(&db).await;
    history(&db, &maria).await;
    let model = db
        .train_suggestions(chrono::Utc::now())
        .await
        .expect("trained")
        .expect("a model");
    // Every fifth closed incident was held out to measure it.
    assert!(model.examples > 1_000, "{model:?}");
    let topic_accuracy = model.accuracy.topic;
    assert_eq!(topic_accuracy.examples, (model.examples / 5) as u64);
    assert!(
        topic_accuracy.top1_rate().expect("measured") > 0.6,
        "{model:?}"
    );
    assert!(topic_accuracy.top3 >= topic_accuracy.top1);

    let pagos = topic(&db, "Pagos, aranceles y órdenes de pago").await;
    let id = incident(
        &db,
        &maria,
        "Consulta",
        "Mi orden de pago venció y no alcancé a pagar. Quiero presentar una queja formal.",
    )
    .await;
    let shown = db
        .suggestion_for(&db.incident(id).await.expect("incident"))
        .await
        .expect("suggestion")
        .expect("a model is trained");
    assert_eq!(shown.topic_id, Some(pagos), "{shown:?}");
    assert_eq!(
        shown.incident_type,
        Some(IncidentType::Complaint),
        "{shown:?}"
    );
    assert!(shown.topic_percent.unwrap_or(0) >= 40);
    // Asked again, the same suggestion: the one the agent was shown is kept.
    let again = db
        .suggestion_for(&db.incident(id).await.expect("incident"))
        .await
        .expect("suggestion");
    assert_eq!(again.as_ref(), Some(&shown));

    // Nothing is classified by the suggestion itself.
    let untouched = db.incident(id).await.expect("incident");
    assert_eq!((untouched.topic_id, untouched.incident_type), (None, None));

    // The agent keeps the topic and corrects the type.
    db.classify_incident(
        Actor::Staff(&maria),
        id,
        &ClassifyInput {
            user_type: Some(UserType::Student),
            incident_type: Some(IncidentType::Question),
            topic_id: Some(pagos),
            ..Default::default()
        },
    )
    .await
    .expect("classified");
    let since = chrono::Utc::now() - chrono::Duration::days(1);
    let report = db
        .suggestion_report(since, chrono::Utc::now())
        .await
        .expect("report");
    assert_eq!((report.topic.confirmed, report.topic.corrected), (1, 0));
    assert_eq!(
        (
            report.incident_type.confirmed,
            report.incident_type.corrected
        ),
        (0, 1)
    );
    assert_eq!(report.model.as_ref().map(|m| m.id), Some(model.id));
    // A later reclassification does not change what the suggestion was measured against.
    db.classify_incident(
        Actor::Staff(&maria),
        id,
        &ClassifyInput {
            incident_type: Some(IncidentType::Complaint),
            ..Default::default()
        },
    )
    .await
    .expect("classified again");
    let later = db
        .suggestion_report(since, chrono::Utc::now())
        .await
        .expect("report");
    assert_eq!(later.incident_type, report.incident_type);
}

async fn nothing_is_suggested_without_a_model_nor_for_a_classified_incident(db: TestDb) {
    let maria = agent(&db).await;
    let id = incident(&db, &maria, "Orden de pago", "Mi orden de pago venció").await;
    let open = db.incident(id).await.expect("incident");
    assert_eq!(db.suggestion_for(&open).await.expect("asked"), None);
    assert!(
        db.train_suggestions(chrono::Utc::now())
            .await
            .expect("trained")
            .is_none()
    );

    history(&db, &maria).await;
    db.train_suggestions(chrono::Utc::now())
        .await
        .expect("trained")
        .expect("a model");
    db.classify_incident(
        Actor::Staff(&maria),
        id,
        &ClassifyInput {
            incident_type: Some(IncidentType::Question),
            ..Default::default()
        },
    )
    .await
    .expect("classified");
    let classified = db.incident(id).await.expect("incident");
    assert_eq!(db.suggestion_for(&classified).await.expect("asked"), None);
}

async fn a_suppression_drops_the_model_until_it_is_retrained(db: TestDb) {
    let maria = agent(&db).await;
    history(&db, &maria).await;
    db.train_suggestions(chrono::Utc::now())
        .await
        .expect("trained")
        .expect("a model");
    let id = incident(
        &db,
        &maria,
        "Beca",
        "Quisiera saber qué necesito para una beca",
    )
    .await;
    let person = db
        .incident(id)
        .await
        .expect("incident")
        .contact_id
        .expect("contact");
    let now = chrono::Utc::now();
    // The worker that trained holds the day's lease.
    assert!(
        db.take_lease(
            atiende_store::suggestions::LEASE,
            "a",
            now,
            now + chrono::Duration::days(1)
        )
        .await
        .expect("lease")
    );
    db.block_contact(Actor::System, person, "Solicitud ARCO 2026-050")
        .await
        .expect("blocked");
    db.anonymise_contact(Actor::System, person)
        .await
        .expect("suppressed");
    let report = db
        .suggestion_report(chrono::Utc::now(), chrono::Utc::now())
        .await
        .expect("report");
    assert_eq!(report.model, None);
    // The day's lease went with it: the worker's next round retrains.
    assert!(
        db.take_lease(
            atiende_store::suggestions::LEASE,
            "b",
            now,
            now + chrono::Duration::days(1)
        )
        .await
        .expect("lease")
    );
}
