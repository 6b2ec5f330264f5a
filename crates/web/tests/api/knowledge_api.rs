//! The knowledge base and the search by API: articles written within each role's reach,
//! versioned, archived out of every search, paged by title; "resolved by this article"
//! recorded once; one search across incidents, contacts and articles within what the caller
//! may see.

use atiende_domain::ids::UnitId;
use atiende_domain::user::Role;
use atiende_store::testing::TestDb;
use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{Auth, TestApp};

atiende_store::on_both_engines!(
    articles_are_written_versioned_and_archived_by_api_within_each_roles_reach,
    one_search_finds_incidents_contacts_and_articles_within_what_the_caller_may_see,
);

/// The coordination unit, a CAP lead's token and the token of that unit's responsible.
async fn lead_and_responsible(app: &TestApp) -> (i64, Auth, Auth) {
    let unit = app.unit_of_kind("coordination").await["id"]
        .as_i64()
        .expect("unit");
    let lead = app.token_for("lider", Role::CapLead, vec![]).await;
    let responsible = app
        .token_for("resp", Role::UnitResponsible, vec![UnitId(unit)])
        .await;
    (unit, lead, responsible)
}

async fn articles_are_written_versioned_and_archived_by_api_within_each_roles_reach(db: TestDb) {
    let app = TestApp::new(db).await;
    let (unit, lead, responsible) = lead_and_responsible(&app).await;
    let other = app.unit_of_kind("promotion").await["id"]
        .as_i64()
        .expect("unit");

    let own = app
        .post(
            "/api/v1/articles",
            &responsible,
            json!({"title": "Baja temporal", "body": "Solicítala en la coordinación.", "owner_unit_id": unit, "tags": "Baja, trámite, baja"}),
        )
        .await;
    assert_eq!(own.status, StatusCode::CREATED, "{}", own.json);
    assert_eq!(own.json["tags"], "baja, trámite", "tags cleaned");
    let id = own.json["id"].as_i64().expect("id");
    let theirs = app
        .post(
            "/api/v1/articles",
            &responsible,
            json!({"title": "Becas", "body": "…", "owner_unit_id": other}),
        )
        .await;
    assert_eq!(theirs.status, StatusCode::FORBIDDEN);
    let empty = app
        .post("/api/v1/articles", &lead, json!({"title": " ", "body": ""}))
        .await;
    assert_eq!(empty.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(empty.json["error"]["fields"][0]["field"], "title");

    // A new version; giving the article away to another unit is refused.
    let edited = app
        .call(
            Method::PUT,
            &format!("/api/v1/articles/{id}"),
            &responsible,
            Some(json!({"title": "Baja temporal de alumnos", "body": "Solicítala en la coordinación de tu programa.", "owner_unit_id": unit, "public": true})),
        )
        .await;
    assert_eq!(edited.status, StatusCode::OK, "{}", edited.json);
    assert_eq!(edited.json["version"], 2);
    let given_away = app
        .call(
            Method::PUT,
            &format!("/api/v1/articles/{id}"),
            &responsible,
            Some(json!({"title": "Baja", "body": "…", "owner_unit_id": other})),
        )
        .await;
    assert_eq!(given_away.status, StatusCode::FORBIDDEN);
    let versions = app
        .get(&format!("/api/v1/articles/{id}/versions"), &lead)
        .await;
    let titles: Vec<&str> = versions
        .json
        .as_array()
        .expect("versions")
        .iter()
        .map(|v| v["title"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(titles, ["Baja temporal de alumnos", "Baja temporal"]);

    // The list by title, a page at a time, and the search over it.
    for title in ["Calendario escolar", "Credencial", "Acta de calificaciones"] {
        let made = app
            .post(
                "/api/v1/articles",
                &lead,
                json!({"title": title, "body": "Consulta el calendario."}),
            )
            .await;
        assert_eq!(made.status, StatusCode::CREATED);
    }
    let first = app.get("/api/v1/articles?limit=2", &lead).await;
    let page_titles = |reply: &crate::helpers::Reply| -> Vec<String> {
        reply.json["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|a| a["title"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    assert_eq!(
        page_titles(&first),
        ["Acta de calificaciones", "Baja temporal de alumnos"]
    );
    let cursor = first.json["next_cursor"].as_str().expect("more");
    let second = app
        .get(&format!("/api/v1/articles?limit=2&cursor={cursor}"), &lead)
        .await;
    assert_eq!(page_titles(&second), ["Calendario escolar", "Credencial"]);
    assert!(second.json["next_cursor"].is_null());
    let of_unit = app
        .get(&format!("/api/v1/articles?unit_id={unit}"), &lead)
        .await;
    assert_eq!(page_titles(&of_unit), ["Baja temporal de alumnos"]);
    let found = app.get("/api/v1/articles?q=calendario", &lead).await;
    assert_eq!(
        page_titles(&found)[0],
        "Calendario escolar",
        "title before body"
    );

    // Archived: out of the list and every search; its versions stay.
    let archived = app
        .post(
            &format!("/api/v1/articles/{id}/archive"),
            &responsible,
            json!({}),
        )
        .await;
    assert_eq!(archived.status, StatusCode::NO_CONTENT);
    assert!(
        !page_titles(&app.get("/api/v1/articles", &lead).await)
            .contains(&"Baja temporal de alumnos".to_string())
    );
    assert_eq!(
        app.get("/api/v1/articles?q=baja", &lead).await.json["items"],
        json!([])
    );
    assert_eq!(
        app.get(&format!("/api/v1/articles/{id}"), &lead).await.json["archived"],
        true
    );
    let after = app
        .call(
            Method::PUT,
            &format!("/api/v1/articles/{id}"),
            &responsible,
            Some(json!({"title": "Otra", "body": "…", "owner_unit_id": unit})),
        )
        .await;
    assert_eq!(
        after.status,
        StatusCode::FORBIDDEN,
        "an archived article stays as it was"
    );
}

async fn one_search_finds_incidents_contacts_and_articles_within_what_the_caller_may_see(
    db: TestDb,
) {
    let app = TestApp::new(db).await;
    let (unit, lead, responsible) = lead_and_responsible(&app).await;
    let contact = app
        .post(
            "/api/v1/contacts",
            &lead,
            json!({"name": "Rosaura Méndez", "emails": ["rosaura@alumnos.udg.mx"]}),
        )
        .await;
    let mut folios = Vec::new();
    for subject in ["Revalidación de materias", "Revalidación pendiente"] {
        let incident = app
            .post(
                "/api/v1/incidents",
                &lead,
                json!({"channel": "email", "contact_id": contact.json["id"], "subject": subject}),
            )
            .await;
        folios.push(incident.json["folio"].as_str().expect("folio").to_string());
    }
    let derived = app
        .post(
            &format!("/api/v1/incidents/{}/derivations", folios[1]),
            &lead,
            json!({"unit_id": unit, "medium": "email", "reason": "Dictamen"}),
        )
        .await;
    assert_eq!(derived.status, StatusCode::CREATED, "{}", derived.json);
    let article = app
        .post(
            "/api/v1/articles",
            &lead,
            json!({"title": "Revalidación de estudios", "body": "Requisitos y plazos."}),
        )
        .await;
    let article_id = article.json["id"].as_i64().expect("article");

    let all = app.get("/api/v1/search?q=revalidaci%C3%B3n", &lead).await;
    assert_eq!(all.status, StatusCode::OK, "{}", all.json);
    assert_eq!(
        all.json["incidents"].as_array().expect("incidents").len(),
        2
    );
    assert_eq!(all.json["articles"][0]["id"], article_id);
    let people = app.get("/api/v1/search?q=rosaura", &lead).await;
    assert_eq!(people.json["contacts"][0]["name"], "Rosaura Méndez");
    // A unit responsible: only what was derived to their unit, and no contacts.
    let theirs = app
        .get("/api/v1/search?q=revalidaci%C3%B3n", &responsible)
        .await;
    let found: Vec<&str> = theirs.json["incidents"]
        .as_array()
        .expect("incidents")
        .iter()
        .map(|i| i["folio"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(found, [folios[1].as_str()]);
    assert_eq!(
        app.get("/api/v1/search?q=rosaura", &responsible).await.json["contacts"],
        json!([])
    );
    let missing_q = app.get("/api/v1/search", &lead).await;
    assert_eq!(missing_q.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(missing_q.json["error"]["fields"][0]["field"], "q");

    // "Resolved by this article", once.
    let path = format!("/api/v1/incidents/{}/resolved-by", folios[0]);
    let first = app
        .post(&path, &lead, json!({"article_id": article_id}))
        .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.json);
    assert_eq!(first.json["recorded"], true);
    let again = app
        .post(&path, &lead, json!({"article_id": article_id}))
        .await;
    assert_eq!(again.json["recorded"], false);
    let unknown = app.post(&path, &lead, json!({"article_id": 999_999})).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}
