//! The knowledge base and search through the router, on both engines: an agent finds the
//! right article from the incident, answers with it and marks it; the public sees only public
//! articles, rendered safely; unit responsibles edit only their units' articles.

use atiende_domain::user::Role;
use atiende_store::testing::TestDb;
use axum::http::StatusCode;
use serde_json::json;

use crate::helpers::{Auth, PASSWORD, TestApp};
use crate::public::text;

atiende_store::on_both_engines!(
    an_agent_answers_with_a_suggested_article_and_marks_it_as_the_resolution,
    the_public_help_shows_only_public_articles_rendered_safely,
    a_unit_responsible_edits_only_their_units_articles,
);

fn csrf(auth: &Auth) -> String {
    match auth {
        Auth::Session { csrf, .. } => csrf.clone(),
        _ => panic!("session"),
    }
}

async fn an_agent_answers_with_a_suggested_article_and_marks_it_as_the_resolution(db: TestDb) {
    let app = TestApp::new(db).await;
    app.staff("lider", Role::CapLead, vec![]).await;
    let lead = app.login("lider", PASSWORD).await;
    let created = app
        .form(
            "/conocimiento",
            &lead,
            &format!(
                "_csrf={}&title=Fechas+de+reinscripci%C3%B3n&body=La+reinscripci%C3%B3n+del+ciclo+2026B+es+del+**1+al+5+de+julio**+en+SIIAU.&tags=calendario&public=1",
                csrf(&lead)
            ),
        )
        .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", text(&created));
    let article_path = created.headers["location"]
        .to_str()
        .expect("location")
        .to_string();
    let article_id: i64 = article_path
        .rsplit('/')
        .next()
        .and_then(|s| s.parse().ok())
        .expect("id");
    app.staff("agente", Role::Agent, vec![]).await;
    let agent = app.login("agente", PASSWORD).await;
    let contact = app
        .post("/api/v1/contacts", &agent, json!({"name": "Luis"}))
        .await;
    let incident = app
        .post(
            "/api/v1/incidents",
            &agent,
            json!({"channel": "phone", "contact_id": contact.json["id"], "subject": "Duda de reinscripcion",
                   "body": "¿Cuándo es la reinscripcion del siguiente ciclo?"}),
        )
        .await;
    let folio = incident.json["folio"].as_str().expect("folio").to_string();
    let view = app.get(&format!("/incidentes/{folio}"), &agent).await;
    assert!(
        text(&view).contains("Fechas de reinscripción"),
        "suggested without accents in the question"
    );
    let prefilled = app
        .get(&format!("/incidentes/{folio}?usar={article_id}"), &agent)
        .await;
    assert!(
        text(&prefilled).contains("1 al 5 de julio"),
        "the article's text goes into the answer"
    );
    assert!(
        text(&prefilled).contains(&format!("/ayuda/{article_id}")),
        "with the public link"
    );
    let marked = app
        .form(
            &format!("/incidentes/{folio}/articulos/{article_id}/resolvio"),
            &agent,
            &format!("_csrf={}", csrf(&agent)),
        )
        .await;
    assert_eq!(marked.status, StatusCode::SEE_OTHER);
    let view = app.get(&format!("/incidentes/{folio}"), &agent).await;
    assert!(text(&view).contains("Lo resolvió el artículo «Fechas de reinscripción»"));
    let kb = app.get("/conocimiento", &lead).await;
    let useful = text(&kb)
        .split("Los que más resuelven")
        .nth(1)
        .unwrap_or_default()
        .to_string();
    assert!(
        useful.contains("Fechas de reinscripción"),
        "counted among the most useful"
    );
    // One search over everything; a folio goes straight to its incident.
    let search = app.get("/buscar?q=REINSCRIPCION", &agent).await;
    assert!(text(&search).contains(&folio) && text(&search).contains("Fechas de reinscripción"));
    let by_folio = app
        .get(&format!("/buscar?q={}", folio.to_lowercase()), &agent)
        .await;
    assert_eq!(by_folio.status, StatusCode::SEE_OTHER);
}

async fn the_public_help_shows_only_public_articles_rendered_safely(db: TestDb) {
    let app = TestApp::new(db).await;
    app.staff("lider", Role::CapLead, vec![]).await;
    let lead = app.login("lider", PASSWORD).await;
    let c = csrf(&lead);
    let public = app
        .form(
            "/conocimiento",
            &lead,
            &format!("_csrf={c}&title=Orden+de+pago&body=Genera+tu+orden+<script>alert(1)</script>+en+el+**portal**.&public=1"),
        )
        .await;
    let public_path = public.headers["location"]
        .to_str()
        .expect("location")
        .to_string();
    let internal = app
        .form(
            "/conocimiento",
            &lead,
            &format!("_csrf={c}&title=Orden+de+pago+interna&body=Procedimiento+interno+de+conciliaci%C3%B3n."),
        )
        .await;
    let internal_id = internal.headers["location"]
        .to_str()
        .expect("location")
        .rsplit('/')
        .next()
        .expect("id")
        .to_string();
    let help = app.get("/ayuda?q=orden+de+pago", &Auth::None).await;
    assert_eq!(help.status, StatusCode::OK);
    assert!(text(&help).contains("Orden de pago"));
    assert!(
        !text(&help).contains("interna"),
        "internal articles are not public"
    );
    let id = public_path.rsplit('/').next().expect("id");
    let article = app.get(&format!("/ayuda/{id}"), &Auth::None).await;
    assert!(
        text(&article).contains("<strong>portal</strong>"),
        "Markdown rendered"
    );
    assert!(!text(&article).contains("<script>"), "and sanitised");
    let hidden = app.get(&format!("/ayuda/{internal_id}"), &Auth::None).await;
    assert_eq!(hidden.status, StatusCode::NOT_FOUND);
}

async fn a_unit_responsible_edits_only_their_units_articles(db: TestDb) {
    let app = TestApp::new(db).await;
    let units = app.db.units().await.expect("units");
    let (mine, theirs) = (units[0].id, units[1].id);
    app.staff("escolar", Role::UnitResponsible, vec![mine])
        .await;
    let auth = app.login("escolar", PASSWORD).await;
    let c = csrf(&auth);
    let own = app
        .form(
            "/conocimiento",
            &auth,
            &format!(
                "_csrf={c}&title=Kardex&body=Se+descarga+en+SIIAU.&owner_unit_id={}",
                mine.0
            ),
        )
        .await;
    assert_eq!(own.status, StatusCode::SEE_OTHER);
    let other = app
        .form(
            "/conocimiento",
            &auth,
            &format!(
                "_csrf={c}&title=Becas&body=Convocatorias.&owner_unit_id={}",
                theirs.0
            ),
        )
        .await;
    assert_eq!(other.status, StatusCode::FORBIDDEN);
    app.staff("agente", Role::Agent, vec![]).await;
    let agent = app.login("agente", PASSWORD).await;
    let refused = app
        .form(
            "/conocimiento",
            &agent,
            &format!("_csrf={}&title=X&body=Y", csrf(&agent)),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
}
