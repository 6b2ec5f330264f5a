//! Search on PostgreSQL: one `search_docs` table for every kind (`kind`, `ref_id`, a `tsv`
//! column in the `spanish_unaccent` configuration), a GIN index per kind (keyed by period as
//! well for incidents and contacts, see `PERIOD`), ranked by `ts_rank`.

use atiende_domain::knowledge::SearchQuery;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{ArticleHit, IndexQuery, Kind, Match, RANKED_WINDOW, article_hit, clip};
use crate::bulk::{Value, push_insert};
use crate::db::{Script, Sql, Store};
use crate::error::Result;

/// PostgreSQL first walks the documents of the newest this many ids of a kind, matching as it
/// goes, and stops at the ranked window: a word common among them fills it there in a few
/// milliseconds (a seventh of the history says "inscripción": 2,000 matches in the newest
/// 14,000), whereas the full-text index hands over its matches in no order, each read from the
/// table (about 4 µs a row once the table outgrows the shared buffers).
const RECENT_IDS: i64 = 10_000;

/// The index also keys each document by its record's id divided by this (the index's
/// expression in migration 0035: keep them equal), so a word's matches among the newest
/// periods are read without the older ones. A word common in the history but seldom in the
/// newest documents (a day's intake that never says it) read each of its ~150,000 matches to
/// rank 2,000: 200–280 ms, 35–52 ms from the periods.
const PERIOD: i64 = 16_384;

/// Where the newest matches are looked for.
#[derive(Clone, Copy)]
enum Reach {
    /// The documents after this id, walked backwards along the primary key.
    Walk(i64),
    /// Every match from this period on, from the index.
    Periods(i64),
    /// Every match, from the index.
    All,
}

/// The tsquery text: each word by its stem or its beginning, phrases in order.
pub(crate) fn tsquery_expr(q: &SearchQuery, m: Match) -> String {
    let parts: Vec<String> = q
        .matched_terms()
        .iter()
        // A word's beginning includes the word itself.
        .map(|t| match t.beginning {
            true => format!("{}:*", t.word),
            false => t.word.to_string(),
        })
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

/// The most whole words a beginning is spelled out as; one that more words have (a number's
/// first digits, a short start) is left for the index to read as a beginning.
const SPELLED_OUT: usize = 32;

/// The tsquery of a search box's words (every one), as text, with each word's beginning
/// spelled out as the whole words the index holds that have it (`'cicl':*` becomes
/// `( 'cicl' | 'ciclism' )`): the same matches, but GIN reads whole words' lists side by side,
/// skipping, where it first reads every list of a beginning into a bitmap (migration 0037:
/// 57 → 9 ms for two common words rare together at a million incidents).
pub(super) async fn whole_words(store: &Store, q: &SearchQuery) -> Result<String> {
    let mut sql = Sql::new("SELECT CAST(to_tsquery('spanish_unaccent', ");
    sql.bind(tsquery_expr(q, Match::All));
    sql.push(") AS TEXT) AS query");
    let query: String = sql.fetch_one(store.reader()).await?.try_get("query")?;
    let operands = operands(&query);
    let mut beginnings: Vec<&str> = operands
        .iter()
        .filter(|o| o.beginning)
        .map(|o| o.lexeme.as_str())
        .collect();
    beginnings.sort_unstable();
    beginnings.dedup();
    if beginnings.is_empty() {
        return Ok(query);
    }
    // The words at or after each beginning in byte order: those that have it come first.
    let mut sql =
        Sql::new("SELECT b.value AS beginning, w.word FROM json_array_elements_text(CAST(");
    sql.bind(serde_json::json!(beginnings).to_string());
    sql.push(
        " AS json)) b CROSS JOIN LATERAL (SELECT word FROM search_words \
         WHERE word >= b.value COLLATE \"C\" ORDER BY word LIMIT ",
    );
    sql.bind(SPELLED_OUT as i64 + 1);
    sql.push(") w");
    let mut words: std::collections::HashMap<String, Vec<String>> = Default::default();
    for row in sql.fetch_all(store.reader()).await? {
        let beginning: String = row.try_get("beginning")?;
        let word: String = row.try_get("word")?;
        if word.starts_with(&beginning) {
            words.entry(beginning).or_default().push(word);
        }
    }
    Ok(spell_out(&query, &operands, &words))
}

/// A word of a tsquery's text: where it is (its quotes and any `:*`), what it is, and whether
/// it is matched by its beginning.
#[derive(Debug, PartialEq)]
struct Operand {
    span: std::ops::Range<usize>,
    lexeme: String,
    beginning: bool,
}

/// The words of a tsquery's text as PostgreSQL writes it: each quoted, a quote doubled and a
/// backslash escaped inside, followed by `:` and its weights or `*` when it has any.
fn operands(query: &str) -> Vec<Operand> {
    let bytes = query.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'\'' {
            i += 1;
            continue;
        }
        let start = i;
        let mut lexeme = Vec::new();
        i += 1;
        while i < bytes.len() {
            match bytes[i] {
                b'\\' if i + 1 < bytes.len() => {
                    lexeme.push(bytes[i + 1]);
                    i += 2;
                }
                b'\'' if bytes.get(i + 1) == Some(&b'\'') => {
                    lexeme.push(b'\'');
                    i += 2;
                }
                b'\'' => break,
                b => {
                    lexeme.push(b);
                    i += 1;
                }
            }
        }
        i += 1;
        let mut flags = String::new();
        if bytes.get(i) == Some(&b':') {
            i += 1;
            while let Some(&b) = bytes.get(i).filter(|b| b"*ABCDabcd".contains(b)) {
                flags.push(b as char);
                i += 1;
            }
        }
        found.push(Operand {
            span: start..i.min(bytes.len()),
            lexeme: String::from_utf8_lossy(&lexeme).into_owned(),
            // A beginning asked of certain weights only is left as it is.
            beginning: flags == "*",
        });
    }
    found
}

/// The words the documents of `kind` with these ids hold.
pub(super) fn push_words_of(sql: &mut Sql, kind: Kind, ids: &[i64]) {
    sql.push(&format!(
        "SELECT DISTINCT w.lexeme AS word FROM search_docs, unnest(search_docs.tsv) w WHERE kind = '{}' AND ref_id IN (",
        kind.code()
    ));
    // Written out, not bound: a retention run's thousands of incidents would pass
    // PostgreSQL's limit of parameters.
    let list: Vec<String> = ids.iter().map(i64::to_string).collect();
    sql.push(&list.join(", ")).push(")");
}

/// The words a document of `text` would hold.
pub(super) fn push_words_in(sql: &mut Sql, text: &str) {
    sql.push("SELECT DISTINCT w.lexeme AS word FROM unnest(to_tsvector('spanish_unaccent', ")
        .bind(dehyphen(text))
        .push(")) w");
}

/// Deletes from `search_words` those of `words` that no document holds any more. Each kind
/// is asked apart: each kind's index is partial.
pub(super) fn push_forget(script: &mut Script, words: &[String]) {
    let pairs: Vec<serde_json::Value> = words
        .iter()
        .map(|w| serde_json::json!({ "w": w, "q": quoted(w) }))
        .collect();
    let held = |kind: Kind| {
        format!(
            " AND NOT EXISTS (SELECT 1 FROM search_docs d WHERE d.kind = '{}' \
             AND d.tsv @@ CAST(c.value ->> 'q' AS tsquery))",
            kind.code()
        )
    };
    let sql = script.statement();
    sql.push(
        "DELETE FROM search_words WHERE word IN (SELECT c.value ->> 'w' \
         FROM json_array_elements(CAST(",
    )
    .bind(serde_json::Value::from(pairs).to_string())
    .push(" AS json)) c WHERE 1 = 1");
    for kind in [Kind::Incident, Kind::Contact, Kind::Article] {
        sql.push(&held(kind));
    }
    sql.push(")");
}

/// A word as a tsquery's text quotes it.
fn quoted(word: &str) -> String {
    format!("'{}'", word.replace('\\', "\\\\").replace('\'', "''"))
}

/// `query` with each beginning among `operands` replaced by the whole words `words` gives it
/// (the word itself, which no document holds, when none; as it is when more than
/// `SPELLED_OUT`, or not looked up).
fn spell_out(
    query: &str,
    operands: &[Operand],
    words: &std::collections::HashMap<String, Vec<String>>,
) -> String {
    let mut out = String::with_capacity(query.len() * 2);
    let mut at = 0;
    for o in operands.iter().filter(|o| o.beginning) {
        let spelled = match words.get(&o.lexeme).map(Vec::as_slice) {
            None | Some([]) => quoted(&o.lexeme),
            Some(w) if w.len() > SPELLED_OUT => continue,
            Some([one]) => quoted(one),
            Some(many) => format!(
                "( {} )",
                many.iter()
                    .map(|w| quoted(w))
                    .collect::<Vec<_>>()
                    .join(" | ")
            ),
        };
        out.push_str(&query[at..o.span.start]);
        out.push_str(&spelled);
        at = o.span.end;
    }
    out.push_str(&query[at..]);
    out
}

pub(super) fn push_unindex(script: &mut Script, kind: Kind, id: i64) {
    let sql = script.statement();
    sql.push("DELETE FROM search_docs WHERE ref_id = ")
        .bind(id)
        .push(" AND kind = ")
        .bind(kind.code());
}

/// A document's title and body as `search_docs` keeps them.
pub(super) fn stored_form(title: &str, body: &str) -> (String, String) {
    (dehyphen(title), dehyphen(&clip(body.to_string())))
}

/// An incident's document as stored, as a part of `Store::reindex_incident`'s read.
pub(super) const STORED_INCIDENT_DOCUMENT: &str = "SELECT CAST(3 AS BIGINT), CAST(0 AS BIGINT), title, body \
     FROM search_docs WHERE kind = 'incident' AND ref_id = $1";

pub(super) fn push_new_documents(script: &mut Script, kind: Kind, docs: &[(i64, String, String)]) {
    push_documents(script, kind, docs, "");
}

/// Ends an insert of documents so that one a record already has is rewritten in place.
pub(super) const REWRITE: &str =
    " ON CONFLICT (kind, ref_id) DO UPDATE SET title = excluded.title, body = excluded.body";

/// Inserts documents, ended by `conflict` (`""`, or [`REWRITE`]).
pub(super) fn push_documents(
    script: &mut Script,
    kind: Kind,
    docs: &[(i64, String, String)],
    conflict: &str,
) {
    let rows: Vec<Vec<Value>> = docs
        .iter()
        .map(|(id, title, body)| {
            let (title, body) = stored_form(title, body);
            vec![
                Value::Text(kind.code().to_string()),
                Value::Int(*id),
                Value::Text(title),
                Value::Text(body),
            ]
        })
        .collect();
    push_insert(
        script,
        "search_docs",
        &["kind", "ref_id", "title", "body"],
        &rows,
        conflict,
    );
}

/// `records` (are there incidents or contacts?) and `docs` (is there any document?).
pub(super) const ENSURE: &str = "SELECT (SELECT COUNT(*) FROM (SELECT 1 FROM incidents LIMIT 1) a) + (SELECT COUNT(*) FROM (SELECT 1 FROM contacts LIMIT 1) b) AS records, \
     (SELECT COUNT(*) FROM (SELECT 1 FROM search_docs LIMIT 1) c) AS docs";

pub(super) const CLEAR: &[&str] = &["DELETE FROM search_docs"];

/// Pushes, as `d (ref_id, tsv, query)`, the documents of `kind` up to id `newest` that match
/// `query` (a tsquery's text, see [`whole_words`]), read as `reach` says.
fn push_matches(s: &mut Sql, kind: Kind, reach: Reach, newest: i64, query: &str) {
    // The kind in the text, not bound: each kind's index is partial, and a plan made for any
    // kind (PostgreSQL's generic plan) could not use it.
    let kind = kind.code();
    match reach {
        Reach::Walk(after) => {
            // The query as a subquery of its own, computed once: joined as a function, a
            // plan made for any query text (PostgreSQL's generic plan, which it settles on
            // after a few runs of a prepared statement) parsed it again for every document
            // walked, 40–55 ms for a walk that takes 18.
            s.push(
                "(SELECT ref_id, tsv, query FROM (SELECT ref_id, tsv, \
                    (SELECT CAST(",
            );
            s.bind(query.to_string());
            s.push(&format!(
                " AS tsquery)) AS query FROM search_docs WHERE kind = '{kind}' AND ref_id > "
            ));
            s.bind(after).push(" AND ref_id <= ").bind(newest);
            // No more documents than ids; the limit also keeps a generic plan (the bounds
            // unknown) walking the key rather than sorting what a bitmap found.
            s.push(" ORDER BY kind DESC, ref_id DESC LIMIT ");
            s.bind(newest - after);
            s.push(") w WHERE tsv @@ query) d");
        }
        Reach::Periods(_) | Reach::All => {
            // The query in a subquery of its own, read once: pulled up into the statement,
            // a plan made for any query text would read the text again for every match.
            s.push("(SELECT ref_id, tsv, query FROM search_docs, (SELECT CAST(");
            s.bind(query.to_string());
            s.push(&format!(
                " AS tsquery) AS query OFFSET 0) q WHERE kind = '{kind}'"
            ));
            if let Reach::Periods(first) = reach {
                // The expression of the index's first column.
                s.push(&format!(" AND ref_id / {PERIOD} >= "));
                s.bind(first);
            }
            s.push(" AND ref_id <= ").bind(newest);
            // OFFSET 0 keeps the planner from walking the whole table newest first in search
            // of a rare word.
            s.push(" AND tsv @@ query OFFSET 0) d");
        }
    }
}

/// Reads `kind`'s matches of a query from the newest document up to id `newest` backwards
/// until `read` (the statement for a reach) returns at least `window` by `count`. The newest
/// ids are walked first (see `RECENT_IDS`); when they hold too few matches, further back as
/// far as should hold enough at the density seen so far, from the index's periods (see
/// `PERIOD`), and every match from the index when that would be most of
/// the history or the walk found none to estimate from. Numbers (phones, student codes,
/// folios) are rare by nature (see `identifiers`) and go straight to the index, as does a
/// query the caller already found `rare` among the newest records. `fetch` runs a statement
/// (whole rows, or only their ids).
async fn reach_back<T, F: Future<Output = Result<T>>>(
    q: &SearchQuery,
    newest: i64,
    window: i64,
    rare: bool,
    read: impl Fn(Reach) -> Sql,
    fetch: impl Fn(Sql) -> F,
    count: impl Fn(&T) -> Result<i64>,
) -> Result<T> {
    let mut reach = if identifiers(q) || rare {
        Reach::All
    } else {
        Reach::Walk(newest - RECENT_IDS)
    };
    loop {
        let rows = fetch(read(reach)).await?;
        let found = count(&rows)?;
        let ids = match reach {
            Reach::Walk(after) => newest - after,
            Reach::Periods(first) => newest - first * PERIOD + 1,
            Reach::All => return Ok(rows),
        };
        // No kind has more documents than its newest id.
        if found >= window || ids >= newest {
            return Ok(rows);
        }
        reach = next_reach(newest, ids, found, window);
    }
}

/// Numbers alone (phones, student codes, folios): rare by nature.
fn identifiers(q: &SearchQuery) -> bool {
    q.phrases.is_empty()
        && q.terms
            .iter()
            .all(|t| t.chars().any(|c| c.is_ascii_digit()))
}

/// The newest id of a kind's documents.
pub(super) async fn newest_id(store: &Store, kind: Kind) -> Result<i64> {
    let sql = Sql::new(&format!(
        "SELECT COALESCE(MAX(ref_id), 0) FROM search_docs WHERE kind = '{}'",
        kind.code()
    ));
    Ok(sql.fetch_one(store.reader()).await?.try_get(0)?)
}

/// The rows of the best of the newest `RANKED_WINDOW` matches of one kind of document,
/// `(id, rank, found)` inside `outer`'s two halves (which join the records), read as
/// `reach_back` says.
async fn newest_ranked(
    store: &Store,
    kind: Kind,
    q: &SearchQuery,
    limit: i64,
    outer: (&str, &str),
    filter: impl Fn(&mut Sql),
) -> Result<Vec<AnyRow>> {
    let query = whole_words(store, q).await?;
    // Every match is read at once for identifiers: no bound to look up.
    let newest = match identifiers(q) {
        true => i64::MAX,
        false => newest_id(store, kind).await?,
    };
    // Ranked once the newest are kept: ranked below the limit, every match the periods hold
    // would be ranked, and those past the window then left.
    let ranked = |reach: Reach| {
        let mut s = Sql::new(outer.0);
        s.push("SELECT id, ts_rank(tsv, query) AS rank, COUNT(*) OVER () AS found FROM (SELECT ref_id AS id, tsv, query FROM ");
        push_matches(&mut s, kind, reach, newest, &query);
        s.push(" WHERE 1 = 1");
        filter(&mut s);
        s.push(" ORDER BY ref_id DESC LIMIT ");
        s.bind(RANKED_WINDOW);
        s.push(") newest ORDER BY rank DESC LIMIT ");
        s.bind(limit);
        s.push(outer.1);
        s
    };
    let found = |rows: &Vec<AnyRow>| -> Result<i64> {
        Ok(match rows.first() {
            Some(r) => r.try_get("found")?,
            None => 0,
        })
    };
    let fetch = move |sql: Sql| sql.fetch_all(store.reader());
    reach_back(q, newest, RANKED_WINDOW, false, ranked, fetch, found).await
}

/// Where to look next after the newest `read` ids up to `newest` held `found` matches, fewer
/// than `window`: as far back as should hold enough at that density with half again to spare,
/// and at least four times as far, from the index's periods. A walk reads every document it
/// passes (0.25–1.2 µs each at a million incidents); the periods, with whole words (see
/// `whole_words`), only the matches: a word in one document of thirteen, over the newest
/// 42,000 ids, 15–25 ms walked, 11 from the periods. Every match when the walk found none (a
/// word rare in the newest documents is most often rare in all), or when the periods would
/// be half the history or more: the index's work on the period grows with the ids it covers,
/// and past that it costs more than the older matches it leaves out.
fn next_reach(newest: i64, read: i64, found: i64, window: i64) -> Reach {
    if found == 0 {
        return Reach::All;
    }
    let ids = (read * window / found * 3 / 2).max(read * 4);
    if ids < newest / 2 {
        Reach::Periods((newest - ids) / PERIOD)
    } else {
        Reach::All
    }
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

/// The queue filter's own side: the ids of the newest `window` incidents below `before` whose
/// own document matches (every one without a window), newest first, read as `reach_back`
/// says (`rare`: the caller's check of the newest incidents found none). The full-text index
/// alone would read every match from the table to find the newest (a phrase of two common
/// words: 210 ms at a million incidents, whatever the window).
pub(super) async fn newest_incident_matches(
    store: &Store,
    q: &IndexQuery<'_>,
    before: Option<i64>,
    window: Option<i64>,
    rare: bool,
) -> Result<Vec<i64>> {
    let query = q.tsquery();
    let newest = match (before, window) {
        (Some(b), _) => b - 1,
        // Every match is read at once without a window: no bound to look up.
        (None, None) => i64::MAX,
        (None, Some(_)) => newest_id(store, Kind::Incident).await?,
    };
    let read = |reach: Reach| {
        let mut s = Sql::new("SELECT ref_id AS id FROM ");
        push_matches(&mut s, Kind::Incident, reach, newest, query);
        s.push(" ORDER BY ref_id DESC");
        if let Some(w) = window {
            s.push(" LIMIT ").bind(w);
        }
        s
    };
    let fetch = move |sql: Sql| sql.fetch_ids(store.reader(), "id");
    match window {
        Some(w) => {
            let count = |ids: &Vec<i64>| Ok(ids.len() as i64);
            reach_back(q.query, newest, w, rare, read, fetch, count).await
        }
        None => fetch(read(Reach::All)).await,
    }
}

/// The queue filter's contact side, to be ended with an id condition.
pub(super) fn contact_side(q: &IndexQuery<'_>) -> Sql {
    let mut contacts = Sql::new("SELECT id FROM incidents WHERE contact_id IN (");
    push_contact_ids(&mut contacts, q, None);
    contacts.push(") AND id");
    contacts
}

/// The ids of the contacts whose document matches, from `from`'s period on when given.
pub(super) fn push_contact_ids(sql: &mut Sql, q: &IndexQuery<'_>, from: Option<i64>) {
    sql.push("SELECT ref_id FROM search_docs WHERE kind = 'contact' AND tsv @@ CAST(")
        .bind(q.tsquery().to_string())
        .push(" AS tsquery)");
    if let Some(from) = from {
        // The expression of the index's first column.
        sql.push(&format!(" AND ref_id / {PERIOD} >= "))
            .bind(from / PERIOD);
    }
}

/// Where the contact list's filter looks first below `newest`: the index's two newest periods
/// (see `PERIOD`), none when they are all there is.
pub(super) fn recent_contacts_from(newest: i64) -> Option<i64> {
    let from = (newest / PERIOD - 1) * PERIOD;
    (from > 0).then_some(from)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn words(pairs: &[(&str, &[&str])]) -> std::collections::HashMap<String, Vec<String>> {
        pairs
            .iter()
            .map(|(b, w)| (b.to_string(), w.iter().map(|w| w.to_string()).collect()))
            .collect()
    }

    #[test]
    fn the_words_of_a_tsquery_are_read_with_their_quotes_escapes_and_beginnings() {
        let query = r"'constanci':* & 'orden' <2> 'pag' & 'o''brien':* & 'a\\b' & 'x':*A";
        let found: Vec<(String, bool)> = operands(query)
            .into_iter()
            .map(|o| (o.lexeme, o.beginning))
            .collect();
        assert_eq!(
            found,
            [
                ("constanci".to_string(), true),
                ("orden".to_string(), false),
                ("pag".to_string(), false),
                ("o'brien".to_string(), true),
                (r"a\b".to_string(), false),
                ("x".to_string(), false),
            ]
        );
    }

    #[test]
    fn a_beginning_is_spelled_out_as_its_words_unless_too_many_have_it() {
        let query = "'cicl':* & 'reinscripcion':* & 'o''b':* & 'cap':* & 'zz':*";
        let many: Vec<String> = (0..=SPELLED_OUT).map(|n| format!("cap{n}")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        let spelled = spell_out(
            query,
            &operands(query),
            &words(&[
                ("cicl", &["cicl", "ciclism"]),
                ("reinscripcion", &["reinscripcion"]),
                ("o'b", &["o'brien"]),
                ("cap", &many),
            ]),
        );
        assert_eq!(
            spelled,
            "( 'cicl' | 'ciclism' ) & 'reinscripcion' & 'o''brien' & 'cap':* & 'zz'"
        );
    }
}
