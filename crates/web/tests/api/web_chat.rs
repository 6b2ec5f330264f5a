//! The web chat over HTTP: the widget's script may be loaded by any site; only the configured
//! origins may call the chat (CORS); a conversation begins within business hours with a token,
//! outside them as a message; messages need the token and are counted; the live stream carries
//! the CAP's answers; errors come in the envelope.

use atiende_domain::business_hours::{BusinessCalendar, Shift};
use atiende_domain::user::Role;
use atiende_store::testing::TestDb;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::json;
use tower::ServiceExt;

use crate::helpers::{Auth, PASSWORD, TestApp};

atiende_store::on_both_engines!(
    a_site_of_the_university_chats_live_with_the_cap,
    outside_business_hours_the_chat_takes_a_message,
);

const SITE: &str = "https://www.udgvirtual.udg.mx";

async fn app(db: TestDb, open: bool) -> TestApp {
    let config = atiende_web::WebConfig {
        web_chat_origins: vec![SITE.into()],
        chat_messages_per_minute: 5,
        ..crate::helpers::config()
    };
    let app = TestApp::with_config(db, config).await;
    let time = |h, m| chrono::NaiveTime::from_hms_opt(h, m, 0).expect("time");
    let shift = open.then_some(Shift {
        opens: time(0, 0),
        closes: time(23, 59),
    });
    app.db
        .save_business_calendar(
            atiende_store::Actor::System,
            &BusinessCalendar {
                week: [shift; 7],
                days_off: vec![],
            },
        )
        .await
        .expect("calendar");
    app
}

fn from_site() -> [(&'static str, &'static str); 1] {
    [("origin", SITE)]
}

async fn a_site_of_the_university_chats_live_with_the_cap(db: TestDb) {
    let app = app(db, true).await;
    let (status, script) = app.call_raw("/chat/widget.js", &Auth::None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(String::from_utf8_lossy(&script).contains("/chat/conversaciones"));
    let loaded = app
        .router
        .clone()
        .oneshot(
            Request::get("/chat/widget.js")
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("response");
    assert_eq!(
        loaded.headers()["cross-origin-resource-policy"],
        "cross-origin",
        "other sites may load the script"
    );

    // The configured site may call the chat; another site's browser is refused at preflight.
    let preflight = |origin: &'static str| {
        Request::builder()
            .method(Method::OPTIONS)
            .uri("/chat/conversaciones")
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .body(Body::empty())
            .expect("request")
    };
    let allowed = app
        .router
        .clone()
        .oneshot(preflight(SITE))
        .await
        .expect("answer");
    assert_eq!(allowed.headers()["access-control-allow-origin"], SITE);
    let other = app
        .router
        .clone()
        .oneshot(preflight("https://otro-sitio.example"))
        .await
        .expect("answer");
    assert!(other.headers().get("access-control-allow-origin").is_none());

    let info = app
        .call_with(Method::GET, "/chat/inicio", &Auth::None, None, &from_site())
        .await;
    assert_eq!(info.status, StatusCode::OK);
    assert_eq!(info.json["open"], true);
    assert!(info.json["texts"]["start"].as_str().is_some());
    assert!(
        info.json["user_types"]
            .as_array()
            .is_some_and(|u| u.len() == 4)
    );

    // The form needs a way back to the person: the envelope names the field.
    let missing = app
        .call_with(
            Method::POST,
            "/chat/conversaciones",
            &Auth::None,
            Some(json!({"name": "Ana Torres", "message": "Hola"})),
            &from_site(),
        )
        .await;
    assert_eq!(
        missing.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        missing.json
    );
    assert_eq!(missing.code(), "validation");

    let started = app
        .call_with(
            Method::POST,
            "/chat/conversaciones",
            &Auth::None,
            Some(
                json!({"name": "Ana Torres", "email": "ana@example.org", "user_type": "applicant",
                "message": "¿Cuándo salen los resultados?"}),
            ),
            &from_site(),
        )
        .await;
    assert_eq!(started.status, StatusCode::CREATED, "{}", started.json);
    assert_eq!(started.headers["access-control-allow-origin"], SITE);
    assert_eq!(started.json["live"], true);
    let token = started.json["token"].as_str().expect("token").to_string();
    let folio = started.json["folio"].as_str().expect("folio").to_string();
    let widget = Auth::Bearer(token.clone());

    // Without the token nothing is said; with it, each message joins the incident.
    let anonymous = app
        .post("/chat/mensajes", &Auth::None, json!({"body": "Hola"}))
        .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert_eq!(anonymous.code(), "unauthorized");
    let said = app
        .post("/chat/mensajes", &widget, json!({"body": "Soy aspirante."}))
        .await;
    assert_eq!(said.status, StatusCode::CREATED, "{}", said.json);
    let empty = app
        .post("/chat/mensajes", &widget, json!({"body": " "}))
        .await;
    assert_eq!(empty.status, StatusCode::UNPROCESSABLE_ENTITY);

    app.staff("maria", Role::Agent, vec![]).await;
    let agent = app.login("maria", PASSWORD).await;
    let detail = app.get(&format!("/api/v1/incidents/{folio}"), &agent).await;
    assert_eq!(detail.json["channel"], "chat_web");
    let page = app.get(&format!("/incidentes/{folio}"), &agent).await;
    assert!(
        page.json
            .as_str()
            .unwrap_or("")
            .contains("data-live-chat=\"1\"")
    );

    // The agent answers; the widget's stream carries it.
    let typed = app.post("/chat/escribiendo", &widget, json!({})).await;
    assert_eq!(typed.status, StatusCode::NO_CONTENT);
    let answered = app
        .post(
            &format!("/api/v1/incidents/{folio}/notes"),
            &agent,
            json!({"kind": "answer", "body": "Hola, Ana: el 15 de julio."}),
        )
        .await;
    assert!(answered.status.is_success(), "{}", answered.json);
    let stream = app
        .router
        .clone()
        .oneshot(
            Request::get("/chat/eventos?desde=0")
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("stream");
    assert_eq!(stream.status(), StatusCode::OK);
    let mut body = stream.into_body();
    let mut text = String::new();
    while !text.contains("event: message") {
        let frame = tokio::time::timeout(std::time::Duration::from_secs(10), body.frame())
            .await
            .expect("an event in time")
            .expect("a frame")
            .expect("bytes");
        if let Some(bytes) = frame.data_ref() {
            text.push_str(&String::from_utf8_lossy(bytes));
        }
    }
    assert!(text.contains("el 15 de julio"), "{text}");
    assert!(
        text.contains("\"by\":\"maria\""),
        "the agent by first name: {text}"
    );

    let whole = app.get("/chat/conversacion", &widget).await;
    assert_eq!(
        whole.json["messages"].as_array().map(Vec::len),
        Some(3),
        "{}",
        whole.json
    );

    // Messages are counted per conversation.
    let mut refused = None;
    for n in 0..10 {
        let r = app
            .post(
                "/chat/mensajes",
                &widget,
                json!({"body": format!("Mensaje {n}")}),
            )
            .await;
        if r.status == StatusCode::TOO_MANY_REQUESTS {
            refused = Some(r);
            break;
        }
    }
    assert_eq!(refused.expect("a limit").code(), "rate_limited");

    let ended = app.post("/chat/fin", &widget, json!({})).await;
    assert_eq!(ended.status, StatusCode::NO_CONTENT);
    let state = app.get("/chat/conversacion", &widget).await;
    assert_eq!(state.json["ended"], true);
}

async fn outside_business_hours_the_chat_takes_a_message(db: TestDb) {
    let app = app(db, false).await;
    let info = app.get("/chat/inicio", &Auth::None).await;
    assert_eq!(info.json["open"], false);
    let left = app
        .post(
            "/chat/conversaciones",
            &Auth::None,
            json!({"name": "Luis Pérez", "phone": "33 1234 5678", "message": "¿Qué requisitos piden?"}),
        )
        .await;
    assert_eq!(left.status, StatusCode::CREATED, "{}", left.json);
    assert_eq!(left.json["live"], false);
    assert!(left.json.get("token").is_none(), "no conversation to hold");
    let folio = left.json["folio"].as_str().expect("folio");
    let id = app.db.incident_id(folio).await.expect("incident");
    let incident = app.db.incident(id).await.expect("incident");
    assert_eq!(incident.channel.code(), "chat_web");
}
