//! The person's portal in storage, on both engines: a sign-in link only for an address on
//! record (and the same answer otherwise), used once; the person sees only their incidents and
//! only what was said to them; they reply and open incidents on channel *portal*.

use atiende_domain::classification::Channel;
use atiende_domain::contact::ContactInput;
use atiende_domain::incident::{EntryKind, NewIncidentInput};
use atiende_domain::user::{Role, StaffUser, UserInput};
use atiende_store::testing::TestDb;
use atiende_store::{Actor, Store};

atiende_store::on_both_engines!(
    a_sign_in_link_goes_only_to_an_address_on_record_and_works_once,
    the_person_sees_only_their_incidents_and_what_was_said_to_them,
);

const BASE: &str = "https://cap.example.mx";

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

async fn person(db: &Store, email: &str) -> atiende_domain::ids::ContactId {
    db.create_contact(
        Actor::System,
        &ContactInput {
            name: Some("Ana Torres".into()),
            emails: Some(vec![email.into()]),
            ..Default::default()
        },
    )
    .await
    .expect("contact")
    .id
}

async fn signed_in(db: &TestDb, email: &str) -> String {
    db.request_portal_link(email, BASE).await.expect("asked");
    let link = db.sent_link(None, "mis-solicitudes/entrar").await;
    let token = link.rsplit('/').next().expect("token").to_string();
    db.open_portal_session(&token)
        .await
        .expect("opened")
        .expect("a session")
}

async fn a_sign_in_link_goes_only_to_an_address_on_record_and_works_once(db: TestDb) {
    cap(&db).await;
    let ana = person(&db, "ana@example.org").await;
    // An unknown address: the same answer, and nothing is sent.
    db.request_portal_link("nadie@example.org", BASE)
        .await
        .expect("the same answer");
    assert!(db.outbox(None, 10).await.expect("outbox").is_empty());

    db.request_portal_link("ANA@example.org", BASE)
        .await
        .expect("asked");
    let link = db.sent_link(None, "mis-solicitudes/entrar").await;
    assert!(link.starts_with("https://cap.example.mx/mis-solicitudes/entrar/"));
    let token = link.rsplit('/').next().expect("token");
    let session = db
        .open_portal_session(token)
        .await
        .expect("opened")
        .expect("a session");
    assert_eq!(db.portal_person(&session).await.expect("who"), Some(ana));
    assert_eq!(
        db.open_portal_session(token).await.expect("again"),
        None,
        "a link works once"
    );
    // Signing out ends it; a blocked person's sessions stop working.
    db.end_portal_session(&session).await.expect("out");
    assert_eq!(db.portal_person(&session).await.expect("who"), None);
    let again = signed_in(&db, "ana@example.org").await;
    db.block_contact(Actor::System, ana, "Solicitud ARCO 2026-060")
        .await
        .expect("blocked");
    assert_eq!(db.portal_person(&again).await.expect("who"), None);
}

async fn the_person_sees_only_their_incidents_and_what_was_said_to_them(db: TestDb) {
    let maria = cap(&db).await;
    let ana = person(&db, "ana@example.org").await;
    let luis = person(&db, "luis@example.org").await;
    let incident = |who, subject: &str| NewIncidentInput {
        channel: Channel::Email,
        contact_id: Some(who),
        subject: subject.into(),
        body: format!("{subject}: ¿me ayudan?"),
        user_type: None,
        incident_type: None,
        topic_id: None,
        critical: false,
        assigned_to: None,
        received_at: None,
    };
    let hers = db
        .create_incident(Actor::Staff(&maria), incident(ana, "Beca"))
        .await
        .expect("incident");
    let his = db
        .create_incident(Actor::Staff(&maria), incident(luis, "Horario"))
        .await
        .expect("incident");
    db.add_entry(
        Actor::Staff(&maria),
        hers.id,
        EntryKind::Note,
        "Nota interna: revisar con Becas",
    )
    .await
    .expect("note");
    db.add_entry(
        Actor::Staff(&maria),
        hers.id,
        EntryKind::OutboundMessage,
        "Hola, Ana: la convocatoria abre el lunes.",
    )
    .await
    .expect("answer");

    let session = signed_in(&db, "ana@example.org").await;
    let me = db.portal_person(&session).await.expect("who").expect("Ana");
    let list = db.portal_incidents(me).await.expect("list");
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].folio, hers.folio);
    assert!(
        db.portal_incident(me, &his.folio.to_string())
            .await
            .expect("read")
            .is_none(),
        "another person's incident is not found"
    );
    let (_, messages) = db
        .portal_incident(me, &hers.folio.to_string())
        .await
        .expect("read")
        .expect("hers");
    let bodies: Vec<&str> = messages.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(
        bodies,
        vec![
            "Beca: ¿me ayudan?",
            "Hola, Ana: la convocatoria abre el lunes."
        ]
    );
    assert_eq!(
        messages[1].by.as_deref(),
        Some("María"),
        "a first name only"
    );

    // She replies with a file: a message received on the portal, her agent told.
    db.assign_incident(Actor::Staff(&maria), hers.id, Some(maria.id))
        .await
        .expect("assigned");
    db.portal_reply(
        me,
        hers.id,
        "Adjunto mi comprobante.",
        &[atiende_store::attachments::Upload {
            filename: "comprobante.pdf".into(),
            data: b"%PDF-1.4\n1 0 obj << >> endobj\n%%EOF\n".to_vec(),
        }],
    )
    .await
    .expect("replied");
    let timeline = db.timeline(hers.id).await.expect("timeline");
    let reply = timeline.last().expect("entry");
    assert_eq!(reply.kind, EntryKind::InboundMessage);
    assert_eq!(reply.data["channel"], "portal");
    let (_, messages) = db
        .portal_incident(me, &hers.folio.to_string())
        .await
        .expect("read")
        .expect("hers");
    assert_eq!(
        messages.last().expect("reply").files[0].1,
        "comprobante.pdf"
    );
    let told = db.notifications(maria.id, None, 10).await.expect("told");
    assert!(
        told.iter()
            .any(|n| n.kind == atiende_domain::notification::NotificationKind::PersonReplied)
    );
    // Not on someone else's incident.
    assert!(db.portal_reply(me, his.id, "Hola", &[]).await.is_err());

    // A new one, on channel portal, with the notice shown.
    let new = db
        .portal_new_incident(
            me,
            "Constancia",
            "Necesito una constancia de estudios.",
            None,
        )
        .await
        .expect("opened");
    assert_eq!(new.channel, Channel::Portal);
    assert_eq!(new.contact_id, Some(me));
    assert_eq!(db.portal_incidents(me).await.expect("list").len(), 2);
}
