//! The public buzón and status pages: routing by kind, anonymous entries, honeypot, rate limits,
//! and a status page that never tells whether a folio exists.

use atiende_domain::access::Scope;
use atiende_domain::unit::UnitKind;
use atiende_store::incidents::IncidentFilter;
use atiende_store::testing::TestDb;
use atiende_web::WebConfig;
use axum::http::{Method, StatusCode, header};

use crate::helpers::{Auth, Reply, TestApp};

atiende_store::on_both_engines!(
    buzon_suggestions_go_to_the_quality_owner_and_complaints_to_the_cap,
    a_robot_filling_the_honeypot_is_thanked_and_ignored,
    the_buzon_answers_too_many_posts_with_a_clear_429,
    the_status_page_shows_a_folio_only_to_its_owner_and_never_reveals_existence,
);

/// Opens a public page and returns its form token and cookie.
pub async fn open(app: &TestApp, path: &str) -> (String, String) {
    let reply = app.call(Method::GET, path, &Auth::None, None).await;
    let cookie = reply
        .headers
        .get(header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .to_string();
    let html = reply.json.as_str().unwrap_or("").to_string();
    let token = html
        .split("name=\"_csrf\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap_or("")
        .to_string();
    (token, cookie)
}

pub async fn post(app: &TestApp, path: &str, body: &str) -> Reply {
    let (token, cookie) = open(app, path).await;
    let body = format!("_csrf={token}&{body}");
    let mut req = axum::http::Request::builder()
        .method(Method::POST)
        .uri(path);
    req = req
        .header(header::COOKIE, cookie)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    let response = tower::ServiceExt::oneshot(
        app.router.clone(),
        req.body(axum::body::Body::from(body)).expect("request"),
    )
    .await
    .expect("response");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = http_body_util::BodyExt::collect(response.into_body())
        .await
        .expect("body")
        .to_bytes();
    Reply {
        status,
        headers,
        json: serde_json::Value::String(String::from_utf8_lossy(&bytes).into_owned()),
    }
}

pub fn text(r: &Reply) -> &str {
    r.json.as_str().unwrap_or("")
}

async fn buzon_suggestions_go_to_the_quality_owner_and_complaints_to_the_cap(db: TestDb) {
    let app = TestApp::new(db).await;
    let page = app.call(Method::GET, "/buzon", &Auth::None, None).await;
    assert!(
        text(&page).contains("Aviso de privacidad"),
        "the privacy notice is shown"
    );
    let suggestion = post(
        &app,
        "/buzon",
        "kind=suggestion&message=Tutoriales+en+video",
    )
    .await;
    assert_eq!(suggestion.status, StatusCode::OK);
    assert!(
        text(&suggestion).contains("Su folio es"),
        "{}",
        text(&suggestion)
    );
    let complaint = post(
        &app,
        "/buzon",
        "kind=complaint&message=Nadie+contesta&name=Ana&email=ana%40gmail.com",
    )
    .await;
    assert!(text(&complaint).contains("Su folio es"));
    let all = app
        .db
        .incidents(
            &Scope::All,
            &IncidentFilter {
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .expect("list");
    assert_eq!(all.len(), 2);
    for s in &all {
        let derivations = app
            .db
            .derivations(s.incident.id)
            .await
            .expect("derivations");
        let to_quality = derivations.iter().any(|d| d.unit_kind == UnitKind::Quality);
        match s.incident.incident_type.map(|t| t.code()) {
            Some("suggestion") => assert!(
                to_quality && s.incident.contact_id.is_none(),
                "anonymous suggestion to the SIGA"
            ),
            Some("complaint") => assert!(
                !to_quality && s.incident.contact_id.is_some(),
                "complaint stays with the CAP, with its contact"
            ),
            other => panic!("unexpected {other:?}"),
        }
    }
    let missing = post(&app, "/buzon", "kind=question&message=").await;
    assert_eq!(missing.status, StatusCode::UNPROCESSABLE_ENTITY);
    let forged = app
        .form("/buzon", &Auth::None, "kind=question&message=sin+token")
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
}

async fn a_robot_filling_the_honeypot_is_thanked_and_ignored(db: TestDb) {
    let app = TestApp::new(db).await;
    let robot = post(
        &app,
        "/buzon",
        "kind=question&message=Compre+ahora&website=http%3A%2F%2Fspam.example",
    )
    .await;
    assert_eq!(robot.status, StatusCode::OK);
    assert!(text(&robot).contains("Gracias"));
    let all = app
        .db
        .incidents(
            &Scope::All,
            &IncidentFilter {
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .expect("list");
    assert!(all.is_empty());
}

async fn the_buzon_answers_too_many_posts_with_a_clear_429(db: TestDb) {
    let config = WebConfig {
        public_posts_per_minute: 2,
        ..crate::helpers::config()
    };
    let app = TestApp::with_config(db, config).await;
    for _ in 0..2 {
        assert_eq!(
            post(&app, "/buzon", "kind=question&message=Hola")
                .await
                .status,
            StatusCode::OK
        );
    }
    let limited = post(&app, "/buzon", "kind=question&message=Hola").await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        text(&limited).contains("Espere un minuto"),
        "{}",
        text(&limited)
    );
}

async fn the_status_page_shows_a_folio_only_to_its_owner_and_never_reveals_existence(db: TestDb) {
    let app = TestApp::with_config(
        db,
        WebConfig {
            public_posts_per_minute: 50,
            ..crate::helpers::config()
        },
    )
    .await;
    let sent = post(
        &app,
        "/buzon",
        "kind=question&message=Beca&email=luis%40gmail.com",
    )
    .await;
    let folio = text(&sent)
        .split("<strong>")
        .nth(1)
        .and_then(|s| s.split('<').next())
        .expect("folio")
        .to_string();
    let mine = post(
        &app,
        "/estado",
        &format!("folio={folio}&contact=LUIS%40gmail.com"),
    )
    .await;
    assert!(
        text(&mine).contains(&folio) && text(&mine).contains("Abierto"),
        "{}",
        text(&mine)
    );
    let wrong_person = post(
        &app,
        "/estado",
        &format!("folio={folio}&contact=otra%40gmail.com"),
    )
    .await;
    let no_such_folio = post(
        &app,
        "/estado",
        "folio=CAP-2099-999999&contact=luis%40gmail.com",
    )
    .await;
    let strip = |r: &Reply| {
        text(r)
            .replace(&folio, "")
            .replace("CAP-2099-999999", "")
            .replace("otra%40gmail.com", "")
            .replace("otra@gmail.com", "")
            .replace("luis@gmail.com", "")
    };
    let clean = |s: String| {
        s.split("name=\"_csrf\" value=\"")
            .map(|p| {
                p.split_once('"')
                    .map_or(p.to_string(), |(_, rest)| rest.to_string())
            })
            .collect::<String>()
    };
    assert_eq!(
        clean(strip(&wrong_person)),
        clean(strip(&no_such_folio)),
        "the same answer either way"
    );
    assert!(!text(&wrong_person).contains("Abierto"));
}
