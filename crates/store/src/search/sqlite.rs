//! Search on SQLite: one FTS5 table per kind of record (`incident_fts`, `contact_fts`,
//! `article_fts`, `unicode61 remove_diacritics 2`), the record's id as the rowid, ranked by
//! `bm25` with the title weighing ten times the body.

use atiende_domain::knowledge::SearchQuery;
use sqlx::any::AnyRow;

use super::{ArticleHit, Kind, Match, RANKED_WINDOW, article_hit, clip};
use crate::bulk::{Value, push_insert};
use crate::db::{Script, Sql, Store};
use crate::error::Result;

/// The FTS5 expression: `"word"*` for each word (its beginning; a short word `"word"`),
/// `"a b"` for phrases.
pub(super) fn fts5_expr(q: &SearchQuery, m: Match) -> String {
    let parts: Vec<String> = q
        .matched_terms()
        .iter()
        .map(|t| match t.beginning {
            true => format!("\"{}\"*", t.word),
            false => format!("\"{}\"", t.word),
        })
        .chain(q.phrases.iter().map(|p| format!("\"{}\"", p.join(" "))))
        .collect();
    parts.join(match m {
        Match::All => " ",
        Match::Any => " OR ",
    })
}

fn table(kind: Kind) -> &'static str {
    match kind {
        Kind::Incident => "incident_fts",
        Kind::Contact => "contact_fts",
        Kind::Article => "article_fts",
    }
}

pub(super) fn push_unindex(script: &mut Script, kind: Kind, id: i64) {
    let sql = script.statement();
    sql.push("DELETE FROM ")
        .push(table(kind))
        .push(" WHERE rowid = ")
        .bind(id);
}

/// A document's title and body as the FTS5 table is given them.
pub(super) fn stored_form(title: &str, body: &str) -> (String, String) {
    (title.to_string(), clip(body.to_string()))
}

pub(super) fn push_new_documents(script: &mut Script, kind: Kind, docs: &[(i64, String, String)]) {
    let rows: Vec<Vec<Value>> = docs
        .iter()
        .map(|(id, title, body)| {
            let (title, body) = stored_form(title, body);
            vec![Value::Int(*id), Value::Text(title), Value::Text(body)]
        })
        .collect();
    push_insert(script, table(kind), &["rowid", "title", "body"], &rows, "");
}

/// `records` (are there incidents or contacts?) and `docs` (is there any document?).
pub(super) const ENSURE: &str = "SELECT (SELECT COUNT(*) FROM (SELECT 1 FROM incidents LIMIT 1)) + (SELECT COUNT(*) FROM (SELECT 1 FROM contacts LIMIT 1)) AS records, \
     (SELECT COUNT(*) FROM (SELECT 1 FROM incident_fts LIMIT 1)) + (SELECT COUNT(*) FROM (SELECT 1 FROM contact_fts LIMIT 1)) AS docs";

pub(super) const CLEAR: &[&str] = &[
    "DELETE FROM incident_fts",
    "DELETE FROM contact_fts",
    "DELETE FROM article_fts",
];

/// One segment per table (see `Store::merge_search_index`).
pub(super) async fn merge(store: &Store) -> Result<()> {
    for sql in [
        "INSERT INTO incident_fts (incident_fts) VALUES ('optimize')",
        "INSERT INTO contact_fts (contact_fts) VALUES ('optimize')",
        "INSERT INTO article_fts (article_fts) VALUES ('optimize')",
    ] {
        sqlx::query(sql).execute(store.writer()).await?;
    }
    Ok(())
}

/// Incidents ranked among the newest matches (see `RANKED_WINDOW`); `scope` adds the unit
/// condition on a column.
pub(super) async fn incidents(
    store: &Store,
    q: &SearchQuery,
    limit: i64,
    scope: impl Fn(&mut Sql, &str),
) -> Result<Vec<AnyRow>> {
    let expr = fts5_expr(q, Match::All);
    let mut s = Sql::new(
        "SELECT i.id, i.folio, i.subject, i.status FROM (SELECT rowid AS id, bm25(incident_fts, 10.0, 1.0) AS rank \
         FROM incident_fts WHERE incident_fts MATCH ",
    );
    s.bind(expr.clone());
    scope(&mut s, " AND rowid");
    s.push(" AND rowid >= (SELECT COALESCE(MIN(rowid), 0) FROM (SELECT rowid FROM incident_fts WHERE incident_fts MATCH ");
    s.bind(expr);
    scope(&mut s, " AND rowid");
    s.push(" ORDER BY rowid DESC LIMIT ");
    s.bind(RANKED_WINDOW);
    s.push(")) ORDER BY rank LIMIT ");
    s.bind(limit);
    s.push(") m JOIN incidents i ON i.id = m.id ORDER BY m.rank");
    s.fetch_all(store.reader()).await
}

/// The queue filter's own side (the incident's document), to be ended with an id condition,
/// and the order that reads it newest first.
pub(super) fn own_side(q: &SearchQuery) -> (Sql, &'static str) {
    let mut own = Sql::new("SELECT rowid AS id FROM incident_fts WHERE incident_fts MATCH ");
    own.bind(fts5_expr(q, Match::All)).push(" AND rowid");
    (own, "rowid DESC")
}

/// The queue filter's contact side, to be ended with an id condition.
pub(super) fn contact_side(q: &SearchQuery) -> Sql {
    let mut contacts = Sql::new(
        "SELECT id FROM incidents WHERE contact_id IN (SELECT rowid FROM contact_fts WHERE contact_fts MATCH ",
    );
    contacts.bind(fts5_expr(q, Match::All)).push(") AND id");
    contacts
}

pub(super) fn push_contact_ids(sql: &mut Sql, q: &SearchQuery) {
    sql.push("SELECT rowid FROM contact_fts WHERE contact_fts MATCH ")
        .bind(fts5_expr(q, Match::All));
}

pub(super) async fn contacts(store: &Store, q: &SearchQuery, limit: i64) -> Result<Vec<AnyRow>> {
    let mut s = Sql::new(
        "SELECT c.id, c.name FROM (SELECT rowid AS id, bm25(contact_fts, 10.0, 1.0) AS rank FROM contact_fts \
         WHERE contact_fts MATCH ",
    );
    s.bind(fts5_expr(q, Match::All));
    s.push(" ORDER BY rank LIMIT ");
    s.bind(limit);
    s.push(") m JOIN contacts c ON c.id = m.id ORDER BY m.rank");
    s.fetch_all(store.reader()).await
}

pub(super) async fn articles(
    store: &Store,
    q: &SearchQuery,
    m: Match,
    public_only: bool,
    limit: i64,
) -> Result<Vec<ArticleHit>> {
    let mut sql = Sql::new(
        "SELECT a.id, a.title, a.public, snippet(article_fts, 1, '', '', '…', 24) AS snippet \
         FROM article_fts JOIN articles a ON a.id = article_fts.rowid WHERE article_fts MATCH ",
    );
    sql.bind(fts5_expr(q, m));
    sql.push(" AND a.archived = 0 AND (");
    sql.bind(i64::from(public_only));
    sql.push(" = 0 OR a.public = 1) ORDER BY bm25(article_fts, 10.0, 1.0) LIMIT ");
    sql.bind(limit);
    sql.fetch_all(store.reader())
        .await?
        .iter()
        .map(article_hit)
        .collect()
}
