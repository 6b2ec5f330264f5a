//! *Mis solicitudes* over HTTP: a person asks for a link (the same answer for an unknown
//! address), enters with a button, sees and answers their incidents and opens one on channel
//! portal; the portal's cookie is not a staff session, and another person's folio is not found.

use std::collections::BTreeMap;

use atiende_domain::user::Role;
use atiende_store::testing::TestDb;
use axum::http::{Method, StatusCode, header};
use serde_json::json;

use crate::helpers::{PASSWORD, Reply, TestApp};

atiende_store::on_both_engines!(
    a_person_signs_in_by_email_link_and_follows_their_incidents,
    a_person_signs_in_with_a_code_sent_to_their_whatsapp_number,
);

/// A browser of the public side: keeps its cookies and the last page's form token.
struct Visitor<'a> {
    app: &'a TestApp,
    cookies: BTreeMap<String, String>,
    token: String,
}

impl<'a> Visitor<'a> {
    fn new(app: &'a TestApp) -> Self {
        Visitor {
            app,
            cookies: BTreeMap::new(),
            token: String::new(),
        }
    }

    async fn send(&mut self, method: Method, path: &str, body: Option<String>) -> Reply {
        let cookie: Vec<String> = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let mut req = axum::http::Request::builder()
            .method(method)
            .uri(path)
            .header(header::COOKIE, cookie.join("; "));
        if body.is_some() {
            req = req.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        }
        let response = tower::ServiceExt::oneshot(
            self.app.router.clone(),
            req.body(axum::body::Body::from(body.unwrap_or_default()))
                .expect("request"),
        )
        .await
        .expect("response");
        let status = response.status();
        let headers = response.headers().clone();
        for set in headers.get_all(header::SET_COOKIE) {
            let pair = set.to_str().unwrap_or("").split(';').next().unwrap_or("");
            if let Some((k, v)) = pair.split_once('=') {
                self.cookies.insert(k.to_string(), v.to_string());
            }
        }
        let bytes = http_body_util::BodyExt::collect(response.into_body())
            .await
            .expect("body")
            .to_bytes();
        let html = String::from_utf8_lossy(&bytes).into_owned();
        if let Some(t) = html
            .split("name=\"_csrf\" value=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
        {
            self.token = t.to_string();
        }
        Reply {
            status,
            headers,
            json: serde_json::Value::String(html),
        }
    }

    async fn get(&mut self, path: &str) -> Reply {
        self.send(Method::GET, path, None).await
    }

    async fn post(&mut self, path: &str, fields: &str) -> Reply {
        let body = format!("_csrf={}&{fields}", self.token);
        self.send(Method::POST, path, Some(body)).await
    }
}

fn html(r: &Reply) -> &str {
    r.json.as_str().unwrap_or("")
}

async fn a_person_signs_in_by_email_link_and_follows_their_incidents(db: TestDb) {
    let app = TestApp::new(db).await;
    app.db
        .save_mailbox(
            atiende_store::Actor::System,
            &atiende_store::testing::sending_mailbox(),
        )
        .await
        .expect("mailbox");
    app.staff("maria", Role::Agent, vec![]).await;
    let agent = app.login("maria", PASSWORD).await;
    let ana = app
        .post(
            "/api/v1/contacts",
            &agent,
            json!({"name": "Ana Torres", "emails": ["ana@example.org"]}),
        )
        .await;
    let luis = app
        .post(
            "/api/v1/contacts",
            &agent,
            json!({"name": "Luis Pérez", "emails": ["luis@example.org"]}),
        )
        .await;
    let open = |contact: serde_json::Value, subject: &'static str| {
        let app = &app;
        let agent = agent.clone();
        async move {
            app.post(
                "/api/v1/incidents",
                &agent,
                json!({"channel": "email", "contact_id": contact, "subject": subject, "body": subject}),
            )
            .await
            .json["folio"]
                .as_str()
                .expect("folio")
                .to_string()
        }
    };
    let hers = open(ana.json["id"].clone(), "Beca de excelencia").await;
    let his = open(luis.json["id"].clone(), "Horario").await;
    app.post(
        &format!("/api/v1/incidents/{hers}/notes"),
        &agent,
        json!({"kind": "note", "body": "Nota interna que Ana no ve"}),
    )
    .await;

    let mut ana_browser = Visitor::new(&app);
    let page = ana_browser.get("/mis-solicitudes").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(html(&page).contains("Enviarme el enlace"));
    // An unknown address gets the same answer as a known one.
    let unknown = ana_browser
        .post("/mis-solicitudes", "email=nadie%40example.org")
        .await;
    let known = ana_browser
        .post("/mis-solicitudes", "email=ana%40example.org")
        .await;
    assert_eq!(unknown.status, known.status);
    assert!(html(&known).contains("id=\"link-sent\""));
    assert!(html(&unknown).contains("id=\"link-sent\""));

    // The link shows a button; opening it uses nothing.
    let link = app.db.sent_link(None, "mis-solicitudes/entrar").await;
    let path = link.trim_start_matches("http://localhost:8080").to_string();
    let path = &path[path.find("/mis-solicitudes").expect("path")..];
    let confirm = ana_browser.get(path).await;
    assert!(html(&confirm).contains("id=\"enter\""));
    let confirm_again = ana_browser.get(path).await;
    assert_eq!(confirm_again.status, StatusCode::OK);
    let entered = ana_browser.post(path, "").await;
    assert_eq!(entered.status, StatusCode::SEE_OTHER, "{}", html(&entered));
    assert!(ana_browser.cookies.contains_key("atiende_portal"));
    let used = Visitor::new(&app).post(path, "").await;
    assert_ne!(used.status, StatusCode::SEE_OTHER, "a link works once");

    // Her list and her incident: what she wrote and what the CAP answered, no notes.
    let list = ana_browser.get("/mis-solicitudes").await;
    assert!(html(&list).contains(&hers), "{}", html(&list));
    assert!(!html(&list).contains(&his));
    let theirs = ana_browser.get(&format!("/mis-solicitudes/{his}")).await;
    assert_eq!(theirs.status, StatusCode::NOT_FOUND);
    let view = ana_browser.get(&format!("/mis-solicitudes/{hers}")).await;
    assert!(html(&view).contains("Beca de excelencia"));
    assert!(!html(&view).contains("Nota interna"));

    // She answers; the agent sees it on the incident as a message received on the portal.
    let replied = ana_browser
        .post(
            &format!("/mis-solicitudes/{hers}/responder"),
            "body=Adjunto+mi+promedio",
        )
        .await;
    assert_eq!(replied.status, StatusCode::OK, "{}", html(&replied));
    assert!(html(&replied).contains("Recibimos su mensaje."));
    let detail = app.get(&format!("/api/v1/incidents/{hers}"), &agent).await;
    let last = detail.json["timeline"]
        .as_array()
        .and_then(|t| t.last())
        .expect("entry")
        .clone();
    assert_eq!(last["kind"], "inbound_message");
    assert_eq!(last["data"]["channel"], "portal");

    // A new one, on channel portal.
    ana_browser.get("/mis-solicitudes/nueva").await;
    let created = ana_browser
        .post(
            "/mis-solicitudes/nueva",
            "subject=Constancia&body=Necesito+una+constancia+de+estudios",
        )
        .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", html(&created));
    let listed = app.get("/api/v1/incidents?channel=portal", &agent).await;
    assert_eq!(
        listed.json["items"][0]["subject"], "Constancia",
        "{}",
        listed.json
    );

    // A closed incident's survey waits for her in the portal, answered there once.
    let closed = open(ana.json["id"].clone(), "Constancia de estudios").await;
    app.post(
        &format!("/api/v1/incidents/{closed}/classify"),
        &agent,
        json!({"user_type": "student", "incident_type": "question"}),
    )
    .await;
    let done = app
        .post(
            &format!("/api/v1/incidents/{closed}/close"),
            &agent,
            json!({"notes": "Se indicó el trámite en el portal."}),
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.json);
    let policy = atiende_domain::survey::SurveyPolicy {
        delay_hours: 0,
        min_days_between: 0,
        ..Default::default()
    };
    let id = app.db.incident_id(&closed).await.expect("incident");
    app.db
        .process_survey_due(id, &policy, "https://cap.example.mx", None)
        .await
        .expect("survey sent");
    let list = ana_browser.get("/mis-solicitudes").await;
    assert!(
        html(&list).contains(&format!("href=\"/mis-solicitudes/{closed}/encuesta\"")),
        "{}",
        html(&list)
    );
    let form = ana_browser
        .get(&format!("/mis-solicitudes/{closed}/encuesta"))
        .await;
    assert!(html(&form).contains(&format!("action=\"/mis-solicitudes/{closed}/encuesta\"")));
    let answered = ana_browser
        .post(
            &format!("/mis-solicitudes/{closed}/encuesta"),
            "overall=5&resolved=yes&clarity=5&speed=4&comment=Muy+amables",
        )
        .await;
    assert_eq!(answered.status, StatusCode::OK, "{}", html(&answered));
    let surveys = app.db.surveys(5).await.expect("surveys");
    let hers_survey = surveys
        .iter()
        .find(|s| s.incident_id == id)
        .expect("the survey");
    assert!(hers_survey.answered_at.is_some());
    assert_eq!(hers_survey.overall, Some(5));
    // Luis cannot reach hers.
    let mut luis_browser = Visitor::new(&app);
    let not_his = luis_browser
        .get(&format!("/mis-solicitudes/{closed}/encuesta"))
        .await;
    assert_eq!(
        not_his.status,
        StatusCode::SEE_OTHER,
        "not signed in: to the sign-in page"
    );

    // Her own file, from the portal, logged as her own access.
    let file = ana_browser.get("/mis-solicitudes/mis-datos").await;
    assert_eq!(file.status, StatusCode::OK);
    assert!(html(&file).contains("Ana Torres") && html(&file).contains("ana@example.org"));
    let contact = atiende_domain::ids::ContactId(ana.json["id"].as_i64().expect("id"));
    let log = app
        .db
        .personal_access_log(Some(contact), None, 20)
        .await
        .expect("access log");
    assert!(
        log.iter()
            .any(|a| format!("{a:?}").contains("portal Mis solicitudes")),
        "{log:?}"
    );

    // The portal's cookie is no staff session; signing out ends it.
    let console = ana_browser.get("/bandeja").await;
    assert_ne!(console.status, StatusCode::OK);
    ana_browser.get("/mis-solicitudes").await;
    let out = ana_browser.post("/mis-solicitudes/salir", "").await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    let after = ana_browser.get("/mis-solicitudes").await;
    assert!(html(&after).contains("Enviarme el enlace"));
}

async fn a_person_signs_in_with_a_code_sent_to_their_whatsapp_number(db: TestDb) {
    let graph = atiende_channels::chat::stand_in::GraphStandIn::start().await;
    let mut config = crate::helpers::config();
    config.meta = atiende_channels::chat::MetaConfig {
        graph_url: graph.graph_url.clone(),
        whatsapp: vec![atiende_channels::chat::Account {
            id: "106540352242922".into(),
            access_token: "token-wa".to_string().into(),
        }],
        templates: vec![atiende_domain::chat::Template {
            name: "codigo_acceso".into(),
            language: "es_MX".into(),
            text: "{{1}} es su código para entrar a Mis solicitudes.".into(),
        }],
        sign_in_template: "codigo_acceso".into(),
        ..Default::default()
    };
    let meta = config.meta.clone();
    let app = TestApp::with_config(db, config).await;
    app.staff("maria", Role::Agent, vec![]).await;
    let agent = app.login("maria", PASSWORD).await;
    let ana = app
        .post(
            "/api/v1/contacts",
            &agent,
            json!({"name": "Ana Torres", "whatsapp_id": "5213312345678"}),
        )
        .await;
    assert_eq!(ana.status, StatusCode::CREATED, "{}", ana.json);

    let mut visitor = Visitor::new(&app);
    let page = visitor.get("/mis-solicitudes").await;
    assert!(html(&page).contains("action=\"/mis-solicitudes/codigo\""));
    // An unknown number gets the same page as hers; only hers gets a message.
    let unknown = visitor
        .post("/mis-solicitudes/codigo", "whatsapp=3399990000")
        .await;
    let known = visitor
        .post("/mis-solicitudes/codigo", "whatsapp=33+1234+5678")
        .await;
    assert_eq!(
        (unknown.status, known.status),
        (StatusCode::OK, StatusCode::OK)
    );
    assert!(html(&unknown).contains("id=\"code-sent\""));
    assert!(html(&known).contains("id=\"code-sent\""));
    let graph_client = atiende_channels::chat::graph::Graph::new(&meta.graph_url);
    let sent = atiende_channels::chat::jobs::send_portal_codes(&app.db, &graph_client, &meta).await;
    assert_eq!(sent, 1, "one code, to the number on record");
    let messages = graph.sent();
    let body = &messages[0].body;
    assert_eq!(body["to"], "5213312345678");
    assert_eq!(body["template"]["name"], "codigo_acceso");
    let code = body["template"]["components"][0]["parameters"][0]["text"]
        .as_str()
        .expect("code")
        .to_string();
    assert_eq!(
        body["template"]["components"][1]["parameters"][0]["text"], code,
        "the copy-code button carries the code too"
    );
    assert!(
        !app.db
            .outbox(None, 50)
            .await
            .expect("outbox")
            .iter()
            .any(|i| i.payload.to_string().contains(&code)),
        "the code is kept nowhere but in the message"
    );

    let wrong = if code == "000000" { "111111" } else { "000000" };
    let refused = visitor
        .post(
            "/mis-solicitudes/codigo/entrar",
            &format!("whatsapp=3312345678&code={wrong}"),
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html(&refused).contains("El código no es válido"));
    let entered = visitor
        .post(
            "/mis-solicitudes/codigo/entrar",
            &format!("whatsapp=3312345678&code={code}"),
        )
        .await;
    assert_eq!(entered.status, StatusCode::SEE_OTHER, "{}", html(&entered));
    let list = visitor.get("/mis-solicitudes").await;
    assert!(
        html(&list).contains("action=\"/mis-solicitudes/salir\""),
        "{}",
        html(&list)
    );
}
