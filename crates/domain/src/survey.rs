//! The satisfaction survey (procedure step 13, form MMPR-03): the questionnaire and its
//! versions, who is asked and on which channel, how answers are read, and what a low score
//! sets off.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::RuleError;
use crate::classification::{Channel, coded_enum};
use crate::contact::Contact;
use crate::error::Validator;

coded_enum!(
    QuestionKind {
        Scale = "scale", "Escala del 1 al 5", "Scale from 1 to 5";
        YesNo = "yes_no", "Sí o no", "Yes or no";
        Text = "text", "Texto libre", "Free text";
    }
);

/// The answer the satisfaction index is computed from; every questionnaire keeps it.
pub const OVERALL: &str = "overall";
/// Whether the matter was resolved (feeds resolution as the person sees it).
pub const RESOLVED: &str = "resolved";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Question {
    /// Stable name of the answer across versions (`overall`, `clarity`…).
    pub key: String,
    pub label: String,
    pub kind: QuestionKind,
    pub required: bool,
}

/// MMPR-03 as the CAP asks it today.
pub fn default_questions() -> Vec<Question> {
    let q = |key: &str, label: &str, kind, required| Question {
        key: key.into(),
        label: label.into(),
        kind,
        required,
    };
    vec![
        q(
            OVERALL,
            "En general, ¿qué tan satisfecho está con la atención que recibió?",
            QuestionKind::Scale,
            true,
        ),
        q(
            RESOLVED,
            "¿Se resolvió su asunto?",
            QuestionKind::YesNo,
            true,
        ),
        q(
            "clarity",
            "¿Qué tan clara fue la información que le dimos?",
            QuestionKind::Scale,
            true,
        ),
        q(
            "speed",
            "¿Qué tan rápida fue la atención?",
            QuestionKind::Scale,
            true,
        ),
        q(
            "comment",
            "¿Algo más que quiera decirnos?",
            QuestionKind::Text,
            false,
        ),
    ]
}

/// Checks a questionnaire the quality owner wrote: keys unique and simple, labels present, and
/// the overall scale the indicators rely on kept.
pub fn check_questions(questions: &[Question]) -> Result<(), RuleError> {
    let mut v = Validator::new();
    if questions.is_empty() || questions.len() > 20 {
        v.push("questions", "between_1_and_20");
    }
    let mut seen = std::collections::BTreeSet::new();
    for q in questions {
        let simple = !q.key.is_empty()
            && q.key.len() <= 40
            && q.key
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !simple {
            v.push("key", "invalid_key");
        }
        if !seen.insert(q.key.as_str()) {
            v.push("key", "duplicate_key");
        }
        v.text("label", &q.label, 300, true);
    }
    if !questions
        .iter()
        .any(|q| q.key == OVERALL && q.kind == QuestionKind::Scale && q.required)
    {
        v.push("questions", "overall_scale_required");
    }
    v.finish()
}

/// One answer as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Answer {
    Score(i64),
    YesNo(bool),
    Text(String),
}

/// A submitted survey, read against the questionnaire it was given with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answers {
    pub values: BTreeMap<String, Answer>,
}

impl Answers {
    /// Reads the form a person submitted: every required question answered, scales 1–5,
    /// texts bounded. Fields the questionnaire does not ask are ignored.
    pub fn read(
        questions: &[Question],
        form: &BTreeMap<String, String>,
    ) -> Result<Answers, RuleError> {
        let mut v = Validator::new();
        let mut values = BTreeMap::new();
        for q in questions {
            let raw = form.get(&q.key).map(|s| s.trim()).unwrap_or_default();
            if raw.is_empty() {
                if q.required {
                    v.push(&q.key, "required");
                }
                continue;
            }
            let answer = match q.kind {
                QuestionKind::Scale => match raw.parse::<i64>() {
                    Ok(n) if (1..=5).contains(&n) => Some(Answer::Score(n)),
                    _ => None,
                },
                QuestionKind::YesNo => match raw {
                    "yes" | "si" | "sí" => Some(Answer::YesNo(true)),
                    "no" => Some(Answer::YesNo(false)),
                    _ => None,
                },
                QuestionKind::Text if raw.chars().count() <= 2000 => {
                    Some(Answer::Text(raw.to_string()))
                }
                QuestionKind::Text => {
                    v.push(&q.key, "too_long");
                    continue;
                }
            };
            match answer {
                Some(a) => {
                    values.insert(q.key.clone(), a);
                }
                None => v.push(&q.key, "invalid"),
            }
        }
        v.finish()?;
        Ok(Answers { values })
    }

    pub fn overall(&self) -> Option<i64> {
        match self.values.get(OVERALL) {
            Some(Answer::Score(n)) => Some(*n),
            _ => None,
        }
    }

    pub fn resolved(&self) -> Option<bool> {
        match self.values.get(RESOLVED) {
            Some(Answer::YesNo(b)) => Some(*b),
            _ => None,
        }
    }
}

/// The quality owner's survey settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct SurveyPolicy {
    /// Hours after closing before the invitation goes.
    pub delay_hours: i64,
    /// A person is asked at most once in this many days.
    pub min_days_between: i64,
    /// Days the link stays valid.
    pub expiry_days: i64,
    /// An overall score at or below this opens a follow-up for the CAP lead (0: never).
    pub low_score_threshold: i64,
    /// The approved WhatsApp template for invitations outside the 24-hour window; `{{1}}` is
    /// the folio and `{{2}}` the link.
    pub whatsapp_template: String,
}

impl Default for SurveyPolicy {
    fn default() -> Self {
        SurveyPolicy {
            delay_hours: 1,
            min_days_between: 30,
            expiry_days: 14,
            low_score_threshold: 2,
            whatsapp_template: String::new(),
        }
    }
}

impl SurveyPolicy {
    pub fn check(&self) -> Result<(), RuleError> {
        let mut v = Validator::new();
        if !(0..=24 * 30).contains(&self.delay_hours) {
            v.push("delay_hours", "out_of_range");
        }
        if !(0..=365).contains(&self.min_days_between) {
            v.push("min_days_between", "out_of_range");
        }
        if !(1..=90).contains(&self.expiry_days) {
            v.push("expiry_days", "out_of_range");
        }
        if !(0..=5).contains(&self.low_score_threshold) {
            v.push("low_score_threshold", "out_of_range");
        }
        v.finish()
    }

    pub fn is_low(&self, overall: Option<i64>) -> bool {
        overall.is_some_and(|s| s <= self.low_score_threshold)
    }
}

coded_enum!(
    /// Why an incident's survey was not sent.
    SkipReason {
        Anonymous = "anonymous", "Anónimo", "Anonymous";
        OptedOut = "opted_out", "No desea encuestas", "Opted out";
        RecentlySurveyed = "recently_surveyed", "Encuestado recientemente", "Surveyed recently";
        Unreachable = "unreachable", "Sin medio para enviarla", "No channel to reach them";
        Cancelled = "cancelled", "Datos bloqueados o suprimidos (ARCO)", "Data blocked or suppressed (ARCO)";
    }
);

/// How the invitation reaches the person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invitation {
    Email(String),
    /// On the WhatsApp conversation of the incident or the person.
    Whatsapp,
}

/// Decides whether and how to invite: never anonymous entries nor people who opted out, at
/// most once per period, on WhatsApp when the person wrote there (and can be reached there),
/// else by email.
pub fn invitation(
    contact: Option<&Contact>,
    incident_channel: Channel,
    has_whatsapp_conversation: bool,
    last_invited: Option<DateTime<Utc>>,
    policy: &SurveyPolicy,
    now: DateTime<Utc>,
) -> Result<Invitation, SkipReason> {
    let Some(contact) = contact else {
        return Err(SkipReason::Anonymous);
    };
    if contact.blocked_at.is_some() || contact.anonymised_at.is_some() {
        return Err(SkipReason::Cancelled);
    }
    if contact.opt_out_surveys {
        return Err(SkipReason::OptedOut);
    }
    if last_invited.is_some_and(|t| now < t + Duration::days(policy.min_days_between)) {
        return Err(SkipReason::RecentlySurveyed);
    }
    let email = contact.emails.first().cloned();
    match (incident_channel, has_whatsapp_conversation, email) {
        (Channel::Whatsapp, true, _) => Ok(Invitation::Whatsapp),
        (_, _, Some(address)) => Ok(Invitation::Email(address)),
        (_, true, None) => Ok(Invitation::Whatsapp),
        _ => Err(SkipReason::Unreachable),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::ContactId;

    fn contact(emails: &[&str], opt_out: bool) -> Contact {
        Contact {
            id: ContactId(1),
            name: "Ana".into(),
            emails: emails.iter().map(|e| e.to_string()).collect(),
            phones: vec![],
            whatsapp_id: None,
            social_ids: vec![],
            student_code: None,
            user_type: None,
            programme_line: None,
            opt_out_surveys: opt_out,
            opt_out_marketing: false,
            blocked_at: None,
            anonymised_at: None,
            notes: String::new(),
            merged_into: None,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    #[test]
    fn anonymous_and_opted_out_people_are_never_asked() {
        let p = SurveyPolicy::default();
        let now = Utc::now();
        assert_eq!(
            invitation(None, Channel::SuggestionBox, false, None, &p, now),
            Err(SkipReason::Anonymous)
        );
        let c = contact(&["ana@gmail.com"], true);
        assert_eq!(
            invitation(Some(&c), Channel::Email, false, None, &p, now),
            Err(SkipReason::OptedOut)
        );
    }

    #[test]
    fn a_person_is_asked_at_most_once_per_period() {
        let p = SurveyPolicy::default();
        let now = Utc::now();
        let c = contact(&["ana@gmail.com"], false);
        let recent = Some(now - Duration::days(p.min_days_between - 1));
        assert_eq!(
            invitation(Some(&c), Channel::Phone, false, recent, &p, now),
            Err(SkipReason::RecentlySurveyed)
        );
        let old = Some(now - Duration::days(p.min_days_between));
        assert_eq!(
            invitation(Some(&c), Channel::Phone, false, old, &p, now),
            Ok(Invitation::Email("ana@gmail.com".into()))
        );
    }

    #[test]
    fn whatsapp_people_are_asked_on_whatsapp_and_others_by_email_or_not_at_all() {
        let p = SurveyPolicy::default();
        let now = Utc::now();
        let c = contact(&["ana@gmail.com"], false);
        assert_eq!(
            invitation(Some(&c), Channel::Whatsapp, true, None, &p, now),
            Ok(Invitation::Whatsapp)
        );
        let no_email = contact(&[], false);
        assert_eq!(
            invitation(Some(&no_email), Channel::Phone, false, None, &p, now),
            Err(SkipReason::Unreachable)
        );
        assert_eq!(
            invitation(Some(&no_email), Channel::Phone, true, None, &p, now),
            Ok(Invitation::Whatsapp)
        );
    }

    #[test]
    fn answers_are_read_against_the_questionnaire() {
        let qs = default_questions();
        let form: BTreeMap<String, String> = [
            ("overall", "5"),
            ("resolved", "yes"),
            ("clarity", "4"),
            ("speed", "3"),
            ("comment", " Muy amables "),
            ("injected", "x"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let a = Answers::read(&qs, &form).expect("valid");
        assert_eq!(a.overall(), Some(5));
        assert_eq!(a.resolved(), Some(true));
        assert_eq!(
            a.values.get("comment"),
            Some(&Answer::Text("Muy amables".into()))
        );
        assert!(!a.values.contains_key("injected"));
        let mut bad = form.clone();
        bad.insert("overall".into(), "9".into());
        bad.remove("speed");
        let err = Answers::read(&qs, &bad).expect_err("invalid");
        let fields: Vec<_> = err.fields().iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["overall", "speed"]);
    }

    #[test]
    fn a_questionnaire_must_keep_the_overall_scale_and_unique_keys() {
        assert!(check_questions(&default_questions()).is_ok());
        let mut qs = default_questions();
        qs.retain(|q| q.key != OVERALL);
        assert!(check_questions(&qs).is_err());
        let mut dup = default_questions();
        dup.push(dup[1].clone());
        assert!(check_questions(&dup).is_err());
    }

    #[test]
    fn a_low_score_is_at_or_below_the_threshold() {
        let p = SurveyPolicy::default();
        assert!(p.is_low(Some(2)));
        assert!(!p.is_low(Some(3)));
        assert!(!p.is_low(None));
        let never = SurveyPolicy {
            low_score_threshold: 0,
            ..p
        };
        assert!(!never.is_low(Some(1)));
    }
}
