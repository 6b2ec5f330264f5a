//! The web chat in storage, on both engines: a conversation begins as an incident on channel
//! chat web with its person found or registered; the person's messages join the timeline;
//! an answer goes to the widget while they are there and by email once they left; typing is
//! seen both ways; closing emails the transcript.

use atiende_domain::classification::{Channel, IncidentType, UserType};
use atiende_domain::incident::{ClassifyInput, EntryKind};
use atiende_domain::user::{Role, StaffUser, UserInput};
use atiende_store::Actor;
use atiende_store::outbox::Job;
use atiende_store::testing::TestDb;
use atiende_store::web_chat::WebChatStart;

atiende_store::on_both_engines!(
    a_conversation_is_an_incident_and_answers_reach_the_widget_or_the_email,
    the_form_needs_a_way_back_to_the_person,
);

async fn cap(db: &TestDb) -> StaffUser {
    db.first_run(Some("contraseña-segura-1"))
        .await
        .expect("first run");
    db.save_mailbox(Actor::System, &atiende_store::testing::sending_mailbox())
        .await
        .expect("mailbox");
    db.create_user(
        Actor::System,
        &UserInput {
            login: Some("maria".into()),
            name: Some("María Fernanda López".into()),
            role: Some(Role::Agent),
            password: Some("contraseña-segura-2".into()),
            ..Default::default()
        },
    )
    .await
    .expect("user")
    .user
}

fn start() -> WebChatStart {
    WebChatStart {
        name: "Ana Torres".into(),
        email: "ana@example.org".into(),
        user_type: Some(UserType::Applicant),
        message: "¿Cuándo salen los resultados de admisión?".into(),
        origin: "https://www.udgvirtual.udg.mx".into(),
        live: true,
        ..Default::default()
    }
}

/// The emails queued for an incident: (subject, text).
async fn emails(db: &TestDb, incident: atiende_domain::ids::IncidentId) -> Vec<(String, String)> {
    db.outbox(Some(incident), 50)
        .await
        .expect("outbox")
        .iter()
        .filter_map(|i| match i.job() {
            Ok(Job::EmailSend(e)) => Some((e.subject, e.text)),
            _ => None,
        })
        .collect()
}

async fn a_conversation_is_an_incident_and_answers_reach_the_widget_or_the_email(db: TestDb) {
    let maria = cap(&db).await;
    let opened = db.start_web_chat(&start()).await.expect("started");
    assert_eq!(opened.incident.channel, Channel::ChatWeb);
    let chat = db
        .web_chat(&opened.token)
        .await
        .expect("read")
        .expect("the token opens it");
    assert!(db.web_chat("otro").await.expect("read").is_none());
    let again = db.start_web_chat(&start()).await.expect("started");
    let a = db.incident(opened.incident.id).await.expect("incident");
    let b = db.incident(again.incident.id).await.expect("incident");
    assert_eq!(
        a.contact_id, b.contact_id,
        "the same address is the same person"
    );

    db.web_chat_say(&chat, "Soy aspirante a la licenciatura.")
        .await
        .expect("said");
    db.mark_web_chat(&chat, true).await.expect("typing");
    assert_eq!(
        db.visitor_typing(chat.incident_id).await.expect("typing"),
        Some(true)
    );
    let words = db.conversation(chat.incident_id, 0).await.expect("read");
    assert_eq!(words.len(), 2);
    assert!(words.iter().all(|m| !m.from_cap));

    // While the widget is connected, an answer is for it: nothing by email.
    db.mark_present(chat.incident_id, maria.id, true, chrono::Utc::now())
        .await
        .expect("present");
    assert!(
        db.web_chat_state(chat.incident_id)
            .await
            .expect("state")
            .agent_typing
    );
    db.add_entry(
        Actor::Staff(&maria),
        chat.incident_id,
        EntryKind::OutboundMessage,
        "Hola, Ana: se publican el 15 de julio.",
    )
    .await
    .expect("answered");
    assert!(emails(&db, chat.incident_id).await.is_empty());
    let after = words.last().expect("a message").id;
    let answer = db
        .conversation(chat.incident_id, after)
        .await
        .expect("read");
    assert_eq!(answer.len(), 1);
    assert!(answer[0].from_cap);
    assert_eq!(answer[0].by.as_deref(), Some("María"));

    // Once the person left, the next answer goes by email.
    db.end_web_chat(&chat).await.expect("ended");
    db.add_entry(
        Actor::Staff(&maria),
        chat.incident_id,
        EntryKind::OutboundMessage,
        "Le dejo también la liga de la convocatoria.",
    )
    .await
    .expect("answered");
    let sent = emails(&db, chat.incident_id).await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(sent[0].1.contains("liga de la convocatoria"));

    // Closing emails the whole conversation.
    db.classify_incident(
        Actor::Staff(&maria),
        chat.incident_id,
        &ClassifyInput {
            incident_type: Some(IncidentType::Question),
            user_type: Some(UserType::Applicant),
            ..Default::default()
        },
    )
    .await
    .expect("classified");
    db.close_incident(
        Actor::Staff(&maria),
        chat.incident_id,
        Some("Se informó la fecha de resultados."),
    )
    .await
    .expect("closed");
    let sent = emails(&db, chat.incident_id).await;
    let transcript = sent
        .iter()
        .find(|(subject, _)| subject.starts_with("Conversación con el CAP"))
        .expect("the transcript");
    for words in [
        "¿Cuándo salen los resultados de admisión?",
        "Soy aspirante a la licenciatura.",
        "María (CAP)",
        "se publican el 15 de julio",
    ] {
        assert!(transcript.1.contains(words), "{words}: {}", transcript.1);
    }
    assert!(
        !transcript.1.contains("Se informó"),
        "no intervention notes"
    );
    assert!(
        db.web_chat_state(chat.incident_id)
            .await
            .expect("state")
            .closed
    );
    assert!(
        db.web_chat_say(&chat, "¿Sigue ahí?").await.is_err(),
        "a closed conversation takes no more messages"
    );
}

async fn the_form_needs_a_way_back_to_the_person(db: TestDb) {
    cap(&db).await;
    let nothing = WebChatStart {
        email: String::new(),
        ..start()
    };
    assert!(db.start_web_chat(&nothing).await.is_err());
    let bad = WebChatStart {
        email: "no es correo".into(),
        ..start()
    };
    assert!(db.start_web_chat(&bad).await.is_err());
    let by_phone = WebChatStart {
        email: String::new(),
        phone: "33 1234 5678".into(),
        ..start()
    };
    assert!(db.start_web_chat(&by_phone).await.is_ok());
}
