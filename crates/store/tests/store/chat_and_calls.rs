//! Chat messages and phone calls in storage, on both engines: what opens an incident, what
//! joins one, what a retried delivery does, the reply window, delivery states, the call log.

use atiende_domain::RuleError;
use atiende_domain::call::CallEventInput;
use atiende_domain::call::{CallDirection, CallEvent, CallState, HangupCause};
use atiende_domain::chat::{
    ChatContent, DeliveryStatus, InboundChat, MediaRef, OutgoingBody, Provider, Template,
};
use atiende_domain::classification::{Channel, IncidentType, UserType};
use atiende_domain::contact::{ContactInput, Identifier, IdentifierKind};
use atiende_domain::incident::{ClassifyInput, EntryKind, Status};
use atiende_domain::user::{Role, StaffUser, UserInput};
use atiende_store::chat::ChatIngest;
use atiende_store::outbox::{Job, JobKind};
use atiende_store::testing::TestDb;
use atiende_store::{Actor, StoreError};
use chrono::{Duration, Utc};

atiende_store::on_both_engines!(
    a_whatsapp_message_from_a_stranger_opens_an_incident_and_meets_the_person,
    the_next_message_joins_the_open_incident_and_after_closing_opens_a_new_one,
    the_same_delivery_fifty_times_at_once_yields_one_entry,
    different_messages_from_one_new_person_at_once_share_one_incident,
    a_whatsapp_number_known_as_a_phone_finds_the_contact,
    replies_within_the_window_go_as_text_and_after_it_only_as_templates,
    messenger_replies_after_a_day_carry_the_human_agent_tag,
    delivery_states_only_move_forward,
    media_is_queued_for_download_and_kept_once,
    an_answered_call_is_logged_with_its_contact_and_agent_and_pops_once,
    unanswered_and_busy_calls_wait_in_the_missed_list_until_called_back,
    a_message_for_an_account_not_configured_waits_and_becomes_an_incident_once_it_is,
);

async fn agent(db: &TestDb, login: &str, extension: &str) -> StaffUser {
    db.first_run(Some("contraseña-segura-1"))
        .await
        .expect("first run");
    let input = UserInput {
        login: Some(login.into()),
        name: Some("Laura Méndez".into()),
        role: Some(Role::Agent),
        phone_extension: Some(extension.into()),
        password: Some("contraseña-segura-2".into()),
        ..Default::default()
    };
    db.create_user(Actor::System, &input)
        .await
        .expect("user")
        .user
}

fn whatsapp(id: &str, from: &str, text: &str) -> InboundChat {
    InboundChat {
        provider: Provider::Whatsapp,
        account_id: "106540352242922".into(),
        peer_id: from.into(),
        peer_name: Some("Mariana Ruiz".into()),
        external_id: id.into(),
        sent_at: Utc::now(),
        contents: vec![ChatContent::Text { body: text.into() }],
    }
}

async fn close(db: &TestDb, user: &StaffUser, id: atiende_domain::ids::IncidentId) {
    let classify = ClassifyInput {
        incident_type: Some(IncidentType::Question),
        user_type: Some(UserType::Student),
        ..Default::default()
    };
    db.classify_incident(Actor::Staff(user), id, &classify)
        .await
        .expect("classified");
    db.close_incident(Actor::Staff(user), id, Some("Se explicó el trámite"))
        .await
        .expect("closed");
}

async fn a_whatsapp_message_from_a_stranger_opens_an_incident_and_meets_the_person(db: TestDb) {
    agent(&db, "agente1", "101").await;
    let msg = whatsapp("wamid.A1", "5213312345678", "¿Cuándo abren inscripciones?");
    let ChatIngest::Created(id) = db.ingest_chat(&msg).await.expect("ingest") else {
        panic!("expected a new incident");
    };
    let incident = db.incident(id).await.expect("incident");
    assert_eq!(incident.channel, Channel::Whatsapp);
    assert_eq!(incident.status, Status::Open);
    assert_eq!(incident.assigned_to, None);
    assert!(incident.subject.contains("inscripciones"));
    let contact = db
        .contact(incident.contact_id.expect("contact"))
        .await
        .expect("contact");
    assert_eq!(contact.name, "Mariana Ruiz");
    assert_eq!(contact.whatsapp_id.as_deref(), Some("5213312345678"));
    assert_eq!(contact.phones, vec!["523312345678".to_string()]);
    let timeline = db.timeline(id).await.expect("timeline");
    assert_eq!(timeline[0].kind, EntryKind::InboundMessage);
    assert_eq!(timeline[0].body, "¿Cuándo abren inscripciones?");
    let messages = db.chat_messages(id).await.expect("messages");
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].external_id.as_deref(), Some("wamid.A1"));
    assert_eq!(messages[0].entry_id, Some(timeline[0].id.0));
}

async fn the_next_message_joins_the_open_incident_and_after_closing_opens_a_new_one(db: TestDb) {
    let user = agent(&db, "agente1", "101").await;
    let ChatIngest::Created(first) = db
        .ingest_chat(&whatsapp("wamid.B1", "5213312345678", "Hola"))
        .await
        .expect("first")
    else {
        panic!("expected a new incident");
    };
    let second = db
        .ingest_chat(&whatsapp(
            "wamid.B2",
            "5213312345678",
            "Soy alumna de bachillerato",
        ))
        .await
        .expect("second");
    assert_eq!(second, ChatIngest::Joined(first));
    assert_eq!(db.timeline(first).await.expect("timeline").len(), 2);
    close(&db, &user, first).await;
    let third = db
        .ingest_chat(&whatsapp("wamid.B3", "5213312345678", "Otra duda"))
        .await
        .expect("third");
    let ChatIngest::Created(new) = third else {
        panic!("a message after closing opens a new incident, got {third:?}");
    };
    assert_ne!(new, first);
    assert_eq!(
        db.incident(new).await.expect("new").contact_id,
        db.incident(first).await.expect("first").contact_id
    );
}

async fn the_same_delivery_fifty_times_at_once_yields_one_entry(db: TestDb) {
    agent(&db, "agente1", "101").await;
    let msg = whatsapp("wamid.DUP", "5213399999999", "Necesito mi constancia");
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let store = db.store.clone();
        let msg = msg.clone();
        tasks.push(tokio::spawn(async move { store.ingest_chat(&msg).await }));
    }
    let mut created = 0;
    let mut incident = None;
    for t in tasks {
        match t.await.expect("task").expect("ingest") {
            ChatIngest::Created(id) => {
                created += 1;
                incident = Some(id);
            }
            ChatIngest::Duplicate(Some(id)) => incident = incident.or(Some(id)),
            other => panic!("unexpected outcome {other:?}"),
        }
    }
    assert_eq!(created, 1);
    let id = incident.expect("incident");
    assert_eq!(db.timeline(id).await.expect("timeline").len(), 1);
    assert_eq!(db.chat_messages(id).await.expect("messages").len(), 1);
    let found = db
        .find_contact(&Identifier::parse(IdentifierKind::Whatsapp, "5213399999999").expect("id"))
        .await
        .expect("lookup");
    assert!(found.is_some());
}

async fn different_messages_from_one_new_person_at_once_share_one_incident(db: TestDb) {
    agent(&db, "agente1", "101").await;
    let mut tasks = Vec::new();
    for n in 0..10 {
        let store = db.store.clone();
        let msg = whatsapp(
            &format!("wamid.M{n}"),
            "5213377777777",
            &format!("parte {n}"),
        );
        tasks.push(tokio::spawn(async move { store.ingest_chat(&msg).await }));
    }
    let mut incidents = std::collections::BTreeSet::new();
    for t in tasks {
        match t.await.expect("task").expect("ingest") {
            ChatIngest::Created(id) | ChatIngest::Joined(id) => {
                incidents.insert(id);
            }
            other => panic!("unexpected outcome {other:?}"),
        }
    }
    assert_eq!(incidents.len(), 1, "one person, one incident in progress");
    let id = *incidents.first().expect("one");
    assert_eq!(db.timeline(id).await.expect("timeline").len(), 10);
}

async fn a_whatsapp_number_known_as_a_phone_finds_the_contact(db: TestDb) {
    let user = agent(&db, "agente1", "101").await;
    let input = ContactInput {
        name: Some("Pedro Soto".into()),
        phones: Some(vec!["33 1234 5678".into()]),
        ..Default::default()
    };
    let known = db
        .create_contact(Actor::Staff(&user), &input)
        .await
        .expect("contact");
    let ChatIngest::Created(id) = db
        .ingest_chat(&whatsapp("wamid.P1", "5213312345678", "Hola"))
        .await
        .expect("ingest")
    else {
        panic!("expected a new incident");
    };
    assert_eq!(
        db.incident(id).await.expect("incident").contact_id,
        Some(known.id)
    );
}

fn template() -> Template {
    Template {
        name: "seguimiento_folio".into(),
        language: "es_MX".into(),
        text: "Le escribimos del CAP de UDG Virtual sobre su folio {{1}}. Responda este mensaje para continuar.".into(),
    }
}

async fn replies_within_the_window_go_as_text_and_after_it_only_as_templates(db: TestDb) {
    let user = agent(&db, "agente1", "101").await;
    let mut old = whatsapp("wamid.W1", "5213312345678", "Hola, ¿me ayudan?");
    old.sent_at = Utc::now() - Duration::hours(25);
    let ChatIngest::Created(id) = db.ingest_chat(&old).await.expect("ingest") else {
        panic!("expected a new incident");
    };
    let refused = db
        .add_entry(
            Actor::Staff(&user),
            id,
            EntryKind::OutboundMessage,
            "Claro que sí",
        )
        .await;
    assert!(matches!(
        refused,
        Err(StoreError::Rule(RuleError::OutsideReplyWindow))
    ));
    assert_eq!(
        db.timeline(id).await.expect("timeline").len(),
        1,
        "nothing written"
    );
    let entry = db
        .answer_with_template(Actor::Staff(&user), id, &template())
        .await
        .expect("template");
    let folio = db.incident(id).await.expect("incident").folio.to_string();
    assert!(entry.body.contains(&folio));
    let out = db.chat_messages(id).await.expect("messages");
    let sent = out.last().expect("queued");
    assert_eq!(sent.direction, "out");
    assert_eq!(sent.delivery(), Some(DeliveryStatus::Queued));
    let body: OutgoingBody = serde_json::from_value(sent.content.clone()).expect("body");
    assert_eq!(
        body,
        OutgoingBody::Template {
            name: "seguimiento_folio".into(),
            language: "es_MX".into(),
            parameters: vec![folio],
        }
    );
    // The person answers: the window opens again and text goes out.
    db.ingest_chat(&whatsapp("wamid.W2", "5213312345678", "Sí, sigo aquí"))
        .await
        .expect("answer");
    db.add_entry(
        Actor::Staff(&user),
        id,
        EntryKind::OutboundMessage,
        "Con gusto le ayudo",
    )
    .await
    .expect("text inside the window");
    let sends = db
        .claim_outbox(JobKind::ChatSend, 10, 60)
        .await
        .expect("claim");
    assert_eq!(sends.len(), 2);
}

async fn messenger_replies_after_a_day_carry_the_human_agent_tag(db: TestDb) {
    let user = agent(&db, "agente1", "101").await;
    let msg = InboundChat {
        provider: Provider::Messenger,
        account_id: "PAGE1".into(),
        peer_id: "6789012345".into(),
        peer_name: None,
        external_id: "m_abc".into(),
        sent_at: Utc::now() - Duration::hours(30),
        contents: vec![ChatContent::Text {
            body: "¿Tienen becas?".into(),
        }],
    };
    let ChatIngest::Created(id) = db.ingest_chat(&msg).await.expect("ingest") else {
        panic!("expected a new incident");
    };
    assert_eq!(
        db.incident(id).await.expect("incident").channel,
        Channel::Social
    );
    db.add_entry(
        Actor::Staff(&user),
        id,
        EntryKind::OutboundMessage,
        "Sí, le comparto la convocatoria",
    )
    .await
    .expect("human agent reply");
    let sent = db
        .chat_messages(id)
        .await
        .expect("messages")
        .pop()
        .expect("out");
    let body: OutgoingBody = serde_json::from_value(sent.content).expect("body");
    assert_eq!(
        body,
        OutgoingBody::Text {
            body: "Sí, le comparto la convocatoria".into(),
            human_agent: true
        }
    );
}

async fn delivery_states_only_move_forward(db: TestDb) {
    let user = agent(&db, "agente1", "101").await;
    let ChatIngest::Created(id) = db
        .ingest_chat(&whatsapp("wamid.S1", "5213312345678", "Hola"))
        .await
        .expect("ingest")
    else {
        panic!("expected a new incident");
    };
    db.add_entry(
        Actor::Staff(&user),
        id,
        EntryKind::OutboundMessage,
        "Buen día",
    )
    .await
    .expect("reply");
    let out = db
        .chat_messages(id)
        .await
        .expect("messages")
        .pop()
        .expect("out");
    db.record_chat_sent(out.id, "wamid.OUT1")
        .await
        .expect("sent");
    let status = |s| db.record_chat_status(Provider::Whatsapp, "wamid.OUT1", s, None);
    assert!(status(DeliveryStatus::Read).await.expect("read"));
    assert!(
        !status(DeliveryStatus::Delivered)
            .await
            .expect("late delivered")
    );
    assert!(!status(DeliveryStatus::Failed).await.expect("late failure"));
    let unknown = db
        .record_chat_status(
            Provider::Whatsapp,
            "wamid.NOT-OURS",
            DeliveryStatus::Read,
            None,
        )
        .await
        .expect("unknown");
    assert!(!unknown);
    let out = db.chat_message(out.id).await.expect("reload");
    assert_eq!(out.delivery(), Some(DeliveryStatus::Read));
}

async fn media_is_queued_for_download_and_kept_once(db: TestDb) {
    agent(&db, "agente1", "101").await;
    let mut msg = whatsapp("wamid.IMG", "5213312345678", "");
    msg.contents = vec![ChatContent::Media {
        kind: "image".into(),
        source: MediaRef::GraphId("1037543291543636".into()),
        mime_type: Some("image/jpeg".into()),
        caption: Some("mi comprobante".into()),
        filename: None,
    }];
    let ChatIngest::Created(id) = db.ingest_chat(&msg).await.expect("ingest") else {
        panic!("expected a new incident");
    };
    assert_eq!(
        db.timeline(id).await.expect("timeline")[0].body,
        "[Imagen] mi comprobante"
    );
    let jobs = db
        .claim_outbox(JobKind::ChatMedia, 10, 60)
        .await
        .expect("claim");
    assert_eq!(jobs.len(), 1);
    let Ok(Job::ChatMedia(job)) = jobs[0].job() else {
        panic!("a media job, got {:?}", jobs[0]);
    };
    assert_eq!(job.source, MediaRef::GraphId("1037543291543636".into()));
    db.save_chat_media(&job, "image/jpeg", b"\xff\xd8\xff bytes")
        .await
        .expect("save");
    db.save_chat_media(&job, "image/jpeg", b"\xff\xd8\xff bytes")
        .await
        .expect("again");
    let files = db.attachments(id).await.expect("attachments");
    assert_eq!(files.len(), 1);
    assert!(files[0].filename.ends_with(".jpeg"));
    assert_eq!(
        files[0].entry_id,
        Some(db.timeline(id).await.expect("t")[0].id.0)
    );
}

fn event(event: CallEvent, call_id: &str, from: &str) -> CallEventInput {
    CallEventInput {
        event,
        call_id: call_id.into(),
        direction: CallDirection::In,
        from: from.into(),
        to: "3331345678".into(),
        users: vec![],
        answering_number: None,
    }
}

async fn an_answered_call_is_logged_with_its_contact_and_agent_and_pops_once(db: TestDb) {
    let user = agent(&db, "agente1", "101").await;
    let input = ContactInput {
        name: Some("Pedro Soto".into()),
        phones: Some(vec!["3312345678".into()]),
        ..Default::default()
    };
    let known = db
        .create_contact(Actor::Staff(&user), &input)
        .await
        .expect("contact");
    let since = Utc::now().timestamp_millis() - 1000;
    db.record_call_event(&event(CallEvent::NewCall, "c-1", "+52 33 1234 5678"))
        .await
        .expect("new call");
    let mut answer = event(CallEvent::Answer, "c-1", "+52 33 1234 5678");
    answer.answering_number = Some("101".into());
    let call = db.record_call_event(&answer).await.expect("answer");
    assert_eq!(call.state, CallState::Answered);
    assert_eq!(call.contact_id, Some(known.id));
    assert_eq!(call.user_id, Some(user.id));
    // The same event again changes nothing.
    db.record_call_event(&answer).await.expect("repeat");
    let pops = db.calls_to_pop(user.id, 0, since).await.expect("pops");
    assert_eq!(pops.len(), 1);
    assert!(
        db.calls_to_pop(user.id, pops[0].id, since)
            .await
            .expect("after")
            .is_empty()
    );
    let hangup = event(
        CallEvent::Hangup(Some(HangupCause::NormalClearing)),
        "c-1",
        "+52 33 1234 5678",
    );
    let call = db.record_call_event(&hangup).await.expect("hangup");
    assert_eq!(call.state, CallState::Ended);
    assert!(!call.missed);
    let incident = db
        .create_incident(
            Actor::Staff(&user),
            atiende_domain::incident::NewIncidentInput {
                channel: Channel::Phone,
                contact_id: Some(known.id),
                subject: "Llamada".into(),
                body: String::new(),
                user_type: None,
                incident_type: None,
                topic_id: None,
                critical: false,
                assigned_to: Some(user.id),
                received_at: None,
            },
        )
        .await
        .expect("incident");
    db.link_call(call.id, incident.id).await.expect("link");
    assert!(
        db.calls_to_pop(user.id, 0, since)
            .await
            .expect("linked")
            .is_empty()
    );
    assert!(db.missed_calls().await.expect("missed").is_empty());
}

async fn unanswered_and_busy_calls_wait_in_the_missed_list_until_called_back(db: TestDb) {
    let user = agent(&db, "agente1", "101").await;
    for (id, cause) in [
        ("c-cancel", HangupCause::Cancel),
        ("c-busy", HangupCause::Busy),
        ("c-forwarded", HangupCause::Forwarded),
    ] {
        db.record_call_event(&event(CallEvent::NewCall, id, "3398765432"))
            .await
            .expect("new");
        db.record_call_event(&event(CallEvent::Hangup(Some(cause)), id, "3398765432"))
            .await
            .expect("hangup");
    }
    // A hangup whose newCall never arrived is still logged.
    db.record_call_event(&event(
        CallEvent::Hangup(Some(HangupCause::NoAnswer)),
        "c-lost",
        "3311112222",
    ))
    .await
    .expect("lonely hangup");
    let missed = db.missed_calls().await.expect("missed");
    let ids: Vec<&str> = missed.iter().map(|c| c.call_id.as_str()).collect();
    assert_eq!(ids, ["c-cancel", "c-busy", "c-lost"]);
    assert_eq!(missed[0].their_number(), "3398765432");
    db.mark_called_back(Actor::Staff(&user), missed[0].id)
        .await
        .expect("called back");
    assert_eq!(db.missed_calls().await.expect("missed").len(), 2);
}

async fn a_message_for_an_account_not_configured_waits_and_becomes_an_incident_once_it_is(
    db: TestDb,
) {
    agent(&db, "agente1", "101").await;
    let mut msg = whatsapp("wamid.H1", "5213312345678", "¿Siguen las inscripciones?");
    msg.account_id = "999000111".into();
    // Meta delivers it, maybe twice; it is kept once.
    db.hold_chat(&msg).await.expect("held");
    db.hold_chat(&msg).await.expect("held again");
    let held = db.held_chats().await.expect("held");
    assert_eq!(held.len(), 1);
    assert_eq!(
        (held[0].account_id.as_str(), held[0].messages),
        ("999000111", 1)
    );

    // Nothing happens while the number is still unknown here.
    let none = db.release_held_chats(|_, _| false).await.expect("release");
    assert_eq!(none, 0);
    assert_eq!(db.held_chats().await.expect("held").len(), 1);

    // Configured: it becomes an incident, once, even if two instances release at once.
    let configured = |p: Provider, a: &str| p == Provider::Whatsapp && a == "999000111";
    let (a, b) = tokio::join!(
        db.release_held_chats(configured),
        db.release_held_chats(configured)
    );
    assert!(a.expect("release") + b.expect("release") >= 1);
    assert!(db.held_chats().await.expect("held").is_empty());
    let incidents = db
        .incidents(
            &atiende_domain::access::Scope::All,
            &atiende_store::incidents::IncidentFilter {
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .expect("incidents");
    assert_eq!(incidents.len(), 1, "one incident, never two");
    assert_eq!(incidents[0].incident.channel, Channel::Whatsapp);
}
