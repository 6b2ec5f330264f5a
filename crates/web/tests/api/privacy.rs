//! An ARCO request through the console, on both engines: the administrator finds the person,
//! exports their file, blocks it (agents then see neither the person's page nor their name on
//! an incident), suppresses it only when asked in so many words, and the access log shows each
//! step.

use atiende_domain::privacy::NoticeKind;
use atiende_domain::user::Role;
use atiende_store::testing::TestDb;
use axum::http::StatusCode;
use serde_json::json;

use crate::helpers::{ADMIN_PASSWORD, Auth, PASSWORD, TestApp};

atiende_store::on_both_engines!(
    an_administrator_exports_blocks_and_suppresses_a_person_and_the_log_shows_each_step,
    privacy_notices_are_versioned_and_a_buzon_entry_keeps_the_version_it_showed,
    a_person_gets_their_own_file_through_a_link_sent_to_the_address_on_record,
    no_one_edits_merges_or_opens_an_incident_for_a_blocked_person_until_it_is_unblocked,
    a_blocked_person_is_not_read_through_the_api_except_by_the_administrator,
    every_read_of_a_person_through_the_api_is_in_the_access_log,
);

fn csrf(auth: &Auth) -> String {
    match auth {
        Auth::Session { csrf, .. } => csrf.clone(),
        _ => panic!("session"),
    }
}

fn text(reply: &crate::helpers::Reply) -> String {
    reply.json.as_str().unwrap_or_default().to_string()
}

async fn an_administrator_exports_blocks_and_suppresses_a_person_and_the_log_shows_each_step(
    db: TestDb,
) {
    let app = TestApp::new(db).await;
    app.staff("agente", Role::Agent, vec![]).await;
    let agent = app.login("agente", PASSWORD).await;
    let admin = app.login("admin", ADMIN_PASSWORD).await;
    let contact = app
        .post(
            "/api/v1/contacts",
            &agent,
            json!({"name": "Lucía Fernández", "emails": ["lucia.fernandez@gmail.com"]}),
        )
        .await
        .json["id"]
        .as_i64()
        .expect("contact");
    let incident = app
        .post(
            "/api/v1/incidents",
            &agent,
            json!({"channel": "phone", "contact_id": contact, "subject": "Baja temporal", "body": "Lucía pide su baja temporal"}),
        )
        .await;
    let folio = incident.json["folio"].as_str().expect("folio").to_string();

    // Rectification keeps who, when, before and after.
    let fixed = app
        .call(
            axum::http::Method::PATCH,
            &format!("/api/v1/contacts/{contact}"),
            &agent,
            Some(json!({"name": "Lucía Fernández Ochoa"})),
        )
        .await;
    assert_eq!(fixed.status, StatusCode::OK, "{:?}", fixed.json);
    let history = text(&app.get(&format!("/contactos/{contact}"), &admin).await);
    assert!(history.contains("Historial de cambios"));
    assert!(history.contains("<del>Lucía Fernández</del> → Lucía Fernández Ochoa"));
    app.call(
        axum::http::Method::PATCH,
        &format!("/api/v1/contacts/{contact}"),
        &agent,
        Some(json!({"name": "Lucía Fernández"})),
    )
    .await;

    // The agent's look at the incident is logged.
    let seen = app.get(&format!("/incidentes/{folio}"), &agent).await;
    assert!(text(&seen).contains("Lucía Fernández"));

    // Access: the readable file and the JSON.
    let file = app
        .get(&format!("/contactos/{contact}/expediente"), &admin)
        .await;
    assert_eq!(file.status, StatusCode::OK);
    let html = text(&file);
    assert!(html.contains("Expediente de datos personales"));
    assert!(html.contains("lucia.fernandez@gmail.com"));
    assert!(html.contains("Lucía pide su baja temporal"));
    let (status, bytes) = app
        .call_raw(&format!("/contactos/{contact}/expediente.json"), &admin)
        .await;
    assert_eq!(status, StatusCode::OK);
    let json: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
    assert_eq!(json["contact"]["name"], "Lucía Fernández");
    assert_eq!(json["incidents"][0]["incident"]["folio"], folio.as_str());

    // Block: out of normal use.
    let blocked = app
        .form(
            &format!("/contactos/{contact}/bloquear"),
            &admin,
            &format!("_csrf={}&reason=ARCO-2026-014", csrf(&admin)),
        )
        .await;
    assert_eq!(blocked.status, StatusCode::SEE_OTHER);
    assert_eq!(
        app.get(&format!("/contactos/{contact}"), &agent)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let masked = text(&app.get(&format!("/incidentes/{folio}"), &agent).await);
    assert!(!masked.contains("Lucía Fernández"), "name hidden");
    assert!(masked.contains("Datos bloqueados (ARCO)"));
    let listed = text(&app.get("/contactos", &agent).await);
    assert!(!listed.contains("Lucía Fernández"));

    // Suppression asks for the word.
    let unconfirmed = app
        .form(
            &format!("/contactos/{contact}/suprimir"),
            &admin,
            &format!("_csrf={}&confirm=si", csrf(&admin)),
        )
        .await;
    assert_eq!(unconfirmed.status, StatusCode::BAD_REQUEST);
    let done = app
        .form(
            &format!("/contactos/{contact}/suprimir"),
            &admin,
            &format!("_csrf={}&confirm=SUPRIMIR", csrf(&admin)),
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    let page = text(&app.get(&format!("/contactos/{contact}"), &admin).await);
    assert!(page.contains("Datos suprimidos"));
    assert!(!page.contains("Lucía"));
    let incident = text(&app.get(&format!("/incidentes/{folio}"), &admin).await);
    assert!(!incident.contains("baja temporal"));
    assert!(incident.contains(&folio));

    // The log, newest first: each step, by whom.
    let log = text(
        &app.get(&format!("/privacidad?contacto={contact}"), &admin)
            .await,
    );
    for step in ["Supresión", "Bloqueo", "Exportación", "Consulta"] {
        assert!(log.contains(step), "{step} in the log");
    }
    assert!(log.contains("agente") && log.contains("admin"));
    let (status, csv) = app
        .call_raw(
            &format!("/privacidad/bitacora.csv?contacto={contact}"),
            &admin,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let csv = String::from_utf8(csv).expect("utf-8");
    assert!(csv.lines().count() >= 6, "{csv}");
    assert_eq!(
        app.get("/privacidad", &agent).await.status,
        StatusCode::FORBIDDEN
    );

    // Retention periods, with what the next run would anonymise.
    let saved = app
        .form(
            "/privacidad/conservacion",
            &admin,
            &format!(
                "_csrf={}&closed_incident_days=730&attachment_days=",
                csrf(&admin)
            ),
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER);
    let page = text(&app.get("/privacidad", &admin).await);
    assert!(page.contains("value=\"730\""));
    assert!(page.contains("La próxima ejecución anonimizará"));
    let refused = app
        .form(
            "/privacidad/conservacion",
            &admin,
            &format!("_csrf={}&attachment_days=0", csrf(&admin)),
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
}

async fn privacy_notices_are_versioned_and_a_buzon_entry_keeps_the_version_it_showed(db: TestDb) {
    let app = TestApp::new(db).await;
    let admin = app.login("admin", ADMIN_PASSWORD).await;
    let publish = |body: &'static str| {
        let form = format!(
            "_csrf={}&kind=simplified&body={}",
            csrf(&admin),
            body.replace(' ', "+")
        );
        let app = &app;
        let admin = &admin;
        async move { app.form("/privacidad/avisos", admin, &form).await }
    };
    assert_eq!(
        publish("Aviso simplificado primero").await.status,
        StatusCode::SEE_OTHER
    );
    let first = app
        .db
        .current_notice(NoticeKind::Simplified)
        .await
        .expect("notice")
        .expect("v1");
    assert_eq!(first.version, 1);
    publish("Aviso simplificado segundo").await;
    let second = app
        .db
        .current_notice(NoticeKind::Simplified)
        .await
        .expect("notice")
        .expect("v2");
    assert_eq!(second.version, 2);
    publish("Aviso simplificado segundo").await;
    assert_eq!(
        app.db
            .notice_versions(NoticeKind::Simplified)
            .await
            .expect("versions")
            .len(),
        2,
        "the same text publishes nothing"
    );

    // The buzón shows the version in force and sends it back with the entry.
    let page = text(&app.get("/buzon", &Auth::None).await);
    assert!(page.contains("Aviso simplificado segundo"));
    assert!(page.contains(&format!(
        "name=\"privacy_notice_id\" value=\"{}\"",
        second.id
    )));
    // A form opened before the second version keeps the first.
    let sent = crate::public::post(
        &app,
        "/buzon",
        &format!(
            "kind=complaint&message=El+sistema+no+me+deja+inscribirme&email=pablo%40gmail.com&privacy_notice_id={}",
            first.id
        ),
    )
    .await;
    let html = crate::public::text(&sent);
    let folio = html
        .split("<strong>")
        .nth(1)
        .and_then(|s| s.split("</strong>").next())
        .expect("folio")
        .to_string();
    let incident = text(&app.get(&format!("/incidentes/{folio}"), &admin).await);
    assert!(incident.contains("Aviso de privacidad mostrado"));
    assert!(incident.contains("Versión 1"), "{incident}");

    // The public page shows both notices in force, to anyone.
    let public = app.get("/aviso-de-privacidad", &Auth::None).await;
    assert_eq!(public.status, StatusCode::OK);
    assert!(text(&public).contains("Aviso simplificado segundo"));
}

async fn a_person_gets_their_own_file_through_a_link_sent_to_the_address_on_record(db: TestDb) {
    db.save_mailbox(
        atiende_store::Actor::System,
        &atiende_store::testing::sending_mailbox(),
    )
    .await
    .expect("mailbox");
    let app = TestApp::new(db).await;
    app.staff("agente", Role::Agent, vec![]).await;
    let agent = app.login("agente", PASSWORD).await;
    let contact = app
        .post(
            "/api/v1/contacts",
            &agent,
            json!({"name": "Itzel Navarro", "emails": ["itzel.navarro@gmail.com"]}),
        )
        .await
        .json["id"]
        .as_i64()
        .expect("contact");
    let answer = "Si ese correo está en nuestros registros";
    let known = crate::public::post(&app, "/mis-datos", "email=itzel.navarro%40gmail.com").await;
    assert_eq!(known.status, StatusCode::OK);
    assert!(crate::public::text(&known).contains(answer));
    let unknown = crate::public::post(&app, "/mis-datos", "email=nadie%40gmail.com").await;
    assert!(
        crate::public::text(&unknown).contains(answer),
        "nothing tells whether an address is on record"
    );
    let sent = app.db.outbox(None, 20).await.expect("outbox");
    assert_eq!(
        sent.iter().filter(|o| o.kind == "email_send").count(),
        1,
        "one link, to the address on record"
    );
    let link = app.db.sent_link(None, "mis-datos").await;
    let token = link.rsplit('/').next().expect("token").to_string();
    let file = app.get(&format!("/mis-datos/{token}"), &Auth::None).await;
    assert_eq!(file.status, StatusCode::OK);
    assert!(text(&file).contains("Itzel Navarro"));
    let (status, bytes) = app
        .call_raw(&format!("/mis-datos/{token}/expediente.json"), &Auth::None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(String::from_utf8_lossy(&bytes).contains("itzel.navarro@gmail.com"));
    assert_eq!(
        app.get("/mis-datos/no-es-un-enlace", &Auth::None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let log = app
        .db
        .personal_access_log(Some(atiende_domain::ids::ContactId(contact)), None, 10)
        .await
        .expect("log");
    assert!(
        log.iter()
            .any(|e| e.actor == "titular (solicitud verificada)")
    );
}

async fn no_one_edits_merges_or_opens_an_incident_for_a_blocked_person_until_it_is_unblocked(
    db: TestDb,
) {
    let app = TestApp::new(db).await;
    app.staff("agente", Role::Agent, vec![]).await;
    let agent = app.login("agente", PASSWORD).await;
    let admin = app.login("admin", ADMIN_PASSWORD).await;
    let mut ids = vec![];
    for (name, email) in [
        ("Marta Ibarra", "marta.ibarra@gmail.com"),
        ("Marta I.", "marta.i@gmail.com"),
    ] {
        let created = app
            .post(
                "/api/v1/contacts",
                &agent,
                json!({"name": name, "emails": [email]}),
            )
            .await;
        ids.push(created.json["id"].as_i64().expect("contact"));
    }
    let (blocked, other) = (ids[0], ids[1]);
    let done = app
        .form(
            &format!("/contactos/{blocked}/bloquear"),
            &admin,
            &format!("_csrf={}&reason=ARCO-2026-051", csrf(&admin)),
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);

    let path = format!("/api/v1/contacts/{blocked}");
    let patch = |auth| {
        app.call(
            axum::http::Method::PATCH,
            &path,
            auth,
            Some(json!({"name": "Marta Ibarra Ruiz"})),
        )
    };
    for auth in [&agent, &admin] {
        let edited = patch(auth).await;
        assert_eq!(edited.status, StatusCode::CONFLICT, "{:?}", edited.json);
        assert_eq!(edited.json["error"]["code"], "contact_blocked");
    }
    // Merging refuses a blocked record on either side, by the API and in the console.
    for (keep, gone) in [(other, blocked), (blocked, other)] {
        let merged = app
            .post(
                &format!("/api/v1/contacts/{keep}/merge"),
                &agent,
                json!({"other_id": gone}),
            )
            .await;
        assert_eq!(merged.status, StatusCode::CONFLICT, "{:?}", merged.json);
        assert_eq!(merged.json["error"]["code"], "contact_blocked");
    }
    let console = app
        .form(
            &format!("/contactos/{other}/fusionar"),
            &agent,
            &format!("_csrf={}&other_id={blocked}", csrf(&agent)),
        )
        .await;
    assert_ne!(
        console.status,
        StatusCode::SEE_OTHER,
        "the console merge is refused"
    );
    assert!(text(&console).contains("bloqueados"), "and says why");
    let opened = app
        .post(
            "/api/v1/incidents",
            &agent,
            json!({"channel": "phone", "contact_id": blocked, "subject": "Otra consulta", "body": "Pregunta"}),
        )
        .await;
    assert_eq!(opened.status, StatusCode::CONFLICT, "{:?}", opened.json);

    // Nothing moved: the blocked record keeps its identifiers and stays out of search.
    let found = app.get("/api/v1/contacts?q=marta.ibarra", &agent).await;
    assert_eq!(
        found.json["items"].as_array().map(Vec::len),
        Some(0),
        "{:?}",
        found.json
    );

    // Unblocked, the record is in normal use again.
    let undone = app
        .form(
            &format!("/contactos/{blocked}/desbloquear"),
            &admin,
            &format!("_csrf={}&reason=ARCO-2026-051+desistimiento", csrf(&admin)),
        )
        .await;
    assert_eq!(undone.status, StatusCode::SEE_OTHER);
    assert_eq!(patch(&agent).await.status, StatusCode::OK);
}

async fn a_blocked_person_is_not_read_through_the_api_except_by_the_administrator(db: TestDb) {
    let app = TestApp::new(db).await;
    app.staff("agente", Role::Agent, vec![]).await;
    app.staff("lider", Role::CapLead, vec![]).await;
    let agent = app.login("agente", PASSWORD).await;
    let lead = app.login("lider", PASSWORD).await;
    let admin = app.login("admin", ADMIN_PASSWORD).await;
    let person = json!({"name": "Rocío Villaseñor", "emails": ["rocio.v@gmail.com"]});
    let (contact, folio) = person_with_a_phone_incident(&app, &agent, person, "Constancia").await;
    app.call(
        axum::http::Method::PATCH,
        &format!("/api/v1/contacts/{contact}"),
        &agent,
        Some(json!({"name": "Rocío Villaseñor Díaz"})),
    )
    .await;
    let blocked = app
        .form(
            &format!("/contactos/{contact}/bloquear"),
            &admin,
            &format!("_csrf={}&reason=ARCO-2026-077", csrf(&admin)),
        )
        .await;
    assert_eq!(blocked.status, StatusCode::SEE_OTHER);

    for caller in [&agent, &lead] {
        let one = app
            .get(&format!("/api/v1/contacts/{contact}"), caller)
            .await;
        assert_eq!(one.status, StatusCode::FORBIDDEN, "{:?}", one.json);
        let found = app
            .get("/api/v1/contacts/lookup?email=rocio.v@gmail.com", caller)
            .await;
        assert_eq!(found.status, StatusCode::NOT_FOUND, "{:?}", found.json);
        let incident = app.get(&format!("/api/v1/incidents/{folio}"), caller).await;
        assert_eq!(incident.status, StatusCode::OK);
        assert!(incident.json["contact"].is_null(), "{}", incident.json);
        assert_eq!(incident.json["contact_blocked"], true);
        let list = app.get("/api/v1/incidents?limit=200", caller).await;
        let row = list.json["items"]
            .as_array()
            .expect("items")
            .iter()
            .find(|i| i["folio"] == folio.as_str())
            .expect("the incident is listed")
            .clone();
        assert!(row["contact_name"].is_null(), "{row}");
        assert!(!list.json.to_string().contains("Rocío"));
    }
    let trail = app
        .get(
            &format!("/api/v1/audit?entity=contact&entity_id={contact}"),
            &lead,
        )
        .await;
    assert_eq!(trail.status, StatusCode::OK);
    assert!(!trail.json["items"].as_array().expect("items").is_empty());
    assert!(
        !trail.json.to_string().contains("Rocío"),
        "no snapshot of a blocked person: {}",
        trail.json
    );

    // The administrator handling the request reads it all.
    let one = app
        .get(&format!("/api/v1/contacts/{contact}"), &admin)
        .await;
    assert_eq!(one.json["name"], "Rocío Villaseñor Díaz");
    let found = app
        .get("/api/v1/contacts/lookup?email=rocio.v@gmail.com", &admin)
        .await;
    assert_eq!(found.json["id"], contact);
    let incident = app.get(&format!("/api/v1/incidents/{folio}"), &admin).await;
    assert_eq!(incident.json["contact"]["id"], contact);
    let trail = app
        .get(
            &format!("/api/v1/audit?entity=contact&entity_id={contact}"),
            &admin,
        )
        .await;
    assert!(trail.json.to_string().contains("Rocío Villaseñor Díaz"));
}

async fn every_read_of_a_person_through_the_api_is_in_the_access_log(db: TestDb) {
    let app = TestApp::new(db).await;
    app.staff("agente", Role::Agent, vec![]).await;
    let agent = app.login("agente", PASSWORD).await;
    let admin = app.login("admin", ADMIN_PASSWORD).await;
    let person = json!({"name": "Tomás Aceves", "phones": ["3312345678"]});
    let (contact, folio) = person_with_a_phone_incident(&app, &agent, person, "Pago").await;
    let log_size = || async {
        let csv = app
            .call_raw(
                &format!("/privacidad/bitacora.csv?contacto={contact}"),
                &admin,
            )
            .await
            .1;
        String::from_utf8(csv)
            .expect("utf-8")
            .lines()
            .filter(|l| l.contains("agente"))
            .count()
    };
    let before = log_size().await;
    app.get(&format!("/api/v1/contacts/{contact}"), &agent)
        .await;
    assert_eq!(log_size().await, before + 1, "a contact read");
    app.get("/api/v1/contacts/lookup?phone=3312345678", &agent)
        .await;
    assert_eq!(log_size().await, before + 2, "a lookup");
    app.get(&format!("/api/v1/incidents/{folio}"), &agent).await;
    assert_eq!(log_size().await, before + 3, "an incident with its contact");
}

/// A person created through the API with one phone incident: their id and its folio.
async fn person_with_a_phone_incident(
    app: &TestApp,
    agent: &Auth,
    person: serde_json::Value,
    subject: &str,
) -> (i64, String) {
    let contact = app.post("/api/v1/contacts", agent, person).await.json["id"]
        .as_i64()
        .expect("contact");
    let incident = app
        .post(
            "/api/v1/incidents",
            agent,
            json!({"channel": "phone", "contact_id": contact, "subject": subject, "body": subject}),
        )
        .await;
    let folio = incident.json["folio"].as_str().expect("folio").to_string();
    (contact, folio)
}
