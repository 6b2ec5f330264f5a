//! The knowledge base (procedure step 10: pertinent, timely and reliable information to close at
//! first contact) and how people's words become a search: articles, their review dates, and the
//! query language shared by both databases' full-text engines.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::RuleError;
use crate::error::Validator;
use crate::ids::{TopicId, UnitId};

/// An article as the staff write it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ArticleInput {
    pub title: String,
    /// Markdown; rendered sanitised.
    pub body: String,
    pub topic_id: Option<TopicId>,
    /// Comma-separated words that also find it.
    #[serde(default)]
    pub tags: String,
    pub owner_unit_id: Option<UnitId>,
    /// When the owner unit must check it is still right.
    pub review_on: Option<NaiveDate>,
    /// Shown on the public help page `/ayuda`; otherwise internal to the staff.
    #[serde(default)]
    pub public: bool,
}

impl ArticleInput {
    pub fn check(&self) -> Result<(), RuleError> {
        let mut v = Validator::new();
        v.text("title", &self.title, 200, true);
        v.text("body", &self.body, 50_000, true);
        v.text("tags", &self.tags, 500, false);
        v.finish()
    }

    /// Tags as a clean list, lower-case, without repeats.
    pub fn tag_list(&self) -> Vec<String> {
        let mut tags: Vec<String> = self
            .tags
            .split(',')
            .map(|t| t.trim().to_lowercase())
            .filter(|t| !t.is_empty())
            .collect();
        tags.sort();
        tags.dedup();
        tags
    }
}

/// An article past its review date is flagged to its owner unit.
pub fn review_due(review_on: Option<NaiveDate>, today: NaiveDate) -> bool {
    review_on.is_some_and(|d| d < today)
}

/// What someone typed into a search box: words (matched by their beginning and, on
/// PostgreSQL, their Spanish stem) and "quoted phrases" (words in that order).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchQuery {
    pub terms: Vec<String>,
    pub phrases: Vec<Vec<String>>,
}

/// Splits text into lower-case words of letters and digits (accents kept: each engine folds
/// them its own way).
pub fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

impl SearchQuery {
    pub fn parse(raw: &str) -> SearchQuery {
        let mut q = SearchQuery::default();
        for (i, part) in raw.split('"').enumerate() {
            let w = words(part);
            if i % 2 == 1 && w.len() > 1 {
                q.phrases.push(w);
            } else {
                q.terms.extend(w);
            }
        }
        q.terms.truncate(12);
        q.phrases.truncate(4);
        q
    }

    /// Nothing the engines could match: no phrase, and no word but function words.
    pub fn is_empty(&self) -> bool {
        self.phrases.is_empty() && self.matched_terms().is_empty()
    }

    /// The words as the engines match them. Spanish function words are left out (PostgreSQL's
    /// Spanish dictionary drops them, and SQLite's expression does too so that both engines
    /// find the same: *orden de pago* is *orden* and *pago*), and a word shorter than
    /// [`SHORTEST_BEGINNING`] matches only as itself: nearly every document holds a word
    /// beginning with *de*, and SQLite's index built the list of all of them in memory for
    /// each such query (tens of megabytes, which the reader connection's allocator kept).
    pub fn matched_terms(&self) -> Vec<Term<'_>> {
        self.terms
            .iter()
            .filter(|t| !FUNCTION_WORDS.contains(&fold(t).as_str()))
            .map(|t| Term {
                word: t,
                beginning: t.chars().count() >= SHORTEST_BEGINNING,
            })
            .collect()
    }

    /// The words of an incident worth matching articles against: no articles, prepositions or
    /// other words every question has, no repeats.
    pub fn suggestion(text: &str) -> SearchQuery {
        let mut terms: Vec<String> = Vec::new();
        for w in words(text) {
            if w.chars().count() >= 4
                && !STOPWORDS.contains(&fold(&w).as_str())
                && !terms.contains(&w)
            {
                terms.push(w);
            }
        }
        terms.truncate(12);
        SearchQuery {
            terms,
            phrases: vec![],
        }
    }
}

/// A word of a query as matched: by its beginning (`inscrip` finds *inscripción*) or whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Term<'a> {
    pub word: &'a str,
    pub beginning: bool,
}

/// Shorter words match whole, not as beginnings (see [`SearchQuery::matched_terms`]).
pub const SHORTEST_BEGINNING: usize = 3;

/// Articles, prepositions, pronouns and conjunctions that PostgreSQL's Spanish dictionary
/// leaves out of every query (each is in its stop list).
const FUNCTION_WORDS: &[&str] = &[
    "a", "al", "con", "de", "del", "e", "el", "en", "es", "la", "las", "le", "les", "lo", "los",
    "me", "mi", "mis", "ni", "nos", "o", "para", "por", "que", "se", "su", "sus", "te", "tu", "un",
    "una", "y",
];

/// Accents off, for comparing with the stopword list.
fn fold(w: &str) -> String {
    w.chars()
        .map(|c| match c {
            'á' => 'a',
            'é' => 'e',
            'í' => 'i',
            'ó' => 'o',
            'ú' | 'ü' => 'u',
            c => c,
        })
        .collect()
}

/// Words of four letters or more that say nothing about the matter.
const STOPWORDS: &[&str] = &[
    "hola",
    "buenas",
    "buenos",
    "dias",
    "tardes",
    "noches",
    "gracias",
    "favor",
    "quisiera",
    "saber",
    "tengo",
    "tiene",
    "tienen",
    "como",
    "cuando",
    "donde",
    "porque",
    "para",
    "pero",
    "este",
    "esta",
    "estos",
    "estas",
    "esto",
    "eso",
    "sobre",
    "desde",
    "hasta",
    "entre",
    "todo",
    "todos",
    "tambien",
    "puedo",
    "puede",
    "pueden",
    "hacer",
    "quiero",
    "necesito",
    "ayuda",
    "ayudar",
    "pregunta",
    "duda",
    "mucho",
    "muchas",
    "mucha",
    "algo",
    "nada",
    "otra",
    "otro",
    "mismo",
    "solo",
    "sido",
    "estoy",
    "hace",
    "ayer",
    "ahora",
    "aqui",
    "alla",
    "cual",
    "cuales",
    "quien",
    "usted",
    "ustedes",
    "mensaje",
    "correo",
    "whatsapp",
    "saludos",
    "atentamente",
    "tiempo",
    "dice",
    "dijo",
    "sigue",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_words_are_left_out_and_short_words_match_whole() {
        let q = SearchQuery::parse("Orden de pago en línea");
        let terms: Vec<(&str, bool)> = q
            .matched_terms()
            .iter()
            .map(|t| (t.word, t.beginning))
            .collect();
        assert_eq!(terms, [("orden", true), ("pago", true), ("línea", true)]);
        // Nothing else asked: nothing to match, as PostgreSQL finds nothing for them.
        assert!(SearchQuery::parse("de la").is_empty());
        let short = SearchQuery::parse("ga 12 garcía");
        let beginnings: Vec<bool> = short.matched_terms().iter().map(|t| t.beginning).collect();
        assert_eq!(beginnings, [false, false, true]);
    }

    #[test]
    fn a_query_keeps_words_and_quoted_phrases() {
        let q = SearchQuery::parse("Inscripción \"orden de pago\" CAP-2026-000123");
        assert_eq!(q.terms, ["inscripción", "cap", "2026", "000123"]);
        assert_eq!(q.phrases, [vec!["orden", "de", "pago"]]);
        assert!(SearchQuery::parse("  ¿? ").is_empty());
    }

    #[test]
    fn suggestions_keep_the_words_that_say_what_the_matter_is() {
        let q = SearchQuery::suggestion(
            "Hola, buenas tardes. Quisiera saber cuándo es la reinscripción y cómo pago la orden.",
        );
        assert_eq!(q.terms, ["reinscripción", "pago", "orden"]);
    }

    #[test]
    fn an_article_needs_a_title_and_a_body_and_cleans_its_tags() {
        let a = ArticleInput {
            title: "Reinscripción".into(),
            body: "Se hace en SIIAU.".into(),
            tags: " Calendario, reinscripción ,calendario ".into(),
            ..Default::default()
        };
        assert!(a.check().is_ok());
        assert_eq!(a.tag_list(), ["calendario", "reinscripción"]);
        assert!(ArticleInput::default().check().is_err());
    }

    #[test]
    fn an_article_is_due_for_review_after_its_date() {
        let d = |day| NaiveDate::from_ymd_opt(2026, 11, day).expect("date");
        assert!(review_due(Some(d(1)), d(2)));
        assert!(!review_due(Some(d(2)), d(2)));
        assert!(!review_due(None, d(2)));
    }
}
