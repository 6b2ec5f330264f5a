//! Webhook subscriptions as administrators manage them, by API and in Administración: the
//! secret shown once and never again, the address rules in the caller's language, turning an
//! endpoint off and on, the delivery log and a replay.

use atiende_domain::user::Role;
use atiende_store::testing::TestDb;
use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{ADMIN_PASSWORD, Auth, TestApp};
use crate::public::text;

atiende_store::on_both_engines!(
    an_administrator_subscribes_an_endpoint_by_api_and_reads_its_deliveries,
    an_administrator_manages_webhooks_in_administracion,
);

async fn an_administrator_subscribes_an_endpoint_by_api_and_reads_its_deliveries(db: TestDb) {
    let app = TestApp::new(db).await;
    let admin = app.token_for("admin2", Role::Admin, vec![]).await;
    let created = app
        .post(
            "/api/v1/webhooks",
            &admin,
            json!({"url": "https://bi.udg.example/eventos", "events": ["incident.closed"], "description": "BI"}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.json);
    let secret = created.json["secret"].as_str().expect("secret");
    assert!(secret.starts_with("whsec_"));
    let id = created.json["subscription"]["id"].as_i64().expect("id");
    let listed = app.get("/api/v1/webhooks", &admin).await;
    assert!(!listed.json.to_string().contains(secret), "shown once");
    assert!(
        app.db.columns_containing(secret).await.is_empty(),
        "kept sealed, never in plain text"
    );
    let private = app
        .post(
            "/api/v1/webhooks",
            &admin,
            json!({"url": "https://10.0.0.5/x", "events": ["incident.closed"]}),
        )
        .await;
    assert_eq!(private.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        private.json["error"]["fields"][0]["code"],
        "private_address"
    );
    let message = private.json["error"]["fields"][0]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(message.contains("red interna"), "{message}");

    // A closing is logged for the endpoint; a replay adds an entry with the same message id.
    app.closed_incident().await;
    let log = app
        .get(&format!("/api/v1/webhooks/{id}/deliveries"), &admin)
        .await;
    assert_eq!(log.json["items"][0]["event_type"], "incident.closed");
    assert_eq!(log.json["items"][0]["status"], "pending");
    let delivery = log.json["items"][0]["id"].as_i64().expect("delivery");
    let replay = app
        .post(
            &format!("/api/v1/webhooks/{id}/deliveries/{delivery}/replay"),
            &admin,
            json!({}),
        )
        .await;
    assert_eq!(replay.status, StatusCode::CREATED, "{}", replay.json);
    assert_eq!(
        replay.json["message_id"],
        log.json["items"][0]["message_id"]
    );

    // A nonconformity registered by hand goes to who subscribed to those.
    let quality = app
        .post(
            "/api/v1/webhooks",
            &admin,
            json!({"url": "https://calidad.udg.example/pnc", "events": ["nonconformity.registered"]}),
        )
        .await;
    let quality = quality.json["subscription"]["id"].as_i64().expect("id");
    let nc = app
        .post(
            "/api/v1/nonconformities",
            &admin,
            json!({"description": "Hallazgo de la auditoría interna"}),
        )
        .await;
    assert_eq!(nc.status, StatusCode::CREATED, "{}", nc.json);
    let log = app
        .get(&format!("/api/v1/webhooks/{quality}/deliveries"), &admin)
        .await;
    let items = log.json["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{}", log.json);
    assert_eq!(items[0]["event_type"], "nonconformity.registered");
    assert_eq!(items[0]["payload"]["data"]["criterion"], "manual");
    assert_eq!(items[0]["payload"]["data"]["id"], nc.json["id"]);
    let off = app
        .call(
            Method::PUT,
            &format!("/api/v1/webhooks/{id}"),
            &admin,
            Some(json!({"url": "https://bi.udg.example/eventos", "events": ["incident.closed"], "active": false})),
        )
        .await;
    assert_eq!(off.json["active"], false);
    assert!(off.json["disabled_at"].is_string());
    let gone = app
        .call(
            Method::DELETE,
            &format!("/api/v1/webhooks/{id}"),
            &admin,
            None,
        )
        .await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT);
    let left = app.get("/api/v1/webhooks", &admin).await.json;
    assert_eq!(left["items"][0]["id"], quality, "the other one stays");
    assert_eq!(left["total"], 1);
}

async fn an_administrator_manages_webhooks_in_administracion(db: TestDb) {
    let app = TestApp::new(db).await;
    let admin = app.login("admin", ADMIN_PASSWORD).await;
    let Auth::Session { csrf, .. } = &admin else {
        panic!("session")
    };
    let made = app
        .form(
            "/admin/webhooks",
            &admin,
            &format!("_csrf={csrf}&url=https%3A%2F%2Fbi.udg.example%2Feventos&event_incident.closed=1&description=BI"),
        )
        .await;
    assert_eq!(made.status, StatusCode::OK);
    let page = text(&made);
    assert!(
        page.contains("se muestra solo esta vez") && page.contains("whsec_"),
        "{page}"
    );
    let again = app.get("/admin", &admin).await;
    let again = text(&again);
    assert!(again.contains("bi.udg.example") && !again.contains("whsec_"));
    assert!(again.contains("Incidente cerrado"));
    let id = app.db.webhooks().await.expect("webhooks")[0].id;
    let off = app
        .form(
            &format!("/admin/webhooks/{id}/desactivar"),
            &admin,
            &format!("_csrf={csrf}"),
        )
        .await;
    assert_eq!(off.status, StatusCode::SEE_OTHER);
    assert!(!app.db.webhook(id).await.expect("webhook").active);
    let refused = app
        .form(
            "/admin/webhooks",
            &admin,
            &format!("_csrf={csrf}&url=http%3A%2F%2Fbi.udg.example%2F&event_incident.closed=1"),
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(text(&refused).contains("https://"), "{}", text(&refused));
    app.staff("agente", Role::Agent, vec![]).await;
    let agent = app.login("agente", crate::helpers::PASSWORD).await;
    let Auth::Session {
        csrf: agent_csrf, ..
    } = &agent
    else {
        panic!("session")
    };
    let forbidden = app
        .form(
            &format!("/admin/webhooks/{id}/activar"),
            &agent,
            &format!("_csrf={agent_csrf}"),
        )
        .await;
    assert_eq!(forbidden.status, StatusCode::FORBIDDEN);

    // An endpoint the service turns off for failing is announced on the page.
    let created = app
        .db
        .create_webhook(
            atiende_store::Actor::System,
            &atiende_domain::webhook::SubscriptionInput {
                url: "https://calidad.udg.example/pnc".into(),
                events: vec![atiende_domain::webhook::EventType::NonconformityRegistered],
                description: String::new(),
            },
            false,
        )
        .await
        .expect("subscribed");
    let nc = app
        .post(
            "/api/v1/nonconformities",
            &admin,
            json!({"description": "Hallazgo de la auditoría interna"}),
        )
        .await;
    assert_eq!(nc.status, StatusCode::CREATED, "{}", nc.json);
    let delivery = app
        .db
        .webhook_deliveries(created.subscription.id, None, 10)
        .await
        .expect("log")[0]
        .id;
    assert!(!text(&app.get("/admin", &admin).await).contains("se desactivó solo"));
    let mut turned_off = false;
    for _ in 0..atiende_domain::webhook::DISABLE_AFTER_FAILURES {
        turned_off |= app
            .db
            .record_webhook_attempt(delivery, &Err("connection refused".into()), false)
            .await
            .expect("attempt");
    }
    assert!(turned_off);
    let reply = app.get("/admin", &admin).await;
    let page = text(&reply);
    assert!(
        page.contains("se desactivó solo tras 20 entregas fallidas"),
        "{page}"
    );
}
