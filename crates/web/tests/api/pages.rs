//! The console's pages and forms, called in process: who may open what, CSRF on every form,
//! and the language of the person.

use atiende_domain::ids::UnitId;
use atiende_domain::user::Role;
use atiende_store::testing::TestDb;
use axum::http::{Method, StatusCode, header};
use serde_json::json;

use crate::helpers::{ADMIN_PASSWORD, Auth, PASSWORD, TestApp};

atiende_store::on_both_engines!(
    pages_need_a_session_and_check_the_role,
    every_console_form_refuses_a_post_without_the_csrf_token,
    the_console_speaks_the_language_each_person_chose,
    public_pages_and_the_api_carry_the_security_headers_too,
    a_one_time_password_is_shown_once_in_the_page_and_never_in_a_url,
    email_html_is_sanitised_and_attachments_are_plain_downloads,
);

async fn page(app: &TestApp, auth: &Auth, path: &str) -> (StatusCode, String) {
    let reply = app.call(Method::GET, path, auth, None).await;
    let location = reply
        .headers
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body = reply
        .json
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| location.clone());
    (
        reply.status,
        if reply.status.is_redirection() {
            location
        } else {
            body
        },
    )
}

async fn pages_need_a_session_and_check_the_role(db: TestDb) {
    let app = TestApp::new(db).await;
    let unit = app.unit_of_kind("coordination").await["id"]
        .as_i64()
        .expect("unit");
    let mut sessions = Vec::new();
    for (login, role) in [
        ("agente", Role::Agent),
        ("lider", Role::CapLead),
        ("escolar", Role::UnitResponsible),
        ("siga", Role::QualityOwner),
        ("rector", Role::Management),
        ("root", Role::Admin),
    ] {
        let units = if role == Role::UnitResponsible {
            vec![UnitId(unit)]
        } else {
            vec![]
        };
        app.staff(login, role, units).await;
        sessions.push((role, app.login(login, PASSWORD).await));
    }
    let contact = app
        .post("/api/v1/contacts", &sessions[0].1, json!({"name": "Ana"}))
        .await
        .json["id"]
        .clone();

    let (status, location) = page(&app, &Auth::None, "/bandeja").await;
    assert_eq!(
        (status, location.as_str()),
        (StatusCode::SEE_OTHER, "/login?next=%2Fbandeja")
    );

    // path, roles that may open it
    let table: &[(&str, &[Role])] = &[
        (
            "/bandeja",
            &[
                Role::Agent,
                Role::CapLead,
                Role::UnitResponsible,
                Role::QualityOwner,
                Role::Management,
                Role::Admin,
            ],
        ),
        (
            "/incidentes/nuevo",
            &[Role::Agent, Role::CapLead, Role::Admin],
        ),
        (
            "/contactos",
            &[
                Role::Agent,
                Role::CapLead,
                Role::QualityOwner,
                Role::Management,
                Role::Admin,
            ],
        ),
        (
            "/contactos/{c}",
            &[
                Role::Agent,
                Role::CapLead,
                Role::QualityOwner,
                Role::Management,
                Role::Admin,
            ],
        ),
        (
            "/responsables",
            &[Role::CapLead, Role::Management, Role::Admin],
        ),
        ("/llamadas", &[Role::Agent, Role::CapLead, Role::Admin]),
        (
            "/conocimiento",
            &[
                Role::Agent,
                Role::CapLead,
                Role::UnitResponsible,
                Role::QualityOwner,
                Role::Management,
                Role::Admin,
            ],
        ),
        (
            "/buscar?q=pago",
            &[
                Role::Agent,
                Role::CapLead,
                Role::UnitResponsible,
                Role::QualityOwner,
                Role::Management,
                Role::Admin,
            ],
        ),
        ("/calidad/encuesta", &[Role::QualityOwner, Role::Admin]),
        (
            "/calidad/encuesta/exportar",
            &[Role::QualityOwner, Role::Admin],
        ),
        (
            "/calidad/indicadores",
            &[
                Role::CapLead,
                Role::QualityOwner,
                Role::Management,
                Role::Admin,
            ],
        ),
        (
            "/calidad/pnc",
            &[
                Role::CapLead,
                Role::QualityOwner,
                Role::Management,
                Role::Admin,
            ],
        ),
        (
            "/calidad/pnc/exportar",
            &[
                Role::CapLead,
                Role::QualityOwner,
                Role::Management,
                Role::Admin,
            ],
        ),
        (
            "/calidad/indicadores/exportar",
            &[
                Role::CapLead,
                Role::QualityOwner,
                Role::Management,
                Role::Admin,
            ],
        ),
        (
            "/calidad/reporte",
            &[
                Role::CapLead,
                Role::QualityOwner,
                Role::Management,
                Role::Admin,
            ],
        ),
        ("/admin", &[Role::Admin]),
        ("/privacidad", &[Role::Admin]),
        ("/privacidad/bitacora.csv", &[Role::Admin]),
        ("/privacidad/avisos", &[Role::Admin]),
        ("/contactos/{c}/expediente", &[Role::Admin]),
        ("/contactos/{c}/expediente.json", &[Role::Admin]),
        (
            "/preferencias",
            &[
                Role::Agent,
                Role::CapLead,
                Role::UnitResponsible,
                Role::QualityOwner,
                Role::Management,
                Role::Admin,
            ],
        ),
    ];
    let mut failures = Vec::new();
    for (path, allowed) in table {
        let path = path.replace("{c}", &contact.to_string());
        for (role, auth) in &sessions {
            let reply = app.call(Method::GET, &path, auth, None).await;
            let ok = reply.status == StatusCode::OK;
            if ok != allowed.contains(role) {
                failures.push(format!("{role} GET {path}: {}", reply.status));
            }
            if let Err(missing) = strict_headers(&reply.headers) {
                failures.push(format!("{role} GET {path}: {missing}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The security headers every response carries; the first one missing or loose.
fn strict_headers(h: &axum::http::HeaderMap) -> Result<(), String> {
    let get = |name: &str| {
        h.get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let csp = get("content-security-policy");
    for directive in [
        "script-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ] {
        if !csp.contains(directive) {
            return Err(format!("no `{directive}` in the policy `{csp}`"));
        }
    }
    let scripts = csp
        .split(';')
        .map(str::trim)
        .find(|d| d.starts_with("script-src"))
        .unwrap_or_default();
    if scripts.contains("unsafe") {
        return Err(format!("scripts may run inline or from strings: `{csp}`"));
    }
    for (name, value) in [
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("cross-origin-opener-policy", "same-origin"),
    ] {
        if get(name) != value {
            return Err(format!("{name}: `{}`", get(name)));
        }
    }
    for name in ["referrer-policy", "permissions-policy"] {
        if get(name).is_empty() {
            return Err(format!("no {name}"));
        }
    }
    Ok(())
}

async fn public_pages_and_the_api_carry_the_security_headers_too(db: TestDb) {
    let app = TestApp::new(db).await;
    let admin = app.login("admin", ADMIN_PASSWORD).await;
    for path in [
        "/login",
        "/buzon",
        "/estado",
        "/ayuda",
        "/aviso-de-privacidad",
        "/api/v1/incidents",
        "/api/v1/openapi.json",
        "/no-existe",
        "/static/app.js",
    ] {
        let reply = app.call(Method::GET, path, &Auth::None, None).await;
        strict_headers(&reply.headers).unwrap_or_else(|e| panic!("GET {path}: {e}"));
        let reply = app.call(Method::GET, path, &admin, None).await;
        strict_headers(&reply.headers).unwrap_or_else(|e| panic!("GET {path} signed in: {e}"));
    }
    // A one-time token in the address never leaves in a Referer.
    for path in ["/encuesta/abc", "/mis-datos/abc"] {
        let reply = app.call(Method::GET, path, &Auth::None, None).await;
        assert_eq!(reply.headers["referrer-policy"], "no-referrer", "{path}");
    }
    let reply = app.call(Method::GET, "/bandeja", &admin, None).await;
    assert_eq!(reply.headers["referrer-policy"], "same-origin");
    assert_eq!(reply.headers["cache-control"], "no-store");
    assert!(
        reply.headers.get("strict-transport-security").is_none(),
        "HSTS only over https"
    );
    let https = atiende_web::WebConfig {
        base_url: "https://cap.udgvirtual.udg.mx".into(),
        ..Default::default()
    };
    let secure = TestApp::with_config(TestDb::new(app.db.engine()).await, https).await;
    let reply = secure.call(Method::GET, "/login", &Auth::None, None).await;
    assert_eq!(
        reply.headers["strict-transport-security"],
        "max-age=31536000"
    );
}

async fn every_console_form_refuses_a_post_without_the_csrf_token(db: TestDb) {
    let app = TestApp::new(db).await;
    let admin = app.login("admin", ADMIN_PASSWORD).await;
    let Auth::Session { cookie, .. } = &admin else {
        panic!("session")
    };
    let contact = app
        .post("/api/v1/contacts", &admin, json!({"name": "Ana"}))
        .await
        .json["id"]
        .clone();
    let incident = app
        .post(
            "/api/v1/incidents",
            &admin,
            json!({"channel": "phone", "contact_id": contact}),
        )
        .await;
    let folio = incident.json["folio"].as_str().expect("folio").to_string();
    let forms = [
        "/logout".to_string(),
        "/clave".into(),
        "/preferencias".into(),
        "/preferencias/cerrar-sesiones".into(),
        "/preferencias/tokens".into(),
        "/preferencias/tokens/1/revocar".into(),
        "/incidentes/nuevo".into(),
        "/incidentes/nuevo/usuario".into(),
        format!("/incidentes/{folio}/nota"),
        format!("/incidentes/{folio}/cerrar"),
        format!("/incidentes/{folio}/derivar"),
        format!("/incidentes/{folio}/derivaciones/1/responder"),
        format!("/contactos/{contact}"),
        format!("/contactos/{contact}/fusionar"),
        format!("/contactos/{contact}/bloquear"),
        format!("/contactos/{contact}/desbloquear"),
        format!("/contactos/{contact}/suprimir"),
        "/privacidad/avisos".into(),
        "/privacidad/conservacion".into(),
        "/admin/usuarios".into(),
        "/admin/usuarios/1".into(),
        "/admin/unidades".into(),
        "/admin/unidades/1".into(),
        "/admin/temas".into(),
        "/admin/temas/1".into(),
        "/admin/buzones".into(),
        "/admin/acceso".into(),
        "/admin/acceso/proveedores".into(),
        "/admin/acceso/proveedores/udg/quitar".into(),
        "/admin/tokens/1/revocar".into(),
        "/admin/webhooks".into(),
        "/admin/webhooks/1/activar".into(),
        "/admin/webhooks/1/desactivar".into(),
        "/admin/webhooks/1/quitar".into(),
        "/preferencias/segundo-factor".into(),
        "/preferencias/segundo-factor/codigos".into(),
        "/preferencias/segundo-factor/quitar".into(),
        "/llamadas/1/devuelta".into(),
        "/calidad/encuesta/ajustes".into(),
        "/calidad/encuesta/preguntas".into(),
        "/responsables/seguimiento/1".into(),
        "/calidad/metas".into(),
        "/conocimiento".into(),
        "/conocimiento/1".into(),
        "/conocimiento/1/archivar".into(),
        format!("/incidentes/{folio}/articulos/1/resolvio"),
        "/calidad/pnc".into(),
        "/calidad/pnc/1".into(),
        "/calidad/pnc/criterios".into(),
        "/calidad/tiempos/horario".into(),
        "/calidad/tiempos/metas".into(),
        "/avisos/leidos".into(),
        "/preferencias/avisos".into(),
        "/respuestas".into(),
        "/respuestas/1".into(),
        "/respuestas/1/archivar".into(),
        "/macros".into(),
        "/macros/1".into(),
        "/macros/1/archivar".into(),
        format!("/incidentes/{folio}/macro"),
        format!("/incidentes/{folio}/esperar"),
        format!("/incidentes/{folio}/responder"),
        format!("/incidentes/{folio}/escribiendo"),
    ];
    for form in forms {
        let missing = app
            .form(&form, &Auth::CookieOnly(cookie.clone()), "name=x")
            .await;
        assert_eq!(
            missing.status,
            StatusCode::FORBIDDEN,
            "{form} without _csrf"
        );
        let wrong = app
            .form(
                &form,
                &Auth::CookieOnly(cookie.clone()),
                "_csrf=not-the-token&name=x",
            )
            .await;
        assert_eq!(
            wrong.status,
            StatusCode::FORBIDDEN,
            "{form} with a wrong _csrf"
        );
    }
    // The session is intact: nothing was logged out or changed.
    assert_eq!(page(&app, &admin, "/bandeja").await.0, StatusCode::OK);
}

async fn the_console_speaks_the_language_each_person_chose(db: TestDb) {
    let app = TestApp::new(db).await;
    app.staff("agente", Role::Agent, vec![]).await;
    let session = app.login("agente", PASSWORD).await;
    let (_, spanish) = page(&app, &session, "/bandeja").await;
    assert!(spanish.contains("Bandeja") && spanish.contains("lang=\"es-MX\""));
    let Auth::Session { cookie, csrf } = &session else {
        panic!("session")
    };
    let body = format!("_csrf={csrf}&language=en");
    let saved = app
        .form("/preferencias", &Auth::CookieOnly(cookie.clone()), &body)
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.json);
    let (_, english) = page(&app, &session, "/bandeja").await;
    assert!(
        english.contains("Queue")
            && english.contains("lang=\"en\"")
            && english.contains("Unassigned"),
        "{english}"
    );
    // Error pages too, whichever handler failed: they are written in one place.
    let (status, missing) = page(&app, &session, "/incidentes/CAP-2026-999999").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        missing.contains("The incident was not found.") && missing.contains("lang=\"en\""),
        "{missing}"
    );
    let (status, forbidden) = page(&app, &session, "/admin").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        forbidden.contains("Your role does not allow"),
        "{forbidden}"
    );
}

async fn email_html_is_sanitised_and_attachments_are_plain_downloads(db: TestDb) {
    let app = TestApp::new(db).await;
    let raw = b"From: Ana <ana@gmail.com>\r\nSubject: Con adjunto\r\nMessage-ID: <html-att@gmail.com>\r\n\
Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/html\r\n\r\n\
<p onclick=\"x()\">Hola<script>alert(1)</script><img src=\"https://t.example/p.gif\"></p>\r\n--b\r\n\
Content-Type: text/html; name=evil.html\r\nContent-Disposition: attachment; filename=evil.html\r\n\r\n<script>alert(2)</script>\r\n--b--\r\n";
    let email = atiende_channels::email::parse(raw);
    let outcome = app
        .db
        .ingest_email(None, &email, raw)
        .await
        .expect("ingest");
    let atiende_store::email::IngestOutcome::Created(id) = outcome else {
        panic!("{outcome:?}")
    };
    let folio = app
        .db
        .incident(id)
        .await
        .expect("incident")
        .folio
        .to_string();
    let attachment = app.db.attachments(id).await.expect("attachments")[0].id;
    let admin = app.login("admin", ADMIN_PASSWORD).await;

    let download = app
        .call(
            Method::GET,
            &format!("/incidentes/{folio}/adjuntos/{attachment}"),
            &admin,
            None,
        )
        .await;
    assert_eq!(download.status, StatusCode::OK);
    let h = |name| {
        download
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    assert_eq!(h(header::CONTENT_TYPE), "application/octet-stream");
    assert!(
        h(header::CONTENT_DISPOSITION).starts_with("attachment;"),
        "{}",
        h(header::CONTENT_DISPOSITION)
    );
    assert_eq!(h(header::X_CONTENT_TYPE_OPTIONS), "nosniff");

    let (status, page_html) = page(
        &app,
        &admin,
        &format!("/incidentes/{folio}/correo/html-att@gmail.com"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page_html.contains("sandbox") && page_html.contains("Hola"),
        "{page_html}"
    );
    assert!(
        !page_html.contains("alert(1)") && !page_html.contains("onclick"),
        "{page_html}"
    );
    assert!(
        !page_html.contains("t.example"),
        "remote images wait for permission"
    );
    let (_, with_images) = page(
        &app,
        &admin,
        &format!("/incidentes/{folio}/correo/html-att@gmail.com?imagenes=1"),
    )
    .await;
    assert!(with_images.contains("t.example"));

    // Someone who may not see the incident cannot fetch its attachment either.
    let unit = app.unit_of_kind("coordination").await["id"]
        .as_i64()
        .expect("unit");
    app.staff("escolar", Role::UnitResponsible, vec![UnitId(unit)])
        .await;
    let responsible = app.login("escolar", PASSWORD).await;
    let hidden = app
        .call(
            Method::GET,
            &format!("/incidentes/{folio}/adjuntos/{attachment}"),
            &responsible,
            None,
        )
        .await;
    assert_eq!(hidden.status, StatusCode::NOT_FOUND);
}

async fn a_one_time_password_is_shown_once_in_the_page_and_never_in_a_url(db: TestDb) {
    let app = TestApp::new(db).await;
    let admin = app.login("admin", ADMIN_PASSWORD).await;
    let Auth::Session { csrf, .. } = &admin else {
        panic!("session")
    };
    let created = app
        .form(
            "/admin/usuarios",
            &admin,
            &format!("_csrf={csrf}&login=nueva.agente&name=Nueva+Agente&role=agent&language=es"),
        )
        .await;
    assert_eq!(
        created.status,
        StatusCode::OK,
        "shown in the answer, not redirected"
    );
    assert!(created.headers.get("location").is_none());
    let body = created.json.as_str().unwrap_or_default().to_string();
    assert!(
        body.contains("Contraseña de un solo uso para nueva.agente"),
        "{body}"
    );
    let user = app.db.user_by_login("nueva.agente").await.expect("created");
    let reset = app
        .form(
            &format!("/admin/usuarios/{}", user.id.0),
            &admin,
            &format!("_csrf={csrf}&name=Nueva+Agente&role=agent&language=es&reset_password=1"),
        )
        .await;
    assert_eq!(reset.status, StatusCode::OK);
    assert!(reset.headers.get("location").is_none());
    assert!(
        reset
            .json
            .as_str()
            .unwrap_or_default()
            .contains("Contraseña de un solo uso")
    );
}
