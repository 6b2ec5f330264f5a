//! Suggestions learned from the CAP's own history: when an incident arrives, its likely topic,
//! incident type and whether it looks critical, from its words.
//!
//! A multinomial naive Bayes classifier per question, trained on closed, classified incidents
//! (their subject and the person's first words), stemmed with Snowball's Spanish stemmer and
//! folded like the search index. It runs on the server: no text leaves it. A suggestion is only
//! ever shown to the agent, who confirms or corrects it; nothing here classifies an incident.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// Words that say nothing about a topic (Spanish, folded). Greetings and courtesy are among
/// them: every message has them.
const STOPWORDS: &[&str] = &[
    "al", "algo", "ante", "aqui", "asi", "aun", "buen", "buena", "buenas", "buenos", "como", "con",
    "cual", "cuando", "de", "del", "desde", "dia", "dias", "donde", "el", "ella", "en", "entre",
    "era", "eres", "es", "esa", "ese", "eso", "esta", "estan", "este", "esto", "estoy", "fue",
    "gracias", "ha", "hay", "hola", "la", "las", "le", "les", "lo", "los", "mas", "me", "mi",
    "mis", "mucho", "muy", "nos", "o", "para", "pero", "por", "porque", "que", "saludos", "se",
    "ser", "si", "sin", "sobre", "son", "su", "sus", "tardes", "te", "tengo", "tiene", "todo",
    "tu", "un", "una", "uno", "usted", "ya", "yo",
];

/// A message's words as the classifier counts them: folded (case, accents), without stopwords
/// or numbers, stemmed.
pub fn words(text: &str) -> Vec<String> {
    let stemmer = rust_stemmers::Stemmer::create(rust_stemmers::Algorithm::Spanish);
    fold(text)
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() >= 2 && !w.chars().all(|c| c.is_ascii_digit()))
        .filter(|w| !STOPWORDS.contains(w))
        .map(|w| stemmer.stem(w).into_owned())
        .collect()
}

/// Lower case without accents, as the search index folds (`canción` and `CANCION` are one word).
fn fold(text: &str) -> String {
    text.chars()
        .flat_map(char::to_lowercase)
        .map(|c| match c {
            'á' | 'à' | 'ä' | 'â' => 'a',
            'é' | 'è' | 'ë' | 'ê' => 'e',
            'í' | 'ì' | 'ï' | 'î' => 'i',
            'ó' | 'ò' | 'ö' | 'ô' => 'o',
            'ú' | 'ù' | 'ü' | 'û' => 'u',
            'ñ' => 'n',
            c => c,
        })
        .collect()
}

/// One class's counts.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Class {
    label: String,
    documents: u64,
    words: u64,
    counts: HashMap<String, u64>,
}

/// A multinomial naive Bayes classifier with Laplace smoothing: the label whose examples used
/// the message's words most often, weighed by how common the label is.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Classifier {
    classes: Vec<Class>,
    vocabulary: u64,
}

/// Words seen fewer times than this in the whole history are dropped from the model: typos and
/// names say nothing and would only make it larger.
const MIN_WORD_COUNT: u64 = 2;

impl Classifier {
    /// How many examples it learned from.
    pub fn documents(&self) -> u64 {
        self.classes.iter().map(|c| c.documents).sum()
    }

    /// Every label with its probability for these words, most likely first. Empty when the
    /// classifier learned nothing.
    pub fn rank(&self, words: &[String]) -> Vec<Guess> {
        let documents = self.documents();
        if documents == 0 {
            return Vec::new();
        }
        let v = self.vocabulary as f64 + 1.0;
        let logs: Vec<f64> = self
            .classes
            .iter()
            .map(|c| {
                let prior = (c.documents as f64 / documents as f64).ln();
                let denominator = (c.words as f64 + v).ln();
                words
                    .iter()
                    // Words the model never kept weigh the same in every class: skip them.
                    .filter(|w| self.classes.iter().any(|k| k.counts.contains_key(*w)))
                    .map(|w| (*c.counts.get(w).unwrap_or(&0) as f64 + 1.0).ln() - denominator)
                    .sum::<f64>()
                    + prior
            })
            .collect();
        // Normalised in log space so that long messages do not underflow.
        let top = logs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let sum: f64 = logs.iter().map(|l| (l - top).exp()).sum();
        let mut guesses: Vec<Guess> = self
            .classes
            .iter()
            .zip(logs)
            .map(|(c, l)| Guess {
                label: c.label.clone(),
                probability: (l - top).exp() / sum,
            })
            .collect();
        guesses.sort_by(|a, b| {
            b.probability
                .total_cmp(&a.probability)
                .then_with(|| a.label.cmp(&b.label))
        });
        guesses
    }
}

/// A classifier's counts as they accumulate, rare words still in.
#[derive(Debug, Clone, Default)]
struct Tally {
    classes: Vec<Class>,
    totals: HashMap<String, u64>,
}

impl Tally {
    fn add(&mut self, words: &[String], label: &str) {
        let i = match self.classes.iter().position(|c| c.label == label) {
            Some(i) => i,
            None => {
                self.classes.push(Class {
                    label: label.to_string(),
                    ..Class::default()
                });
                self.classes.len() - 1
            }
        };
        let class = &mut self.classes[i];
        class.documents += 1;
        for w in words {
            *class.counts.entry(w.clone()).or_default() += 1;
            *self.totals.entry(w.clone()).or_default() += 1;
        }
    }

    fn into_classifier(self) -> Classifier {
        let Tally {
            mut classes,
            mut totals,
        } = self;
        totals.retain(|_, n| *n >= MIN_WORD_COUNT);
        for class in &mut classes {
            class.counts.retain(|w, _| totals.contains_key(w));
            class.words = class.counts.values().sum();
        }
        classes.sort_by(|a, b| a.label.cmp(&b.label));
        Classifier {
            classes,
            vocabulary: totals.len() as u64,
        }
    }
}

/// A label and how likely the classifier finds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Guess {
    pub label: String,
    pub probability: f64,
}

/// A history's incident as the classifiers learn from it. Labels are codes: a topic's id, an
/// incident type's code, `critical` or `routine`.
#[derive(Debug, Clone)]
pub struct Example {
    pub text: String,
    pub topic: Option<String>,
    pub incident_type: Option<String>,
    pub critical: bool,
}

pub const CRITICAL: &str = "critical";
pub const ROUTINE: &str = "routine";

/// The three classifiers, learned together, with how well they did on held-out history.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Model {
    pub topic: Classifier,
    pub incident_type: Classifier,
    pub critical: Classifier,
    pub accuracy: ModelAccuracy,
}

/// Accuracy on the held-out part of the history, per question.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ModelAccuracy {
    pub topic: Accuracy,
    pub incident_type: Accuracy,
    pub critical: Accuracy,
}

/// How often the right label was the first guess, or among the first three.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Accuracy {
    /// Held-out examples with this label known.
    pub examples: u64,
    pub top1: u64,
    pub top3: u64,
}

impl Accuracy {
    /// The share right at the first guess (0–1), none without examples.
    pub fn top1_rate(&self) -> Option<f64> {
        (self.examples > 0).then(|| self.top1 as f64 / self.examples as f64)
    }

    pub fn top3_rate(&self) -> Option<f64> {
        (self.examples > 0).then(|| self.top3 as f64 / self.examples as f64)
    }

    /// Counts one held-out example: where its true label stands among the guesses.
    pub fn count(&mut self, guesses: &[Guess], truth: &str) {
        self.examples += 1;
        match guesses.iter().position(|g| g.label == truth) {
            Some(0) => {
                self.top1 += 1;
                self.top3 += 1;
            }
            Some(1 | 2) => self.top3 += 1,
            _ => {}
        }
    }
}

/// Every `HOLD_OUT`-th example (by its place in the history) is kept out of training and used to
/// measure accuracy.
pub const HOLD_OUT: usize = 5;

/// The three questions' counts, learned together.
#[derive(Debug, Clone, Default)]
struct Tallies {
    topic: Tally,
    incident_type: Tally,
    critical: Tally,
}

impl Tallies {
    fn add(&mut self, words: &[String], e: &Example) {
        if let Some(t) = &e.topic {
            self.topic.add(words, t);
        }
        if let Some(t) = &e.incident_type {
            self.incident_type.add(words, t);
        }
        let critical = if e.critical { CRITICAL } else { ROUTINE };
        self.critical.add(words, critical);
    }

    fn into_classifiers(self) -> (Classifier, Classifier, Classifier) {
        (
            self.topic.into_classifier(),
            self.incident_type.into_classifier(),
            self.critical.into_classifier(),
        )
    }
}

impl Model {
    /// Learns from the history: first without every [`HOLD_OUT`]-th example, to measure on those,
    /// then from all of it, for use. Each message is split into words when it is counted and
    /// not kept: the words of 50,000 messages held at once took more memory than the rest of
    /// the server.
    pub fn train(history: &[Example]) -> Model {
        let held_out = |i: usize| i % HOLD_OUT == HOLD_OUT - 1;
        let mut tallies = Tallies::default();
        for (_, e) in history.iter().enumerate().filter(|(i, _)| !held_out(*i)) {
            tallies.add(&words(&e.text), e);
        }
        let (topic, kind, critical) = tallies.clone().into_classifiers();
        let mut accuracy = ModelAccuracy::default();
        for (_, e) in history.iter().enumerate().filter(|(i, _)| held_out(*i)) {
            let words = words(&e.text);
            if let Some(t) = &e.topic {
                accuracy.topic.count(&topic.rank(&words), t);
            }
            if let Some(t) = &e.incident_type {
                accuracy.incident_type.count(&kind.rank(&words), t);
            }
            let truth = if e.critical { CRITICAL } else { ROUTINE };
            accuracy.critical.count(&critical.rank(&words), truth);
            tallies.add(&words, e);
        }
        let (topic, incident_type, critical) = tallies.into_classifiers();
        Model {
            topic,
            incident_type,
            critical,
            accuracy,
        }
    }

    /// What the model suggests for an incident's words.
    pub fn suggest(&self, text: &str) -> Suggestion {
        let words = words(text);
        let top = |c: &Classifier| {
            let mut guesses = c.rank(&words);
            guesses.truncate(3);
            guesses
        };
        let critical = self
            .critical
            .rank(&words)
            .into_iter()
            .find(|g| g.label == CRITICAL)
            .map(|g| g.probability)
            .unwrap_or(0.0);
        Suggestion {
            topics: top(&self.topic),
            incident_types: top(&self.incident_type),
            critical,
        }
    }
}

/// The model's three first guesses for each question, and how likely the incident is critical.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Suggestion {
    pub topics: Vec<Guess>,
    pub incident_types: Vec<Guess>,
    pub critical: f64,
}

/// Below this probability a first guess is not shown: a guess as good as chance only distracts.
pub const SHOWN_FROM: f64 = 0.4;

/// The incident is flagged as looking critical from this probability on.
pub const LOOKS_CRITICAL: f64 = 0.5;

impl Suggestion {
    pub fn topic(&self) -> Option<&Guess> {
        self.topics.first().filter(|g| g.probability >= SHOWN_FROM)
    }

    pub fn incident_type(&self) -> Option<&Guess> {
        self.incident_types
            .first()
            .filter(|g| g.probability >= SHOWN_FROM)
    }

    pub fn looks_critical(&self) -> bool {
        self.critical >= LOOKS_CRITICAL
    }
}

/// What the agent did with a suggestion, counted per question when the incident is classified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The agent chose the suggested label.
    Confirmed,
    /// The agent chose another.
    Corrected,
}

impl Outcome {
    pub fn code(self) -> &'static str {
        match self {
            Outcome::Confirmed => "confirmed",
            Outcome::Corrected => "corrected",
        }
    }

    pub fn of(suggested: &str, chosen: &str) -> Outcome {
        if suggested == chosen {
            Outcome::Confirmed
        } else {
            Outcome::Corrected
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example(text: &str, topic: &str, kind: &str, critical: bool) -> Example {
        Example {
            text: text.into(),
            topic: Some(topic.into()),
            incident_type: Some(kind.into()),
            critical,
        }
    }

    fn history() -> Vec<Example> {
        let mut h = Vec::new();
        for n in 0..20 {
            h.push(example(
                &format!("No me llegó el número de aspirante del registro {n}"),
                "registro",
                "question",
                false,
            ));
            h.push(example(
                "Mi orden de pago venció, ¿cómo pago el arancel?",
                "pagos",
                "question",
                false,
            ));
            h.push(example(
                "Exijo una respuesta: es la tercera vez que reporto que la orden de pago no sirve",
                "pagos",
                "complaint",
                false,
            ));
            h.push(example(
                "Un profesor me amenazó y sufro acoso en el curso",
                "plataforma",
                "complaint",
                true,
            ));
        }
        h
    }

    #[test]
    fn words_are_folded_stemmed_and_without_stopwords() {
        assert_eq!(
            words("Hola, ¿CÓMO pago mis órdenes de PAGO? Gracias 2026"),
            vec!["pag", "orden", "pag"]
        );
    }

    #[test]
    fn a_trained_model_suggests_the_topic_and_type_its_history_taught() {
        let model = Model::train(&history());
        let s = model.suggest("¿Cómo pago la orden de pago?");
        assert_eq!(s.topic().map(|g| g.label.as_str()), Some("pagos"));
        assert_eq!(
            s.incident_type().map(|g| g.label.as_str()),
            Some("question")
        );
        assert!(!s.looks_critical());
        let s = model.suggest("Me siento acosada, el profesor me amenaza");
        assert!(s.looks_critical(), "{s:?}");
        assert_eq!(
            s.incident_type().map(|g| g.label.as_str()),
            Some("complaint")
        );
    }

    #[test]
    fn guesses_are_probabilities_that_add_up_to_one() {
        let model = Model::train(&history());
        let s = model.suggest("registro de aspirante");
        assert!(s.topics.len() <= 3);
        let all = model.topic.rank(&words("registro de aspirante"));
        let sum: f64 = all.iter().map(|g| g.probability).sum();
        assert!((sum - 1.0).abs() < 1e-9, "{sum}");
        assert!(all.windows(2).all(|w| w[0].probability >= w[1].probability));
    }

    #[test]
    fn words_never_seen_leave_only_how_common_each_label_is() {
        let model = Model::train(&history());
        let s = model.suggest("zzz qqq");
        // Two of four examples are "pagos": the prior alone.
        assert_eq!(s.topics[0].label, "pagos");
        assert!((s.topics[0].probability - 0.5).abs() < 1e-9);
    }

    #[test]
    fn an_empty_history_suggests_nothing() {
        let model = Model::train(&[]);
        let s = model.suggest("orden de pago");
        assert!(s.topic().is_none() && s.incident_type().is_none() && !s.looks_critical());
        assert_eq!(model.accuracy, ModelAccuracy::default());
    }

    #[test]
    fn accuracy_counts_where_the_true_label_stands_among_the_guesses() {
        let guesses: Vec<Guess> = ["a", "b", "c", "d"]
            .iter()
            .map(|l| Guess {
                label: l.to_string(),
                probability: 0.25,
            })
            .collect();
        let mut a = Accuracy::default();
        for truth in ["a", "b", "c", "d", "e"] {
            a.count(&guesses, truth);
        }
        assert_eq!(
            a,
            Accuracy {
                examples: 5,
                top1: 1,
                top3: 3
            }
        );
        assert_eq!(a.top1_rate(), Some(0.2));
        assert_eq!(a.top3_rate(), Some(0.6));
        assert_eq!(Accuracy::default().top1_rate(), None);
    }

    #[test]
    fn accuracy_is_measured_only_on_the_held_out_fifth() {
        let history = history();
        let model = Model::train(&history);
        let held_out = history.len() / HOLD_OUT;
        assert_eq!(model.accuracy.topic.examples as usize, held_out);
        assert_eq!(model.accuracy.critical.examples as usize, held_out);
        // The messages are the same in training and held out: every first guess is right.
        assert_eq!(model.accuracy.topic.top1 as usize, held_out);
        assert_eq!(model.accuracy.incident_type.top1 as usize, held_out);
        // The model used is then trained on all of it.
        assert_eq!(model.topic.documents() as usize, history.len());
    }

    #[test]
    fn examples_without_a_label_teach_only_the_other_questions() {
        let mut h = history();
        h.push(Example {
            text: "orden de pago".into(),
            topic: None,
            incident_type: Some("question".into()),
            critical: false,
        });
        let model = Model::train(&h);
        assert_eq!(model.topic.documents() as usize, h.len() - 1);
        assert_eq!(model.incident_type.documents() as usize, h.len());
    }

    #[test]
    fn outcomes_say_whether_the_agent_kept_the_suggestion() {
        assert_eq!(Outcome::of("pagos", "pagos"), Outcome::Confirmed);
        assert_eq!(Outcome::of("pagos", "becas"), Outcome::Corrected);
    }
}
