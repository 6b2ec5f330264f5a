//! Logging in and out, CSRF, rate limits, temporary passwords, health and the OpenAPI document.

use atiende_domain::user::Role;
use atiende_store::testing::TestDb;
use atiende_web::WebConfig;
use axum::http::{Method, StatusCode, header};
use serde_json::json;

use crate::helpers::{ADMIN_PASSWORD, Auth, PASSWORD, TestApp, session_cookie};

atiende_store::on_both_engines!(
    the_session_cookie_is_http_only_and_same_site_and_changes_need_the_csrf_token,
    logging_in_again_rotates_the_session_and_logging_out_ends_it,
    disabling_a_user_ends_their_session_at_once,
    repeated_failed_logins_are_rate_limited,
    strangers_failing_on_purpose_cannot_lock_the_owner_out,
    behind_a_trusted_proxy_each_client_has_its_own_budget_and_forgers_none,
    a_session_ends_when_left_unused_and_its_owner_or_an_administrator_ends_the_others,
    a_person_makes_lists_and_revokes_their_own_tokens_and_an_administrator_anyones,
    a_one_time_password_must_be_changed_before_any_work,
    health_readiness_metrics_and_the_openapi_document_are_served,
    a_failing_outside_service_shows_in_administration_and_in_the_metrics,
);

async fn the_session_cookie_is_http_only_and_same_site_and_changes_need_the_csrf_token(db: TestDb) {
    let app = TestApp::new(db).await;
    let reply = app
        .post(
            "/api/v1/session",
            &Auth::None,
            json!({"login": "admin", "password": ADMIN_PASSWORD}),
        )
        .await;
    let set = reply
        .headers
        .get(header::SET_COOKIE)
        .expect("cookie")
        .to_str()
        .expect("ascii")
        .to_string();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Lax") && set.contains("Path=/"),
        "{set}"
    );
    let cookie = session_cookie(&reply);
    assert_eq!(
        app.get("/api/v1/session", &Auth::CookieOnly(cookie.clone()))
            .await
            .json["user"]["login"],
        "admin"
    );
    let no_csrf = app
        .post(
            "/api/v1/topics",
            &Auth::CookieOnly(cookie.clone()),
            json!({"name": "Nuevo tema"}),
        )
        .await;
    assert_eq!(
        (no_csrf.status, no_csrf.code()),
        (StatusCode::FORBIDDEN, "csrf")
    );
    let wrong = Auth::Session {
        cookie: cookie.clone(),
        csrf: "otro".into(),
    };
    assert_eq!(
        app.post("/api/v1/topics", &wrong, json!({"name": "Nuevo tema"}))
            .await
            .code(),
        "csrf"
    );
    let right = Auth::Session {
        cookie,
        csrf: reply.json["csrf_token"].as_str().expect("csrf").into(),
    };
    assert_eq!(
        app.post("/api/v1/topics", &right, json!({"name": "Nuevo tema"}))
            .await
            .status,
        StatusCode::CREATED
    );
    assert_eq!(
        app.get("/api/v1/incidents", &Auth::None).await.status,
        StatusCode::UNAUTHORIZED
    );
}

async fn logging_in_again_rotates_the_session_and_logging_out_ends_it(db: TestDb) {
    let app = TestApp::new(db).await;
    let Auth::Session { cookie: old, .. } = app.login("admin", ADMIN_PASSWORD).await else {
        panic!("session")
    };
    let relogin = app
        .call(
            Method::POST,
            "/api/v1/session",
            &Auth::CookieOnly(old.clone()),
            Some(json!({"login": "admin", "password": ADMIN_PASSWORD})),
        )
        .await;
    let new = session_cookie(&relogin);
    assert_ne!(new, old);
    assert_eq!(
        app.get("/api/v1/session", &Auth::CookieOnly(old))
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    let session = Auth::Session {
        cookie: new.clone(),
        csrf: relogin.json["csrf_token"].as_str().expect("csrf").into(),
    };
    let out = app
        .call(Method::DELETE, "/api/v1/session", &session, None)
        .await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.get("/api/v1/session", &Auth::CookieOnly(new))
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
}

async fn disabling_a_user_ends_their_session_at_once(db: TestDb) {
    let app = TestApp::new(db).await;
    let agent = app.staff("agente", Role::Agent, vec![]).await;
    let session = app.login("agente", PASSWORD).await;
    assert_eq!(
        app.get("/api/v1/incidents", &session).await.status,
        StatusCode::OK
    );
    let admin = app.login("admin", ADMIN_PASSWORD).await;
    let disabled = app
        .call(
            Method::PATCH,
            &format!("/api/v1/users/{}", agent.id),
            &admin,
            Some(json!({"disabled": true})),
        )
        .await;
    assert_eq!(disabled.status, StatusCode::OK, "{}", disabled.json);
    assert_eq!(
        app.get("/api/v1/incidents", &session).await.status,
        StatusCode::UNAUTHORIZED
    );
    let again = app
        .post(
            "/api/v1/session",
            &Auth::None,
            json!({"login": "agente", "password": PASSWORD}),
        )
        .await;
    assert_eq!(again.status, StatusCode::UNAUTHORIZED);
}

async fn repeated_failed_logins_are_rate_limited(db: TestDb) {
    let config = WebConfig {
        login_attempts_per_minute: 3,
        ..crate::helpers::config()
    };
    let app = TestApp::with_config(db, config).await;
    let wrong = json!({"login": "admin", "password": "no-es-la-clave"});
    for _ in 0..3 {
        assert_eq!(
            app.post("/api/v1/session", &Auth::None, wrong.clone())
                .await
                .status,
            StatusCode::UNAUTHORIZED
        );
    }
    let limited = app.post("/api/v1/session", &Auth::None, wrong).await;
    assert_eq!(
        (limited.status, limited.code()),
        (StatusCode::TOO_MANY_REQUESTS, "rate_limited")
    );
}

async fn strangers_failing_on_purpose_cannot_lock_the_owner_out(db: TestDb) {
    let config = WebConfig {
        login_attempts_per_minute: 3,
        ..crate::helpers::config()
    };
    let app = TestApp::with_config(db, config).await;
    app.staff("agente", atiende_domain::user::Role::Agent, vec![])
        .await;
    // The owner signed in from their browser before.
    let (first, device) = app.login_from("10.0.0.5", "agente", PASSWORD, None).await;
    assert_eq!(first.status, StatusCode::OK);
    let device = device.expect("the browser is marked as known");

    // Strangers at three addresses spend the login's budget with wrong passwords.
    for stranger in ["203.0.113.7", "203.0.113.8", "203.0.113.9"] {
        let (r, _) = app
            .login_from(stranger, "agente", "no-es-la-clave", None)
            .await;
        assert!(
            [StatusCode::UNAUTHORIZED, StatusCode::TOO_MANY_REQUESTS].contains(&r.status),
            "{}",
            r.status
        );
    }
    let (locked, _) = app
        .login_from("203.0.113.10", "agente", "no-es-la-clave", None)
        .await;
    assert_eq!(
        locked.status,
        StatusCode::TOO_MANY_REQUESTS,
        "a new address is held back too"
    );
    let (unknown, _) = app.login_from("10.0.0.6", "agente", PASSWORD, None).await;
    assert_eq!(
        unknown.status,
        StatusCode::TOO_MANY_REQUESTS,
        "so is a browser never used for this login, even with the right password"
    );

    // The owner's known browser still gets in.
    let (owner, _) = app
        .login_from("10.0.0.5", "agente", PASSWORD, Some(&device))
        .await;
    assert_eq!(owner.status, StatusCode::OK, "{}", owner.json);
    // A forged or someone else's mark does not count.
    let forged = format!("{}.{}", i64::MAX, "0".repeat(64));
    let (forged, _) = app
        .login_from("10.0.0.7", "agente", PASSWORD, Some(&forged))
        .await;
    assert_eq!(forged.status, StatusCode::TOO_MANY_REQUESTS);
    let (admin, admin_device) = app
        .login_from("10.0.0.8", "admin", ADMIN_PASSWORD, None)
        .await;
    assert_eq!(admin.status, StatusCode::OK);
    let admin_device = admin_device.expect("device");
    let (other, _) = app
        .login_from("10.0.0.8", "agente", PASSWORD, Some(&admin_device))
        .await;
    assert_eq!(
        other.status,
        StatusCode::TOO_MANY_REQUESTS,
        "a mark is for the login that earned it"
    );
}

async fn a_one_time_password_must_be_changed_before_any_work(db: TestDb) {
    let app = TestApp::new(db).await;
    let admin = app.login("admin", ADMIN_PASSWORD).await;
    let created = app
        .post(
            "/api/v1/users",
            &admin,
            json!({"login": "nueva", "role": "agent", "name": "Nueva Agente"}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.json);
    let once = created.json["one_time_password"]
        .as_str()
        .expect("one-time password")
        .to_string();
    let session = app.login("nueva", &once).await;
    let blocked = app.get("/api/v1/incidents", &session).await;
    assert_eq!(
        (blocked.status, blocked.code()),
        (StatusCode::FORBIDDEN, "password_change_required")
    );
    let short = app
        .post(
            "/api/v1/session/password",
            &session,
            json!({"current_password": once, "new_password": "corta"}),
        )
        .await;
    assert_eq!(
        short.json["error"]["fields"][0]["code"],
        "password_too_short"
    );
    let changed = app
        .post(
            "/api/v1/session/password",
            &session,
            json!({"current_password": once, "new_password": "mi-clave-propia-1"}),
        )
        .await;
    assert_eq!(changed.status, StatusCode::NO_CONTENT);
    let session = app.login("nueva", "mi-clave-propia-1").await;
    assert_eq!(
        app.get("/api/v1/incidents", &session).await.status,
        StatusCode::OK
    );
}

async fn health_readiness_metrics_and_the_openapi_document_are_served(db: TestDb) {
    let config = atiende_web::WebConfig {
        metrics_token: "token-de-prometheus-123".to_string().into(),
        ..Default::default()
    };
    let app = TestApp::with_config(db, config).await;
    assert_eq!(
        app.get("/healthz", &Auth::None).await.status,
        StatusCode::OK
    );
    assert_eq!(app.get("/readyz", &Auth::None).await.status, StatusCode::OK);
    // Metrics only for whoever holds their token.
    for auth in [
        Auth::None,
        Auth::Bearer("otro-token".into()),
        app.login("admin", crate::helpers::ADMIN_PASSWORD).await,
    ] {
        assert_eq!(
            app.get("/metrics", &auth).await.status,
            StatusCode::NOT_FOUND
        );
    }
    app.staff("agente", atiende_domain::user::Role::Agent, vec![])
        .await;
    let session = app.login("agente", crate::helpers::PASSWORD).await;
    let person = app
        .db
        .create_contact(
            atiende_store::Actor::System,
            &atiende_domain::contact::ContactInput {
                name: Some("Luis".into()),
                ..Default::default()
            },
        )
        .await
        .expect("contact");
    let created = app
        .post(
            "/api/v1/incidents",
            &session,
            serde_json::json!({"channel": "phone", "contact_id": person.id, "subject": "Orden de pago",
                "body": "¿Dónde descargo mi orden de pago?"}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.json);
    let metrics = app
        .get("/metrics", &Auth::Bearer("token-de-prometheus-123".into()))
        .await;
    let unconfigured = TestApp::new(TestDb::new(app.db.engine()).await).await;
    assert_eq!(
        unconfigured
            .get("/metrics", &Auth::Bearer(String::new()))
            .await
            .status,
        StatusCode::NOT_FOUND,
        "no token configured: closed"
    );
    let text = metrics.json.as_str().expect("text");
    assert!(
        text.contains("atiende_http_requests_total{class=\"2xx\"}")
            && text.contains("atiende_outbox_pending 0")
            && text.contains("atiende_intake_group_duration_seconds_count 1")
            && text.contains("atiende_intake_incidents_total 1"),
        "{text}"
    );
    let doc = app.get("/api/v1/openapi.json", &Auth::None).await;
    assert_eq!(doc.json["servers"][0]["url"], "/api/v1");
    for path in [
        "/incidents/{reference}/close",
        "/contacts/{id}/merge",
        "/session",
        "/audit",
    ] {
        assert!(doc.json["paths"].get(path).is_some(), "{path} documented");
    }
}

async fn a_session_ends_when_left_unused_and_its_owner_or_an_administrator_ends_the_others(
    db: TestDb,
) {
    let config = WebConfig {
        session_idle_minutes: 30,
        ..crate::helpers::config()
    };
    let app = TestApp::with_config(db, config).await;
    let agent = app
        .staff("agente", atiende_domain::user::Role::Agent, vec![])
        .await;
    let admin = app.login("admin", ADMIN_PASSWORD).await;
    let laptop = app.login("agente", PASSWORD).await;
    let phone = app.login("agente", PASSWORD).await;
    let office = app.login("agente", PASSWORD).await;

    // The person sees their sessions, this one marked.
    let mine = app.get("/api/v1/session/all", &laptop).await;
    let sessions = mine.json.as_array().expect("sessions");
    assert_eq!(sessions.len(), 3);
    assert_eq!(sessions.iter().filter(|s| s["current"] == true).count(), 1);
    assert!(!mine.json.to_string().contains("token"), "no secret shown");

    // A session left unused past the idle time ends, whatever its expiry says.
    let Auth::Session { cookie, .. } = &office else {
        panic!("session");
    };
    let long_ago = chrono::Utc::now().timestamp_millis() - 31 * 60 * 1000;
    app.db
        .execute_admin(&format!(
            "UPDATE sessions SET last_seen_at = {long_ago}, created_at = {long_ago} \
             WHERE token_hash = '{}'",
            atiende_store::users::token_hash(cookie)
        ))
        .await
        .expect("age the session");
    assert_eq!(
        app.get("/api/v1/session", &office).await.status,
        StatusCode::UNAUTHORIZED
    );

    // "Cerrar las demás sesiones": the others end, this one stays.
    let ended = app
        .call(Method::DELETE, "/api/v1/session/all", &laptop, None)
        .await;
    assert_eq!(ended.status, StatusCode::OK, "{}", ended.json);
    assert_eq!(ended.json["ended"], 2, "the phone and the idle one");
    assert_eq!(
        app.get("/api/v1/session", &phone).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get("/api/v1/session", &laptop).await.status,
        StatusCode::OK
    );

    // The same from the console's preferences page.
    let tablet = app.login("agente", PASSWORD).await;
    let page = app.get("/preferencias", &laptop).await;
    let html = page.json.as_str().unwrap_or_default();
    assert!(
        html.contains("Sesiones abiertas") && html.contains("Esta sesión"),
        "{html}"
    );
    let Auth::Session { csrf, .. } = &laptop else {
        panic!("session");
    };
    let done = app
        .form(
            "/preferencias/cerrar-sesiones",
            &laptop,
            &format!("_csrf={csrf}"),
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    assert_eq!(done.headers["location"], "/preferencias?cerradas=1");
    assert_eq!(
        app.get("/api/v1/session", &tablet).await.status,
        StatusCode::UNAUTHORIZED
    );

    // An administrator ends anyone's.
    let ended = app
        .call(
            Method::DELETE,
            &format!("/api/v1/users/{}/sessions", agent.id),
            &admin,
            None,
        )
        .await;
    assert_eq!(ended.json["ended"], 1);
    assert_eq!(
        app.get("/api/v1/session", &laptop).await.status,
        StatusCode::UNAUTHORIZED
    );

    // And from the console's administration page.
    let again = app.login("agente", PASSWORD).await;
    let Auth::Session { csrf, .. } = &admin else {
        panic!("session");
    };
    let page = app.get("/admin", &admin).await;
    assert!(
        page.json
            .as_str()
            .unwrap_or_default()
            .contains("Cerrar sus sesiones")
    );
    let done = app
        .form(
            &format!("/admin/usuarios/{}", agent.id),
            &admin,
            &format!("_csrf={csrf}&role=agent&end_sessions=1"),
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.json);
    assert_eq!(
        app.get("/api/v1/session", &again).await.status,
        StatusCode::UNAUTHORIZED
    );
}

async fn a_person_makes_lists_and_revokes_their_own_tokens_and_an_administrator_anyones(
    db: TestDb,
) {
    let app = TestApp::new(db).await;
    let agent = app
        .staff("agente", atiende_domain::user::Role::Agent, vec![])
        .await;
    let admin = app.login("admin", ADMIN_PASSWORD).await;
    let laptop = app.login("agente", PASSWORD).await;

    // Made from a signed-in session, the secret shown once.
    let made = app
        .post("/api/v1/session/tokens", &laptop, json!({"name": " BI "}))
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.json);
    let secret = made.json["token"].as_str().expect("secret").to_string();
    let id = made.json["id"].as_i64().expect("id");
    let bearer = Auth::Bearer(secret.clone());
    assert_eq!(
        app.get("/api/v1/session", &bearer).await.status,
        StatusCode::OK
    );

    // Listed with when it was last used, never with its secret.
    let mine = app.get("/api/v1/session/tokens", &laptop).await;
    assert_eq!(mine.json.as_array().map(Vec::len), Some(1), "{}", mine.json);
    assert_eq!(mine.json[0]["name"], "BI");
    assert!(mine.json[0]["last_used_at"].is_string(), "{}", mine.json);
    assert!(!mine.json.to_string().contains(&secret));

    // A token makes no tokens, and a name is required.
    let by_token = app
        .post("/api/v1/session/tokens", &bearer, json!({"name": "otro"}))
        .await;
    assert_eq!(by_token.status, StatusCode::FORBIDDEN);
    let nameless = app
        .post("/api/v1/session/tokens", &laptop, json!({"name": "  "}))
        .await;
    assert_eq!(nameless.status, StatusCode::UNPROCESSABLE_ENTITY);

    // Nobody revokes someone else's token through their own list.
    let not_theirs = app
        .call(
            Method::DELETE,
            &format!("/api/v1/session/tokens/{id}"),
            &admin,
            None,
        )
        .await;
    assert_eq!(not_theirs.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.get("/api/v1/session", &bearer).await.status,
        StatusCode::OK
    );

    // The owner revokes it; an administrator sees and revokes another.
    let revoked = app
        .call(
            Method::DELETE,
            &format!("/api/v1/session/tokens/{id}"),
            &laptop,
            None,
        )
        .await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.get("/api/v1/session", &bearer).await.status,
        StatusCode::UNAUTHORIZED
    );
    let second = app
        .post(
            "/api/v1/session/tokens",
            &laptop,
            json!({"name": "chatbot"}),
        )
        .await;
    let listed = app
        .get(&format!("/api/v1/users/{}/tokens", agent.id), &admin)
        .await;
    assert_eq!(listed.json[0]["name"], "chatbot", "{}", listed.json);
    let gone = app
        .call(
            Method::DELETE,
            &format!("/api/v1/users/{}/tokens/{}", agent.id, second.json["id"]),
            &admin,
            None,
        )
        .await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT);
    let chatbot = Auth::Bearer(second.json["token"].as_str().expect("secret").into());
    assert_eq!(
        app.get("/api/v1/session", &chatbot).await.status,
        StatusCode::UNAUTHORIZED
    );

    // The same from the preferences page: the secret in the answer's body, once.
    let Auth::Session {
        csrf: agent_csrf, ..
    } = &laptop
    else {
        panic!("session");
    };
    let page = app
        .form(
            "/preferencias/tokens",
            &laptop,
            &format!("_csrf={agent_csrf}&name=Transparencia"),
        )
        .await;
    assert_eq!(page.status, StatusCode::OK);
    let html = page.json.as_str().unwrap_or_default().to_string();
    let shown = html
        .split("atd_")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .map(|rest| format!("atd_{rest}"))
        .expect("the secret is shown once");
    let console = Auth::Bearer(shown);
    assert_eq!(
        app.get("/api/v1/session", &console).await.status,
        StatusCode::OK
    );
    let again = app.get("/preferencias", &laptop).await;
    let again = again.json.as_str().unwrap_or_default();
    assert!(again.contains("Transparencia") && !again.contains("atd_"));
    let token_id = app.get("/api/v1/session/tokens", &laptop).await.json[0]["id"].clone();
    let done = app
        .form(
            &format!("/preferencias/tokens/{token_id}/revocar"),
            &laptop,
            &format!("_csrf={agent_csrf}"),
        )
        .await;
    assert_eq!(done.headers["location"], "/preferencias?revocado=1");
    assert_eq!(
        app.get("/api/v1/session", &console).await.status,
        StatusCode::UNAUTHORIZED
    );
}

async fn behind_a_trusted_proxy_each_client_has_its_own_budget_and_forgers_none(db: TestDb) {
    let config = WebConfig {
        login_attempts_per_minute: 2,
        trusted_proxies: atiende_web::proxy::TrustedProxies::parse(&["10.1.0.0/16"])
            .expect("proxies"),
        ..crate::helpers::config()
    };
    let app = TestApp::with_config(db, config).await;
    let attempt = |peer: &'static str, forwarded: Option<&'static str>, login: &'static str| {
        let app = &app;
        async move {
            app.login_through(peer, forwarded, login, "no-es-la-clave", None)
                .await
                .0
                .status
        }
    };
    // Through the load balancer, one client spends its own budget…
    for _ in 0..2 {
        assert_eq!(
            attempt("10.1.0.2", Some("203.0.113.7"), "uno").await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        attempt("10.1.0.2", Some("203.0.113.7"), "dos").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // …and another client behind the same balancer is not held back by it.
    assert_eq!(
        attempt("10.1.0.2", Some("203.0.113.8"), "tres").await,
        StatusCode::UNAUTHORIZED
    );
    // A client reaching atiende directly cannot borrow other addresses with a forged header.
    for (n, forged) in ["198.51.100.1", "198.51.100.2", "198.51.100.3"]
        .iter()
        .enumerate()
    {
        let status = attempt("192.0.2.50", Some(forged), ["cuatro", "cinco", "seis"][n]).await;
        let expected = if n < 2 {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::TOO_MANY_REQUESTS
        };
        assert_eq!(status, expected, "attempt {n} with a forged header");
    }
}

async fn a_failing_outside_service_shows_in_administration_and_in_the_metrics(db: TestDb) {
    use atiende_domain::chat::Provider;
    use atiende_domain::external_service::ExternalService;
    let config = atiende_web::WebConfig {
        metrics_token: "token-de-prometheus-123".to_string().into(),
        ..crate::helpers::config()
    };
    let app = TestApp::with_config(db, config).await;
    let mailbox = ExternalService::mailbox_read(1, "cap@udgvirtual.example");
    let whatsapp = ExternalService::chat_send(Provider::Whatsapp, "106540352242922");
    app.db.record_service(&mailbox, None).await;
    app.db
        .record_service(&whatsapp, Some("HTTP 500: unavailable"))
        .await;

    let admin = app.login("admin", crate::helpers::ADMIN_PASSWORD).await;
    let page = app.get("/admin", &admin).await;
    let html = page.json.as_str().expect("html");
    let section = &html[html.find("id=\"servicios\"").expect("the section")..];
    let failing = section
        .find("WhatsApp 106540352242922")
        .expect("the account");
    let working = section.find("cap@udgvirtual.example").expect("the mailbox");
    assert!(failing < working, "failing services first");
    assert!(
        section.contains("service-failing") && section.contains("HTTP 500: unavailable"),
        "{section}"
    );

    let metrics = app
        .get("/metrics", &Auth::Bearer("token-de-prometheus-123".into()))
        .await;
    let text = metrics.json.as_str().expect("text");
    assert!(
        text.contains(
            "atiende_external_service_up{kind=\"chat_send\",name=\"WhatsApp 106540352242922\"} 0"
        ) && text.contains(
            "atiende_external_service_up{kind=\"mailbox_read\",name=\"cap@udgvirtual.example\"} 1"
        ) && text.contains("atiende_external_service_failing_seconds{kind=\"chat_send\""),
        "{text}"
    );
}
