//! The quality system by API, as an integrator (the BI, the quality office's tools) uses it:
//! indicators with targets and breakdowns, the nonconformity register, the survey's settings,
//! questionnaire versions, answers and their export, and low-score follow-ups.

use atiende_domain::access::TokenScopes;
use atiende_domain::period::{Period, Periodicity};
use atiende_domain::user::Role;
use atiende_store::Actor;
use atiende_store::testing::TestDb;
use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{Auth, TestApp};
use crate::public::post;

atiende_store::on_both_engines!(
    an_integrator_reads_a_periods_indicators_against_the_targets_set_by_api,
    the_nonconformity_register_is_kept_by_api_and_closes_only_with_its_check,
    survey_answers_are_listed_and_exported_by_api_and_a_low_score_followed_up,
);

/// A token of a new account of that role, with these scopes.
async fn token(app: &TestApp, login: &str, role: Role, scopes: &[&str]) -> Auth {
    let user = app.staff(login, role, vec![]).await;
    let scopes = TokenScopes::parse(scopes.iter().copied()).expect("scopes");
    let (_, token) = app
        .db
        .create_api_token(Actor::System, user.id, "BI", &scopes, None)
        .await
        .expect("token");
    Auth::Bearer(token)
}

fn semester(app: &TestApp) -> Period {
    Period::containing(
        chrono::Utc::now(),
        app.db.time_zone(),
        Periodicity::Semester,
    )
}

async fn an_integrator_reads_a_periods_indicators_against_the_targets_set_by_api(db: TestDb) {
    let app = TestApp::new(db).await;
    crate::indicators::data(&app).await;
    let owner = token(&app, "calidad", Role::QualityOwner, &["quality"]).await;
    let targets = json!({"targets": [
        {"indicator": "first_contact_resolution", "target": 90, "periodicity": "semester", "responsible": "Responsable del CAP"},
        {"indicator": "complaints", "target": 0, "periodicity": "semester", "responsible": "Calidad"},
    ]});
    let saved = app
        .call(
            Method::PUT,
            "/api/v1/quality/targets",
            &owner,
            Some(targets),
        )
        .await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.json);

    // The BI reads with a read-only token of a management account.
    let bi = token(&app, "rectoria", Role::Management, &["read"]).await;
    let period = semester(&app);
    let report = app
        .get(
            &format!("/api/v1/quality/indicators?period={}", period.code()),
            &bi,
        )
        .await;
    assert_eq!(report.status, StatusCode::OK, "{}", report.json);
    assert_eq!(report.json["period"], period.code());
    let indicator = |code: &str| {
        report.json["indicators"]
            .as_array()
            .expect("indicators")
            .iter()
            .find(|i| i["indicator"] == code)
            .cloned()
            .expect("indicator")
    };
    // Two of two closed at first contact: 100 % against 90 %. One complaint against none.
    let fcr = indicator("first_contact_resolution");
    assert_eq!(fcr["value"], 100.0);
    assert_eq!(fcr["unit"], "percent");
    assert_eq!(
        (fcr["target"].clone(), fcr["met"].clone()),
        (json!(90.0), json!(true))
    );
    assert_eq!(fcr["responsible"], "Responsable del CAP");
    assert_eq!(fcr["trend"].as_array().expect("trend").len(), 6);
    assert_eq!(fcr["trend"][5]["period"], period.code());
    let complaints = indicator("complaints");
    assert_eq!(
        (complaints["value"].clone(), complaints["met"].clone()),
        (json!(1.0), json!(false))
    );
    assert_eq!(
        indicator("incidents")["met"],
        json!(null),
        "no target, no verdict"
    );
    let channel = report.json["breakdowns"]
        .as_array()
        .expect("breakdowns")
        .iter()
        .find(|b| b["dimension"] == "channel")
        .cloned()
        .expect("by channel");
    assert_eq!(channel["rows"][0]["label"], "Teléfono");
    assert_eq!(channel["rows"][0]["incidents"], 3);
    assert_eq!(channel["rows"][0]["closed"], 2);

    // The current period of a periodicity, and a period that is not one.
    let month = app
        .get("/api/v1/quality/indicators?periodicity=monthly", &bi)
        .await;
    assert_eq!(
        month.json["period"],
        Period::containing(chrono::Utc::now(), app.db.time_zone(), Periodicity::Monthly).code()
    );
    let wrong = app
        .get("/api/v1/quality/indicators?period=2026-S3", &bi)
        .await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(wrong.json["error"]["fields"][0]["field"], "period");

    // A target out of range is named, in Spanish; the read-only token changes nothing.
    let bad = app
        .call(
            Method::PUT,
            "/api/v1/quality/targets",
            &owner,
            Some(json!({"targets": [{"indicator": "satisfaction_index", "target": 120, "periodicity": "monthly", "responsible": ""}]})),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad.json["error"]["fields"][0]["field"], "targets[0].target");
    let message = bad.json["error"]["fields"][0]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(message.starts_with("meta: valor fuera"), "{message}");
    let refused = app
        .call(
            Method::PUT,
            "/api/v1/quality/targets",
            &bi,
            Some(json!({"targets": []})),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let kept = app.get("/api/v1/quality/targets", &bi).await;
    assert_eq!(kept.json["targets"].as_array().expect("targets").len(), 2);
}

async fn the_nonconformity_register_is_kept_by_api_and_closes_only_with_its_check(db: TestDb) {
    let app = TestApp::new(db).await;
    crate::indicators::data(&app).await;
    let owner = token(&app, "calidad", Role::QualityOwner, &["read", "quality"]).await;
    let folio = app.get("/api/v1/incidents?limit=1", &owner).await.json["items"][0]["folio"]
        .as_str()
        .expect("folio")
        .to_string();
    let created = app
        .post(
            "/api/v1/nonconformities",
            &owner,
            json!({"incident": folio, "description": "Se respondió con el calendario anterior."}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.json);
    assert_eq!(created.json["folio"], folio.as_str());
    assert_eq!(created.json["criterion"], "manual");
    assert_eq!(created.json["status"], "open");
    let id = created.json["id"].as_i64().expect("id");
    let unknown = app
        .post(
            "/api/v1/nonconformities",
            &owner,
            json!({"incident": "CAP-1999-000001", "description": "x"}),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(unknown.json["error"]["fields"][0]["field"], "incident");
    for n in 0..3 {
        let other = app
            .post(
                "/api/v1/nonconformities",
                &owner,
                json!({"description": format!("Hallazgo de auditoría {n}")}),
            )
            .await;
        assert_eq!(other.status, StatusCode::CREATED);
    }

    // The treatment, then closing without and with the effectiveness check.
    let treated = app
        .call(
            Method::PUT,
            &format!("/api/v1/nonconformities/{id}"),
            &owner,
            Some(json!({
                "description": "Se respondió con el calendario anterior.",
                "disposition": "Se envió el calendario vigente a la persona.",
                "corrective_action": "Revisar el artículo del calendario cada ciclo.",
                "responsible": "Coordinación del CAP",
                "due_date": "2027-01-15",
                "status": "in_treatment"
            })),
        )
        .await;
    assert_eq!(treated.status, StatusCode::OK, "{}", treated.json);
    assert_eq!(treated.json["status"], "in_treatment");
    assert_eq!(treated.json["due_date"], "2027-01-15");
    let unchecked = app
        .post(
            &format!("/api/v1/nonconformities/{id}/close"),
            &owner,
            json!({"effectiveness": "  "}),
        )
        .await;
    assert_eq!(unchecked.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        unchecked.json["error"]["fields"][0]["field"],
        "effectiveness"
    );
    let closed = app
        .post(
            &format!("/api/v1/nonconformities/{id}/close"),
            &owner,
            json!({"effectiveness": "Sin reincidencias en el ciclo siguiente."}),
        )
        .await;
    assert_eq!(closed.status, StatusCode::OK, "{}", closed.json);
    assert_eq!(closed.json["status"], "closed");
    assert_eq!(
        closed.json["corrective_action"], "Revisar el artículo del calendario cada ciclo.",
        "the treatment stays"
    );

    // The register, filtered and a page at a time, for a reader.
    let lead = token(&app, "lider", Role::CapLead, &["read"]).await;
    let open = app
        .get("/api/v1/nonconformities?status=open&limit=2", &lead)
        .await;
    assert_eq!(open.json["items"].as_array().expect("items").len(), 2);
    let cursor = open.json["next_cursor"].as_str().expect("a next page");
    let rest = app
        .get(
            &format!("/api/v1/nonconformities?status=open&limit=2&cursor={cursor}"),
            &lead,
        )
        .await;
    assert_eq!(rest.json["items"].as_array().expect("items").len(), 1);
    assert!(rest.json["next_cursor"].is_null());
    let this_semester = app
        .get(
            &format!(
                "/api/v1/nonconformities?status=closed&period={}",
                semester(&app).code()
            ),
            &lead,
        )
        .await;
    assert_eq!(this_semester.json["items"][0]["id"], id);
    let criteria = app.get("/api/v1/nonconformities/criteria", &lead).await;
    assert_eq!(criteria.json["complaint_business_days"], 5);
    let saved = app
        .call(
            Method::PUT,
            "/api/v1/nonconformities/criteria",
            &owner,
            Some(json!({"complaint_business_days": 3})),
        )
        .await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.json);
    assert_eq!(
        app.get("/api/v1/nonconformities/criteria", &lead)
            .await
            .json["complaint_business_days"],
        3
    );
}

async fn survey_answers_are_listed_and_exported_by_api_and_a_low_score_followed_up(db: TestDb) {
    let app = TestApp::new(db).await;
    let (_, token_link) = crate::surveys::surveyed(&app).await;
    let low = post(
        &app,
        &format!("/encuesta/{token_link}"),
        "overall=2&resolved=no&clarity=3&speed=2&comment=Tard%C3%B3+mucho",
    )
    .await;
    assert_eq!(low.status, StatusCode::OK);
    let owner = token(&app, "calidad", Role::QualityOwner, &["quality"]).await;

    let answered = app.get("/api/v1/surveys?status=answered", &owner).await;
    assert_eq!(answered.status, StatusCode::OK, "{}", answered.json);
    let survey = &answered.json["items"][0];
    assert_eq!(survey["overall"], 2);
    assert_eq!(survey["answers"]["comment"], "Tardó mucho");
    assert_eq!(survey["questionnaire_version"], 1);
    assert_eq!(
        app.get("/api/v1/surveys?status=skipped", &owner).await.json["items"],
        json!([])
    );

    let month = Period::containing(chrono::Utc::now(), app.db.time_zone(), Periodicity::Monthly);
    let (status, csv) = app
        .call_raw(
            &format!("/api/v1/surveys/export?period={}", month.code()),
            &owner,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let csv = String::from_utf8(csv).expect("utf-8");
    let mut lines = csv.lines();
    let header = lines.next().expect("header");
    assert!(
        header.starts_with("folio,channel,sent_at,answered_at,questionnaire_version,"),
        "{header}"
    );
    let columns: Vec<&str> = header.split(',').collect();
    let row: Vec<&str> = lines.next().expect("a row").split(',').collect();
    let cell = |name: &str| row[columns.iter().position(|c| *c == name).expect(name)];
    assert_eq!((cell("overall"), cell("comment")), ("2", "Tardó mucho"));
    assert!(chrono::DateTime::parse_from_rfc3339(cell("answered_at")).is_ok());
    let last_year = app
        .call_raw("/api/v1/surveys/export?period=2001", &owner)
        .await;
    assert_eq!(
        String::from_utf8(last_year.1)
            .expect("utf-8")
            .lines()
            .count(),
        1
    );

    // Settings and a new questionnaire version; earlier answers keep theirs.
    let settings = app
        .call(
            Method::PUT,
            "/api/v1/surveys/settings",
            &owner,
            Some(json!({"delay_hours": 2, "min_days_between": 30, "expiry_days": 14, "low_score_threshold": 2})),
        )
        .await;
    assert_eq!(settings.status, StatusCode::OK, "{}", settings.json);
    assert_eq!(
        app.get("/api/v1/surveys/settings", &owner).await.json["delay_hours"],
        2
    );
    let out_of_range = app
        .call(
            Method::PUT,
            "/api/v1/surveys/settings",
            &owner,
            Some(json!({"expiry_days": 0})),
        )
        .await;
    assert_eq!(
        out_of_range.json["error"]["fields"][0]["field"],
        "expiry_days"
    );
    let version = app
        .post(
            "/api/v1/surveys/questionnaires",
            &owner,
            json!({"questions": [
                {"key": "overall", "label": "¿Qué tan satisfecho está?", "kind": "scale", "required": true},
                {"key": "comment", "label": "Comentarios", "kind": "text", "required": false}
            ]}),
        )
        .await;
    assert_eq!(version.status, StatusCode::CREATED, "{}", version.json);
    assert_eq!(version.json["version"], 2);
    let versions = app.get("/api/v1/surveys/questionnaires", &owner).await;
    assert_eq!(versions.json[0]["version"], 2);
    assert_eq!(versions.json[1]["version"], 1);

    // The low score waits for the lead, who records what was done.
    let lead = token(&app, "lider", Role::CapLead, &["quality"]).await;
    let waiting = app.get("/api/v1/surveys/follow-ups", &lead).await;
    let id = waiting.json["items"][0]["id"]
        .as_i64()
        .expect("a follow-up");
    let done = app
        .post(
            &format!("/api/v1/surveys/{id}/follow-up"),
            &lead,
            json!({"note": "Se llamó a la persona."}),
        )
        .await;
    assert_eq!(done.status, StatusCode::NO_CONTENT, "{}", done.json);
    assert_eq!(
        app.get("/api/v1/surveys/follow-ups", &lead).await.json["items"],
        json!([])
    );
    let again = app
        .post(
            &format!("/api/v1/surveys/{id}/follow-up"),
            &lead,
            json!({"note": "Otra vez."}),
        )
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
}
