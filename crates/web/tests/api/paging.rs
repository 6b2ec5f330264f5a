//! Every paged list gives a client that follows `next_cursor` every item once, whatever page
//! size it asks for — at the largest page, one past it and far past it — on a year of demo
//! history and a roster (hundreds of incidents, contacts and audit records).

use atiende_store::MAX_PAGE;
use atiende_store::testing::TestDb;
use axum::http::StatusCode;

use crate::helpers::{ADMIN_PASSWORD, Auth, TestApp};

atiende_store::on_both_engines!(
    a_client_following_the_cursor_gets_every_item_once_at_any_page_size
);

/// The paged lists of the API that the demo makes longer than the largest page.
const LISTS: &[&str] = &["/api/v1/incidents", "/api/v1/contacts", "/api/v1/audit"];

/// Every other paged list: the same walk, whatever its length.
const OTHER_LISTS: &[&str] = &[
    "/api/v1/units",
    "/api/v1/topics",
    "/api/v1/users",
    "/api/v1/articles",
    "/api/v1/nonconformities",
    "/api/v1/surveys",
    "/api/v1/outbox",
    "/api/v1/calls",
    "/api/v1/personal-data/access-log",
    "/api/v1/surveys/follow-ups",
    "/api/v1/webhooks",
    "/api/v1/mailboxes",
];

/// The ids of every item, following the cursor with pages of `limit`.
async fn walk(app: &TestApp, auth: &Auth, list: &str, limit: i64) -> Vec<i64> {
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..10_000 {
        let path = match &cursor {
            Some(c) => format!("{list}?limit={limit}&cursor={c}"),
            None => format!("{list}?limit={limit}"),
        };
        let page = app.get(&path, auth).await;
        assert_eq!(page.status, StatusCode::OK, "{path}: {}", page.json);
        let items = page.json["items"].as_array().expect("items");
        assert!(
            items.len() as i64 <= limit.min(MAX_PAGE),
            "{path}: {} items",
            items.len()
        );
        ids.extend(items.iter().map(|i| {
            i["id"]
                .as_i64()
                .or_else(|| i["incident"]["id"].as_i64())
                .expect("an id")
        }));
        match page.json["next_cursor"].as_str() {
            Some(next) => {
                assert_eq!(
                    items.len() as i64,
                    limit.min(MAX_PAGE),
                    "{path}: only a full page has a next one"
                );
                cursor = Some(next.to_string());
            }
            None => return ids,
        }
    }
    panic!("{list}: the cursor never ended");
}

async fn a_client_following_the_cursor_gets_every_item_once_at_any_page_size(db: TestDb) {
    let app = TestApp::new(db).await;
    app.db
        .load_demo(200, 2026, Some(ADMIN_PASSWORD))
        .await
        .expect("demo");
    // The roster of a diploma's applicants, on top of the people the demo's year met.
    for n in 0..MAX_PAGE {
        let person = atiende_domain::contact::ContactInput {
            name: Some(format!("Aspirante {n}")),
            emails: Some(vec![format!("aspirante.{n}@correo.example")]),
            ..Default::default()
        };
        app.db
            .create_contact(atiende_store::Actor::System, &person)
            .await
            .expect("contact");
    }
    let admin = app.login("admin", ADMIN_PASSWORD).await;
    for list in LISTS {
        let reference = walk(&app, &admin, list, 50).await;
        assert!(
            reference.len() as i64 > MAX_PAGE,
            "{list}: {} items are too few to test the largest page",
            reference.len()
        );
        let mut unique = reference.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), reference.len(), "{list}: an item twice");
        for limit in [MAX_PAGE - 1, MAX_PAGE, MAX_PAGE + 1, 500] {
            assert_eq!(
                walk(&app, &admin, list, limit).await,
                reference,
                "{list} with limit={limit}"
            );
        }
    }
    for list in OTHER_LISTS {
        let reference = walk(&app, &admin, list, 50).await;
        let mut unique = reference.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), reference.len(), "{list}: an item twice");
        for limit in [7, MAX_PAGE, MAX_PAGE + 1] {
            assert_eq!(
                walk(&app, &admin, list, limit).await,
                reference,
                "{list} with limit={limit}"
            );
        }
    }
    // The catalogues say how many there are.
    let units = app.get("/api/v1/units?limit=2", &admin).await;
    assert_eq!(
        units.json["total"].as_i64(),
        Some(walk(&app, &admin, "/api/v1/units", 50).await.len() as i64)
    );
    assert!(
        app.get("/api/v1/incidents?limit=2", &admin).await.json["total"].is_null(),
        "no total where counting would cost"
    );
}
