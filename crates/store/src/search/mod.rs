//! Full-text search behind one interface: SQLite's FTS5 (accents and case folded, word
//! beginnings) or PostgreSQL's text search (Spanish stems, unaccent). Each record's document is
//! rewritten inside the transaction that changes the record, so the index never lags;
//! `atiende rebuild-search` rewrites them all. This module holds what the engines share (the
//! documents, the rebuild, the queue filter's merge of its two sides); each engine's tables and
//! statements are in [`sqlite`] and [`postgres`], chosen once per operation.

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
pub(super) const RANKED_WINDOW: i64 = 2_000;

/// Longest text indexed per record (PostgreSQL's tsvector has a size limit).
const MAX_INDEXED: usize = 50_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Incident,
    Contact,
    Article,
}

impl Kind {
    pub(super) fn code(self) -> &'static str {
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

mod postgres;
mod sqlite;

/// A search box's words as an engine's index is asked them, worked out once for the several
/// statements of a filter: on PostgreSQL the tsquery with each beginning spelled out as the
/// whole words the index holds (see `postgres::whole_words`); SQLite's FTS5 reads beginnings
/// from its own ordered terms and takes the words as they are.
pub(crate) struct IndexQuery<'a> {
    query: &'a SearchQuery,
    /// PostgreSQL's tsquery text (empty on SQLite).
    tsquery: String,
}

impl IndexQuery<'_> {
    fn tsquery(&self) -> &str {
        &self.tsquery
    }
}

pub(crate) use postgres::tsquery_expr;

pub(super) fn clip(text: String) -> String {
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
    match script.engine() {
        Engine::Sqlite => sqlite::push_unindex(script, kind, id),
        Engine::Postgres => postgres::push_unindex(script, kind, id),
    }
}

/// A document as its engine keeps it (PostgreSQL takes hyphens out, both clip the body).
fn stored_form(engine: Engine, title: &str, body: &str) -> (String, String) {
    match engine {
        Engine::Sqlite => sqlite::stored_form(title, body),
        Engine::Postgres => postgres::stored_form(title, body),
    }
}

/// A query part reading an incident's document as stored, as `(part 3, 0, title, body)`;
/// none where the engine keeps no copy of the text (SQLite's contentless index).
fn stored_incident_document(engine: Engine) -> Option<&'static str> {
    match engine {
        Engine::Sqlite => None,
        Engine::Postgres => Some(postgres::STORED_INCIDENT_DOCUMENT),
    }
}

/// Replaces a record's document: on SQLite deleted and inserted (FTS5), on PostgreSQL
/// rewritten in place (migration 0038: the newest documents stay together on their pages).
pub(crate) async fn index(
    tx: &mut Tx,
    kind: Kind,
    id: i64,
    title: &str,
    body: String,
) -> Result<()> {
    let mut script = Script::new(engine_of(tx));
    let doc = [(id, title.to_string(), body)];
    match script.engine() {
        Engine::Sqlite => {
            sqlite::push_unindex(&mut script, kind, id);
            sqlite::push_new_documents(&mut script, kind, &doc);
        }
        Engine::Postgres => postgres::push_documents(&mut script, kind, &doc, postgres::REWRITE),
    }
    script.execute(tx).await
}

/// The words the documents of `kind` with these ids hold now, to be forgotten once they
/// hold them no more (see [`Store::forget_words`]). SQLite keeps no list of words: none.
pub(crate) async fn words_of(tx: &mut Tx, kind: Kind, ids: &[i64]) -> Result<Vec<String>> {
    if engine_of(tx) == Engine::Sqlite || ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut sql = Sql::new("");
    postgres::push_words_of(&mut sql, kind, ids);
    fetch_words(tx, sql).await
}

/// The words a document of `text` would hold (a person's name and addresses, whose own
/// document may have left the index already when they were blocked). None on SQLite.
pub(crate) async fn words_in(tx: &mut Tx, text: &str) -> Result<Vec<String>> {
    if engine_of(tx) == Engine::Sqlite {
        return Ok(Vec::new());
    }
    let mut sql = Sql::new("");
    postgres::push_words_in(&mut sql, text);
    fetch_words(tx, sql).await
}

async fn fetch_words(tx: &mut Tx, sql: Sql) -> Result<Vec<String>> {
    sql.fetch_all(&mut **tx)
        .await?
        .iter()
        .map(|r| Ok(r.try_get("word")?))
        .collect()
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
    match script.engine() {
        Engine::Sqlite => sqlite::push_new_documents(script, kind, docs),
        Engine::Postgres => postgres::push_new_documents(script, kind, docs),
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
    let values = idents
        .iter()
        .map(|r| r.try_get::<String, _>("value"))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let name: String = row.try_get("name")?;
    index(tx, Kind::Contact, id.0, &name, contact_document(&values)).await
}

/// A contact's document body (its name is the title): every identifier, one per line, an
/// address also by its parts (`ana.lopez@…` found by `lopez`). One shape for a rewrite and
/// for an import's new people.
pub(crate) fn contact_document<S: AsRef<str>>(identifiers: &[S]) -> String {
    let mut body = String::new();
    for value in identifiers {
        let value = value.as_ref();
        body.push_str(&value.replace(['@', '.', '_', '-'], " "));
        body.push(' ');
        body.push_str(value);
        body.push('\n');
    }
    body
}

/// An incident found by a search.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IncidentHit {
    pub id: IncidentId,
    pub folio: String,
    pub subject: String,
    pub status: atiende_domain::incident::Status,
}

/// A contact found by a search.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ContactHit {
    pub id: ContactId,
    pub name: String,
}

/// An article found by a search, with the passage that matched.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ArticleHit {
    pub id: i64,
    pub title: String,
    pub snippet: String,
    pub public: bool,
}

impl Store {
    /// Takes out of PostgreSQL's list of words (migration 0037) those of `words` that no
    /// document holds any more: a person's suppression leaves nothing of what their documents
    /// said (`Tx::forget_words`).
    pub(crate) async fn forget_words(&self, tx: &mut Tx, words: &[String]) -> Result<()> {
        if self.engine() == Engine::Sqlite || words.is_empty() {
            return Ok(());
        }
        let mut script = Script::new(Engine::Postgres);
        postgres::push_forget(&mut script, words);
        script.execute(tx).await
    }

    /// Rewrites an incident's document: folio and subject as its title, what the person and
    /// the CAP wrote as its body. Every change to an incident passes here at commit, and most
    /// (a classification, an assignment, a close without notes) leave its text as it was:
    /// where the engine keeps the document's text (PostgreSQL), an unchanged document is not
    /// written again — a rewrite is a dead row, a new entry in the text index's pending list
    /// and every word of it looked up in the list of words.
    pub(crate) async fn reindex_incident(&self, tx: &mut Tx, id: IncidentId) -> Result<()> {
        // The parts of the document, and the document as stored, in one round trip.
        let mut sql = String::from(
            "SELECT CAST(0 AS BIGINT) AS part, CAST(0 AS BIGINT) AS ord, folio AS a, subject AS b \
             FROM incidents WHERE id = $1 \
             UNION ALL SELECT CAST(1 AS BIGINT), local_id, label, '' FROM external_refs \
             WHERE kind = 'case' AND local_id = $1 AND label <> '' \
             UNION ALL SELECT CAST(2 AS BIGINT), id, body, '' FROM timeline_entries \
             WHERE incident_id = $1 AND kind IN ($2, $3, $4)",
        );
        let engine = self.engine();
        if let Some(stored) = stored_incident_document(engine) {
            sql.push_str(" UNION ALL ");
            sql.push_str(stored);
        }
        sql.push_str(" ORDER BY part, ord, a");
        // Composed of constants only.
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id.0)
            .bind(EntryKind::InboundMessage.code())
            .bind(EntryKind::OutboundMessage.code())
            .bind(EntryKind::Intervention.code())
            .fetch_all(&mut **tx)
            .await?;
        let (mut folio, mut subject) = (String::new(), String::new());
        let (mut labels, mut texts, mut stored) = (Vec::new(), Vec::new(), None);
        for row in &rows {
            let a: String = row.try_get("a")?;
            match row.try_get::<i64, _>("part")? {
                0 => (folio, subject) = (a, row.try_get("b")?),
                1 => labels.push(a),
                2 => texts.push(a),
                _ => stored = Some((a, row.try_get::<String, _>("b")?)),
            }
        }
        if folio.is_empty() {
            return Err(crate::error::StoreError::NotFound("incident"));
        }
        let (title, body) = incident_document(&folio, &subject, &labels, &texts);
        if stored.is_some_and(|s| s == stored_form(engine, &title, &body)) {
            return Ok(());
        }
        index(tx, Kind::Incident, id.0, &title, body).await
    }

    /// Writes the documents a bulk load brings (the benchmark's generator), in one transaction:
    /// `(id, title, body)` of records of one kind that have none yet.
    pub(crate) async fn bulk_index(
        &self,
        kind: &str,
        docs: &[(i64, String, String)],
    ) -> Result<()> {
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
            Engine::Sqlite => sqlite::ENSURE,
            Engine::Postgres => postgres::ENSURE,
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
        let clear = match self.engine() {
            Engine::Sqlite => sqlite::CLEAR,
            Engine::Postgres => postgres::CLEAR,
        };
        for sql in clear {
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
    pub(crate) async fn merge_search_index(&self) -> Result<()> {
        match self.engine() {
            Engine::Sqlite => sqlite::merge(self).await?,
            Engine::Postgres => {}
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
            Engine::Sqlite => sqlite::incidents(self, q, limit, push_scope).await?,
            Engine::Postgres => postgres::incidents(self, q, limit, push_scope).await?,
        };
        rows.iter()
            .map(|r| {
                Ok(IncidentHit {
                    id: IncidentId(r.try_get("id")?),
                    folio: r.try_get("folio")?,
                    subject: r.try_get("subject")?,
                    status: crate::db::code(
                        r,
                        "status",
                        atiende_domain::incident::Status::from_code,
                    )?,
                })
            })
            .collect()
    }

    /// The queue's text filter: ids of the incidents below `before` whose own document or
    /// whose contact's document matches every word, newest first, at most `window` from each
    /// side. Each side is read newest first and stops at its window; where a side stopped
    /// early, ids older than its last are left out (an older match of that side may be
    /// missing there), so what is returned is every match from the newest down to that
    /// point. `true` when nothing was left out. `rare`: a check of the newest incidents found
    /// no match (PostgreSQL then asks its index at once).
    pub(crate) async fn text_matches(
        &self,
        q: &IndexQuery<'_>,
        before: Option<i64>,
        window: Option<i64>,
        rare: bool,
    ) -> Result<(Vec<i64>, bool)> {
        // A side's ids below `before`, newest first, at most `window`.
        let side = |mut sql: Sql, order: &str| {
            // `column < before`, or `column IS NOT NULL` for the first page.
            match before {
                Some(b) => sql.push(" < ").bind(b),
                None => sql.push(" IS NOT NULL"),
            };
            sql.push(" ORDER BY ").push(order);
            if let Some(w) = window {
                sql.push(" LIMIT ").bind(w);
            }
            sql.fetch_ids(self.reader(), "id")
        };
        let sides = match self.engine() {
            Engine::Sqlite => {
                let (own, order) = sqlite::own_side(q.query);
                [
                    side(own, order).await?,
                    side(sqlite::contact_side(q.query), "id DESC").await?,
                ]
            }
            Engine::Postgres => [
                postgres::newest_incident_matches(self, q, before, window, rare).await?,
                side(postgres::contact_side(q), "id DESC").await?,
            ],
        };
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

    /// Pushes a query of the ids of the contacts whose document (name, addresses, phones,
    /// codes) holds every word of `q` as a word's beginning: the contact list's filter, read
    /// from the index rather than a scan of every name.
    /// `from`: only the contacts from that id on need be found (all may be).
    pub(crate) fn push_contact_ids(&self, sql: &mut Sql, q: &IndexQuery<'_>, from: Option<i64>) {
        match self.engine() {
            Engine::Sqlite => sqlite::push_contact_ids(sql, q.query),
            Engine::Postgres => postgres::push_contact_ids(sql, q, from),
        }
    }

    /// Where the contact list's filter should look first for the newest matches below
    /// `before` (or the newest contact): PostgreSQL reads a common name's every match to
    /// order them (tens of thousands of "garcía"), so it looks among the newest contacts
    /// first; FTS5 hands them over newest first by itself (`None`: everywhere at once).
    pub(crate) async fn recent_contacts_from(&self, before: Option<i64>) -> Result<Option<i64>> {
        if self.engine() == Engine::Sqlite {
            return Ok(None);
        }
        let newest = match before {
            Some(b) => b - 1,
            None => postgres::newest_id(self, Kind::Contact).await?,
        };
        Ok(postgres::recent_contacts_from(newest))
    }

    /// A search box's words as this store's index is asked them (see [`IndexQuery`]).
    pub(crate) async fn index_query<'a>(&self, q: &'a SearchQuery) -> Result<IndexQuery<'a>> {
        let tsquery = match self.engine() {
            Engine::Sqlite => String::new(),
            Engine::Postgres => postgres::whole_words(self, q).await?,
        };
        Ok(IndexQuery { query: q, tsquery })
    }

    /// Contacts matching a query (name, email, phone, student code), best first.
    pub async fn search_contacts(&self, q: &SearchQuery, limit: i64) -> Result<Vec<ContactHit>> {
        if q.is_empty() {
            return Ok(vec![]);
        }
        let limit = limit.clamp(1, 200);
        let rows = match self.engine() {
            Engine::Sqlite => sqlite::contacts(self, q, limit).await?,
            Engine::Postgres => postgres::contacts(self, q, limit).await?,
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
        match self.engine() {
            Engine::Sqlite => sqlite::articles(self, q, m, public_only, limit).await,
            Engine::Postgres => postgres::articles(self, q, m, public_only, limit).await,
        }
    }
}

pub(super) fn article_hit(r: &sqlx::any::AnyRow) -> Result<ArticleHit> {
    Ok(ArticleHit {
        id: r.try_get("id")?,
        title: r.try_get("title")?,
        snippet: r.try_get("snippet")?,
        public: crate::db::flag(r, "public")?,
    })
}
