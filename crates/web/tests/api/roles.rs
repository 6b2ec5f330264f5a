//! Every endpoint × every role: the allowed get past the role check, the others get 403.
//! The expected table below is written out by hand, independently of `access.rs`.

use std::collections::BTreeSet;

use atiende_domain::ids::UnitId;
use atiende_domain::user::Role;
use atiende_store::testing::TestDb;
use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Auth, TestApp};

atiende_store::on_both_engines!(every_endpoint_checks_the_role_of_every_caller);

const ALL: &[&str] = &[
    "agent",
    "cap_lead",
    "unit_responsible",
    "quality_owner",
    "management",
    "admin",
];
const WORKERS: &[&str] = &["agent", "cap_lead", "admin"];
/// Who reads indicators and the nonconformity register.
const READERS: &[&str] = &["cap_lead", "quality_owner", "management", "admin"];
/// The quality owner's settings and records.
const QUALITY: &[&str] = &["quality_owner", "admin"];
/// Who writes knowledge-base articles.
const WRITERS: &[&str] = &["cap_lead", "admin", "quality_owner", "unit_responsible"];
const NOT_UNIT: &[&str] = &["agent", "cap_lead", "quality_owner", "management", "admin"];
/// Who writes notes, and so keeps and uses canned responses.
const NOTERS: &[&str] = &[
    "agent",
    "cap_lead",
    "unit_responsible",
    "quality_owner",
    "admin",
];

struct Case {
    method: Method,
    /// `{c}` contact id, `{f}` folio, `{d}` derivation id, `{u}` unit id, `{t}` topic id, `{s}` user id.
    path: &'static str,
    /// The OpenAPI path this case covers.
    documented: &'static str,
    body: Option<Value>,
    allowed: &'static [&'static str],
}

fn case(
    method: Method,
    path: &'static str,
    documented: &'static str,
    body: Option<Value>,
    allowed: &'static [&'static str],
) -> Case {
    Case {
        method,
        path,
        documented,
        body,
        allowed,
    }
}

fn cases() -> Vec<Case> {
    use Method as M;
    vec![
        case(M::GET, "/contacts", "/contacts", None, NOT_UNIT),
        case(
            M::POST,
            "/contacts",
            "/contacts",
            Some(json!({"name": "Nuevo"})),
            WORKERS,
        ),
        case(
            M::GET,
            "/contacts/lookup?email=ana@alumnos.udg.mx",
            "/contacts/lookup",
            None,
            NOT_UNIT,
        ),
        case(M::GET, "/contacts/{c}", "/contacts/{id}", None, NOT_UNIT),
        case(
            M::PATCH,
            "/contacts/{c}",
            "/contacts/{id}",
            Some(json!({"notes": "x"})),
            WORKERS,
        ),
        case(
            M::POST,
            "/contacts/{c}/merge",
            "/contacts/{id}/merge",
            Some(json!({"other_id": 0})),
            WORKERS,
        ),
        case(M::GET, "/incidents", "/incidents", None, ALL),
        case(
            M::POST,
            "/incidents",
            "/incidents",
            Some(json!({"channel": "phone", "contact_id": 0})),
            WORKERS,
        ),
        case(
            M::GET,
            "/incidents/{f}",
            "/incidents/{reference}",
            None,
            ALL,
        ),
        case(
            M::POST,
            "/incidents/{f}/classify",
            "/incidents/{reference}/classify",
            Some(json!({})),
            WORKERS,
        ),
        case(
            M::POST,
            "/incidents/{f}/notes",
            "/incidents/{reference}/notes",
            Some(json!({"kind": "note", "body": "nota"})),
            &[
                "agent",
                "cap_lead",
                "admin",
                "unit_responsible",
                "quality_owner",
            ],
        ),
        case(
            M::POST,
            "/incidents/{f}/derivations",
            "/incidents/{reference}/derivations",
            Some(json!({"unit_id": 0, "medium": "phone", "reason": "x"})),
            WORKERS,
        ),
        case(
            M::POST,
            "/incidents/{f}/derivations/{d}/answer",
            "/incidents/{reference}/derivations/{derivation_id}/answer",
            Some(json!({"answer": "Listo"})),
            &["cap_lead", "admin", "unit_responsible"],
        ),
        case(
            M::POST,
            "/incidents/{f}/close",
            "/incidents/{reference}/close",
            Some(json!({})),
            WORKERS,
        ),
        case(
            M::POST,
            "/incidents/{f}/reopen",
            "/incidents/{reference}/reopen",
            Some(json!({})),
            WORKERS,
        ),
        case(
            M::POST,
            "/incidents/{f}/waiting-on-person",
            "/incidents/{reference}/waiting-on-person",
            Some(json!({})),
            WORKERS,
        ),
        case(
            M::POST,
            "/incidents/{f}/assign",
            "/incidents/{reference}/assign",
            Some(json!({"user_id": null})),
            WORKERS,
        ),
        case(M::GET, "/units", "/units", None, ALL),
        case(
            M::POST,
            "/units",
            "/units",
            Some(json!({"name": ""})),
            &["admin"],
        ),
        case(M::GET, "/units/{u}", "/units/{id}", None, ALL),
        case(
            M::PATCH,
            "/units/{u}",
            "/units/{id}",
            Some(json!({})),
            &["admin"],
        ),
        case(M::GET, "/topics", "/topics", None, ALL),
        case(
            M::POST,
            "/topics",
            "/topics",
            Some(json!({"name": ""})),
            &["admin"],
        ),
        case(
            M::PATCH,
            "/topics/{t}",
            "/topics/{id}",
            Some(json!({})),
            &["admin"],
        ),
        case(M::GET, "/users", "/users", None, WORKERS),
        case(M::POST, "/users", "/users", Some(json!({})), &["admin"]),
        case(M::GET, "/users/{s}", "/users/{id}", None, WORKERS),
        case(
            M::PATCH,
            "/users/{s}",
            "/users/{id}",
            Some(json!({})),
            &["admin"],
        ),
        case(
            M::GET,
            "/audit",
            "/audit",
            None,
            &["cap_lead", "admin", "quality_owner", "management"],
        ),
        case(
            M::GET,
            "/outbox",
            "/outbox",
            None,
            &["cap_lead", "admin", "quality_owner"],
        ),
        case(M::GET, "/session", "/session", None, ALL),
        case(
            M::POST,
            "/session/password",
            "/session/password",
            Some(json!({"current_password": "x", "new_password": "y"})),
            ALL,
        ),
        case(M::GET, "/session/all", "/session/all", None, ALL),
        case(M::DELETE, "/session/all", "/session/all", None, ALL),
        case(M::GET, "/session/tokens", "/session/tokens", None, ALL),
        case(M::GET, "/notifications", "/notifications", None, ALL),
        case(
            M::GET,
            "/notifications/preferences",
            "/notifications/preferences",
            None,
            ALL,
        ),
        case(
            M::PUT,
            "/notifications/preferences",
            "/notifications/preferences",
            Some(json!([])),
            ALL,
        ),
        case(
            M::POST,
            "/notifications/read",
            "/notifications/read",
            Some(json!({})),
            ALL,
        ),
        // A token never makes tokens: only a signed-in session does (tested in sessions.rs).
        case(
            M::POST,
            "/session/tokens",
            "/session/tokens",
            Some(json!({"name": "BI"})),
            &[],
        ),
        case(
            M::DELETE,
            "/session/tokens/999999",
            "/session/tokens/{id}",
            None,
            ALL,
        ),
        case(
            M::GET,
            "/users/{s}/tokens",
            "/users/{id}/tokens",
            None,
            &["admin"],
        ),
        case(
            M::DELETE,
            "/users/{s}/tokens/999999",
            "/users/{id}/tokens/{token_id}",
            None,
            &["admin"],
        ),
        case(
            M::GET,
            "/quality/indicators",
            "/quality/indicators",
            None,
            READERS,
        ),
        case(
            M::GET,
            "/quality/targets",
            "/quality/targets",
            None,
            READERS,
        ),
        case(
            M::PUT,
            "/quality/targets",
            "/quality/targets",
            Some(
                json!({"targets": [{"indicator": "complaints", "target": -1, "periodicity": "monthly", "responsible": ""}]}),
            ),
            QUALITY,
        ),
        case(
            M::GET,
            "/nonconformities",
            "/nonconformities",
            None,
            READERS,
        ),
        case(
            M::POST,
            "/nonconformities",
            "/nonconformities",
            Some(json!({"description": ""})),
            QUALITY,
        ),
        case(
            M::GET,
            "/nonconformities/999999",
            "/nonconformities/{id}",
            None,
            READERS,
        ),
        case(
            M::PUT,
            "/nonconformities/999999",
            "/nonconformities/{id}",
            Some(json!({"description": ""})),
            QUALITY,
        ),
        case(
            M::POST,
            "/nonconformities/999999/close",
            "/nonconformities/{id}/close",
            Some(json!({"effectiveness": "Revisado"})),
            QUALITY,
        ),
        case(
            M::GET,
            "/quality/service-levels",
            "/quality/service-levels",
            None,
            READERS,
        ),
        case(
            M::PUT,
            "/quality/service-levels",
            "/quality/service-levels",
            Some(json!({"warning_percent": 0})),
            QUALITY,
        ),
        case(
            M::GET,
            "/quality/business-hours",
            "/quality/business-hours",
            None,
            READERS,
        ),
        case(
            M::PUT,
            "/quality/business-hours",
            "/quality/business-hours",
            Some(json!({"days_off": [{"from": "2026-12-25", "to": "2026-12-24"}]})),
            QUALITY,
        ),
        case(
            M::GET,
            "/nonconformities/criteria",
            "/nonconformities/criteria",
            None,
            READERS,
        ),
        case(
            M::PUT,
            "/nonconformities/criteria",
            "/nonconformities/criteria",
            Some(json!({"reopened_days": -1})),
            QUALITY,
        ),
        case(
            M::GET,
            "/surveys/settings",
            "/surveys/settings",
            None,
            QUALITY,
        ),
        case(
            M::PUT,
            "/surveys/settings",
            "/surveys/settings",
            Some(json!({"expiry_days": 0})),
            QUALITY,
        ),
        case(
            M::GET,
            "/surveys/questionnaires",
            "/surveys/questionnaires",
            None,
            READERS,
        ),
        case(
            M::POST,
            "/surveys/questionnaires",
            "/surveys/questionnaires",
            Some(json!({"questions": []})),
            QUALITY,
        ),
        case(M::GET, "/surveys", "/surveys", None, QUALITY),
        case(M::GET, "/surveys/export", "/surveys/export", None, QUALITY),
        case(
            M::GET,
            "/surveys/follow-ups",
            "/surveys/follow-ups",
            None,
            &["cap_lead", "admin"],
        ),
        case(
            M::POST,
            "/surveys/999999/follow-up",
            "/surveys/{id}/follow-up",
            Some(json!({"note": "Llamada"})),
            &["cap_lead", "admin"],
        ),
        case(
            M::GET,
            "/canned-responses",
            "/canned-responses",
            None,
            NOTERS,
        ),
        case(
            M::POST,
            "/canned-responses",
            "/canned-responses",
            Some(json!({"title": "", "body": ""})),
            NOTERS,
        ),
        case(
            M::GET,
            "/canned-responses/999999",
            "/canned-responses/{id}",
            None,
            NOTERS,
        ),
        case(
            M::PUT,
            "/canned-responses/999999",
            "/canned-responses/{id}",
            Some(json!({"title": "", "body": ""})),
            NOTERS,
        ),
        case(
            M::DELETE,
            "/canned-responses/999999",
            "/canned-responses/{id}",
            None,
            NOTERS,
        ),
        case(
            M::GET,
            "/incidents/{f}/canned-responses/999999",
            "/incidents/{reference}/canned-responses/{id}",
            None,
            NOTERS,
        ),
        case(
            M::GET,
            "/quality/canned-responses",
            "/quality/canned-responses",
            None,
            READERS,
        ),
        case(
            M::POST,
            "/incidents/{f}/duplicate",
            "/incidents/{reference}/duplicate",
            Some(json!({"original": "CAP-2000-000001"})),
            WORKERS,
        ),
        case(
            M::GET,
            "/incidents/{f}/suggestion",
            "/incidents/{reference}/suggestion",
            None,
            WORKERS,
        ),
        case(
            M::GET,
            "/quality/suggestions",
            "/quality/suggestions",
            None,
            READERS,
        ),
        case(M::GET, "/macros", "/macros", None, WORKERS),
        case(
            M::POST,
            "/macros",
            "/macros",
            Some(json!({"name": "", "steps": {}})),
            WORKERS,
        ),
        case(M::GET, "/macros/999999", "/macros/{id}", None, WORKERS),
        case(
            M::PUT,
            "/macros/999999",
            "/macros/{id}",
            Some(json!({"name": "", "steps": {}})),
            WORKERS,
        ),
        case(M::DELETE, "/macros/999999", "/macros/{id}", None, WORKERS),
        case(
            M::POST,
            "/incidents/{f}/macros/999999",
            "/incidents/{reference}/macros/{id}",
            None,
            WORKERS,
        ),
        case(M::GET, "/articles", "/articles", None, ALL),
        // Without an owner unit the article is the CAP's: not a unit responsible's to write.
        case(
            M::POST,
            "/articles",
            "/articles",
            Some(json!({"title": "", "body": ""})),
            &["cap_lead", "admin", "quality_owner"],
        ),
        case(M::GET, "/articles/999999", "/articles/{id}", None, ALL),
        case(
            M::PUT,
            "/articles/999999",
            "/articles/{id}",
            Some(json!({"title": "", "body": ""})),
            WRITERS,
        ),
        case(
            M::POST,
            "/articles/999999/archive",
            "/articles/{id}/archive",
            None,
            WRITERS,
        ),
        case(
            M::GET,
            "/articles/999999/versions",
            "/articles/{id}/versions",
            None,
            ALL,
        ),
        case(
            M::POST,
            "/incidents/{f}/resolved-by",
            "/incidents/{reference}/resolved-by",
            Some(json!({"article_id": 999999})),
            WORKERS,
        ),
        case(M::GET, "/search?q=ana", "/search", None, ALL),
        case(
            M::GET,
            "/contacts/{c}/personal-file",
            "/contacts/{id}/personal-file",
            None,
            &["admin"],
        ),
        case(
            M::POST,
            "/contacts/999999/block",
            "/contacts/{id}/block",
            Some(json!({"reason": "ARCO"})),
            &["admin"],
        ),
        case(
            M::POST,
            "/contacts/999999/unblock",
            "/contacts/{id}/unblock",
            Some(json!({"reason": "Error"})),
            &["admin"],
        ),
        case(
            M::POST,
            "/contacts/999999/suppress",
            "/contacts/{id}/suppress",
            Some(json!({"confirm": false})),
            &["admin"],
        ),
        case(
            M::GET,
            "/personal-data/access-log",
            "/personal-data/access-log",
            None,
            &["admin"],
        ),
        case(
            M::GET,
            "/privacy-notices",
            "/privacy-notices",
            None,
            &["admin"],
        ),
        case(
            M::POST,
            "/privacy-notices",
            "/privacy-notices",
            Some(json!({"kind": "simplified", "body": ""})),
            &["admin"],
        ),
        case(
            M::GET,
            "/personal-data/retention",
            "/personal-data/retention",
            None,
            &["admin"],
        ),
        case(
            M::PUT,
            "/personal-data/retention",
            "/personal-data/retention",
            Some(json!({"blocked_days": 0})),
            &["admin"],
        ),
        case(
            M::GET,
            "/personal-data/retention/dry-run",
            "/personal-data/retention/dry-run",
            None,
            &["admin"],
        ),
        case(M::GET, "/mailboxes", "/mailboxes", None, &["admin"]),
        case(
            M::POST,
            "/mailboxes",
            "/mailboxes",
            Some(json!({"name": "", "address": "x"})),
            &["admin"],
        ),
        case(M::GET, "/calls", "/calls", None, WORKERS),
        case(
            M::POST,
            "/calls/999999/called-back",
            "/calls/{id}/called-back",
            None,
            WORKERS,
        ),
        case(M::GET, "/templates", "/templates", None, ALL),
        case(
            M::GET,
            "/incidents/{f}/attachments",
            "/incidents/{reference}/attachments",
            None,
            ALL,
        ),
        case(
            M::GET,
            "/incidents/{f}/attachments/999999",
            "/incidents/{reference}/attachments/{id}",
            None,
            ALL,
        ),
        case(M::GET, "/webhooks", "/webhooks", None, &["admin"]),
        case(
            M::POST,
            "/webhooks",
            "/webhooks",
            Some(json!({"url": "http://x", "events": []})),
            &["admin"],
        ),
        case(
            M::GET,
            "/webhooks/999999",
            "/webhooks/{id}",
            None,
            &["admin"],
        ),
        case(
            M::PUT,
            "/webhooks/999999",
            "/webhooks/{id}",
            Some(
                json!({"url": "https://bi.example/x", "events": ["incident.closed"], "active": true}),
            ),
            &["admin"],
        ),
        case(
            M::DELETE,
            "/webhooks/999999",
            "/webhooks/{id}",
            None,
            &["admin"],
        ),
        case(
            M::GET,
            "/webhooks/999999/deliveries",
            "/webhooks/{id}/deliveries",
            None,
            &["admin"],
        ),
        case(
            M::POST,
            "/webhooks/999999/deliveries/1/replay",
            "/webhooks/{id}/deliveries/{delivery_id}/replay",
            None,
            &["admin"],
        ),
        case(
            M::GET,
            "/settings/sign-in",
            "/settings/sign-in",
            None,
            &["admin"],
        ),
        case(
            M::PUT,
            "/settings/sign-in",
            "/settings/sign-in",
            Some(json!({"sso_required": false, "break_glass_login": "admin"})),
            &["admin"],
        ),
        case(M::DELETE, "/session", "/session", None, ALL),
        case(
            M::DELETE,
            "/users/{s}/sessions",
            "/users/{id}/sessions",
            None,
            &["admin"],
        ),
    ]
}

async fn every_endpoint_checks_the_role_of_every_caller(db: TestDb) {
    let app = TestApp::new(db).await;
    let coordination = app.unit_of_kind("coordination").await;
    let unit = coordination["id"].as_i64().expect("unit id");
    let mut callers = Vec::new();
    for role in ALL {
        let units = if *role == "unit_responsible" {
            vec![UnitId(unit)]
        } else {
            vec![]
        };
        let auth = app
            .token_for(
                &format!("u_{role}"),
                Role::from_code(role).expect("role"),
                units,
            )
            .await;
        callers.push((*role, auth));
    }
    let lead = callers
        .iter()
        .find(|(r, _)| *r == "cap_lead")
        .map(|(_, a)| a.clone())
        .expect("lead");

    // An incident derived to the unit responsible's unit, so their allowed calls reach it.
    let contact = app
        .post(
            "/api/v1/contacts",
            &lead,
            json!({"name": "Ana", "emails": ["ana@alumnos.udg.mx"]}),
        )
        .await;
    let incident = app
        .post(
            "/api/v1/incidents",
            &lead,
            json!({"channel": "email", "contact_id": contact.json["id"]}),
        )
        .await;
    let folio = incident.json["folio"].as_str().expect("folio").to_string();
    let derived = app
        .post(
            &format!("/api/v1/incidents/{folio}/derivations"),
            &lead,
            json!({"unit_id": unit, "medium": "email", "reason": "Revisión"}),
        )
        .await;
    let derivation = derived.json["derivation"]["id"]
        .as_i64()
        .expect("derivation");
    let topic = app.get("/api/v1/topics", &lead).await.json["items"][0]["id"]
        .as_i64()
        .expect("topic");
    let some_user = app.get("/api/v1/users", &lead).await.json["items"][0]["id"]
        .as_i64()
        .expect("user");

    let fill = |p: &str| {
        format!(
            "/api/v1{}",
            p.replace("{c}", &contact.json["id"].to_string())
                .replace("{f}", &folio)
                .replace("{d}", &derivation.to_string())
                .replace("{u}", &unit.to_string())
                .replace("{t}", &topic.to_string())
                .replace("{s}", &some_user.to_string())
        )
    };

    let mut failures = Vec::new();
    let mut covered = BTreeSet::new();
    for case in cases() {
        covered.insert((
            case.method.to_string().to_lowercase(),
            case.documented.to_string(),
        ));
        // Log out last: it ends nothing for bearer tokens, but keep the order obvious.
        for (role, auth) in &callers {
            let reply = app
                .call(
                    case.method.clone(),
                    &fill(case.path),
                    auth,
                    case.body.clone(),
                )
                .await;
            let allowed = case.allowed.contains(role);
            let denied = reply.status == StatusCode::FORBIDDEN
                && reply.code() != "only_lead_derives_to_top_management";
            let unauthenticated = reply.status == StatusCode::UNAUTHORIZED;
            if allowed && (denied || unauthenticated) {
                failures.push(format!(
                    "{role} should be allowed {} {}: got {} {}",
                    case.method, case.path, reply.status, reply.json
                ));
            }
            if !allowed && !denied {
                failures.push(format!(
                    "{role} should be forbidden {} {}: got {} {}",
                    case.method, case.path, reply.status, reply.json
                ));
            }
        }
        let anonymous = app
            .call(
                case.method.clone(),
                &fill(case.path),
                &Auth::None,
                case.body.clone(),
            )
            .await;
        if anonymous.status != StatusCode::UNAUTHORIZED {
            failures.push(format!(
                "anonymous {} {}: got {}",
                case.method, case.path, anonymous.status
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // Every documented endpoint is in the table.
    let doc = app.get("/api/v1/openapi.json", &Auth::None).await.json;
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("methods").keys() {
            if ["get", "post", "patch", "put", "delete"].contains(&method.as_str())
                && !(path == "/session" && method == "post")
            {
                documented.insert((method.clone(), path.clone()));
            }
        }
    }
    let missing: Vec<_> = documented.difference(&covered).collect();
    assert!(
        missing.is_empty(),
        "endpoints without a role test: {missing:?}"
    );
}
