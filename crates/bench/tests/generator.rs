//! The benchmark's generated history is the product's: the rollups it writes equal those the
//! product recounts from the generated incidents, on both engines.

use atiende_bench::generate::{Spec, generate};
use atiende_store::testing::TestDb;

atiende_store::on_both_engines!(the_generated_rollups_equal_a_rebuild_by_the_product);

async fn the_generated_rollups_equal_a_rebuild_by_the_product(db: TestDb) {
    db.first_run(Some("contraseña-segura-1"))
        .await
        .expect("first run");
    let spec = Spec {
        incidents: 3_000,
        articles: 60,
        contacts: 600,
        years: 2,
        seed: 7,
        end: chrono::Utc::now(),
    };
    let made = generate(&db, &spec, |_, _, _| {}).await.expect("generate");
    assert_eq!(made.incidents, 3_000);
    assert!(made.entries >= 3 * 3_000, "timelines: {}", made.entries);
    assert!(made.derivations > 300 && made.surveys > 500, "{made:?}");
    let generated = db.period_rollup(0, 999_999, true).await.expect("rollup");
    assert_eq!(generated.totals.incidents, 3_000);
    let recounted = db.rebuild_indicators(true).await.expect("rebuild");
    assert_eq!(recounted, 3_000);
    let rebuilt = db.period_rollup(0, 999_999, true).await.expect("rollup");
    assert_eq!(generated.totals, rebuilt.totals);
    assert_eq!(generated.breakdowns, rebuilt.breakdowns);
    assert_eq!(generated.first_response, rebuilt.first_response);
    assert_eq!(generated.close, rebuilt.close);
    // The search documents it wrote are the product's: the same answers before and after a
    // rebuild of the index.
    let q = atiende_domain::knowledge::SearchQuery::parse("000101");
    let scope = atiende_domain::access::Scope::All;
    let ids = |hits: Vec<atiende_store::search::IncidentHit>| {
        let mut v: Vec<i64> = hits.into_iter().map(|h| h.id.0).collect();
        v.sort_unstable();
        v
    };
    let before = ids(db.search_incidents(&scope, &q, 200).await.expect("search"));
    let articles = db
        .search_articles(
            &atiende_domain::knowledge::SearchQuery::parse("aspirante"),
            atiende_store::search::Match::All,
            false,
            50,
        )
        .await
        .expect("articles");
    assert!(!before.is_empty() && !articles.is_empty());
    db.rebuild_search().await.expect("rebuild");
    let after = ids(db.search_incidents(&scope, &q, 200).await.expect("search"));
    assert!(
        before.len() < 200,
        "the whole answer is compared: {}",
        before.len()
    );
    assert_eq!(before, after);
    // The product keeps working on the generated rows: new ids do not collide.
    let contact = db
        .create_contact(
            atiende_store::Actor::System,
            &atiende_domain::contact::ContactInput {
                name: Some("Nueva persona".into()),
                ..Default::default()
            },
        )
        .await
        .expect("a new contact after the generated ones");
    assert!(contact.id.0 > 600);
}
