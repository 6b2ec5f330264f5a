//! Inbound mail at the store's door: one size limit for the whole message, so that neither
//! the copy of the original nor the attachments can take more than it. (The conversation with a
//! real mail server is in `crates/channels/tests/email.rs`.)

use atiende_domain::email::{InboundAttachment, InboundEmail};
use atiende_store::email::{IngestOutcome, MAX_MESSAGE_BYTES};
use atiende_store::testing::TestDb;

atiende_store::on_both_engines!(
    a_message_over_the_limit_keeps_its_text_and_attachment_names_not_its_bytes,
);

fn message(id: &str, attachment_bytes: usize) -> InboundEmail {
    InboundEmail {
        message_id: id.into(),
        from_address: Some("ana.lopez@gmail.com".into()),
        from_name: "Ana López".into(),
        to: vec!["cap@udgvirtual.example".into()],
        subject: "Mis documentos".into(),
        text: "Adjunto mis documentos para la inscripción.".into(),
        attachments: vec![InboundAttachment {
            filename: "acta.pdf".into(),
            content_type: "application/pdf".into(),
            content_id: None,
            inline: false,
            data: vec![b'x'; attachment_bytes],
        }],
        ..Default::default()
    }
}

async fn a_message_over_the_limit_keeps_its_text_and_attachment_names_not_its_bytes(db: TestDb) {
    db.first_run(Some("contraseña-segura-1"))
        .await
        .expect("first run");
    // Within the limit: the original and the attachment are kept.
    let small = message("small@gmail.com", 1024);
    let Ok(IngestOutcome::Created(kept)) = db.ingest_email(None, &small, &[b'y'; 4096]).await
    else {
        panic!("created");
    };
    assert_eq!(db.attachments(kept).await.expect("list")[0].size, 1024);
    assert!(
        db.email_raw("small@gmail.com")
            .await
            .expect("raw")
            .is_some()
    );

    // Over it (the original counts as a whole): text and names only, and a note that says so.
    let big = message("big@gmail.com", 10 * 1024 * 1024);
    let raw = vec![b'z'; MAX_MESSAGE_BYTES + 1];
    let Ok(IngestOutcome::Created(noted)) = db.ingest_email(None, &big, &raw).await else {
        panic!("created");
    };
    assert!(
        db.email_raw("big@gmail.com").await.expect("raw").is_none(),
        "no copy of the original"
    );
    let attachments = db.attachments(noted).await.expect("list");
    assert_eq!(attachments.len(), 1);
    assert!(attachments[0].filename.starts_with("acta.pdf (omitido"));
    let stored = db
        .attachment_data(noted, attachments[0].id)
        .await
        .expect("data")
        .1;
    assert!(stored.is_empty(), "no bytes of the attachment");
    let timeline = db.timeline(noted).await.expect("timeline");
    let said = &timeline[0].body;
    assert!(said.contains("Adjunto mis documentos"), "{said}");
    assert!(said.contains("mayor que el límite de 25 MB"), "{said}");
}
