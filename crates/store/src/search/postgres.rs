//! Search on PostgreSQL: one `search_docs` table for every kind (`kind`, `ref_id`, a `tsv`
//! column in the `spanish_unaccent` configuration with a GIN index), ranked by `ts_rank`.

use atiende_domain::knowledge::SearchQuery;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{ArticleHit, Kind, Match, RANKED_WINDOW, article_hit, clip};
use crate::bulk::{Value, push_insert};
use crate::db::{Script, Sql, Store};
use crate::error::Result;

/// PostgreSQL walks this many of the newest documents of a kind before it asks the full-text
/// index. A common word fills the ranked window there (a twentieth of the documents is
/// enough) in a few milliseconds, whereas the index would hand over every match in the
/// history, each read from the table (about 4 µs a row once the table outgrows the shared
/// buffers: a word in a tenth of a million incidents took 250 ms). A rarer query finds fewer
/// than a window's worth there and is answered from the index, where it has few matches.
const RECENT_DOCUMENTS: i64 = 50_000;

/// The tsquery text: each word by its stem or its beginning, phrases in order.
pub(crate) fn tsquery_expr(q: &SearchQuery, m: Match) -> String {
    let parts: Vec<String> = q
        .terms
        .iter()
        // A word's beginning includes the word itself.
        .map(|t| format!("{t}:*"))
        .chain(q.phrases.iter().map(|p| format!("({})", p.join(" <-> "))))
        .collect();
    parts.join(match m {
        Match::All => " & ",
        Match::Any => " | ",
    })
}

/// PostgreSQL's parser reads `CAP-2026-000123` as signed numbers (`-2026`, `-000123`); a space
/// for each hyphen makes folios and compound words searchable by their parts, as in FTS5.
fn dehyphen(text: &str) -> String {
    text.replace('-', " ")
}

pub(super) fn push_unindex(script: &mut Script, kind: Kind, id: i64) {
    let sql = script.statement();
    sql.push("DELETE FROM search_docs WHERE ref_id = ")
        .bind(id)
        .push(" AND kind = ")
        .bind(kind.code());
}

pub(super) fn push_new_documents(script: &mut Script, kind: Kind, docs: &[(i64, String, String)]) {
    let rows: Vec<Vec<Value>> = docs
        .iter()
        .map(|(id, title, body)| {
            vec![
                Value::Text(kind.code().to_string()),
                Value::Int(*id),
                Value::Text(dehyphen(title)),
                Value::Text(dehyphen(&clip(body.clone()))),
            ]
        })
        .collect();
    push_insert(
        script,
        "search_docs",
        &["kind", "ref_id", "title", "body"],
        &rows,
        "",
    );
}

/// `records` (are there incidents or contacts?) and `docs` (is there any document?).
pub(super) const ENSURE: &str = "SELECT (SELECT COUNT(*) FROM (SELECT 1 FROM incidents LIMIT 1) a) + (SELECT COUNT(*) FROM (SELECT 1 FROM contacts LIMIT 1) b) AS records, \
     (SELECT COUNT(*) FROM (SELECT 1 FROM search_docs LIMIT 1) c) AS docs";

pub(super) const CLEAR: &[&str] = &["DELETE FROM search_docs"];

/// The rows of the best of the newest `RANKED_WINDOW` matches of one kind of document,
/// `(id, rank, found)` inside `outer`'s two halves (which join the records); the newest
/// documents are walked first (see `RECENT_DOCUMENTS`), the index only when they hold too few
/// matches.
async fn newest_ranked(
    store: &Store,
    kind: Kind,
    q: &SearchQuery,
    limit: i64,
    outer: (&str, &str),
    filter: impl Fn(&mut Sql),
) -> Result<Vec<AnyRow>> {
    let query = tsquery_expr(q, Match::All);
    let ranked = |recent: Option<i64>| {
        let mut s = Sql::new(outer.0);
        s.push("SELECT id, rank, COUNT(*) OVER () AS found FROM (SELECT ref_id AS id, ts_rank(tsv, query) AS rank FROM (");
        if let Some(window) = recent {
            // Walked backwards along the primary key: the newest documents first.
            s.push("SELECT ref_id, tsv FROM search_docs WHERE kind = ");
            s.bind(kind.code());
            s.push(" ORDER BY kind DESC, ref_id DESC LIMIT ");
            s.bind(window);
            s.push(") d, to_tsquery('spanish_unaccent', ");
            s.bind(query.clone());
            s.push(") query WHERE tsv @@ query");
        } else {
            // Every match from the index (OFFSET 0 keeps the planner from walking the
            // whole table newest first in search of a rare word), the newest ranked.
            s.push("SELECT ref_id, tsv, query FROM search_docs, to_tsquery('spanish_unaccent', ");
            s.bind(query.clone());
            s.push(") query WHERE kind = ");
            s.bind(kind.code());
            s.push(" AND tsv @@ query OFFSET 0) d WHERE 1 = 1");
        }
        filter(&mut s);
        s.push(" ORDER BY ref_id DESC LIMIT ");
        s.bind(RANKED_WINDOW);
        s.push(") newest ORDER BY rank DESC LIMIT ");
        s.bind(limit);
        s.push(outer.1);
        s
    };
    // Numbers (phones, student codes, folios) are rare by nature: straight to the index.
    let identifiers = q.phrases.is_empty()
        && q.terms
            .iter()
            .all(|t| t.chars().any(|c| c.is_ascii_digit()));
    // A fifth of the walk first: a query that matches too little there to fill the
    // window in the whole walk goes to the index without walking the rest.
    let walks = if identifiers {
        &[][..]
    } else {
        &[RECENT_DOCUMENTS / 5, RECENT_DOCUMENTS][..]
    };
    for &window in walks {
        let rows = ranked(Some(window)).fetch_all(store.reader()).await?;
        let found = match rows.first() {
            Some(r) => r.try_get::<i64, _>("found")?,
            None => 0,
        };
        if found >= RANKED_WINDOW {
            return Ok(rows);
        }
        if found * (RECENT_DOCUMENTS / window) < RANKED_WINDOW {
            break;
        }
    }
    ranked(None).fetch_all(store.reader()).await
}

/// Incidents ranked among the newest matches; `scope` adds the unit condition on a column.
pub(super) async fn incidents(
    store: &Store,
    q: &SearchQuery,
    limit: i64,
    scope: impl Fn(&mut Sql, &str),
) -> Result<Vec<AnyRow>> {
    newest_ranked(
        store,
        Kind::Incident,
        q,
        limit,
        (
            "SELECT i.id, i.folio, i.subject, i.status, m.found FROM (",
            ") m JOIN incidents i ON i.id = m.id ORDER BY m.rank DESC",
        ),
        |s| scope(s, " AND ref_id"),
    )
    .await
}

/// The queue filter's two sides (the incident's own document, its contact's), each to be
/// ended with an id condition, and the order that reads the first newest first.
pub(super) fn text_sides(q: &SearchQuery) -> (Sql, Sql, &'static str) {
    let query = tsquery_expr(q, Match::All);
    let mut own = Sql::new(
        "SELECT ref_id AS id FROM search_docs WHERE kind = 'incident' AND tsv @@ to_tsquery('spanish_unaccent', ",
    );
    own.bind(query.clone()).push(") AND ref_id");
    let mut contacts = Sql::new(
        "SELECT id FROM incidents WHERE contact_id IN (SELECT ref_id FROM search_docs WHERE kind = 'contact' \
         AND tsv @@ to_tsquery('spanish_unaccent', ",
    );
    contacts.bind(query).push(")) AND id");
    (own, contacts, "kind DESC, ref_id DESC")
}

pub(super) fn push_contact_ids(sql: &mut Sql, q: &SearchQuery) {
    sql.push(
        "SELECT ref_id FROM search_docs WHERE kind = 'contact' AND tsv @@ to_tsquery('spanish_unaccent', ",
    )
    .bind(tsquery_expr(q, Match::All))
    .push(")");
}

pub(super) async fn contacts(store: &Store, q: &SearchQuery, limit: i64) -> Result<Vec<AnyRow>> {
    newest_ranked(
        store,
        Kind::Contact,
        q,
        limit,
        (
            "SELECT c.id, c.name, m.found FROM (",
            ") m JOIN contacts c ON c.id = m.id ORDER BY m.rank DESC",
        ),
        |_| {},
    )
    .await
}

/// Articles are ranked by their documents alone and only the best few hundred are read from
/// the table: a suggestion's words match a third of 5,000 articles, and reading every match's
/// article took 3.5 of its 6.5 ms. Should archived (or, for the public page, private)
/// articles among them leave the page short, every match is read.
pub(super) async fn articles(
    store: &Store,
    q: &SearchQuery,
    m: Match,
    public_only: bool,
    limit: i64,
) -> Result<Vec<ArticleHit>> {
    let window = (limit * 4).max(100);
    let (hits, ranked) = best_articles(store, q, m, public_only, limit, Some(window)).await?;
    // No row at all says nothing of how many were ranked: read them all.
    if hits.len() as i64 >= limit || ranked.is_some_and(|r| r < window) {
        return Ok(hits);
    }
    Ok(best_articles(store, q, m, public_only, limit, None)
        .await?
        .0)
}

/// The best `limit` articles among the `window` best-ranked matching documents (all of them
/// without a window), and how many documents were ranked (unknown when no article came back).
/// Each hit's article is read by its key (`OFFSET 0` keeps the planner from joining all 5,000
/// articles by hash or merge, which took 4–5 of a 7 ms suggestion).
async fn best_articles(
    store: &Store,
    q: &SearchQuery,
    m: Match,
    public_only: bool,
    limit: i64,
    window: Option<i64>,
) -> Result<(Vec<ArticleHit>, Option<i64>)> {
    let mut sql = Sql::new(
        "WITH h AS MATERIALIZED (SELECT d.ref_id, ts_rank(d.tsv, query) AS rank, query \
         FROM search_docs d, to_tsquery('spanish_unaccent', ",
    );
    sql.bind(tsquery_expr(q, m));
    sql.push(") query WHERE d.kind = 'article' AND d.tsv @@ query ORDER BY rank DESC");
    if let Some(w) = window {
        sql.push(" LIMIT ").bind(w);
    }
    sql.push(
        ") SELECT a.id, a.title, a.public, ts_headline('spanish_unaccent', a.body, h.query, \
         'StartSel=\"\",StopSel=\"\",MaxWords=24,MinWords=8') AS snippet, \
         (SELECT COUNT(*) FROM h) AS ranked \
         FROM h CROSS JOIN LATERAL (SELECT a.id, a.title, a.public, a.body FROM articles a \
         WHERE a.id = h.ref_id AND a.archived = 0 AND (",
    );
    sql.bind(i64::from(public_only));
    sql.push(" = 0 OR a.public = 1) OFFSET 0) a ORDER BY h.rank DESC LIMIT ");
    sql.bind(limit);
    let rows = sql.fetch_all(store.reader()).await?;
    let ranked = match rows.first() {
        Some(r) => Some(r.try_get("ranked")?),
        None => None,
    };
    Ok((rows.iter().map(article_hit).collect::<Result<_>>()?, ranked))
}
