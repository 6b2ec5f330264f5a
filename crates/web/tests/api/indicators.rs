//! The indicators dashboard, targets, exports (read back as a spreadsheet) and the period
//! report, through the router, on both engines.

use std::io::Cursor;

use atiende_domain::classification::{Channel, IncidentType, UserType};
use atiende_domain::contact::ContactInput;
use atiende_domain::incident::{ClassifyInput, NewIncidentInput};
use atiende_domain::period::{Period, Periodicity};
use atiende_domain::user::Role;
use atiende_store::Actor;
use atiende_store::testing::TestDb;
use axum::http::StatusCode;
use calamine::{Reader, Xlsx};

use crate::helpers::{Auth, PASSWORD, TestApp};
use crate::public::text;

atiende_store::on_both_engines!(
    the_quality_owner_sets_targets_and_sees_each_indicator_against_them_with_its_trend,
    exports_open_in_a_spreadsheet_reader_and_the_report_prints,
    the_quality_owner_sees_what_the_buzon_routed_to_them_and_closes_or_returns_it,
);

/// Three incidents this semester: two closed at first contact, one complaint left open.
pub async fn data(app: &TestApp) {
    let agent = app.staff("agente-ind", Role::Agent, vec![]).await;
    let contact = app
        .db
        .create_contact(
            Actor::System,
            &ContactInput {
                name: Some("Ana".into()),
                user_type: Some(UserType::Student),
                ..Default::default()
            },
        )
        .await
        .expect("contact");
    for (n, kind) in [
        IncidentType::Question,
        IncidentType::Question,
        IncidentType::Complaint,
    ]
    .into_iter()
    .enumerate()
    {
        let i = app
            .db
            .create_incident(
                Actor::Staff(&agent),
                NewIncidentInput {
                    channel: Channel::Phone,
                    contact_id: Some(contact.id),
                    subject: format!("Asunto {n}"),
                    body: String::new(),
                    user_type: None,
                    incident_type: Some(kind),
                    topic_id: None,
                    critical: false,
                    assigned_to: Some(agent.id),
                    received_at: None,
                },
            )
            .await
            .expect("incident");
        if kind == IncidentType::Question {
            app.db
                .classify_incident(Actor::Staff(&agent), i.id, &ClassifyInput::default())
                .await
                .expect("classify");
            app.db
                .close_incident(Actor::Staff(&agent), i.id, Some("Resuelto."))
                .await
                .expect("close");
        }
    }
}

async fn owner(app: &TestApp) -> (Auth, String) {
    app.staff("calidad", Role::QualityOwner, vec![]).await;
    let auth = app.login("calidad", PASSWORD).await;
    let Auth::Session { csrf, .. } = &auth else {
        panic!("session");
    };
    let csrf = csrf.clone();
    (auth, csrf)
}

async fn the_quality_owner_sets_targets_and_sees_each_indicator_against_them_with_its_trend(
    db: TestDb,
) {
    let app = TestApp::new(db).await;
    data(&app).await;
    let (auth, csrf) = owner(&app).await;
    let semester = Period::containing(
        chrono::Utc::now(),
        app.db.time_zone(),
        Periodicity::Semester,
    );
    let page = app.get("/calidad/indicadores", &auth).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(text(&page).contains(&semester.label(atiende_domain::classification::Lang::Es)));
    let form = format!(
        "_csrf={csrf}&periodo={}&target_first_contact_resolution=90&periodicity_first_contact_resolution=semester\
         &responsible_first_contact_resolution=Responsable+del+CAP&target_complaints=0&periodicity_complaints=semester\
         &responsible_complaints=Calidad",
        semester.code()
    );
    let saved = app.form("/calidad/metas", &auth, &form).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER);
    let page = app
        .get(
            &format!("/calidad/indicadores?periodo={}", semester.code()),
            &auth,
        )
        .await;
    let html = text(&page);
    // First-contact resolution: 2 of 2 closed = 100 % ≥ 90 %: met. Complaints: 1 > 0: missed.
    let row = |code: &str| {
        html.split(&format!("id=\"ind-{code}\""))
            .nth(1)
            .and_then(|r| r.split("</tr>").next())
            .unwrap_or_default()
            .to_string()
    };
    let fcr = row("first_contact_resolution");
    assert!(fcr.contains("100.0 %") && fcr.contains("≥ 90.0 %"), "{fcr}");
    assert!(html.contains("<tr class=\"met\" id=\"ind-first_contact_resolution\""));
    assert!(html.contains("<tr class=\"missed\" id=\"ind-complaints\""));
    assert!(row("complaints").contains("Calidad"));
    assert!(fcr.contains("<svg"), "a trend drawn on the server");
    assert!(html.contains("class=\"target\""), "with the target line");
    let bad = app
        .form(
            "/calidad/metas",
            &auth,
            &format!("_csrf={csrf}&target_incidents=muchos"),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(text(&bad).contains("escriba un número"));
    // Management reads the dashboard but cannot change targets.
    app.staff("rector", Role::Management, vec![]).await;
    let management = app.login("rector", PASSWORD).await;
    let Auth::Session { csrf: m_csrf, .. } = &management else {
        panic!("session");
    };
    assert_eq!(
        app.get("/calidad/indicadores", &management).await.status,
        StatusCode::OK
    );
    let refused = app
        .form(
            "/calidad/metas",
            &management,
            &format!("_csrf={m_csrf}&target_incidents=5"),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
}

async fn exports_open_in_a_spreadsheet_reader_and_the_report_prints(db: TestDb) {
    let app = TestApp::new(db).await;
    data(&app).await;
    let (auth, _) = owner(&app).await;
    let year = Period::containing(chrono::Utc::now(), app.db.time_zone(), Periodicity::Yearly);
    let xlsx = app
        .call_raw(
            &format!(
                "/calidad/indicadores/exportar?periodo={}&formato=xlsx",
                year.code()
            ),
            &auth,
        )
        .await;
    assert_eq!(xlsx.0, StatusCode::OK);
    let mut book: Xlsx<_> = Xlsx::new(Cursor::new(xlsx.1)).expect("an xlsx file");
    let sheets = book.sheet_names();
    assert!(sheets.contains(&"Indicadores".to_string()), "{sheets:?}");
    assert!(sheets.contains(&"Medio".to_string()), "{sheets:?}");
    let range = book.worksheet_range("Indicadores").expect("sheet");
    let rows: Vec<Vec<String>> = range
        .rows()
        .map(|r| r.iter().map(|c| c.to_string()).collect())
        .collect();
    assert_eq!(rows[0][0], "Indicador");
    let incidents = rows
        .iter()
        .find(|r| r[0] == "Incidentes recibidos")
        .expect("incidents row");
    assert_eq!(incidents[1], "3", "a count is a whole number");
    assert_eq!(incidents[3], "incidentes", "with its unit beside it");
    let channel = book.worksheet_range("Medio").expect("channel sheet");
    let phone: Vec<String> = channel
        .rows()
        .find(|r| r[0] == "Teléfono")
        .expect("phone row")
        .iter()
        .map(|c| c.to_string())
        .collect();
    assert_eq!(phone[1], "3");
    let typed = channel
        .rows()
        .find(|r| r[0] == "Teléfono")
        .map(|r| r[3].clone())
        .expect("phone row");
    assert_eq!(
        typed,
        calamine::Data::Float(100.0),
        "a rate is a number a spreadsheet computes with, not \"100.0 %\""
    );
    let csv = app
        .call_raw(
            &format!(
                "/calidad/indicadores/exportar?periodo={}&formato=csv&tabla=channel",
                year.code()
            ),
            &auth,
        )
        .await;
    let csv = String::from_utf8(csv.1).expect("utf-8");
    assert!(
        csv.starts_with("Medio,Incidentes,Cerrados,Resolución al primer contacto (%)"),
        "{csv}"
    );
    assert!(
        csv.contains("Teléfono,3,2,100.0\r\n") || csv.contains("Teléfono,3,2,100.0\n"),
        "{csv}"
    );
    let report = app
        .get(&format!("/calidad/reporte?periodo={}", year.code()), &auth)
        .await;
    assert_eq!(report.status, StatusCode::OK);
    assert!(text(&report).contains("revisión por la dirección"));
    assert!(text(&report).matches("<svg").count() >= 10);
}

mod register {
    use super::*;

    atiende_store::on_both_engines!(
        the_quality_owner_tunes_the_criteria_and_treats_a_nonconformity_to_closure,
    );

    async fn the_quality_owner_tunes_the_criteria_and_treats_a_nonconformity_to_closure(
        db: TestDb,
    ) {
        let app = TestApp::new(db).await;
        data(&app).await;
        let (auth, csrf) = owner(&app).await;
        let page = app.get("/calidad/pnc", &auth).await;
        assert_eq!(page.status, StatusCode::OK);
        let criteria = format!(
            "_csrf={csrf}&complaint_business_days_on=1&complaint_business_days=3&low_survey_score_on=1&low_survey_score=1\
             &closed_incomplete_on=1&reopened_days=7&derivation_days=5"
        );
        let saved = app.form("/calidad/pnc/criterios", &auth, &criteria).await;
        assert_eq!(saved.status, StatusCode::SEE_OTHER);
        let stored: atiende_domain::nonconformity::Criteria = app
            .db
            .setting("nonconformity_criteria")
            .await
            .expect("criteria");
        assert_eq!(stored.complaint_business_days, Some(3));
        assert_eq!(stored.reopened_days, None, "unchecked means off");
        let bad_number = app
            .form(
                "/calidad/pnc/criterios",
                &auth,
                &format!("_csrf={csrf}&complaint_business_days_on=1&complaint_business_days=tres"),
            )
            .await;
        assert_eq!(bad_number.status, StatusCode::UNPROCESSABLE_ENTITY);
        let folio = app
            .db
            .incidents(&atiende_domain::access::Scope::All, &Default::default())
            .await
            .expect("incidents")[0]
            .incident
            .folio
            .to_string();
        let created = app
            .form(
                "/calidad/pnc",
                &auth,
                &format!("_csrf={csrf}&folio={folio}&description=Informaci%C3%B3n+equivocada&responsible=CAP"),
            )
            .await;
        assert_eq!(created.status, StatusCode::SEE_OTHER);
        let location = created.headers["location"]
            .to_str()
            .expect("location")
            .to_string();
        let path = location.split('?').next().expect("path").to_string();
        let closing = format!(
            "_csrf={csrf}&description=Informaci%C3%B3n+equivocada&status=closed&corrective_action=Se+corrigi%C3%B3+el+art%C3%ADculo"
        );
        let refused = app.form(&path, &auth, &closing).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            text(&refused).contains("verificación de la eficacia"),
            "{}",
            text(&refused)
        );
        let closed = app
            .form(
                &path,
                &auth,
                &format!(
                    "{closing}&effectiveness=Sin+repetici%C3%B3n+en+un+mes&due_date=2026-12-15"
                ),
            )
            .await;
        assert_eq!(closed.status, StatusCode::SEE_OTHER);
        let entry = app.get(&path, &auth).await;
        assert!(text(&entry).contains("Sin repetición en un mes"));
        assert!(text(&entry).contains("Cerrada"));
        // The register exports and appears in the period's report.
        let csv = app
            .call_raw("/calidad/pnc/exportar?formato=csv", &auth)
            .await;
        let csv = String::from_utf8(csv.1).expect("utf-8");
        assert!(csv.starts_with("#,Folio,Criterio"), "{csv}");
        assert!(
            csv.contains("Información equivocada") && csv.contains("Cerrada"),
            "{csv}"
        );
        let xlsx = app
            .call_raw("/calidad/pnc/exportar?formato=xlsx", &auth)
            .await;
        let mut book: Xlsx<_> = Xlsx::new(Cursor::new(xlsx.1)).expect("xlsx");
        let sheet = book.worksheet_range("Producto no conforme").expect("sheet");
        assert_eq!(sheet.rows().count(), 2);
        let row: Vec<_> = sheet.rows().nth(1).expect("a row").to_vec();
        assert!(
            matches!(row[3], calamine::Data::DateTime(_)),
            "the moment is a date cell: {:?}",
            row[3]
        );
        assert!(
            sheet.rows().next().expect("header")[3]
                .to_string()
                .ends_with("(America/Mexico_City)"),
            "its zone in the header"
        );
        let report = app.get("/calidad/reporte", &auth).await;
        assert!(text(&report).contains("Información equivocada"));
        app.staff("rector", Role::Management, vec![]).await;
        let management = app.login("rector", PASSWORD).await;
        let Auth::Session { csrf: m_csrf, .. } = &management else {
            panic!("session");
        };
        assert_eq!(app.get(&path, &management).await.status, StatusCode::OK);
        let forbidden = app
            .form(&path, &management, &format!("_csrf={m_csrf}&description=x"))
            .await;
        assert_eq!(forbidden.status, StatusCode::FORBIDDEN);
    }
}

async fn buzon_entry(
    app: &TestApp,
    kind: IncidentType,
    user_type: Option<UserType>,
    body: &str,
) -> atiende_domain::incident::Incident {
    app.db
        .create_incident(
            Actor::System,
            NewIncidentInput {
                channel: Channel::SuggestionBox,
                contact_id: None,
                subject: String::new(),
                body: body.into(),
                user_type,
                incident_type: Some(kind),
                topic_id: None,
                critical: false,
                assigned_to: None,
                received_at: None,
            },
        )
        .await
        .expect("buzón entry")
}

async fn the_quality_owner_sees_what_the_buzon_routed_to_them_and_closes_or_returns_it(db: TestDb) {
    let app = TestApp::new(db).await;
    let entry = buzon_entry(
        &app,
        IncidentType::Suggestion,
        None,
        "Sería útil un tutorial en video de la plataforma.",
    )
    .await;
    let (auth, csrf) = owner(&app).await;

    // Their own queue, with its count among the others.
    let queue = app.get("/bandeja?queue=siga", &auth).await;
    let html = text(&queue);
    assert!(html.contains(&entry.folio.to_string()), "{html}");
    assert!(
        html.contains("Para el SIGA <span class=\"count\">1</span>"),
        "{html}"
    );
    // The same queue by API, for the systems that follow the buzón.
    let listed = app.get("/api/v1/incidents?queue=siga", &auth).await;
    let folios: Vec<_> = listed.json["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["folio"].clone())
        .collect();
    assert_eq!(folios, [serde_json::json!(entry.folio.to_string())]);
    let bad = app.get("/api/v1/incidents?queue=nowhere", &auth).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);

    // They record the treatment: the entry returns to the CAP, which closes it.
    let derivation = app.db.derivations(entry.id).await.expect("derivations")[0].id;
    let answered = app
        .form(
            &format!(
                "/incidentes/{}/derivaciones/{}/responder",
                entry.folio, derivation.0
            ),
            &auth,
            &format!("_csrf={csrf}&answer=Se+propone+al+comité+de+calidad"),
        )
        .await;
    assert_eq!(answered.status, StatusCode::SEE_OTHER, "{}", answered.json);
    let after = app.db.incident(entry.id).await.expect("incident");
    assert_eq!(after.status, atiende_domain::incident::Status::Open);
    let queue = app.get("/bandeja?queue=siga", &auth).await;
    assert!(
        text(&queue).contains("Para el SIGA <span class=\"count\">0</span>"),
        "nothing waits on them any more"
    );
    // Agents do not see the SIGA's tab.
    app.staff("agente-siga", Role::Agent, vec![]).await;
    let agent = app.login("agente-siga", PASSWORD).await;
    assert!(!text(&app.get("/bandeja", &agent).await).contains("Para el SIGA"));

    // Or they close it themselves, their answer being the treatment.
    let second = buzon_entry(
        &app,
        IncidentType::Compliment,
        None,
        "Felicito a la asesora que me atendió por teléfono.",
    )
    .await;
    let view = app
        .get(&format!("/incidentes/{}", second.folio), &auth)
        .await;
    let view = text(&view);
    assert!(view.contains("Responder y cerrar"), "{view}");
    assert!(view.contains("Responder y devolver al CAP"), "{view}");
    let derivation = app.db.derivations(second.id).await.expect("derivations")[0].id;
    let closed = app
        .form(
            &format!(
                "/incidentes/{}/derivaciones/{}/responder",
                second.folio, derivation.0
            ),
            &auth,
            &format!(
                "_csrf={csrf}&answer=Se+felicit%C3%B3+a+la+asesora&user_type=unidentified&close=1"
            ),
        )
        .await;
    assert_eq!(closed.status, StatusCode::SEE_OTHER, "{}", closed.json);
    let after = app.db.incident(second.id).await.expect("incident");
    assert_eq!(after.status, atiende_domain::incident::Status::Closed);
    let location = closed.headers["location"].to_str().expect("location");
    let shown = app.get(location, &auth).await;
    let shown = text(&shown);
    assert!(
        shown.contains("Respuesta registrada e incidente cerrado"),
        "{shown}"
    );

    // The same through the API; a unit's answer elsewhere cannot close.
    let third = buzon_entry(
        &app,
        IncidentType::Suggestion,
        Some(UserType::Student),
        "Sugiero horarios de atención en sábado.",
    )
    .await;
    let derivation = app.db.derivations(third.id).await.expect("derivations")[0].id;
    let token = app.token_for("siga-api", Role::QualityOwner, vec![]).await;
    let answered = app
        .post(
            &format!(
                "/api/v1/incidents/{}/derivations/{}/answer",
                third.folio, derivation.0
            ),
            &token,
            serde_json::json!({ "answer": "Se evalúa con la coordinación", "close": true }),
        )
        .await;
    assert_eq!(answered.status, StatusCode::OK, "{}", answered.json);
    assert_eq!(answered.json["incident"]["status"], "closed");
}
