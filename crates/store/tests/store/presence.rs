//! Presence on an incident, on both engines: a mark lasts a few seconds, writing shows for
//! less, a page closed is gone at once, and old marks are pruned.

use atiende_domain::classification::Channel;
use atiende_domain::incident::NewIncidentInput;
use atiende_domain::user::{Role, StaffUser, UserInput};
use atiende_store::Actor;
use atiende_store::presence::{PRESENT_FOR, TYPING_FOR};
use atiende_store::testing::TestDb;
use chrono::Duration;

atiende_store::on_both_engines!(a_mark_shows_its_reader_for_a_while_and_writing_for_less);

async fn agent(db: &TestDb, login: &str) -> StaffUser {
    db.create_user(
        Actor::System,
        &UserInput {
            login: Some(login.into()),
            name: Some(format!("Persona {login}")),
            role: Some(Role::Agent),
            password: Some("contraseña-segura-2".into()),
            ..Default::default()
        },
    )
    .await
    .expect("user")
    .user
}

async fn a_mark_shows_its_reader_for_a_while_and_writing_for_less(db: TestDb) {
    db.first_run(Some("contraseña-segura-1"))
        .await
        .expect("first run");
    let maria = agent(&db, "maria").await;
    let jose = agent(&db, "jose").await;
    let id = db
        .create_incident(
            Actor::Staff(&maria),
            NewIncidentInput {
                channel: Channel::SuggestionBox,
                contact_id: None,
                subject: "Beca".into(),
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
        .id;
    let at = chrono::Utc::now();
    db.mark_present(id, jose.id, true, at)
        .await
        .expect("marked");
    let seen = db.present_on(id, maria.id, at).await.expect("read");
    assert_eq!(seen.len(), 1);
    assert_eq!(
        (seen[0].name.as_str(), seen[0].typing),
        ("Persona jose", true)
    );
    assert!(
        db.present_on(id, jose.id, at)
            .await
            .expect("read")
            .is_empty(),
        "not oneself"
    );

    // Still there, no longer writing; then gone.
    let later = at + TYPING_FOR + Duration::seconds(1);
    db.mark_present(id, jose.id, false, later)
        .await
        .expect("marked");
    let seen = db.present_on(id, maria.id, later).await.expect("read");
    assert_eq!((seen.len(), seen[0].typing), (1, false));
    let gone = later + PRESENT_FOR + Duration::seconds(1);
    assert!(
        db.present_on(id, maria.id, gone)
            .await
            .expect("read")
            .is_empty()
    );

    // Closed at once; and old marks are pruned.
    db.mark_present(id, jose.id, false, at)
        .await
        .expect("marked");
    db.leave_incident(id, jose.id).await.expect("left");
    assert!(
        db.present_on(id, maria.id, at)
            .await
            .expect("read")
            .is_empty()
    );
    db.mark_present(id, jose.id, false, at)
        .await
        .expect("marked");
    assert_eq!(
        db.prune_presence(at + Duration::minutes(30))
            .await
            .expect("pruned"),
        0
    );
    assert_eq!(
        db.prune_presence(at + Duration::hours(2))
            .await
            .expect("pruned"),
        1
    );
}
