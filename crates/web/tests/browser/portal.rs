//! *Mis solicitudes* in a real browser: a person asks for the link, enters with its button,
//! reads the CAP's answer, replies, and opens a new request.

use atiende_domain::classification::Channel;
use atiende_domain::contact::ContactInput;
use atiende_domain::incident::{EntryKind, NewIncidentInput};
use atiende_domain::user::Role;
use atiende_store::Actor;
use atiende_store::testing::TestDb;

use crate::harness::Site;

atiende_store::on_both_engines!(a_person_follows_and_answers_their_requests_in_the_portal);

async fn a_person_follows_and_answers_their_requests_in_the_portal(db: TestDb) {
    let site = Site::start(db).await;
    let maria = site.staff("maria", Role::Agent, vec![]).await;
    site.db
        .save_mailbox(Actor::System, &atiende_store::testing::sending_mailbox())
        .await
        .expect("mailbox");
    let ana = site
        .contact(ContactInput {
            name: Some("Ana Torres".into()),
            emails: Some(vec!["ana.torres@alumnos.udg.mx".into()]),
            ..Default::default()
        })
        .await;
    let folio = site
        .incident(
            &maria,
            NewIncidentInput {
                channel: Channel::Email,
                contact_id: Some(ana),
                subject: "Beca de excelencia".into(),
                body: "¿Qué necesito para la beca?".into(),
                user_type: None,
                incident_type: None,
                topic_id: None,
                critical: false,
                assigned_to: None,
                received_at: None,
            },
        )
        .await;
    let id = site.db.incident_id(&folio).await.expect("incident");
    site.db
        .add_entry(
            Actor::Staff(&maria),
            id,
            EntryKind::OutboundMessage,
            "Hola, Ana: necesitas promedio de 90 y la solicitud en línea.",
        )
        .await
        .expect("answer");

    let b = site.browser().await;
    b.goto("/mis-solicitudes").await;
    b.fill("#email", "ana.torres@alumnos.udg.mx").await;
    b.submit("form[action='/mis-solicitudes'] button[type=submit]")
        .await;
    assert!(b.text().await.contains("le enviamos un enlace para entrar"));
    let link = site.db.sent_link(None, "mis-solicitudes/entrar").await;
    let path = &link[link.find("/mis-solicitudes").expect("path")..];
    b.goto(path).await;
    b.submit("#enter").await;
    assert_eq!(b.path().await, "/mis-solicitudes");
    assert!(b.text().await.contains(&folio));

    b.submit(&format!("a[href='/mis-solicitudes/{folio}']"))
        .await;
    let text = b.text().await;
    assert!(text.contains("necesitas promedio de 90"), "{text}");
    assert!(
        text.contains("maria · Centro de Atención Personalizada"),
        "the agent by first name only: {text}"
    );
    b.fill("#portal-reply", "Gracias, ya tengo 92 de promedio.")
        .await;
    b.submit("form[action$='/responder'] button[type=submit]")
        .await;
    assert!(b.text().await.contains("Recibimos su mensaje."));
    let last = site
        .db
        .timeline(id)
        .await
        .expect("timeline")
        .pop()
        .expect("entry");
    assert_eq!(last.body, "Gracias, ya tengo 92 de promedio.");
    assert_eq!(last.data["channel"], "portal");

    b.goto("/mis-solicitudes/nueva").await;
    b.fill("#new-subject", "Constancia").await;
    b.fill("#new-body", "Necesito una constancia de estudios.")
        .await;
    b.submit("form[action='/mis-solicitudes/nueva'] button[type=submit]")
        .await;
    assert!(b.path().await.starts_with("/mis-solicitudes/CAP-"));
    assert!(
        b.text()
            .await
            .contains("Necesito una constancia de estudios.")
    );
    b.close().await;
}
