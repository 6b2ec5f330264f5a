//! Files staff attach to an answer or a note, in storage on both engines: checked before
//! anything is written, kept on the entry, and queued with the answer on the incident's channel
//! (the email's attachments; one chat message each). The conversation with the real mail server
//! and the Graph API stand-in is in `crates/channels/tests`.

use atiende_domain::RuleError;
use atiende_domain::attachment::MediaKind;
use atiende_domain::chat::{ChatContent, InboundChat, OutgoingBody, Provider};
use atiende_domain::email::InboundEmail;
use atiende_domain::ids::IncidentId;
use atiende_domain::incident::EntryKind;
use atiende_domain::user::{Role, StaffUser, UserInput};
use atiende_store::attachments::Upload;
use atiende_store::email::{IngestOutcome, MailboxSettings};
use atiende_store::outbox::{Job, JobKind};
use atiende_store::testing::TestDb;
use atiende_store::{Actor, StoreError};
use chrono::{Duration, Utc};

atiende_store::on_both_engines!(
    an_email_answer_carries_its_files_as_attachments_of_the_queued_message,
    a_whatsapp_answer_sends_its_text_then_one_message_per_file,
    a_file_whose_content_is_not_what_its_name_says_writes_nothing,
    a_note_keeps_its_files_and_sends_nothing,
    files_on_a_chat_outside_its_window_are_refused_like_text,
);

const PDF: &[u8] = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << >>\n%%EOF\n";
const PNG: &[u8] = &[
    0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 0x0D, 1, 2,
];

fn upload(name: &str, data: &[u8]) -> Upload {
    Upload {
        filename: name.into(),
        data: data.to_vec(),
    }
}

async fn agent(db: &TestDb) -> StaffUser {
    db.first_run(Some("contraseña-segura-1"))
        .await
        .expect("first run");
    let input = UserInput {
        login: Some("agente1".into()),
        name: Some("Ana Agente".into()),
        role: Some(Role::Agent),
        password: Some("contraseña-segura-2".into()),
        ..Default::default()
    };
    db.create_user(Actor::System, &input)
        .await
        .expect("agent")
        .user
}

async fn email_incident(db: &TestDb) -> IncidentId {
    let settings: MailboxSettings = serde_json::from_value(serde_json::json!({
        "name": "CAP",
        "address": "cap@udgvirtual.example",
    }))
    .expect("settings");
    let mailbox = db
        .save_mailbox(Actor::System, &settings)
        .await
        .expect("mailbox");
    let email = InboundEmail {
        message_id: "pregunta-1@gmail.com".into(),
        from_address: Some("ana.lopez@gmail.com".into()),
        from_name: "Ana López".into(),
        to: vec!["cap@udgvirtual.example".into()],
        subject: "Constancia de estudios".into(),
        text: "¿Me pueden enviar mi constancia?".into(),
        ..Default::default()
    };
    match db.ingest_email(Some(&mailbox), &email, b"raw").await {
        Ok(IngestOutcome::Created(id)) => id,
        other => panic!("created: {other:?}"),
    }
}

/// Emails queued other than automatic acknowledgements.
async fn answers_queued(db: &TestDb) -> usize {
    let sends = db
        .claim_outbox(JobKind::EmailSend, 10, 60)
        .await
        .expect("claim");
    sends
        .iter()
        .filter(|s| matches!(s.job().expect("job"), Job::EmailSend(out) if !out.automatic))
        .count()
}

fn whatsapp(id: &str, hours_ago: i64) -> InboundChat {
    InboundChat {
        provider: Provider::Whatsapp,
        account_id: "PHONE1".into(),
        peer_id: "5213312345678".into(),
        peer_name: Some("Luis Pérez".into()),
        external_id: id.into(),
        sent_at: Utc::now() - Duration::hours(hours_ago),
        contents: vec![ChatContent::Text {
            body: "Necesito mi constancia".into(),
        }],
    }
}

async fn an_email_answer_carries_its_files_as_attachments_of_the_queued_message(db: TestDb) {
    let user = agent(&db).await;
    let id = email_incident(&db).await;
    let entry = db
        .add_entry_with_files(
            Actor::Staff(&user),
            id,
            EntryKind::OutboundMessage,
            "Le enviamos su constancia y el comprobante.",
            &[
                upload("Constancia.pdf", PDF),
                upload("comprobante.png", PNG),
            ],
        )
        .await
        .expect("answer with files");

    let files = db.attachments(id).await.expect("attachments");
    assert_eq!(files.len(), 2);
    assert!(files.iter().all(|f| f.entry_id == Some(entry.id.0)));
    assert_eq!(files[0].content_type, "application/pdf");
    assert_eq!(files[1].content_type, "image/png");

    let sends = db
        .claim_outbox(JobKind::EmailSend, 10, 60)
        .await
        .expect("claim");
    // The automatic acknowledgement of the person's message went first.
    let Some(out) = sends.iter().find_map(|s| match s.job().expect("job") {
        Job::EmailSend(out) if !out.automatic => Some(out),
        _ => None,
    }) else {
        panic!("the answer is queued");
    };
    assert_eq!(out.to, "ana.lopez@gmail.com");
    let names: Vec<_> = out.files.iter().map(|f| f.filename.as_str()).collect();
    assert_eq!(names, ["Constancia.pdf", "comprobante.png"]);
    assert_eq!(
        db.outgoing_file_data(&out.files[0]).await.expect("bytes"),
        PDF
    );
}

async fn a_whatsapp_answer_sends_its_text_then_one_message_per_file(db: TestDb) {
    let user = agent(&db).await;
    let atiende_store::chat::ChatIngest::Created(id) = db
        .ingest_chat(&whatsapp("wamid.F1", 1))
        .await
        .expect("ingest")
    else {
        panic!("a new incident");
    };
    db.add_entry_with_files(
        Actor::Staff(&user),
        id,
        EntryKind::OutboundMessage,
        "Aquí está su constancia.",
        &[upload("constancia.pdf", PDF), upload("foto.png", PNG)],
    )
    .await
    .expect("answer with files");

    let out: Vec<OutgoingBody> = db
        .chat_messages(id)
        .await
        .expect("messages")
        .into_iter()
        .filter(|m| m.direction == "out")
        .map(|m| serde_json::from_value(m.content).expect("body"))
        .collect();
    assert_eq!(out.len(), 3, "{out:?}");
    assert!(
        matches!(&out[0], OutgoingBody::Text { body, .. } if body == "Aquí está su constancia.")
    );
    let OutgoingBody::Media { file, .. } = &out[1] else {
        panic!("a file: {:?}", out[1]);
    };
    assert_eq!(
        (file.filename.as_str(), file.kind),
        ("constancia.pdf", MediaKind::Document)
    );
    assert!(matches!(&out[2], OutgoingBody::Media { file, .. } if file.kind == MediaKind::Image));
    let sends = db
        .claim_outbox(JobKind::ChatSend, 10, 60)
        .await
        .expect("claim");
    assert_eq!(sends.len(), 3);
}

async fn a_file_whose_content_is_not_what_its_name_says_writes_nothing(db: TestDb) {
    let user = agent(&db).await;
    let id = email_incident(&db).await;
    let before = db.timeline(id).await.expect("timeline").len();
    let refused = db
        .add_entry_with_files(
            Actor::Staff(&user),
            id,
            EntryKind::OutboundMessage,
            "Su constancia",
            &[
                upload("constancia.pdf", PDF),
                upload("constancia2.pdf", b"MZ\x90\x00program"),
            ],
        )
        .await;
    let Err(StoreError::Rule(RuleError::Invalid(fields))) = refused else {
        panic!("refused: {refused:?}");
    };
    assert_eq!(fields[0].field, "files[1]");
    assert_eq!(fields[0].code, "file_content_mismatch");
    assert_eq!(db.timeline(id).await.expect("timeline").len(), before);
    assert!(db.attachments(id).await.expect("attachments").is_empty());
    assert_eq!(answers_queued(&db).await, 0);
}

async fn a_note_keeps_its_files_and_sends_nothing(db: TestDb) {
    let user = agent(&db).await;
    let id = email_incident(&db).await;
    let note = db
        .add_entry_with_files(
            Actor::Staff(&user),
            id,
            EntryKind::Note,
            "",
            &[upload("captura.png", PNG)],
        )
        .await
        .expect("a note with only a file");
    let files = db.attachments(id).await.expect("attachments");
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].entry_id, Some(note.id.0));
    assert_eq!(answers_queued(&db).await, 0);
    let refused = db
        .add_entry_with_files(
            Actor::Staff(&user),
            id,
            EntryKind::Intervention,
            "Se envió la constancia",
            &[upload("captura.png", PNG)],
        )
        .await;
    assert!(matches!(
        refused,
        Err(StoreError::Rule(RuleError::Invalid(_)))
    ));
}

async fn files_on_a_chat_outside_its_window_are_refused_like_text(db: TestDb) {
    let user = agent(&db).await;
    let atiende_store::chat::ChatIngest::Created(id) = db
        .ingest_chat(&whatsapp("wamid.F2", 30))
        .await
        .expect("ingest")
    else {
        panic!("a new incident");
    };
    let before = db.timeline(id).await.expect("timeline").len();
    let refused = db
        .add_entry_with_files(
            Actor::Staff(&user),
            id,
            EntryKind::OutboundMessage,
            "",
            &[upload("constancia.pdf", PDF)],
        )
        .await;
    assert!(matches!(
        refused,
        Err(StoreError::Rule(RuleError::OutsideReplyWindow))
    ));
    assert_eq!(db.timeline(id).await.expect("timeline").len(), before);
    assert!(db.attachments(id).await.expect("attachments").is_empty());
}
