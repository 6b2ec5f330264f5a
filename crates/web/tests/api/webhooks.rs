//! What providers post: Meta's signed webhooks (WhatsApp, Messenger, Instagram) and the
//! telephone system's call events, through the whole router, on both engines.

use atiende_channels::chat::{Account, MetaConfig, sign};
use atiende_domain::access::Scope;
use atiende_domain::chat::Template;
use atiende_store::incidents::IncidentFilter;
use atiende_store::testing::TestDb;
use atiende_web::WebConfig;
use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{ADMIN_PASSWORD, Auth, Reply, TestApp};

atiende_store::on_both_engines!(
    the_handshake_echoes_the_challenge_only_for_our_verify_token,
    a_delivery_without_a_valid_signature_gets_401_and_writes_nothing,
    a_whatsapp_message_opens_an_incident_in_the_cap_queue_and_statuses_update_the_reply,
    fifty_concurrent_deliveries_of_one_message_yield_one_entry,
    messenger_and_instagram_messages_become_social_incidents_and_echoes_are_ignored,
    a_payload_that_is_not_meta_s_gets_a_clear_400,
    outside_the_window_the_api_refuses_text_and_accepts_an_approved_template,
    call_events_log_the_call_and_need_the_token,
    a_missed_call_is_listed_and_registering_it_prefills_the_contact,
    a_message_for_a_number_not_configured_is_held_and_shown_to_administrators,
);

const SECRET: &str = "app-secret-de-prueba";
const PHONE_ID: &str = "106540352242922";

fn config() -> WebConfig {
    let account = |id: &str| Account {
        id: id.into(),
        access_token: format!("token-{id}").into(),
    };
    WebConfig {
        meta: MetaConfig {
            graph_url: "http://127.0.0.1:9/v21.0".into(),
            app_secret: SECRET.into(),
            verify_token: "verifica-esto".into(),
            whatsapp: vec![account(PHONE_ID)],
            messenger: vec![account("PAGE1")],
            instagram: vec![account("IG1")],
            templates: vec![Template {
                name: "seguimiento_folio".into(),
                language: "es_MX".into(),
                text: "Le escribimos del CAP sobre su folio {{1}}.".into(),
            }],
            sign_in_template: String::new(),
        },
        cti_token: "cti-token-largo-de-prueba".into(),
        ..crate::helpers::config()
    }
}

fn whatsapp_text(id: &str, from: &str, text: &str, timestamp: i64) -> Value {
    json!({
        "object": "whatsapp_business_account",
        "entry": [{ "id": "WABA", "changes": [{ "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": { "display_phone_number": "523331345678", "phone_number_id": PHONE_ID },
            "contacts": [{ "profile": { "name": "Mariana Ruiz" }, "wa_id": from }],
            "messages": [{ "from": from, "id": id, "timestamp": timestamp.to_string(), "type": "text", "text": { "body": text } }]
        }}]}]
    })
}

fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

async fn deliver(app: &TestApp, path: &str, payload: &Value) -> Reply {
    let body = payload.to_string().into_bytes();
    let signature = sign(SECRET, &body);
    app.raw(
        path,
        "application/json",
        body,
        &[("x-hub-signature-256", &signature)],
    )
    .await
}

async fn incidents(app: &TestApp) -> Vec<atiende_domain::incident::Incident> {
    let filter = IncidentFilter {
        limit: 100,
        ..Default::default()
    };
    app.db
        .incidents(&Scope::All, &filter)
        .await
        .expect("incidents")
        .into_iter()
        .map(|s| s.incident)
        .collect()
}

async fn the_handshake_echoes_the_challenge_only_for_our_verify_token(db: TestDb) {
    let app = TestApp::with_config(db, config()).await;
    for path in ["/webhooks/whatsapp", "/webhooks/meta"] {
        let ok = app
            .get(
                &format!("{path}?hub.mode=subscribe&hub.verify_token=verifica-esto&hub.challenge=1158201444"),
                &Auth::None,
            )
            .await;
        assert_eq!(ok.status, StatusCode::OK);
        assert_eq!(ok.json, json!(1158201444));
        let wrong = app
            .get(
                &format!("{path}?hub.mode=subscribe&hub.verify_token=otro&hub.challenge=1"),
                &Auth::None,
            )
            .await;
        assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    }
}

async fn a_delivery_without_a_valid_signature_gets_401_and_writes_nothing(db: TestDb) {
    let app = TestApp::with_config(db, config()).await;
    let body = whatsapp_text("wamid.X", "5213312345678", "Hola", now_secs())
        .to_string()
        .into_bytes();
    let unsigned = app
        .raw("/webhooks/whatsapp", "application/json", body.clone(), &[])
        .await;
    assert_eq!(unsigned.status, StatusCode::UNAUTHORIZED);
    let forged = sign("not-our-secret", &body);
    let wrong = app
        .raw(
            "/webhooks/whatsapp",
            "application/json",
            body.clone(),
            &[("x-hub-signature-256", &forged)],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    let mut tampered = body.clone();
    tampered.extend_from_slice(b" ");
    let good_for_other = sign(SECRET, &body);
    let changed = app
        .raw(
            "/webhooks/meta",
            "application/json",
            tampered,
            &[("x-hub-signature-256", &good_for_other)],
        )
        .await;
    assert_eq!(changed.status, StatusCode::UNAUTHORIZED);
    assert!(incidents(&app).await.is_empty());
    // Without an app secret the webhooks are off altogether.
    let off = TestApp::new(TestDb::new(app.db.engine()).await).await;
    let reply = off
        .raw(
            "/webhooks/whatsapp",
            "application/json",
            body.clone(),
            &[("x-hub-signature-256", &sign("", &body))],
        )
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
}

async fn a_whatsapp_message_opens_an_incident_in_the_cap_queue_and_statuses_update_the_reply(
    db: TestDb,
) {
    let app = TestApp::with_config(db, config()).await;
    let reply = deliver(
        &app,
        "/webhooks/whatsapp",
        &whatsapp_text(
            "wamid.A",
            "5213312345678",
            "¿Cuándo abren inscripciones?",
            now_secs(),
        ),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    let found = incidents(&app).await;
    assert_eq!(found.len(), 1);
    let incident = &found[0];
    assert_eq!(incident.channel.code(), "whatsapp");
    assert_eq!(incident.assigned_to, None, "waits in the CAP's queue");
    let admin = app.login("admin", ADMIN_PASSWORD).await;
    let answer = app
        .post(
            &format!("/api/v1/incidents/{}/notes", incident.folio),
            &admin,
            json!({ "kind": "answer", "body": "Abren el 15 de enero." }),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.json);
    // The worker sends it (see the channels suite); here the provider's answer is recorded.
    let out = app
        .db
        .chat_messages(incident.id)
        .await
        .expect("messages")
        .pop()
        .expect("out");
    app.db
        .record_chat_sent(out.id, "wamid.OUT")
        .await
        .expect("sent");
    let status = json!({
        "object": "whatsapp_business_account",
        "entry": [{ "id": "WABA", "changes": [{ "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": { "display_phone_number": "523331345678", "phone_number_id": PHONE_ID },
            "statuses": [{ "id": "wamid.OUT", "status": "read", "timestamp": now_secs().to_string(), "recipient_id": "5213312345678" }]
        }}]}]
    });
    assert_eq!(
        deliver(&app, "/webhooks/whatsapp", &status).await.status,
        StatusCode::OK
    );
    let out = app.db.chat_message(out.id).await.expect("reload");
    assert_eq!(out.status, "read");
    let page = app
        .get(&format!("/incidentes/{}", incident.folio), &admin)
        .await;
    let html = page.json.as_str().unwrap_or_default();
    assert!(
        html.contains("delivery read"),
        "the console shows it was read"
    );
    assert!(html.contains("Puede escribir libremente hasta"));
}

async fn fifty_concurrent_deliveries_of_one_message_yield_one_entry(db: TestDb) {
    let app = std::sync::Arc::new(TestApp::with_config(db, config()).await);
    let payload = whatsapp_text(
        "wamid.SAME",
        "5213398765432",
        "Necesito mi kárdex",
        now_secs(),
    );
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let app = app.clone();
        let payload = payload.clone();
        tasks.push(tokio::spawn(async move {
            deliver(&app, "/webhooks/whatsapp", &payload).await.status
        }));
    }
    for t in tasks {
        assert_eq!(t.await.expect("task"), StatusCode::OK);
    }
    let found = incidents(&app).await;
    assert_eq!(found.len(), 1);
    let timeline = app.db.timeline(found[0].id).await.expect("timeline");
    assert_eq!(timeline.len(), 1);
}

async fn messenger_and_instagram_messages_become_social_incidents_and_echoes_are_ignored(
    db: TestDb,
) {
    let app = TestApp::with_config(db, config()).await;
    let ms = chrono::Utc::now().timestamp_millis();
    let messenger = json!({ "object": "page", "entry": [{ "id": "PAGE1", "time": ms, "messaging": [
        { "sender": { "id": "PSID1" }, "recipient": { "id": "PAGE1" }, "timestamp": ms,
          "message": { "mid": "m_1", "text": "¿Tienen becas?" } },
        { "sender": { "id": "PAGE1" }, "recipient": { "id": "PSID1" }, "timestamp": ms,
          "message": { "mid": "m_echo", "is_echo": true, "text": "Respuesta anterior" } }
    ]}]});
    assert_eq!(
        deliver(&app, "/webhooks/meta", &messenger).await.status,
        StatusCode::OK
    );
    let instagram = json!({ "object": "instagram", "entry": [{ "id": "IG1", "time": ms, "messaging": [
        { "sender": { "id": "IGSID1" }, "recipient": { "id": "IG1" }, "timestamp": ms,
          "message": { "mid": "aWdf1", "text": "Hola desde Instagram" } }
    ]}]});
    assert_eq!(
        deliver(&app, "/webhooks/meta", &instagram).await.status,
        StatusCode::OK
    );
    let found = incidents(&app).await;
    assert_eq!(found.len(), 2);
    assert!(found.iter().all(|i| i.channel.code() == "social"));
    let mut texts = Vec::new();
    for i in &found {
        for e in app.db.timeline(i.id).await.expect("timeline") {
            texts.push(e.body);
        }
    }
    texts.sort();
    assert_eq!(texts, ["Hola desde Instagram", "¿Tienen becas?"]);
    // A page we do not manage is not ours to answer.
    let stranger = json!({ "object": "page", "entry": [{ "id": "OTHER", "time": ms, "messaging": [
        { "sender": { "id": "PSID9" }, "recipient": { "id": "OTHER" }, "timestamp": ms,
          "message": { "mid": "m_9", "text": "?" } }
    ]}]});
    assert_eq!(
        deliver(&app, "/webhooks/meta", &stranger).await.status,
        StatusCode::OK
    );
    assert_eq!(incidents(&app).await.len(), 2);
}

async fn a_payload_that_is_not_meta_s_gets_a_clear_400(db: TestDb) {
    let app = TestApp::with_config(db, config()).await;
    let reply = deliver(
        &app,
        "/webhooks/whatsapp",
        &json!({ "object": "page", "entry": [] }),
    )
    .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.code(), "bad_request");
    assert!(
        reply.json["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("Solicitud no válida")
    );
}

async fn outside_the_window_the_api_refuses_text_and_accepts_an_approved_template(db: TestDb) {
    let app = TestApp::with_config(db, config()).await;
    let old = now_secs() - 26 * 3600;
    deliver(
        &app,
        "/webhooks/whatsapp",
        &whatsapp_text("wamid.OLD", "5213312345678", "Hola", old),
    )
    .await;
    let folio = incidents(&app).await[0].folio.to_string();
    let admin = app.login("admin", ADMIN_PASSWORD).await;
    let path = format!("/api/v1/incidents/{folio}/notes");
    let text = app
        .post(
            &path,
            &admin,
            json!({ "kind": "answer", "body": "¿Sigue ahí?" }),
        )
        .await;
    assert_eq!(text.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(text.code(), "outside_reply_window");
    let unknown = app
        .post(
            &path,
            &admin,
            json!({ "kind": "answer", "template": "inventada" }),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);
    let template = app
        .post(
            &path,
            &admin,
            json!({ "kind": "answer", "template": "seguimiento_folio" }),
        )
        .await;
    assert_eq!(template.status, StatusCode::CREATED, "{}", template.json);
    assert_eq!(
        template.json["body"],
        format!("Le escribimos del CAP sobre su folio {folio}.")
    );
    let page = app.get(&format!("/incidentes/{folio}"), &admin).await;
    let html = page.json.as_str().unwrap_or_default();
    assert!(html.contains("WhatsApp solo admite plantillas aprobadas"));
    assert!(html.contains("id=\"template-form\""));
    assert!(
        !html.contains("id=\"reply\""),
        "no free-text box outside the window"
    );
}

async fn cti(app: &TestApp, token: &str, form: &str) -> Reply {
    app.raw(
        &format!("/api/v1/cti/{token}"),
        "application/x-www-form-urlencoded",
        form.as_bytes().to_vec(),
        &[],
    )
    .await
}

async fn call_events_log_the_call_and_need_the_token(db: TestDb) {
    let app = TestApp::with_config(db, config()).await;
    let token = "cti-token-largo-de-prueba";
    let wrong = cti(
        &app,
        "adivinado",
        "event=newCall&from=3312345678&to=3331345678&direction=in&callId=c1",
    )
    .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    let missing = cti(&app, token, "event=newCall&direction=in").await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert!(
        missing.json["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("callId")
    );
    let new = cti(
        &app,
        token,
        "event=newCall&from=523312345678&to=523331345678&direction=in&callId=c1&user%5B%5D=Laura",
    )
    .await;
    assert_eq!(new.status, StatusCode::OK, "{}", new.json);
    assert_eq!(new.json, json!({}));
    let answered = app
        .raw(
            &format!("/api/v1/cti/{token}"),
            "application/json",
            json!({ "event": "answer", "from": "523312345678", "to": "523331345678", "direction": "in",
                    "callId": "c1", "user": ["Administrador"], "answeringNumber": "admin" })
            .to_string()
            .into_bytes(),
            &[],
        )
        .await;
    assert_eq!(answered.status, StatusCode::OK);
    cti(&app, token, "event=hangup&from=523312345678&to=523331345678&direction=in&callId=c1&cause=normalClearing").await;
    let calls = app.db.calls(10).await.expect("calls");
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].state.code(), "ended");
    assert!(!calls[0].missed);
    let admin = app.db.user_by_login("admin").await.expect("admin");
    assert_eq!(calls[0].user_id, Some(admin.id));
    // The CTI endpoint is off without a token.
    let off = TestApp::new(TestDb::new(app.db.engine()).await).await;
    assert_eq!(
        cti(&off, "", "event=newCall").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        cti(&off, "x", "event=newCall").await.status,
        StatusCode::NOT_FOUND
    );
}

async fn a_missed_call_is_listed_and_registering_it_prefills_the_contact(db: TestDb) {
    let app = TestApp::with_config(db, config()).await;
    let admin = app.login("admin", ADMIN_PASSWORD).await;
    let contact = app
        .post(
            "/api/v1/contacts",
            &admin,
            json!({ "name": "Pedro Soto", "phones": ["3312345678"] }),
        )
        .await;
    let contact_id = contact.json["id"].as_i64().expect("id");
    let token = "cti-token-largo-de-prueba";
    cti(
        &app,
        token,
        "event=newCall&from=3312345678&to=3331345678&direction=in&callId=m1",
    )
    .await;
    cti(
        &app,
        token,
        "event=hangup&from=3312345678&to=3331345678&direction=in&callId=m1&cause=cancel",
    )
    .await;
    cti(
        &app,
        token,
        "event=newCall&from=3399990000&to=3331345678&direction=in&callId=m2",
    )
    .await;
    cti(
        &app,
        token,
        "event=hangup&from=3399990000&to=3331345678&direction=in&callId=m2&cause=busy",
    )
    .await;
    let list = app.call(Method::GET, "/llamadas", &admin, None).await;
    let html = list.json.as_str().unwrap_or_default().to_string();
    assert!(html.contains("Pedro Soto") && html.contains("3399990000"));
    assert!(html.contains("Colgó antes de ser atendida") && html.contains("Ocupado"));
    let missed = app.db.missed_calls().await.expect("missed");
    let known = missed.iter().find(|c| c.call_id == "m1").expect("m1");
    let form = app
        .get(&format!("/incidentes/nuevo?llamada={}", known.id), &admin)
        .await;
    let html = form.json.as_str().unwrap_or_default();
    assert!(html.contains(&format!("name=\"contact_id\" value=\"{contact_id}\"")));
    assert!(html.contains(&format!("name=\"call_id\" value=\"{}\"", known.id)));
    let unknown = missed.iter().find(|c| c.call_id == "m2").expect("m2");
    let search = app
        .get(&format!("/incidentes/nuevo?llamada={}", unknown.id), &admin)
        .await;
    let html = search.json.as_str().unwrap_or_default();
    assert!(
        html.contains("value=\"3399990000\""),
        "the number is offered for a new contact"
    );
}

async fn a_message_for_a_number_not_configured_is_held_and_shown_to_administrators(db: TestDb) {
    let app = TestApp::with_config(db, config()).await;
    let mut payload = whatsapp_text("wamid.X1", "5213312345678", "¿Me leen?", now_secs());
    payload["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"] = json!("999000111");
    // Acknowledged (Meta would not deliver it again), and kept: nothing is lost.
    for _ in 0..2 {
        let reply = deliver(&app, "/webhooks/whatsapp", &payload).await;
        assert_eq!(reply.status, StatusCode::OK);
    }
    assert!(
        incidents(&app).await.is_empty(),
        "no incident for an unknown number"
    );
    let held = app.db.held_chats().await.expect("held");
    assert_eq!(held.len(), 1);
    assert_eq!(
        (held[0].account_id.as_str(), held[0].messages),
        ("999000111", 1)
    );

    let admin = app.login("admin", crate::helpers::ADMIN_PASSWORD).await;
    let page = app.get("/admin", &admin).await;
    let html = page.json.as_str().unwrap_or_default();
    assert!(
        html.contains("Mensajes retenidos") && html.contains("WhatsApp 999000111: 1 mensajes"),
        "{html}"
    );
}
