//! The console speaks the procedure's Spanish: every page, rendered over the demo data, shows no
//! internal code of the domain's vocabulary (`waiting_unit`, `question`, `student`…), and API
//! error messages in Spanish name things in Spanish.

use std::collections::BTreeSet;

use atiende_domain::audit::EntityKind;
use atiende_domain::call::{CallDirection, CallState};
use atiende_domain::classification::{
    Channel, IncidentType, Lang, Medium, ProgrammeLine, UserType,
};
use atiende_domain::incident::{EntryKind, Status};
use atiende_domain::indicators::IndicatorKind;
use atiende_domain::nonconformity::{Criterion, NcStatus};
use atiende_domain::period::Periodicity;
use atiende_domain::unit::UnitKind;
use atiende_domain::user::Role;
use atiende_store::testing::TestDb;
use axum::http::{Method, StatusCode, header};

use crate::helpers::{Auth, PASSWORD, TestApp};

atiende_store::on_both_engines!(
    no_console_page_shows_an_internal_code_over_the_demo_data,
    api_errors_in_spanish_name_things_in_spanish,
);

/// Every code of the vocabulary the console shows, except codes that are also Spanish words
/// (`integral` in a label, `social` as in "servicio social").
fn internal_codes() -> BTreeSet<&'static str> {
    macro_rules! codes_and_labels {
        ($($kind:ty),*) => {{
            let mut codes = Vec::new();
            let mut labels = Vec::new();
            $(for v in <$kind>::ALL {
                codes.push(v.code());
                labels.push(v.label(Lang::Es).to_lowercase());
            })*
            (codes, labels)
        }};
    }
    let (codes, labels) = codes_and_labels!(
        Status,
        EntryKind,
        Channel,
        UserType,
        IncidentType,
        ProgrammeLine,
        Medium,
        Role,
        UnitKind,
        NcStatus,
        Criterion,
        Periodicity,
        IndicatorKind,
        CallDirection,
        CallState,
        EntityKind
    );
    codes
        .into_iter()
        .filter(|c| !labels.iter().any(|l| l.split(' ').any(|w| w == *c)))
        .filter(|c| *c != "social")
        .collect()
}

/// The words a reader sees: tags, scripts and styles removed, attribute values ignored
/// (except `title`, which shows on hover).
fn visible_words(html: &str) -> Vec<String> {
    let mut text = String::new();
    let mut rest = html;
    while let Some(open) = rest.find('<') {
        text.push_str(&rest[..open]);
        text.push(' ');
        let tag = &rest[open..];
        let end = tag.find('>').map_or(tag.len(), |e| e + 1);
        if let Some(title) = tag[..end].split("title=\"").nth(1) {
            text.push_str(title.split('"').next().unwrap_or_default());
            text.push(' ');
        }
        let lower = tag[..end].to_ascii_lowercase();
        rest = &tag[end..];
        for hidden in ["script", "style"] {
            if lower.starts_with(&format!("<{hidden}")) {
                let close = format!("</{hidden}>");
                let at = rest.to_ascii_lowercase().find(&close).unwrap_or(rest.len());
                rest = &rest[at..];
            }
        }
    }
    text.push_str(rest);
    text.split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

async fn no_console_page_shows_an_internal_code_over_the_demo_data(db: TestDb) {
    let app = TestApp::new(db).await;
    let demo = app
        .db
        .load_demo(60, 11, Some(PASSWORD))
        .await
        .expect("demo data");
    let mut logins: BTreeSet<String> = demo
        .staff
        .iter()
        .filter_map(|(who, _)| who.split(' ').next().map(str::to_string))
        .collect();
    logins.insert("admin".into());
    let admin = app.login("admin", crate::helpers::ADMIN_PASSWORD).await;
    let lead = app.login("carmen.lider", PASSWORD).await;
    let quality = app.login("siga", PASSWORD).await;

    let mut pages: Vec<(String, &Auth)> = [
        "/bandeja",
        "/bandeja?status=waiting_unit",
        "/bandeja?status=closed",
        "/incidentes/nuevo",
        "/contactos",
        "/llamadas",
        "/conocimiento",
        "/buscar?q=constancia",
        "/buscar?q=pago",
        "/calidad/indicadores",
        "/calidad/pnc",
        "/calidad/reporte",
        "/calidad/encuesta",
        "/admin",
        "/privacidad",
        "/privacidad/avisos",
        "/preferencias",
    ]
    .into_iter()
    .map(|p| (p.to_string(), &admin))
    .collect();
    pages.push(("/responsables".into(), &lead));
    pages.push(("/calidad/indicadores".into(), &quality));
    // Each incident of the demo (every state, channel and derivation), and each person.
    let incidents = app.get("/api/v1/incidents?limit=100", &admin).await;
    for i in incidents.json["items"]
        .as_array()
        .or(incidents.json.as_array())
        .expect("incidents")
    {
        let folio = i["folio"].as_str().expect("folio");
        pages.push((format!("/incidentes/{folio}"), &lead));
    }
    let contacts = app.get("/api/v1/contacts?limit=20", &admin).await;
    let listed = contacts.json["items"]
        .as_array()
        .or(contacts.json.as_array());
    for c in listed.expect("contacts") {
        pages.push((format!("/contactos/{}", c["id"]), &admin));
        pages.push((format!("/contactos/{}/expediente", c["id"]), &admin));
    }

    let codes = internal_codes();
    let mut failures = BTreeSet::new();
    for (path, auth) in &pages {
        let reply = app.call(Method::GET, path, auth, None).await;
        assert_eq!(reply.status, StatusCode::OK, "GET {path}");
        let html = reply
            .headers
            .get(header::CONTENT_TYPE)
            .is_some_and(|t| t.to_str().unwrap_or_default().starts_with("text/html"));
        if !html {
            continue;
        }
        let body = reply.json.as_str().unwrap_or_default();
        for word in visible_words(body) {
            // A lower-case word with an underscore is a field name or a code, never Spanish
            // (`America/Mexico_City` or `ATIENDE_*` on the administration page are names).
            let snake = word.contains('_') && !word.chars().any(char::is_uppercase);
            let internal = codes.contains(word.as_str()) || snake;
            if internal && !logins.contains(&word) {
                failures.insert(format!("{path}: `{word}`"));
            }
        }
    }
    assert!(
        pages.len() > 40,
        "only {} pages rendered: is the demo loaded?",
        pages.len()
    );
    let failures: Vec<String> = failures.into_iter().collect();
    assert!(
        failures.is_empty(),
        "internal codes shown:\n{}",
        failures.join("\n")
    );
}

async fn api_errors_in_spanish_name_things_in_spanish(db: TestDb) {
    let app = TestApp::new(db).await;
    let admin = app.login("admin", crate::helpers::ADMIN_PASSWORD).await;
    for (path, expected) in [
        (
            "/api/v1/incidents/CAP-2026-999999",
            "No se encontró el incidente.",
        ),
        ("/api/v1/contacts/999999", "No se encontró la persona."),
        (
            "/api/v1/users/999999",
            "No se encontró el usuario del personal.",
        ),
        ("/api/v1/units/999999", "No se encontró la unidad."),
    ] {
        let reply = app
            .call_with(
                Method::GET,
                path,
                &admin,
                None,
                &[("accept-language", "es-MX")],
            )
            .await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(reply.json["error"]["message"], expected, "{path}");
    }
}
