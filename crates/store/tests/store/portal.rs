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
    a_whatsapp_code_goes_only_to_a_number_on_record_and_a_few_wrong_tries_end_it,
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

async fn code_jobs(db: &Store) -> Vec<atiende_store::outbox::PortalCodeJob> {
    db.outbox(None, 100)
        .await
        .expect("outbox")
        .iter()
        .filter_map(|i| match i.job() {
            Ok(atiende_store::outbox::Job::PortalCode(j)) => Some(j),
            _ => None,
        })
        .collect()
}

async fn a_whatsapp_code_goes_only_to_a_number_on_record_and_a_few_wrong_tries_end_it(db: TestDb) {
    cap(&db).await;
    db.create_contact(
        Actor::System,
        &ContactInput {
            name: Some("Ana Torres".into()),
            whatsapp_id: Some("5213312345678".into()),
            ..Default::default()
        },
    )
    .await
    .expect("contact");
    let accounts = vec!["111".to_string()];

    db.request_portal_code("+52 1 33 9999 0000", &accounts)
        .await
        .expect("unknown number answered");
    db.request_portal_code("nadie", &accounts)
        .await
        .expect("not a number answered");
    assert!(
        code_jobs(&db).await.is_empty(),
        "nothing sent to an unknown number"
    );

    // Typed without the country code, the number still finds its one holder.
    db.request_portal_code("33 1234 5678", &accounts)
        .await
        .expect("asked");
    let jobs = code_jobs(&db).await;
    assert_eq!(jobs.len(), 1);
    assert_eq!(
        (jobs[0].to.as_str(), jobs[0].account_id.as_str()),
        ("5213312345678", "111")
    );
    let code = db
        .issue_portal_code(jobs[0].sign_in_id)
        .await
        .expect("issued")
        .expect("a code");
    assert_eq!(code.len(), 6);
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for _ in 0..atiende_store::portal::CODE_ATTEMPTS {
        assert!(
            db.open_portal_session_by_code("5213312345678", wrong)
                .await
                .expect("tried")
                .is_none()
        );
    }
    assert!(
        db.open_portal_session_by_code("5213312345678", &code)
            .await
            .expect("tried")
            .is_none(),
        "the right code after too many wrong ones does not open"
    );

    // A new code works once, with a wrong try before it.
    db.request_portal_code("5213312345678", &accounts)
        .await
        .expect("asked again");
    let job = code_jobs(&db)
        .await
        .into_iter()
        .max_by_key(|j| j.sign_in_id)
        .expect("job");
    let code = db
        .issue_portal_code(job.sign_in_id)
        .await
        .expect("issued")
        .expect("a code");
    let wrong = if code == "000000" { "111111" } else { "000000" };
    assert!(
        db.open_portal_session_by_code("5213312345678", wrong)
            .await
            .expect("tried")
            .is_none()
    );
    let session = db
        .open_portal_session_by_code("5213312345678", &code)
        .await
        .expect("tried")
        .expect("a session");
    assert!(db.portal_person(&session).await.expect("person").is_some());
    assert!(
        db.open_portal_session_by_code("5213312345678", &code)
            .await
            .expect("tried")
            .is_none(),
        "a code works once"
    );
    assert!(
        db.issue_portal_code(job.sign_in_id)
            .await
            .expect("asked")
            .is_none(),
        "a used sign-in sends no new code"
    );
}
