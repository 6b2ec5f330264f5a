//! The survey's public page and the quality owner's and lead's pages, through the router, on
//! both engines.

use atiende_domain::classification::{Channel, IncidentType, UserType};
use atiende_domain::contact::ContactInput;
use atiende_domain::ids::IncidentId;
use atiende_domain::incident::{ClassifyInput, NewIncidentInput};
use atiende_domain::survey::SurveyPolicy;
use atiende_domain::user::Role;
use atiende_store::Actor;
use atiende_store::testing::TestDb;
use atiende_web::WebConfig;
use axum::http::StatusCode;

use crate::helpers::{ADMIN_PASSWORD, Auth, PASSWORD, TestApp};
use crate::public::{post, text};

atiende_store::on_both_engines!(
    the_survey_page_records_only_a_submission_and_only_once,
    an_expired_or_unknown_link_says_so,
    survey_answers_are_rate_limited_per_address,
    the_quality_owner_sets_the_policy_and_versions_the_questionnaire,
    a_low_score_reaches_the_leads_page_until_followed_up,
);

/// A closed phone incident of a person with an email, and its survey's link token.
pub async fn surveyed(app: &TestApp) -> (IncidentId, String) {
    let db = &app.db;
    let mailbox = atiende_store::testing::sending_mailbox();
    db.save_mailbox(Actor::System, &mailbox)
        .await
        .expect("mailbox");
    let agent = app.staff("agente-encuesta", Role::Agent, vec![]).await;
    let contact = db
        .create_contact(
            Actor::System,
            &ContactInput {
                name: Some("Ana López".into()),
                emails: Some(vec!["ana.lopez@alumnos.udg.example".into()]),
                ..Default::default()
            },
        )
        .await
        .expect("contact");
    let incident = db
        .create_incident(
            Actor::Staff(&agent),
            NewIncidentInput {
                channel: Channel::Phone,
                contact_id: Some(contact.id),
                subject: "Baja temporal".into(),
                body: String::new(),
                user_type: Some(UserType::Student),
                incident_type: Some(IncidentType::Question),
                topic_id: None,
                critical: false,
                assigned_to: Some(agent.id),
                received_at: None,
            },
        )
        .await
        .expect("incident");
    db.classify_incident(Actor::Staff(&agent), incident.id, &ClassifyInput::default())
        .await
        .expect("classify");
    db.close_incident(
        Actor::Staff(&agent),
        incident.id,
        Some("Se explicó el trámite de baja."),
    )
    .await
    .expect("close");
    let policy = SurveyPolicy {
        delay_hours: 0,
        ..Default::default()
    };
    db.process_survey_due(incident.id, &policy, "http://localhost", None)
        .await
        .expect("invite");
    let link = db.sent_link(Some(incident.id), "encuesta").await;
    let token = link.rsplit('/').next().expect("token").to_string();
    (incident.id, token)
}

pub const ANSWERS: &str = "overall=4&resolved=yes&clarity=5&speed=4&comment=Gracias";

async fn the_survey_page_records_only_a_submission_and_only_once(db: TestDb) {
    let app = TestApp::new(db).await;
    let (_, token) = surveyed(&app).await;
    let path = format!("/encuesta/{token}");
    for _ in 0..3 {
        let page = app.get(&path, &Auth::None).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(
            text(&page).contains("Aviso de privacidad"),
            "privacy notice shown"
        );
        assert!(text(&page).contains("name=\"overall\""));
    }
    assert!(
        app.db.surveys(5).await.expect("s")[0].answered_at.is_none(),
        "opening records nothing"
    );
    let forged = app
        .form(&path, &Auth::None, &format!("_csrf=forged&{ANSWERS}"))
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let incomplete = post(&app, &path, "overall=4").await;
    assert_eq!(incomplete.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        text(&incomplete).contains("Revise los datos"),
        "{}",
        text(&incomplete)
    );
    // A comment a spreadsheet would run as a formula.
    let answers = "overall=4&resolved=yes&clarity=5&speed=4&comment=%3DHYPERLINK(%22http%3A%2F%2Fevil.example%22)+Gracias";
    let thanks = post(&app, &path, answers).await;
    assert_eq!(thanks.status, StatusCode::OK);
    assert!(text(&thanks).contains("¡Gracias!"));
    let again = post(&app, &path, "overall=1&resolved=no&clarity=1&speed=1").await;
    assert!(text(&again).contains("ya fue respondida"));
    let survey = &app.db.surveys(5).await.expect("surveys")[0];
    assert_eq!(survey.overall, Some(4), "the second answer changed nothing");
    // The quality owner downloads the answers.
    app.staff("calidad-exp", Role::QualityOwner, vec![]).await;
    let owner = app.login("calidad-exp", PASSWORD).await;
    let csv = app
        .call_raw("/calidad/encuesta/exportar?formato=csv", &owner)
        .await;
    let csv = String::from_utf8(csv.1).expect("utf-8");
    assert!(
        csv.starts_with(
            "Folio,Estado,Detalle,Enviada (America/Mexico_City),Satisfacción (1-5),Comentario"
        ),
        "{csv}"
    );
    // One convention for every export: the moment with its offset, the score a number.
    let row = csv.lines().nth(1).expect("a row");
    let cells: Vec<&str> = row.splitn(6, ',').collect();
    assert!(
        chrono::DateTime::parse_from_rfc3339(cells[3]).is_ok(),
        "ISO 8601 with offset: {row}"
    );
    assert_eq!(cells[4], "4", "{row}");
    assert!(
        csv.contains("Respondida") && csv.contains("Gracias"),
        "{csv}"
    );
    assert!(
        csv.contains("'=HYPERLINK") && !csv.contains(",=") && !csv.contains(",\"="),
        "the formula is written as text: {csv}"
    );
    let later = app.get(&path, &Auth::None).await;
    assert!(text(&later).contains("ya fue respondida"));
}

async fn an_expired_or_unknown_link_says_so(db: TestDb) {
    let app = TestApp::new(db).await;
    let (_, token) = surveyed(&app).await;
    let unknown = app.get("/encuesta/no-existe", &Auth::None).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert!(text(&unknown).contains("no es válido"));
    app.db
        .execute_admin("UPDATE surveys SET expires_at = 1000")
        .await
        .expect("age");
    let expired = app.get(&format!("/encuesta/{token}"), &Auth::None).await;
    assert_eq!(expired.status, StatusCode::GONE);
    assert!(text(&expired).contains("expiró"));
    let late = post(&app, &format!("/encuesta/{token}"), ANSWERS).await;
    assert!(text(&late).contains("expiró"));
}

async fn survey_answers_are_rate_limited_per_address(db: TestDb) {
    let config = WebConfig {
        public_posts_per_minute: 2,
        ..crate::helpers::config()
    };
    let app = TestApp::with_config(db, config).await;
    let path = "/encuesta/cualquiera";
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(post(&app, path, ANSWERS).await.status);
    }
    assert_eq!(statuses.last(), Some(&StatusCode::TOO_MANY_REQUESTS));
    let limited = post(&app, path, ANSWERS).await;
    assert!(text(&limited).contains("Espere un minuto"));
}

async fn the_quality_owner_sets_the_policy_and_versions_the_questionnaire(db: TestDb) {
    let app = TestApp::new(db).await;
    app.staff("calidad", Role::QualityOwner, vec![]).await;
    let owner = app.login("calidad", PASSWORD).await;
    let Auth::Session { csrf, .. } = &owner else {
        panic!("session");
    };
    let page = app.get("/calidad/encuesta", &owner).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(text(&page).contains("versión 1"));
    let saved = app
        .form(
            "/calidad/encuesta/ajustes",
            &owner,
            &format!("_csrf={csrf}&delay_hours=2&min_days_between=60&expiry_days=10&low_score_threshold=3&whatsapp_template="),
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER);
    let policy: SurveyPolicy = app.db.setting("survey_policy").await.expect("policy");
    assert_eq!(
        (
            policy.delay_hours,
            policy.min_days_between,
            policy.low_score_threshold
        ),
        (2, 60, 3)
    );
    let bad = app
        .form(
            "/calidad/encuesta/ajustes",
            &owner,
            &format!(
                "_csrf={csrf}&delay_hours=2&min_days_between=60&expiry_days=0&low_score_threshold=3"
            ),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    let questions = format!(
        "_csrf={csrf}&key_0=overall&label_0=%C2%BFQu%C3%A9+tan+satisfecho+est%C3%A1%3F&kind_0=scale&required_0=1\
         &key_1=recommend&label_1=%C2%BFNos+recomendar%C3%ADa%3F&kind_1=yes_no&required_1=1&key_2=&label_2="
    );
    let versioned = app
        .form("/calidad/encuesta/preguntas", &owner, &questions)
        .await;
    assert_eq!(versioned.status, StatusCode::SEE_OTHER);
    let current = app.db.current_questionnaire().await.expect("current");
    assert_eq!(current.version, 2);
    assert_eq!(current.questions.len(), 2);
    let without_overall =
        format!("_csrf={csrf}&key_0=speed&label_0=Rapidez&kind_0=scale&required_0=1");
    let refused = app
        .form("/calidad/encuesta/preguntas", &owner, &without_overall)
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(text(&refused).contains("overall"));
    app.staff("agente-x", Role::Agent, vec![]).await;
    let agent = app.login("agente-x", PASSWORD).await;
    assert_eq!(
        app.get("/calidad/encuesta", &agent).await.status,
        StatusCode::FORBIDDEN
    );
}

async fn a_low_score_reaches_the_leads_page_until_followed_up(db: TestDb) {
    let app = TestApp::new(db).await;
    let (_, token) = surveyed(&app).await;
    let low = post(
        &app,
        &format!("/encuesta/{token}"),
        "overall=1&resolved=no&clarity=2&speed=1&comment=Nadie+me+respondi%C3%B3",
    )
    .await;
    assert!(text(&low).contains("¡Gracias!"));
    app.staff("lider", Role::CapLead, vec![]).await;
    let lead = app.login("lider", PASSWORD).await;
    let Auth::Session { csrf, .. } = &lead else {
        panic!("session");
    };
    let page = app.get("/responsables", &lead).await;
    assert!(
        text(&page).contains("Nadie me respondió"),
        "{}",
        text(&page)
    );
    let id = app.db.survey_follow_ups().await.expect("pending")[0].id;
    let done = app
        .form(
            &format!("/responsables/seguimiento/{id}"),
            &lead,
            &format!("_csrf={csrf}&note=Se+llam%C3%B3+a+la+usuaria"),
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    assert!(app.db.survey_follow_ups().await.expect("none").is_empty());
    let admin = app.login("admin", ADMIN_PASSWORD).await;
    assert_eq!(
        app.get("/responsables", &admin).await.status,
        StatusCode::OK
    );
}
