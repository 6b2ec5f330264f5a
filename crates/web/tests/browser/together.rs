//! The agent's busy day in a real browser: two agents on one incident see each other, bulk
//! closing and merging from the queue, and an incident handled with the keyboard alone.

use atiende_domain::classification::{Channel, UserType};
use atiende_domain::contact::ContactInput;
use atiende_domain::incident::{NewIncidentInput, Status};
use atiende_domain::user::Role;
use atiende_store::testing::TestDb;

use crate::harness::{PASSWORD, Site};

atiende_store::on_both_engines!(
    two_agents_on_one_incident_see_each_other_and_an_answer_on_a_stale_view_waits,
    incidents_are_closed_as_duplicates_and_merged_from_the_queue,
    an_incident_is_handled_from_the_queue_to_closing_with_the_keyboard_alone,
);

fn email(contact: atiende_domain::ids::ContactId, subject: &str) -> NewIncidentInput {
    NewIncidentInput {
        channel: Channel::Email,
        contact_id: Some(contact),
        subject: subject.into(),
        body: subject.into(),
        user_type: None,
        incident_type: None,
        topic_id: None,
        critical: false,
        assigned_to: None,
        received_at: None,
    }
}

async fn ana(site: &Site) -> atiende_domain::ids::ContactId {
    site.contact(ContactInput {
        name: Some("Ana Torres".into()),
        emails: Some(vec!["ana.torres@alumnos.udg.mx".into()]),
        ..Default::default()
    })
    .await
}

async fn two_agents_on_one_incident_see_each_other_and_an_answer_on_a_stale_view_waits(db: TestDb) {
    let site = Site::start(db).await;
    let maria = site.staff("maria", Role::Agent, vec![]).await;
    site.staff("jose", Role::Agent, vec![]).await;
    site.mailbox().await;
    let person = ana(&site).await;
    let folio = site
        .incident(&maria, email(person, "No aparece mi calificación"))
        .await;

    let (hers, his) = site.two_browsers().await;
    hers.login("maria", PASSWORD).await;
    his.login("jose", PASSWORD).await;
    hers.goto(&format!("/incidentes/{folio}")).await;
    his.goto(&format!("/incidentes/{folio}")).await;
    // Each sees the other, live.
    hers.wait_for_text("jose (prueba) también tiene abierto este incidente")
        .await;
    his.wait_for_text("maria (prueba) también tiene abierto este incidente")
        .await;

    // She starts an answer: he sees her writing.
    hers.click("#reply").await;
    hers.keys("Hola, Ana: ya revisamos tu kárdex.").await;
    his.wait_for_text("maria (prueba) está escribiendo…").await;

    // He answers first: her page says something was added.
    his.fill("#reply", "Hola, Ana: tu calificación ya aparece.")
        .await;
    his.submit("form[action$='/responder'] button[type=submit]")
        .await;
    hers.wait_for_text("Se agregó algo a este incidente mientras lo tenía abierto.")
        .await;

    // Her answer, written on the stale view, is held back with what is new; sent again, it goes.
    hers.submit("form[action$='/responder'] button[type=submit]")
        .await;
    let text = hers.text().await;
    assert!(
        text.contains(
            "Mientras escribía se agregó al incidente: Respuesta al usuario (jose (prueba))"
        ),
        "{text}"
    );
    assert!(
        text.contains("tu calificación ya aparece"),
        "his answer is on the page: {text}"
    );
    hers.submit("form[action$='/responder'] button[type=submit]")
        .await;
    assert!(hers.text().await.contains("Respuesta registrada."));
    let id = site.db.incident_id(&folio).await.expect("incident");
    let answers = site
        .db
        .timeline(id)
        .await
        .expect("timeline")
        .into_iter()
        .filter(|e| e.kind == atiende_domain::incident::EntryKind::OutboundMessage)
        .count();
    assert_eq!(answers, 2);
    hers.close().await;
    his.close().await;
}

async fn incidents_are_closed_as_duplicates_and_merged_from_the_queue(db: TestDb) {
    let site = Site::start(db).await;
    let maria = site.staff("maria", Role::Agent, vec![]).await;
    site.mailbox().await;
    let person = ana(&site).await;
    let first = site
        .incident(&maria, email(person, "Orden de pago vencida"))
        .await;
    let again = site
        .incident(&maria, email(person, "Sigo sin poder pagar"))
        .await;
    let twice = site
        .incident(&maria, email(person, "Orden de pago vencida (reenvío)"))
        .await;

    let b = site.browser().await;
    b.login("maria", PASSWORD).await;
    b.goto("/bandeja?vista=compacta").await;
    // Merge the second into the first: both selected, the oldest is the original.
    b.click(&format!("input[name=folios][value='{first}']"))
        .await;
    b.click(&format!("input[name=folios][value='{again}']"))
        .await;
    b.select("#bulk-action", "merge").await;
    b.submit("#bulk button[type=submit]").await;
    let text = b.text().await;
    assert!(text.contains("Es el original."), "{text}");
    assert!(text.contains("Hecho."), "{text}");
    b.submit("#back-to-queue").await;

    // Close the third as a duplicate of the first, by its folio.
    b.click(&format!("input[name=folios][value='{twice}']"))
        .await;
    b.select("#bulk-action", "duplicate").await;
    b.fill("#bulk input[name=original]", &first).await;
    b.submit("#bulk button[type=submit]").await;
    assert!(b.text().await.contains("Hecho."));

    // The original shows the merged timeline; the duplicate says whose it is.
    b.goto(&format!("/incidentes/{first}")).await;
    let text = b.text().await;
    assert!(
        text.contains(&format!("Historial fusionado de {again}")),
        "{text}"
    );
    assert!(text.contains("Sigo sin poder pagar"));
    b.goto(&format!("/incidentes/{twice}")).await;
    assert!(
        b.text()
            .await
            .contains(&format!("Cerrado como duplicado de {first}"))
    );
    for folio in [&again, &twice] {
        let id = site.db.incident_id(folio).await.expect("incident");
        assert_eq!(
            site.db.incident(id).await.expect("incident").status,
            Status::Closed
        );
    }
    let original = site.db.incident_id(&first).await.expect("incident");
    assert_eq!(
        site.db.incident(original).await.expect("incident").status,
        Status::Open
    );
    b.close().await;
}

async fn an_incident_is_handled_from_the_queue_to_closing_with_the_keyboard_alone(db: TestDb) {
    const ENTER: &str = "\u{E007}";
    const CTRL_ENTER: &str = "\u{E009}\u{E007}";
    const DOWN: &str = "\u{E015}";
    const TAB: &str = "\u{E004}";
    let site = Site::start(db).await;
    let maria = site.staff("maria", Role::Agent, vec![]).await;
    site.mailbox().await;
    let person = ana(&site).await;
    let folio = site
        .incident(&maria, email(person, "¿Cuándo inicia el ciclo?"))
        .await;

    let b = site.browser().await;
    b.login("maria", PASSWORD).await;
    b.goto("/bandeja").await;
    // "?" lists the shortcuts; Escape closes the list.
    b.keys("?").await;
    assert_eq!(
        b.client
            .execute("return document.getElementById('shortcuts').open", vec![])
            .await
            .expect("script"),
        serde_json::json!(true)
    );
    b.keys("\u{E00C}").await;
    // j marks the first incident, Enter opens it.
    b.keys("j").await;
    b.keys_to_new_page(ENTER).await;
    assert_eq!(b.path().await, format!("/incidentes/{folio}"));

    // c: classify — student (the third type down the list), question; Ctrl+Enter saves.
    b.keys("c").await;
    assert_eq!(b.focused().await, "c-channel");
    b.keys(TAB).await;
    b.keys(&DOWN.repeat(3)).await;
    b.keys(TAB).await;
    b.keys(DOWN).await;
    b.keys_to_new_page(CTRL_ENTER).await;
    assert!(b.text().await.contains("Clasificación guardada."));

    // r: answer; Ctrl+Enter sends it.
    b.keys("r").await;
    assert_eq!(b.focused().await, "reply");
    b.keys("Hola, Ana: el ciclo inicia el 18 de enero.").await;
    b.keys_to_new_page(CTRL_ENTER).await;
    assert!(b.text().await.contains("Respuesta registrada."));

    // e: close with the intervention notes.
    b.keys("e").await;
    assert_eq!(b.focused().await, "close-notes");
    b.keys("Se compartió el calendario escolar.").await;
    b.keys_to_new_page(CTRL_ENTER).await;
    let id = site.db.incident_id(&folio).await.expect("incident");
    let closed = site.db.incident(id).await.expect("incident");
    assert_eq!(closed.status, Status::Closed, "{}", b.text().await);
    assert_eq!(closed.user_type, Some(UserType::Student));
    assert_eq!(
        closed.incident_type,
        Some(atiende_domain::classification::IncidentType::Question)
    );
    b.close().await;
}
