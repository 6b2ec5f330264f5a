//! Full-text search behind one interface: SQLite's FTS5 (accents and case folded, word
//! beginnings) or PostgreSQL's text search (Spanish stems, unaccent). Each record's document is
//! rewritten inside the transaction that changes the record, so the index never lags;
//! `atiende rebuild-search` rewrites them all.

use atiende_domain::access::Scope;
use atiende_domain::ids::{ContactId, IncidentId};
use atiende_domain::incident::EntryKind;
use atiende_domain::knowledge::SearchQuery;
use serde::Serialize;
use sqlx::Row;

use crate::db::{Engine, Script, Sql, Store, engine_of};
use crate::error::Result;
use crate::tx::Tx;

/// How many of the newest matches are ranked: a common word matches a good part of years of
/// history, and ranking all of them would cost more than the answer is worth; the newest
/// matches are where an agent looks.
const RANKED_WINDOW: i64 = 2_000;

/// PostgreSQL walks this many of the newest documents of a kind before it asks the full-text
/// index. A common word fills the ranked window there (a twentieth of the documents is
/// enough) in a few milliseconds, whereas the index would hand over every match in the
/// history, each read from the table (about 4 µs a row once the table outgrows the shared
/// buffers: a word in a tenth of a million incidents took 250 ms). A rarer query finds fewer
/// than a window's worth there and is answered from the index, where it has few matches.
const RECENT_DOCUMENTS: i64 = 50_000;

/// Longest text indexed per record (PostgreSQL's tsvector has a size limit).
const MAX_INDEXED: usize = 50_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Incident,
    Contact,
    Article,
}

impl Kind {
    fn code(self) -> &'static str {
        match self {
            Kind::Incident => "incident",
            Kind::Contact => "contact",
            Kind::Article => "article",
        }
    }
}

/// How the terms of a query combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Match {
    /// Every word and phrase (a search box).
    All,
    /// Any word, best first (suggestions from an incident's text).
    Any,
}

/// The FTS5 expression: `"word"*` for each word (its beginning), `"a b"` for phrases.
fn fts5_expr(q: &SearchQuery, m: Match) -> String {
    let parts: Vec<String> = q
        .terms
        .iter()
        .map(|t| format!("\"{t}\"*"))
        .chain(q.phrases.iter().map(|p| format!("\"{}\"", p.join(" "))))
        .collect();
    parts.join(match m {
        Match::All => " ",
        Match::Any => " OR ",
    })
}

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

fn clip(text: String) -> String {
    if text.len() <= MAX_INDEXED {
        return text;
    }
    let mut end = MAX_INDEXED;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_string()
}

pub(crate) async fn unindex(tx: &mut Tx, kind: Kind, id: i64) -> Result<()> {
    let mut script = Script::new(engine_of(tx));
    push_unindex(&mut script, kind, id);
    script.execute(tx).await
}

fn push_unindex(script: &mut Script, kind: Kind, id: i64) {
    let table = match (script.engine(), kind) {
        (Engine::Sqlite, Kind::Incident) => "incident_fts WHERE rowid = ",
        (Engine::Sqlite, Kind::Contact) => "contact_fts WHERE rowid = ",
        (Engine::Sqlite, Kind::Article) => "article_fts WHERE rowid = ",
        (Engine::Postgres, _) => "search_docs WHERE ref_id = ",
    };
    let postgres = script.engine() == Engine::Postgres;
    let sql = script.statement();
    sql.push("DELETE FROM ").push(table).bind(id);
    if postgres {
        sql.push(" AND kind = ").bind(kind.code());
    }
}

/// Replaces a record's document.
pub(crate) async fn index(
    tx: &mut Tx,
    kind: Kind,
    id: i64,
    title: &str,
    body: String,
) -> Result<()> {
    let mut script = Script::new(engine_of(tx));
    push_unindex(&mut script, kind, id);
    push_new_documents(&mut script, kind, &[(id, title.to_string(), body)]);
    script.execute(tx).await
}

/// An incident's document: folio, subject and the case numbers it had in other systems as the
/// title; the person's messages, the answers and the intervention notes, one per line, as the
/// body. One shape for a rewrite and for a group of new incidents.
pub(crate) fn incident_document<S: AsRef<str>>(
    folio: &str,
    subject: &str,
    labels: &[S],
    texts: &[S],
) -> (String, String) {
    let mut title = format!("{folio} {subject}");
    for label in labels {
        title.push(' ');
        title.push_str(label.as_ref());
    }
    let mut body = String::new();
    for text in texts {
        body.push_str(text.as_ref());
        body.push('\n');
    }
    (title, body)
}

/// Writes the documents of records that have none yet, `(id, title, body)`, many per
/// statement (a group of new incidents, a bulk load).
pub(crate) async fn index_new(
    tx: &mut Tx,
    kind: Kind,
    docs: &[(i64, String, String)],
) -> Result<()> {
    let mut script = Script::new(engine_of(tx));
    push_new_documents(&mut script, kind, docs);
    script.execute(tx).await
}

/// [`index_new`] as part of a script of other writes.
pub(crate) fn push_new_documents(script: &mut Script, kind: Kind, docs: &[(i64, String, String)]) {
    use crate::bulk::{Value, push_insert};
    match script.engine() {
        Engine::Sqlite => {
            let table = match kind {
                Kind::Incident => "incident_fts",
                Kind::Contact => "contact_fts",
                Kind::Article => "article_fts",
            };
            let rows: Vec<Vec<Value>> = docs
                .iter()
                .map(|(id, title, body)| {
                    vec![
                        Value::Int(*id),
                        Value::Text(title.clone()),
                        Value::Text(clip(body.clone())),
                    ]
                })
                .collect();
            push_insert(script, table, &["rowid", "title", "body"], &rows, "");
        }
        Engine::Postgres => {
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
    }
}

/// Rewrites a contact's document: the name, and every identifier (merged contacts leave
/// the index: they live on in the contact they were merged into).
pub(crate) async fn reindex_contact(tx: &mut Tx, id: ContactId) -> Result<()> {
    let row = sqlx::query(
        "SELECT name, merged_into, blocked_at, anonymised_at FROM contacts WHERE id = $1",
    )
    .bind(id.0)
    .fetch_one(&mut **tx)
    .await?;
    // Merged, blocked and suppressed people are out of normal use: search does not find them.
    if row.try_get::<Option<i64>, _>("merged_into")?.is_some()
        || row.try_get::<Option<i64>, _>("blocked_at")?.is_some()
        || row.try_get::<Option<i64>, _>("anonymised_at")?.is_some()
    {
        return unindex(tx, Kind::Contact, id.0).await;
    }
    let idents = sqlx::query("SELECT value FROM contact_identifiers WHERE contact_id = $1")
        .bind(id.0)
        .fetch_all(&mut **tx)
        .await?;
    let mut body = String::new();
    for r in &idents {
        let value: String = r.try_get("value")?;
        // Addresses are searched by their parts too (`ana.lopez@…` by `lopez`).
        body.push_str(&value.replace(['@', '.', '_', '-'], " "));
        body.push(' ');
        body.push_str(&value);
        body.push('\n');
    }
    let name: String = row.try_get("name")?;
    index(tx, Kind::Contact, id.0, &name, body).await
}

/// An incident found by a search.
#[derive(Debug, Clone, Serialize)]
pub struct IncidentHit {
    pub id: IncidentId,
    pub folio: String,
    pub subject: String,
    pub status: String,
}

/// A contact found by a search.
#[derive(Debug, Clone, Serialize)]
pub struct ContactHit {
    pub id: ContactId,
    pub name: String,
}

/// An article found by a search, with the passage that matched.
#[derive(Debug, Clone, Serialize)]
pub struct ArticleHit {
    pub id: i64,
    pub title: String,
    pub snippet: String,
    pub public: bool,
}

impl Store {
    /// Rewrites an incident's document: folio and subject as its title, what the person and
    /// the CAP wrote as its body.
    pub(crate) async fn reindex_incident(&self, tx: &mut Tx, id: IncidentId) -> Result<()> {
        let row = sqlx::query("SELECT folio, subject FROM incidents WHERE id = $1")
            .bind(id.0)
            .fetch_one(&mut **tx)
            .await?;
        // People who knew a case by its number in another system still find it by that.
        let labels = sqlx::query(
            "SELECT label FROM external_refs WHERE kind = 'case' AND local_id = $1 AND label <> ''",
        )
        .bind(id.0)
        .fetch_all(&mut **tx)
        .await?
        .iter()
        .map(|r| r.try_get::<String, _>("label"))
        .collect::<std::result::Result<Vec<_>, _>>()?;
        let texts = sqlx::query(
            "SELECT body FROM timeline_entries WHERE incident_id = $1 AND kind IN ($2, $3, $4) ORDER BY id",
        )
        .bind(id.0)
        .bind(EntryKind::InboundMessage.code())
        .bind(EntryKind::OutboundMessage.code())
        .bind(EntryKind::Intervention.code())
        .fetch_all(&mut **tx)
        .await?
        .iter()
        .map(|r| r.try_get::<String, _>("body"))
        .collect::<std::result::Result<Vec<_>, _>>()?;
        let (title, body) = incident_document(
            &row.try_get::<String, _>("folio")?,
            &row.try_get::<String, _>("subject")?,
            &labels,
            &texts,
        );
        index(tx, Kind::Incident, id.0, &title, body).await
    }

    /// Writes the documents a bulk load brings (the benchmark's generator), in one transaction:
    /// `(id, title, body)` of records of one kind that have none yet.
    pub async fn bulk_index(&self, kind: &str, docs: &[(i64, String, String)]) -> Result<()> {
        let kind = match kind {
            "incident" => Kind::Incident,
            "contact" => Kind::Contact,
            _ => Kind::Article,
        };
        let mut tx = self.begin().await?;
        index_new(&mut tx, kind, docs).await?;
        tx.commit().await?;
        Ok(())
    }

    /// A database from before the search index (or restored without it) gets its documents
    /// written once. Returns how many.
    pub async fn ensure_search_index(&self) -> Result<u64> {
        let sql = match self.engine() {
            Engine::Sqlite => {
                "SELECT (SELECT COUNT(*) FROM (SELECT 1 FROM incidents LIMIT 1)) + (SELECT COUNT(*) FROM (SELECT 1 FROM contacts LIMIT 1)) AS records, \
                 (SELECT COUNT(*) FROM (SELECT 1 FROM incident_fts LIMIT 1)) + (SELECT COUNT(*) FROM (SELECT 1 FROM contact_fts LIMIT 1)) AS docs"
            }
            Engine::Postgres => {
                "SELECT (SELECT COUNT(*) FROM (SELECT 1 FROM incidents LIMIT 1) a) + (SELECT COUNT(*) FROM (SELECT 1 FROM contacts LIMIT 1) b) AS records, \
                 (SELECT COUNT(*) FROM (SELECT 1 FROM search_docs LIMIT 1) c) AS docs"
            }
        };
        let row = sqlx::query(sql).fetch_one(self.reader()).await?;
        let (records, docs): (i64, i64) = (row.try_get("records")?, row.try_get("docs")?);
        if records > 0 && docs == 0 {
            self.rebuild_search().await
        } else {
            Ok(0)
        }
    }

    /// Rewrites every document (after a restore, an import or an upgrade).
    pub async fn rebuild_search(&self) -> Result<u64> {
        let mut tx = self.begin().await?;
        for sql in match self.engine() {
            Engine::Sqlite => &[
                "DELETE FROM incident_fts",
                "DELETE FROM contact_fts",
                "DELETE FROM article_fts",
            ][..],
            Engine::Postgres => &["DELETE FROM search_docs"][..],
        } {
            sqlx::query(*sql).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        let mut done = 0u64;
        for (table, kind) in [
            ("incidents", Kind::Incident),
            ("contacts", Kind::Contact),
            ("articles", Kind::Article),
        ] {
            let mut after = 0i64;
            loop {
                let sql = match table {
                    "incidents" => "SELECT id FROM incidents WHERE id > $1 ORDER BY id LIMIT 1000",
                    "contacts" => "SELECT id FROM contacts WHERE id > $1 ORDER BY id LIMIT 1000",
                    _ => "SELECT id FROM articles WHERE id > $1 ORDER BY id LIMIT 1000",
                };
                let ids: Vec<i64> = sqlx::query(sql)
                    .bind(after)
                    .fetch_all(self.reader())
                    .await?
                    .iter()
                    .map(|r| r.try_get("id"))
                    .collect::<std::result::Result<_, _>>()?;
                let Some(last) = ids.last().copied() else {
                    break;
                };
                let mut tx = self.begin().await?;
                for id in &ids {
                    match kind {
                        Kind::Incident => self.reindex_incident(&mut tx, IncidentId(*id)).await?,
                        Kind::Contact => reindex_contact(&mut tx, ContactId(*id)).await?,
                        Kind::Article => self.reindex_article(&mut tx, *id).await?,
                    }
                }
                tx.commit().await?;
                done += ids.len() as u64;
                after = last;
            }
        }
        self.merge_search_index().await?;
        Ok(done)
    }

    /// Merges SQLite's search index into one segment per table, after writing many documents
    /// at once (a rebuild, a bulk load) or to drop deleted terms. Written in batches, the
    /// index is left in many segments that the next ordinary writes would merge, a large
    /// merge at a time inside their transactions (intake's p99 at a million incidents: 33 ms
    /// with the generator's segments left unmerged). PostgreSQL's index needs no such step.
    pub async fn merge_search_index(&self) -> Result<()> {
        if self.engine() == Engine::Sqlite {
            for sql in [
                "INSERT INTO incident_fts (incident_fts) VALUES ('optimize')",
                "INSERT INTO contact_fts (contact_fts) VALUES ('optimize')",
                "INSERT INTO article_fts (article_fts) VALUES ('optimize')",
            ] {
                sqlx::query(sql).execute(self.writer()).await?;
            }
        }
        Ok(())
    }

    /// Incidents matching a query, best first, within what the person may see.
    pub async fn search_incidents(
        &self,
        scope: &Scope,
        q: &SearchQuery,
        limit: i64,
    ) -> Result<Vec<IncidentHit>> {
        if q.is_empty() {
            return Ok(vec![]);
        }
        // Unit responsibles search only what was derived to their units.
        let push_scope = |sql: &mut Sql, column: &str| {
            if let Scope::DerivedTo(units) = scope {
                sql.push(column);
                sql.push(" IN (SELECT incident_id FROM derivations WHERE unit_id IN (");
                for (n, u) in units.iter().enumerate() {
                    if n > 0 {
                        sql.push(", ");
                    }
                    sql.bind(u.0);
                }
                if units.is_empty() {
                    sql.push("NULL");
                }
                sql.push("))");
            }
        };
        let limit = limit.clamp(1, 200);
        let rows = match self.engine() {
            Engine::Sqlite => {
                // Ranked among the newest matches (see RANKED_WINDOW).
                let expr = fts5_expr(q, Match::All);
                let mut s = Sql::new(
                    "SELECT i.id, i.folio, i.subject, i.status FROM (SELECT rowid AS id, bm25(incident_fts, 10.0, 1.0) AS rank \
                     FROM incident_fts WHERE incident_fts MATCH ",
                );
                s.bind(expr.clone());
                push_scope(&mut s, " AND rowid");
                s.push(" AND rowid >= (SELECT COALESCE(MIN(rowid), 0) FROM (SELECT rowid FROM incident_fts WHERE incident_fts MATCH ");
                s.bind(expr);
                push_scope(&mut s, " AND rowid");
                s.push(" ORDER BY rowid DESC LIMIT ");
                s.bind(RANKED_WINDOW);
                s.push(")) ORDER BY rank LIMIT ");
                s.bind(limit);
                s.push(") m JOIN incidents i ON i.id = m.id ORDER BY m.rank");
                s.fetch_all(self.reader()).await?
            }
            Engine::Postgres => {
                self.newest_ranked_pg(
                    Kind::Incident,
                    q,
                    limit,
                    (
                        "SELECT i.id, i.folio, i.subject, i.status, m.found FROM (",
                        ") m JOIN incidents i ON i.id = m.id ORDER BY m.rank DESC",
                    ),
                    |s| push_scope(s, " AND ref_id"),
                )
                .await?
            }
        };
        rows.iter()
            .map(|r| {
                Ok(IncidentHit {
                    id: IncidentId(r.try_get("id")?),
                    folio: r.try_get("folio")?,
                    subject: r.try_get("subject")?,
                    status: r.try_get("status")?,
                })
            })
            .collect()
    }

    /// PostgreSQL: the rows of the best of the newest `RANKED_WINDOW` matches of one kind of
    /// document, `(id, rank, found)` inside `outer`'s two halves (which join the records); the
    /// newest documents are walked first (see `RECENT_DOCUMENTS`), the index only when they
    /// hold too few matches.
    async fn newest_ranked_pg(
        &self,
        kind: Kind,
        q: &SearchQuery,
        limit: i64,
        outer: (&str, &str),
        filter: impl Fn(&mut Sql),
    ) -> Result<Vec<sqlx::any::AnyRow>> {
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
                s.push(
                    "SELECT ref_id, tsv, query FROM search_docs, to_tsquery('spanish_unaccent', ",
                );
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
            let rows = ranked(Some(window)).fetch_all(self.reader()).await?;
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
        ranked(None).fetch_all(self.reader()).await
    }

    /// The queue's text filter: ids of the incidents below `before` whose own document or
    /// whose contact's document matches every word, newest first, at most `window` from each
    /// side. Each side is read newest first and stops at its window; where a side stopped
    /// early, ids older than its last are left out (an older match of that side may be
    /// missing there), so what is returned is every match from the newest down to that
    /// point. `true` when nothing was left out.
    pub(crate) async fn text_matches(
        &self,
        q: &SearchQuery,
        before: Option<i64>,
        window: Option<i64>,
    ) -> Result<(Vec<i64>, bool)> {
        let side = |select: &str, term: String, rest: &str| {
            let mut sql = Sql::new(select);
            sql.bind(term);
            sql.push(rest);
            sql
        };
        let (own, contacts) = match self.engine() {
            Engine::Sqlite => {
                let expr = fts5_expr(q, Match::All);
                (
                    side(
                        "SELECT rowid AS id FROM incident_fts WHERE incident_fts MATCH ",
                        expr.clone(),
                        " AND rowid",
                    ),
                    side(
                        "SELECT id FROM incidents WHERE contact_id IN (SELECT rowid FROM contact_fts WHERE contact_fts MATCH ",
                        expr,
                        ") AND id",
                    ),
                )
            }
            Engine::Postgres => {
                let query = tsquery_expr(q, Match::All);
                (
                    side(
                        "SELECT ref_id AS id FROM search_docs WHERE kind = 'incident' AND tsv @@ to_tsquery('spanish_unaccent', ",
                        query.clone(),
                        ") AND ref_id",
                    ),
                    side(
                        "SELECT id FROM incidents WHERE contact_id IN (SELECT ref_id FROM search_docs WHERE kind = 'contact' \
                         AND tsv @@ to_tsquery('spanish_unaccent', ",
                        query,
                        ")) AND id",
                    ),
                )
            }
        };
        let mut sides = Vec::with_capacity(2);
        for (mut sql, order) in [
            (
                own,
                if self.engine() == Engine::Sqlite {
                    "rowid DESC"
                } else {
                    "kind DESC, ref_id DESC"
                },
            ),
            (contacts, "id DESC"),
        ] {
            // `column < before`, or `column IS NOT NULL` for the first page.
            match before {
                Some(b) => sql.push(" < ").bind(b),
                None => sql.push(" IS NOT NULL"),
            };
            sql.push(" ORDER BY ").push(order);
            if let Some(w) = window {
                sql.push(" LIMIT ").bind(w);
            }
            let ids = sql
                .fetch_all(self.reader())
                .await?
                .iter()
                .map(|r| r.try_get::<i64, _>("id"))
                .collect::<std::result::Result<Vec<_>, _>>()?;
            sides.push(ids);
        }
        let full = |ids: &Vec<i64>| window.is_some_and(|w| ids.len() as i64 >= w);
        let bound = sides
            .iter()
            .filter(|ids| full(ids))
            .filter_map(|ids| ids.last().copied())
            .max();
        let mut ids: Vec<i64> = sides
            .into_iter()
            .flatten()
            .filter(|id| bound.is_none_or(|b| *id >= b))
            .collect();
        ids.sort_unstable_by(|a, b| b.cmp(a));
        ids.dedup();
        Ok((ids, bound.is_none()))
    }

    /// Contacts matching a query (name, email, phone, student code), best first.
    pub async fn search_contacts(&self, q: &SearchQuery, limit: i64) -> Result<Vec<ContactHit>> {
        if q.is_empty() {
            return Ok(vec![]);
        }
        let limit = limit.clamp(1, 200);
        let rows = match self.engine() {
            Engine::Sqlite => {
                let mut s = Sql::new(
                    "SELECT c.id, c.name FROM (SELECT rowid AS id, bm25(contact_fts, 10.0, 1.0) AS rank FROM contact_fts \
                     WHERE contact_fts MATCH ",
                );
                s.bind(fts5_expr(q, Match::All));
                s.push(" ORDER BY rank LIMIT ");
                s.bind(limit);
                s.push(") m JOIN contacts c ON c.id = m.id ORDER BY m.rank");
                s.fetch_all(self.reader()).await?
            }
            Engine::Postgres => {
                self.newest_ranked_pg(
                    Kind::Contact,
                    q,
                    limit,
                    (
                        "SELECT c.id, c.name, m.found FROM (",
                        ") m JOIN contacts c ON c.id = m.id ORDER BY m.rank DESC",
                    ),
                    |_| {},
                )
                .await?
            }
        };
        rows.iter()
            .map(|r| {
                Ok(ContactHit {
                    id: ContactId(r.try_get("id")?),
                    name: r.try_get("name")?,
                })
            })
            .collect()
    }

    /// Articles matching a query, best first (title matches before body matches); only public
    /// ones when asked from the public help page.
    pub async fn search_articles(
        &self,
        q: &SearchQuery,
        m: Match,
        public_only: bool,
        limit: i64,
    ) -> Result<Vec<ArticleHit>> {
        if q.is_empty() {
            return Ok(vec![]);
        }
        let limit = limit.clamp(1, 100);
        if self.engine() == Engine::Postgres {
            // Articles are ranked by their documents alone and only the best few hundred are
            // read from the table: a suggestion's words match a third of 5,000 articles, and
            // reading every match's article took 3.5 of its 6.5 ms. Should archived (or, for
            // the public page, private) articles among them leave the page short, every match
            // is read.
            let window = (limit * 4).max(100);
            let (hits, ranked) = self
                .articles_pg(q, m, public_only, limit, Some(window))
                .await?;
            // No row at all says nothing of how many were ranked: read them all.
            if hits.len() as i64 >= limit || ranked.is_some_and(|r| r < window) {
                return Ok(hits);
            }
            return Ok(self.articles_pg(q, m, public_only, limit, None).await?.0);
        }
        let mut sql = Sql::new(
            "SELECT a.id, a.title, a.public, snippet(article_fts, 1, '', '', '…', 24) AS snippet \
             FROM article_fts JOIN articles a ON a.id = article_fts.rowid WHERE article_fts MATCH ",
        );
        sql.bind(fts5_expr(q, m));
        sql.push(" AND a.archived = 0 AND (");
        sql.bind(i64::from(public_only));
        sql.push(" = 0 OR a.public = 1) ORDER BY bm25(article_fts, 10.0, 1.0) LIMIT ");
        sql.bind(limit);
        sql.fetch_all(self.reader())
            .await?
            .iter()
            .map(article_hit)
            .collect()
    }

    /// PostgreSQL: the best `limit` articles among the `window` best-ranked matching documents
    /// (all of them without a window), and how many documents were ranked (unknown when no
    /// article came back). Each hit's article is read by its key (`OFFSET 0` keeps the planner
    /// from joining all 5,000 articles by hash or merge, which took 4–5 of a 7 ms suggestion).
    async fn articles_pg(
        &self,
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
        let rows = sql.fetch_all(self.reader()).await?;
        let ranked = match rows.first() {
            Some(r) => Some(r.try_get("ranked")?),
            None => None,
        };
        Ok((rows.iter().map(article_hit).collect::<Result<_>>()?, ranked))
    }
}

fn article_hit(r: &sqlx::any::AnyRow) -> Result<ArticleHit> {
    Ok(ArticleHit {
        id: r.try_get("id")?,
        title: r.try_get("title")?,
        snippet: r.try_get("snippet")?,
        public: crate::db::flag(r, "public")?,
    })
}
