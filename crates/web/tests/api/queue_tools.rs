//! The queue's tools in the console: a compact view with folding filters, saved views kept per
//! person (without the search words), bulk actions that go through each incident's own steps,
//! duplicates and merges (by API too), and the next incident to attend.

use atiende_domain::user::Role;
use atiende_store::testing::TestDb;
use axum::http::StatusCode;
use serde_json::json;

use crate::helpers::{Auth, PASSWORD, TestApp};

atiende_store::on_both_engines!(
    saved_views_are_each_persons_and_keep_the_filters_not_the_words,
    bulk_actions_apply_to_each_selected_incident_through_its_own_rules,
    merged_incidents_keep_both_timelines_and_no_survey_is_sent,
    the_next_incident_to_attend_follows_the_open_queue,
);

fn csrf(auth: &Auth) -> String {
    match auth {
        Auth::Session { csrf, .. } => csrf.clone(),
        _ => panic!("a console session"),
    }
}

fn html(reply: &crate::helpers::Reply) -> String {
    reply.json.as_str().unwrap_or_default().to_string()
}

/// A new incident of `contact`; its folio.
async fn incident(
    app: &TestApp,
    auth: &Auth,
    contact: &serde_json::Value,
    subject: &str,
) -> String {
    let r = app
        .post(
            "/api/v1/incidents",
            auth,
            json!({"channel": "email", "contact_id": contact, "subject": subject, "body": subject}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
    r.json["folio"].as_str().expect("folio").to_string()
}

async fn person(app: &TestApp, auth: &Auth, email: &str) -> serde_json::Value {
    app.post(
        "/api/v1/contacts",
        auth,
        json!({"name": "Ana López", "emails": [email]}),
    )
    .await
    .json["id"]
        .clone()
}

async fn saved_views_are_each_persons_and_keep_the_filters_not_the_words(db: TestDb) {
    let app = TestApp::new(db).await;
    app.staff("maria", Role::Agent, vec![]).await;
    app.staff("jose", Role::Agent, vec![]).await;
    let maria = app.login("maria", PASSWORD).await;
    let jose = app.login("jose", PASSWORD).await;

    // Compact, the filters folded while none is chosen.
    let queue = html(&app.get("/bandeja?vista=compacta", &maria).await);
    assert!(queue.contains("class=\"queue compact\""), "{queue}");
    assert!(
        queue.contains("<details class=\"filters-fold\" >"),
        "{queue}"
    );
    let filtered = html(&app.get("/bandeja?channel=email", &maria).await);
    assert!(filtered.contains("<details class=\"filters-fold\" open>"));

    let saved = app
        .form(
            "/bandeja/vistas",
            &maria,
            &format!(
                "_csrf={}&name=Correos+vencidos&query=queue%3Dopen%26channel%3Demail%26clock%3Dbreached%26q%3DAna%2BL%C3%B3pez%26vista%3Dcompacta",
                csrf(&maria)
            ),
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER);
    let queue = html(&app.get("/bandeja", &maria).await);
    let link = "href=\"/bandeja?queue=open&#38;channel=email&#38;clock=breached&#38;vista=compacta\">Correos vencidos</a>";
    assert!(queue.contains(link), "{queue}");
    assert!(!queue.contains("Ana"), "the search words are not kept");
    assert!(!html(&app.get("/bandeja", &jose).await).contains("Correos vencidos"));
    let id = app
        .db
        .saved_views(app.db.user_by_login("maria").await.expect("maria").id)
        .await
        .expect("views")[0]
        .id;
    // Another's view cannot be deleted; one's own can.
    let theirs = app
        .form(
            &format!("/bandeja/vistas/{id}/borrar"),
            &jose,
            &format!("_csrf={}", csrf(&jose)),
        )
        .await;
    assert_eq!(theirs.status, StatusCode::NOT_FOUND);
    let mine = app
        .form(
            &format!("/bandeja/vistas/{id}/borrar"),
            &maria,
            &format!("_csrf={}", csrf(&maria)),
        )
        .await;
    assert_eq!(mine.status, StatusCode::SEE_OTHER);
    assert!(!html(&app.get("/bandeja", &maria).await).contains("Correos vencidos"));
}

async fn bulk_actions_apply_to_each_selected_incident_through_its_own_rules(db: TestDb) {
    let app = TestApp::new(db).await;
    app.staff("maria", Role::Agent, vec![]).await;
    let maria = app.login("maria", PASSWORD).await;
    let ana = person(&app, &maria, "ana@example.org").await;
    let a = incident(&app, &maria, &ana, "Beca").await;
    let b = incident(&app, &maria, &ana, "Beca otra vez").await;
    let c = incident(&app, &maria, &ana, "Horario").await;

    // Take the three, classify two.
    let body = |action: &str, extra: &str, folios: &[&str]| {
        let mut s = format!("_csrf={}&action={action}{extra}", csrf(&maria));
        for f in folios {
            s.push_str(&format!("&folios={f}"));
        }
        s
    };
    let taken = app
        .form(
            "/bandeja/lote",
            &maria,
            &body("assign", "&user_id=me", &[&a, &b, &c]),
        )
        .await;
    assert_eq!(taken.status, StatusCode::OK, "{}", taken.json);
    assert_eq!(
        html(&taken).matches("Hecho.").count(),
        3,
        "{}",
        html(&taken)
    );
    let classified = app
        .form(
            "/bandeja/lote",
            &maria,
            &body(
                "classify",
                "&incident_type=question",
                &[&a, &b, "CAP-1999-000001"],
            ),
        )
        .await;
    let page = html(&classified);
    assert_eq!(page.matches("Hecho.").count(), 2, "{page}");
    assert!(page.contains("No existe o no puede verlo."), "{page}");
    let detail = app.get(&format!("/api/v1/incidents/{a}"), &maria).await;
    assert_eq!(detail.json["incident_type"], "question");
    assert!(detail.json["assigned_to"].is_i64(), "{}", detail.json);

    // Close b and c as duplicates of the oldest selected (a); a stays open.
    let closed = app
        .form(
            "/bandeja/lote",
            &maria,
            &body("duplicate", "", &[&a, &b, &c]),
        )
        .await;
    let page = html(&closed);
    assert!(page.contains("Es el original."), "{page}");
    assert_eq!(page.matches("Hecho.").count(), 2, "{page}");
    for folio in [&b, &c] {
        let d = app.get(&format!("/api/v1/incidents/{folio}"), &maria).await;
        assert_eq!(d.json["status"], "closed");
        assert_eq!(d.json["duplicate_of"], a.as_str());
    }
    let original = app.get(&format!("/api/v1/incidents/{a}"), &maria).await;
    assert_eq!(original.json["status"], "open");

    // Nothing selected is refused, with words.
    let none = app
        .form("/bandeja/lote", &maria, &body("duplicate", "", &[]))
        .await;
    assert_eq!(none.status, StatusCode::UNPROCESSABLE_ENTITY);
}

async fn merged_incidents_keep_both_timelines_and_no_survey_is_sent(db: TestDb) {
    let app = TestApp::new(db).await;
    app.staff("maria", Role::Agent, vec![]).await;
    let maria = app.login("maria", PASSWORD).await;
    let ana = person(&app, &maria, "ana@example.org").await;
    let luis = person(&app, &maria, "luis@example.org").await;
    let first = incident(&app, &maria, &ana, "Orden de pago vencida").await;
    let again = incident(&app, &maria, &ana, "Sigo sin orden de pago").await;
    let other = incident(&app, &maria, &luis, "Orden de pago").await;

    let refused = app
        .post(
            &format!("/api/v1/incidents/{other}/duplicate"),
            &maria,
            json!({"original": first, "merge": true}),
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        refused.json["error"]["fields"][0]["code"],
        "not_the_same_person"
    );

    let merged = app
        .post(
            &format!("/api/v1/incidents/{again}/duplicate"),
            &maria,
            json!({"original": first, "merge": true}),
        )
        .await;
    assert_eq!(merged.status, StatusCode::OK, "{}", merged.json);
    assert_eq!(merged.json["status"], "closed");
    // Both timelines whole: the original shows the merged one's with it.
    let original = app.get(&format!("/api/v1/incidents/{first}"), &maria).await;
    assert_eq!(original.json["merged"][0]["folio"], again.as_str());
    let words: Vec<&str> = original.json["merged"][0]["timeline"]
        .as_array()
        .expect("timeline")
        .iter()
        .filter_map(|e| e["body"].as_str())
        .collect();
    assert!(words.contains(&"Sigo sin orden de pago"), "{words:?}");
    let page = html(&app.get(&format!("/incidentes/{first}"), &maria).await);
    assert!(page.contains("Historial fusionado de"), "{page}");
    assert!(page.contains("Sigo sin orden de pago"));
    let merged_page = html(&app.get(&format!("/incidentes/{again}"), &maria).await);
    assert!(merged_page.contains(&format!("Fusionado en <a href=\"/incidentes/{first}\">")));
    // No survey waits for the merged one.
    let id = merged.json["id"].as_i64().expect("id");
    let jobs = app
        .db
        .outbox(Some(atiende_domain::ids::IncidentId(id)), 50)
        .await
        .expect("jobs");
    assert!(
        !jobs.iter().any(|j| j.kind == "survey_due"),
        "{:?}",
        jobs.iter().map(|j| &j.kind).collect::<Vec<_>>()
    );

    // An original that is itself a duplicate is refused; reopening undoes the link.
    let chained = app
        .post(
            &format!("/api/v1/incidents/{other}/duplicate"),
            &maria,
            json!({"original": again}),
        )
        .await;
    assert_eq!(
        chained.json["error"]["fields"][0]["code"],
        "original_is_duplicate"
    );
    let reopened = app
        .post(
            &format!("/api/v1/incidents/{again}/reopen"),
            &maria,
            json!({"reason": "La persona escribió de nuevo"}),
        )
        .await;
    assert_eq!(reopened.status, StatusCode::OK, "{}", reopened.json);
    let original = app.get(&format!("/api/v1/incidents/{first}"), &maria).await;
    assert_eq!(original.json["merged"], json!([]));
}

async fn the_next_incident_to_attend_follows_the_open_queue(db: TestDb) {
    let app = TestApp::new(db).await;
    app.staff("maria", Role::Agent, vec![]).await;
    let maria = app.login("maria", PASSWORD).await;
    let ana = person(&app, &maria, "ana@example.org").await;
    let older = incident(&app, &maria, &ana, "Primero").await;
    let newer = incident(&app, &maria, &ana, "Segundo").await;
    let next = app
        .get(&format!("/bandeja/siguiente?despues={newer}"), &maria)
        .await;
    assert_eq!(next.status, StatusCode::SEE_OTHER);
    assert_eq!(
        next.headers["location"].to_str().expect("location"),
        format!("/incidentes/{older}")
    );
    let last = app
        .get(&format!("/bandeja/siguiente?despues={older}"), &maria)
        .await;
    assert_eq!(last.headers["location"], "/bandeja");
}
