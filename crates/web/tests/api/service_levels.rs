//! Service levels through the console and the API: the quality owner keeps the business hours
//! and the targets (*Tiempos comprometidos*), every incident carries its clocks in the queue
//! and its view, the queue keeps the overdue, and an agent puts an incident on hold waiting on
//! the person.

use atiende_domain::user::Role;
use atiende_store::testing::TestDb;
use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{Auth, PASSWORD, TestApp};

atiende_store::on_both_engines!(
    the_quality_owner_keeps_the_hours_and_targets_in_the_console,
    service_levels_and_business_hours_by_api_with_errors_that_name_the_field,
    the_queue_shows_each_clock_and_keeps_the_overdue,
);

async fn owner(app: &TestApp) -> (Auth, String) {
    app.staff("calidad", Role::QualityOwner, vec![]).await;
    let auth = app.login("calidad", PASSWORD).await;
    let Auth::Session { csrf, .. } = &auth else {
        panic!("session")
    };
    let csrf = csrf.clone();
    (auth, csrf)
}

fn html(reply: &crate::helpers::Reply) -> String {
    reply.json.as_str().unwrap_or_default().to_string()
}

async fn the_quality_owner_keeps_the_hours_and_targets_in_the_console(db: TestDb) {
    let app = TestApp::new(db).await;
    let (auth, csrf) = owner(&app).await;
    let page = app.get("/calidad/tiempos", &auth).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(html(&page).contains("Horario de atención"));

    // Saturdays 9:00–14:00 too, and the winter vacation.
    let mut form = format!("_csrf={csrf}");
    for day in 0..6 {
        let closes = if day == 5 { "14:00" } else { "18:00" };
        form.push_str(&format!(
            "&open_{day}=1&opens_{day}=09:00&closes_{day}={closes}"
        ));
    }
    form.push_str(
        "&days_off=2026-12-21+2027-01-06+Vacaciones+de+invierno%0A2027-02-01+Constituci%C3%B3n",
    );
    let saved = app.form("/calidad/tiempos/horario", &auth, &form).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.json);
    let calendar = app.db.business_calendar().await.expect("calendar");
    assert!(calendar.week[5].is_some() && calendar.week[6].is_none());
    assert_eq!(calendar.days_off.len(), 2);
    assert_eq!(calendar.days_off[0].name, "Vacaciones de invierno");
    let shown = html(&app.get("/calidad/tiempos", &auth).await);
    assert!(
        shown.contains("2026-12-21 2027-01-06 Vacaciones de invierno"),
        "{shown}"
    );

    // Closing before opening is refused, in Spanish, and nothing changes.
    let bad = app
        .form(
            "/calidad/tiempos/horario",
            &auth,
            &format!("_csrf={csrf}&open_0=1&opens_0=18:00&closes_0=09:00"),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        html(&bad).contains("la hora de cierre debe ser posterior"),
        "{}",
        html(&bad)
    );
    assert_eq!(
        app.db.business_calendar().await.expect("calendar"),
        calendar
    );

    // Targets: a general row and a faster one for complaints, and one unit's own time.
    let unit = app.db.units().await.expect("units")[0].id.0;
    let targets = format!(
        "_csrf={csrf}&channel_0=&incident_type_0=&critical_0=&topic_id_0=&first_response_0=480&resolution_0=1440\
         &channel_1=&incident_type_1=complaint&critical_1=&topic_id_1=&first_response_1=&resolution_1=900\
         &channel_2=&incident_type_2=&critical_2=&topic_id_2=&first_response_2=&resolution_2=\
         &warning_percent=80&critical_warning_percent=40&unit_answer_minutes=960&unit_{unit}=300"
    );
    let saved = app.form("/calidad/tiempos/metas", &auth, &targets).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.json);
    let policy = app.db.service_policy().await.expect("policy");
    assert_eq!(policy.targets.len(), 2, "the empty row is dropped");
    assert_eq!(policy.targets[1].resolution_minutes, Some(900));
    assert_eq!(policy.warning_percent, 80);
    assert_eq!(policy.unit_targets[0].minutes, 300);

    // Agents see the targets but cannot change them.
    app.staff("agente", Role::Agent, vec![]).await;
    let agent = app.login("agente", PASSWORD).await;
    let Auth::Session {
        csrf: agent_csrf, ..
    } = &agent
    else {
        panic!("session")
    };
    assert_eq!(
        app.get("/calidad/tiempos", &agent).await.status,
        StatusCode::FORBIDDEN,
        "the quality pages are for those who read indicators"
    );
    let refused = app
        .form(
            "/calidad/tiempos/metas",
            &agent,
            &format!("_csrf={agent_csrf}&warning_percent=10"),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
}

async fn service_levels_and_business_hours_by_api_with_errors_that_name_the_field(db: TestDb) {
    let app = TestApp::new(db).await;
    let quality = app.token_for("calidad", Role::QualityOwner, vec![]).await;
    let read = app.get("/api/v1/quality/service-levels", &quality).await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(read.json["warning_percent"], 75);
    let mut policy = read.json.clone();
    policy["targets"][0]["resolution_minutes"] = json!(2000);
    let saved = app
        .call(
            Method::PUT,
            "/api/v1/quality/service-levels",
            &quality,
            Some(policy),
        )
        .await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.json);
    assert_eq!(saved.json["targets"][0]["resolution_minutes"], 2000);
    let bad = app
        .call(
            Method::PUT,
            "/api/v1/quality/service-levels",
            &quality,
            Some(json!({"targets": [{"first_response_minutes": 0}]})),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        bad.json["error"]["fields"][0]["field"],
        "targets[0].first_response_minutes"
    );

    let hours = app.get("/api/v1/quality/business-hours", &quality).await;
    assert_eq!(hours.json["week"][0]["opens"], "09:00:00");
    assert_eq!(hours.json["week"][6], serde_json::Value::Null);
    let saved = app
        .call(
            Method::PUT,
            "/api/v1/quality/business-hours",
            &quality,
            Some(json!({
                "week": [{"opens": "08:00", "closes": "16:00"}, null, null, null, null, null, null],
                "days_off": [{"from": "2026-12-25", "to": "2026-12-25", "name": "Navidad"}],
            })),
        )
        .await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.json);
    assert_eq!(saved.json["week"][0]["closes"], "16:00:00");
    assert_eq!(saved.json["days_off"][0]["name"], "Navidad");
}

async fn the_queue_shows_each_clock_and_keeps_the_overdue(db: TestDb) {
    let app = TestApp::new(db).await;
    app.staff("agente", Role::Agent, vec![]).await;
    let agent = app.login("agente", PASSWORD).await;
    let contact = app
        .post("/api/v1/contacts", &agent, json!({"name": "Ana López"}))
        .await;
    let old = (chrono::Utc::now() - chrono::Duration::days(20)).to_rfc3339();
    let late = app
        .post(
            "/api/v1/incidents",
            &agent,
            json!({"channel": "whatsapp", "contact_id": contact.json["id"], "subject": "Pago", "received_at": old}),
        )
        .await;
    assert_eq!(late.status, StatusCode::CREATED, "{}", late.json);
    let late = late.json["folio"].as_str().expect("folio").to_string();
    let fresh = app
        .post(
            "/api/v1/incidents",
            &agent,
            json!({"channel": "email", "contact_id": contact.json["id"], "subject": "Horario"}),
        )
        .await;
    let fresh = fresh.json["folio"].as_str().expect("folio").to_string();

    // The API lists each incident with its clocks, and keeps the overdue on request.
    let listed = app.get("/api/v1/incidents", &agent).await;
    let items = listed.json["items"].as_array().expect("items");
    assert!(
        items
            .iter()
            .all(|i| i["clocks"].as_array().is_some_and(|c| c.len() == 2))
    );
    let overdue = app.get("/api/v1/incidents?clock=breached", &agent).await;
    let folios: Vec<_> = overdue.json["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["folio"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(folios, std::slice::from_ref(&late));

    // Newest first by default; the earliest due first on request, one page at a time.
    let folios_of = |v: &serde_json::Value| -> Vec<String> {
        v["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|i| i["folio"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    assert_eq!(folios_of(&listed.json), [fresh.clone(), late.clone()]);
    let due = app.get("/api/v1/incidents?order=due&limit=1", &agent).await;
    assert_eq!(folios_of(&due.json), std::slice::from_ref(&late));
    let cursor = due.json["next_cursor"]
        .as_str()
        .expect("a next page")
        .to_string();
    let rest = app
        .get(
            &format!("/api/v1/incidents?order=due&limit=1&cursor={cursor}"),
            &agent,
        )
        .await;
    assert_eq!(folios_of(&rest.json), std::slice::from_ref(&fresh));
    let bad = app
        .get("/api/v1/incidents?order=due&cursor=zz", &agent)
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.json);
    let queue = html(&app.get("/bandeja?queue=all&order=due", &agent).await);
    let (first, second) = (queue.find(&late), queue.find(&fresh));
    assert!(first.is_some() && first < second, "{queue}");

    // The console's queue: a column, and the same filter.
    let queue = html(&app.get("/bandeja?clock=breached", &agent).await);
    assert!(queue.contains(&late) && !queue.contains(&fresh), "{queue}");
    assert!(queue.contains("Vencido"), "{queue}");
    let page = html(&app.get(&format!("/incidentes/{fresh}"), &agent).await);
    assert!(
        page.contains("Primera respuesta") && page.contains("En tiempo"),
        "{page}"
    );

    // Waiting on the person pauses the resolution clock.
    let waiting = app
        .post(
            &format!("/api/v1/incidents/{fresh}/waiting-on-person"),
            &agent,
            json!({"note": "Se pidió su número de expediente"}),
        )
        .await;
    assert_eq!(waiting.status, StatusCode::CREATED, "{}", waiting.json);
    let detail = app.get(&format!("/api/v1/incidents/{fresh}"), &agent).await;
    let resolution = detail.json["clocks"]
        .as_array()
        .expect("clocks")
        .iter()
        .find(|c| c["measure"] == "resolution")
        .expect("resolution clock")
        .clone();
    assert!(resolution["due_at"].is_null());
    assert!(
        resolution["paused_minutes_left"]
            .as_i64()
            .is_some_and(|m| m > 0)
    );
    let page = html(&app.get(&format!("/incidentes/{fresh}"), &agent).await);
    assert!(page.contains("En pausa"), "{page}");
}
