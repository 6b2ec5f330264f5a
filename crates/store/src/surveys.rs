//! Satisfaction surveys: the questionnaire's versions, the job that turns a closing's
//! `survey_due` entry into an invitation (or a recorded reason not to send one), the answer
//! given once through the public page, and the low-score follow-ups of the CAP lead.

use std::collections::BTreeMap;

use atiende_domain::audit::EntityKind;
use atiende_domain::chat::{Provider, Template};
use atiende_domain::classification::Channel;
use atiende_domain::ids::IncidentId;
use atiende_domain::incident::{EntryKind, Incident, Status};
use atiende_domain::survey::{
    Answers, Invitation, Question, SkipReason, SurveyPolicy, check_questions, default_questions,
    invitation,
};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::Actor;
use crate::audit::{Change, record};
use crate::contacts::contact_in_tx;
use crate::db::{Store, from_ms, ms, now, opt_from_ms};
use crate::email::{default_mailbox, message_id_for, queue_email};
use crate::error::{Result, StoreError};
use crate::incidents::rows::{append, load_for_update};
use crate::links::{OneTimeLink, link_with_slot, unusable_hash};
use crate::outbox::OutgoingEmail;
use crate::tx::Tx;
use crate::users::token_hash;

/// What the survey job did with one closed incident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SurveyStep {
    /// Invitation queued on this channel (`email` or `whatsapp`).
    Sent(&'static str),
    Skipped(SkipReason),
    /// The delay after closing has not passed: try again then.
    NotYet(DateTime<Utc>),
    /// Reopened since, or surveyed already: nothing to do.
    Nothing,
}

/// A questionnaire version.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Questionnaire {
    pub version: i64,
    pub questions: Vec<Question>,
    pub created_at: DateTime<Utc>,
}

/// A survey as the public page and the console see it.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Survey {
    pub id: i64,
    pub incident_id: IncidentId,
    pub folio: String,
    pub status: String,
    pub skip_reason: Option<SkipReason>,
    pub invited_by: Option<String>,
    pub questionnaire_version: Option<i64>,
    pub channel: Channel,
    pub sent_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub answered_at: Option<DateTime<Utc>>,
    /// Each question's key and its answer.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub answers: Option<serde_json::Value>,
    pub overall: Option<i64>,
    pub resolved: Option<bool>,
    pub follow_up: Option<String>,
    pub follow_up_note: Option<String>,
}

fn survey_from_row(r: &AnyRow) -> Result<Survey> {
    let channel: String = r.try_get("channel")?;
    Ok(Survey {
        id: r.try_get("id")?,
        incident_id: IncidentId(r.try_get("incident_id")?),
        folio: r.try_get("folio")?,
        status: r.try_get("status")?,
        skip_reason: r
            .try_get::<Option<String>, _>("skip_reason")?
            .and_then(|s| SkipReason::from_code(&s)),
        invited_by: r.try_get("invited_by")?,
        questionnaire_version: r.try_get("questionnaire_version")?,
        channel: Channel::from_code(&channel).ok_or_else(|| StoreError::corrupt(channel))?,
        sent_at: opt_from_ms(r.try_get("sent_at")?)?,
        expires_at: opt_from_ms(r.try_get("expires_at")?)?,
        answered_at: opt_from_ms(r.try_get("answered_at")?)?,
        answers: r
            .try_get::<Option<String>, _>("answers")?
            .and_then(|a| serde_json::from_str(&a).ok()),
        overall: r.try_get("overall")?,
        resolved: r.try_get::<Option<i64>, _>("resolved")?.map(|v| v != 0),
        follow_up: r.try_get("follow_up")?,
        follow_up_note: r.try_get("follow_up_note")?,
    })
}

/// Which surveys a list shows, newest first.
#[derive(Debug, Clone, Default)]
pub struct SurveyFilter {
    /// `sent`, `answered` or `skipped`.
    pub status: Option<String>,
    /// Only low scores waiting for, or given, a follow-up.
    pub follow_up: Option<String>,
    /// Answered within these instants (milliseconds, inclusive start, exclusive end).
    pub answered: Option<(i64, i64)>,
    pub before_id: Option<i64>,
    pub limit: i64,
}

/// Surveys with their incident's folio; the argument is the rest of the query.
macro_rules! select_surveys {
    ($rest:literal) => {
        concat!(
            "SELECT s.*, i.folio FROM surveys s JOIN incidents i ON i.id = s.incident_id ",
            $rest
        )
    };
}

/// How a person reaches their survey: the one-time link's token, or signed in to the portal
/// (their incident's folio; only a survey already sent to them).
#[derive(Debug, Clone, Copy)]
pub enum SurveyKey<'a> {
    Token(&'a str),
    Portal(atiende_domain::ids::ContactId, &'a str),
}

/// What a survey link leads to.
#[derive(Debug, Clone)]
pub enum SurveyLink {
    Open {
        survey: Box<Survey>,
        questions: Vec<Question>,
    },
    Answered,
    Expired,
    Unknown,
}

/// What became of a submitted answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnswerOutcome {
    Recorded { low_score: bool },
    AlreadyAnswered,
    Expired,
    Unknown,
}

async fn questionnaire_in(
    conn: &mut sqlx::AnyConnection,
    version: Option<i64>,
) -> Result<Questionnaire> {
    let row = match version {
        Some(v) => {
            sqlx::query("SELECT * FROM questionnaires WHERE version = $1")
                .bind(v)
                .fetch_optional(&mut *conn)
                .await?
        }
        None => {
            sqlx::query("SELECT * FROM questionnaires ORDER BY version DESC LIMIT 1")
                .fetch_optional(&mut *conn)
                .await?
        }
    };
    let row = match row {
        Some(r) => r,
        None => {
            // The first survey fixes the default questionnaire as version 1.
            let questions =
                serde_json::to_string(&default_questions()).map_err(StoreError::corrupt)?;
            sqlx::query(
                "INSERT INTO questionnaires (version, questions, created_at) VALUES (1, $1, $2) ON CONFLICT (version) DO NOTHING",
            )
            .bind(questions)
            .bind(ms(now()))
            .execute(&mut *conn)
            .await?;
            sqlx::query("SELECT * FROM questionnaires WHERE version = 1")
                .fetch_one(&mut *conn)
                .await?
        }
    };
    Ok(Questionnaire {
        version: row.try_get("version")?,
        questions: serde_json::from_str(&row.try_get::<String, _>("questions")?)
            .map_err(StoreError::corrupt)?,
        created_at: from_ms(row.try_get("created_at")?)?,
    })
}

/// Who the survey speaks of: the agent the incident was with, the unit it was derived to.
async fn agent_and_unit(tx: &mut Tx, incident: &Incident) -> Result<(Option<i64>, Option<i64>)> {
    let agent = match incident.assigned_to {
        Some(u) => Some(u.0),
        None => sqlx::query(
            "SELECT author_id FROM timeline_entries WHERE incident_id = $1 AND kind = $2 AND author_id IS NOT NULL ORDER BY id DESC LIMIT 1",
        )
        .bind(incident.id.0)
        .bind(EntryKind::StatusChange.code())
        .fetch_optional(&mut **tx)
        .await?
        .map(|r| r.try_get("author_id"))
        .transpose()?,
    };
    let unit = sqlx::query(
        "SELECT unit_id FROM derivations WHERE incident_id = $1 ORDER BY id DESC LIMIT 1",
    )
    .bind(incident.id.0)
    .fetch_optional(&mut **tx)
    .await?
    .map(|r| r.try_get("unit_id"))
    .transpose()?;
    Ok((agent, unit))
}

fn invitation_text(folio: &str, link: &str, expires: DateTime<Utc>, tz: chrono_tz::Tz) -> String {
    format!(
        "Hola:\n\nGracias por comunicarse con el Centro de Atención Personalizada de UDG Virtual \
         (folio {folio}). Nos ayuda mucho saber cómo le atendimos: la encuesta toma un minuto.\n\n{link}\n\n\
         El enlace vale hasta el {}. Si no desea recibir encuestas, puede decírnoslo al responder este mensaje.\n\n\
         Atentamente,\nCentro de Atención Personalizada",
        expires.with_timezone(&tz).format("%d/%m/%Y")
    )
}

impl Store {
    /// The questionnaire new surveys are given with.
    pub async fn current_questionnaire(&self) -> Result<Questionnaire> {
        // The writer's: the first call ever also writes the default questionnaire.
        let mut tx = self.begin().await?;
        let q = questionnaire_in(&mut tx, None).await?;
        tx.commit().await?;
        Ok(q)
    }

    /// Saves an edited questionnaire as a new version; earlier answers keep theirs.
    pub async fn save_questionnaire(
        &self,
        actor: Actor<'_>,
        questions: &[Question],
    ) -> Result<Questionnaire> {
        check_questions(questions)?;
        let mut tx = self.begin().await?;
        let current = questionnaire_in(&mut tx, None).await?;
        if current.questions == questions {
            tx.commit().await?;
            return Ok(current);
        }
        let version = current.version + 1;
        let json = serde_json::to_string(questions).map_err(StoreError::corrupt)?;
        sqlx::query("INSERT INTO questionnaires (version, questions, created_by, created_at) VALUES ($1, $2, $3, $4)")
            .bind(version)
            .bind(json)
            .bind(actor.user_id().map(|u| u.0))
            .bind(ms(now()))
            .execute(&mut *tx)
            .await?;
        let change = Change {
            entity: EntityKind::Setting,
            entity_id: "questionnaire".into(),
            action: "questionnaire.version",
            before: serde_json::to_value(&current.questions).ok(),
            after: serde_json::to_value(questions).ok(),
        };
        record(&mut tx, actor, change).await?;
        let saved = questionnaire_in(&mut tx, Some(version)).await?;
        tx.commit().await?;
        Ok(saved)
    }

    /// The survey job for one closed incident: after the delay, invite the person on a channel
    /// that reaches them (email, or WhatsApp — as a template when the conversation's window is
    /// closed), or record why not. Runs once per incident whatever the number of workers: the
    /// survey row's unique incident key refuses a second one.
    pub async fn process_survey_due(
        &self,
        incident: IncidentId,
        policy: &SurveyPolicy,
        base_url: &str,
        whatsapp_template: Option<&Template>,
    ) -> Result<SurveyStep> {
        let t = now();
        let mut tx = self.begin().await?;
        let i = load_for_update(&mut tx, self.engine(), incident).await?;
        let done = sqlx::query("SELECT 1 AS ok FROM surveys WHERE incident_id = $1")
            .bind(incident.0)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(closed_at) = i
            .closed_at
            .filter(|_| i.status == Status::Closed && done.is_none())
        else {
            return Ok(SurveyStep::Nothing);
        };
        let due = closed_at + Duration::hours(policy.delay_hours);
        if t < due {
            return Ok(SurveyStep::NotYet(due));
        }
        let contact = match i.contact_id {
            Some(c) => Some(contact_in_tx(&mut tx, c).await?),
            None => None,
        };
        let last_invited: Option<i64> = match &contact {
            Some(c) => sqlx::query("SELECT MAX(sent_at) AS t FROM surveys WHERE contact_id = $1")
                .bind(c.id.0)
                .fetch_one(&mut *tx)
                .await?
                .try_get("t")?,
            None => None,
        };
        let target = crate::chat::chat_target(&mut tx, &i).await?;
        let whatsapp = target
            .as_ref()
            .filter(|t| t.provider == Provider::Whatsapp)
            .filter(|t| t.window.allows_text() || whatsapp_template.is_some());
        let mut decision = invitation(
            contact.as_ref(),
            i.channel,
            whatsapp.is_some(),
            opt_from_ms(last_invited)?,
            policy,
            t,
        );
        let mailbox = default_mailbox(&mut tx).await?;
        if matches!(decision, Ok(Invitation::Email(_))) && mailbox.is_none() {
            decision = Err(SkipReason::Unreachable);
        }
        let (agent, unit) = agent_and_unit(&mut tx, &i).await?;
        let questionnaire = questionnaire_in(&mut tx, None).await?;
        let expires = t + Duration::days(policy.expiry_days);
        let (status, skip, invited_by) = match &decision {
            Ok(Invitation::Email(_)) => ("sent", None, Some("email")),
            Ok(Invitation::Whatsapp) => ("sent", None, Some("whatsapp")),
            Err(reason) => ("skipped", Some(reason.code()), None),
        };
        let sent = decision.is_ok();
        let survey: i64 = sqlx::query(
            "INSERT INTO surveys (incident_id, contact_id, status, skip_reason, invited_by, token_hash, questionnaire_version, \
             agent_id, unit_id, channel, closed_at, sent_at, expires_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING id",
        )
        .bind(incident.0)
        .bind(i.contact_id.map(|c| c.0))
        .bind(status)
        .bind(skip)
        .bind(invited_by)
        .bind(sent.then(unusable_hash))
        .bind(sent.then_some(questionnaire.version))
        .bind(agent)
        .bind(unit)
        .bind(i.channel.code())
        .bind(ms(closed_at))
        .bind(sent.then(|| ms(t)))
        .bind(sent.then(|| ms(expires)))
        .bind(ms(t))
        .fetch_one(&mut *tx)
        .await?
        .try_get("id")?;
        let folio = i.folio.to_string();
        let link = link_with_slot(base_url, "encuesta");
        let one_time_link = Some(OneTimeLink::Survey(survey));
        let text = invitation_text(&folio, &link, expires, self.time_zone());
        let step = match decision {
            Err(reason) => {
                let note = format!(
                    "No se envió la encuesta: {}.",
                    reason.label(atiende_domain::classification::Lang::Es)
                );
                append(
                    &mut tx,
                    incident,
                    EntryKind::Survey,
                    None,
                    &note,
                    serde_json::json!({ "skipped": reason.code() }),
                    t,
                )
                .await?;
                SurveyStep::Skipped(reason)
            }
            Ok(Invitation::Email(address)) => {
                let mailbox = mailbox.ok_or(StoreError::NotFound("mailbox"))?;
                let entry = append(
                    &mut tx,
                    incident,
                    EntryKind::Survey,
                    None,
                    &format!(
                        "Invitación a la encuesta de satisfacción enviada por correo a {address}."
                    ),
                    serde_json::json!({ "invited_by": "email" }),
                    t,
                )
                .await?;
                let out = OutgoingEmail {
                    mailbox_id: mailbox.id,
                    to: address,
                    subject: format!("[{folio}] Encuesta de satisfacción"),
                    text,
                    message_id: message_id_for(&mailbox, &folio),
                    in_reply_to: None,
                    references: vec![],
                    folio: Some(folio.clone()),
                    automatic: true,
                    link_to_incident: false,
                    one_time_link,
                    files: Vec::new(),
                };
                queue_email(&mut tx, Some(incident), Some(entry), &out).await?;
                SurveyStep::Sent("email")
            }
            Ok(Invitation::Whatsapp) => {
                let entry = append(
                    &mut tx,
                    incident,
                    EntryKind::Survey,
                    None,
                    "Invitación a la encuesta de satisfacción enviada por WhatsApp.",
                    serde_json::json!({ "invited_by": "whatsapp" }),
                    t,
                )
                .await?;
                let open = target.as_ref().is_some_and(|t| t.window.allows_text());
                let values = [folio.clone(), link.clone()];
                let template = (!open).then_some(whatsapp_template).flatten();
                crate::chat::queue_message(
                    &mut tx,
                    &i,
                    entry,
                    &text,
                    template.map(|t| (t, &values[..])),
                    one_time_link,
                )
                .await?;
                SurveyStep::Sent("whatsapp")
            }
        };
        tx.commit().await?;
        Ok(step)
    }

    /// What a survey link leads to. Opening the page records nothing, so mail scanners that
    /// follow links never count as answers.
    pub async fn survey_link(&self, token: &str) -> Result<SurveyLink> {
        self.survey_by(SurveyKey::Token(token)).await
    }

    /// What a survey leads to, reached by its link or from the portal.
    pub async fn survey_by(&self, key: SurveyKey<'_>) -> Result<SurveyLink> {
        let mut tx = self.begin().await?;
        let row = match key {
            SurveyKey::Token(token) => {
                sqlx::query(select_surveys!("WHERE s.token_hash = $1"))
                    .bind(token_hash(token))
                    .fetch_optional(&mut *tx)
                    .await?
            }
            SurveyKey::Portal(person, folio) => {
                sqlx::query(select_surveys!(
                    "WHERE i.folio = $1 AND i.contact_id = $2 AND s.sent_at IS NOT NULL"
                ))
                .bind(folio.trim().to_uppercase())
                .bind(person.0)
                .fetch_optional(&mut *tx)
                .await?
            }
        };
        let Some(row) = row else {
            return Ok(SurveyLink::Unknown);
        };
        let survey = survey_from_row(&row)?;
        let link = if survey.answered_at.is_some() {
            SurveyLink::Answered
        } else if survey.expires_at.is_none_or(|e| e <= now()) {
            SurveyLink::Expired
        } else {
            let q = questionnaire_in(&mut tx, survey.questionnaire_version).await?;
            SurveyLink::Open {
                survey: Box::new(survey),
                questions: q.questions,
            }
        };
        tx.commit().await?;
        Ok(link)
    }

    /// Records the answers submitted from the survey page, once: a second submission (or one
    /// racing with it) finds the survey answered.
    pub async fn answer_survey(
        &self,
        token: &str,
        form: &BTreeMap<String, String>,
        policy: &SurveyPolicy,
    ) -> Result<AnswerOutcome> {
        self.answer_survey_by(SurveyKey::Token(token), form, policy)
            .await
    }

    /// Records the answers of a survey reached by its link or from the portal.
    pub async fn answer_survey_by(
        &self,
        key: SurveyKey<'_>,
        form: &BTreeMap<String, String>,
        policy: &SurveyPolicy,
    ) -> Result<AnswerOutcome> {
        let (survey, questions) = match self.survey_by(key).await? {
            SurveyLink::Open { survey, questions } => (survey, questions),
            SurveyLink::Answered => return Ok(AnswerOutcome::AlreadyAnswered),
            SurveyLink::Expired => return Ok(AnswerOutcome::Expired),
            SurveyLink::Unknown => return Ok(AnswerOutcome::Unknown),
        };
        let answers = Answers::read(&questions, form)?;
        let low = policy.is_low(answers.overall());
        let t = now();
        let mut tx = self.begin().await?;
        // The simplified notice the page showed, kept with the answers.
        let notice = crate::privacy::notices::shown_in(
            &mut tx,
            atiende_domain::privacy::NoticeKind::Simplified,
            form.get("privacy_notice_id").and_then(|v| v.parse().ok()),
        )
        .await?;
        let n = sqlx::query(
            "UPDATE surveys SET status = 'answered', answered_at = $1, answers = $2, overall = $3, resolved = $4, \
             follow_up = $5, privacy_notice_id = $7 WHERE id = $6 AND answered_at IS NULL AND expires_at > $1",
        )
        .bind(ms(t))
        .bind(serde_json::to_string(&answers.values).map_err(StoreError::corrupt)?)
        .bind(answers.overall())
        .bind(answers.resolved().map(i64::from))
        .bind(low.then_some("pending"))
        .bind(survey.id)
        .bind(notice)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 0 {
            return Ok(AnswerOutcome::AlreadyAnswered);
        }
        let mut note = format!(
            "Encuesta respondida: satisfacción general {}/5",
            answers.overall().unwrap_or_default()
        );
        if let Some(r) = answers.resolved() {
            note.push_str(if r {
                "; asunto resuelto"
            } else {
                "; asunto no resuelto"
            });
        }
        if low {
            note.push_str(". Calificación baja: queda en seguimiento del responsable del CAP");
        }
        note.push('.');
        append(
            &mut tx,
            survey.incident_id,
            EntryKind::Survey,
            None,
            &note,
            serde_json::json!({ "survey_id": survey.id, "overall": answers.overall() }),
            t,
        )
        .await?;
        // The scores, not what the person wrote: comments stay in atiende.
        let data = serde_json::json!({
            "survey_id": survey.id,
            "incident_id": survey.incident_id.0,
            "folio": survey.folio,
            "channel": survey.channel.code(),
            "overall": answers.overall(),
            "resolved": answers.resolved(),
            "low_score": low,
            "answered_at": t,
        });
        crate::webhooks::emit(
            &mut tx,
            atiende_domain::webhook::EventType::SurveyAnswered,
            Some(survey.incident_id),
            data,
        )
        .await?;
        if low {
            crate::notifications::notify(
                &mut tx,
                atiende_domain::notification::NotificationKind::LowSurveyScore,
                survey.incident_id,
                None,
                None,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(AnswerOutcome::Recorded { low_score: low })
    }

    /// The latest surveys, newest first.
    pub async fn surveys(&self, limit: i64) -> Result<Vec<Survey>> {
        let rows = sqlx::query(select_surveys!("ORDER BY s.id DESC LIMIT $1"))
            .bind(limit.clamp(1, 500))
            .fetch_all(self.reader())
            .await?;
        rows.iter().map(survey_from_row).collect()
    }

    /// Surveys by status, follow-up or answering period, a page at a time.
    pub async fn survey_list(&self, f: &SurveyFilter) -> Result<Vec<Survey>> {
        let mut sql = crate::db::Sql::new(select_surveys!("WHERE 1 = 1"));
        if let Some(status) = &f.status {
            sql.push(" AND s.status = ");
            sql.bind(status.clone());
        }
        if let Some(follow_up) = &f.follow_up {
            sql.push(" AND s.follow_up = ");
            sql.bind(follow_up.clone());
        }
        if let Some((from, to)) = f.answered {
            sql.push(" AND s.answered_at >= ");
            sql.bind(from);
            sql.push(" AND s.answered_at < ");
            sql.bind(to);
        }
        if let Some(before) = f.before_id {
            sql.push(" AND s.id < ");
            sql.bind(before);
        }
        sql.push(" ORDER BY s.id DESC LIMIT ");
        sql.bind(f.limit.clamp(1, crate::MAX_PAGE + 1));
        let rows = sql.fetch_all(self.reader()).await?;
        rows.iter().map(survey_from_row).collect()
    }

    /// Every questionnaire version, newest first (answers name the version they were given).
    pub async fn questionnaire_versions(&self) -> Result<Vec<Questionnaire>> {
        self.current_questionnaire().await?;
        let rows = sqlx::query("SELECT * FROM questionnaires ORDER BY version DESC")
            .fetch_all(self.reader())
            .await?;
        rows.iter()
            .map(|row| {
                Ok(Questionnaire {
                    version: row.try_get("version")?,
                    questions: serde_json::from_str(&row.try_get::<String, _>("questions")?)
                        .map_err(StoreError::corrupt)?,
                    created_at: from_ms(row.try_get("created_at")?)?,
                })
            })
            .collect()
    }

    /// The survey of one incident, if it has one.
    pub async fn survey_of_incident(&self, incident: IncidentId) -> Result<Option<Survey>> {
        let row = sqlx::query(select_surveys!("WHERE s.incident_id = $1"))
            .bind(incident.0)
            .fetch_optional(self.reader())
            .await?;
        row.as_ref().map(survey_from_row).transpose()
    }

    /// Low scores waiting for the CAP lead's follow-up, oldest first.
    pub async fn survey_follow_ups(&self) -> Result<Vec<Survey>> {
        let rows = sqlx::query(select_surveys!(
            "WHERE s.follow_up = 'pending' ORDER BY s.id LIMIT 200"
        ))
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(survey_from_row).collect()
    }

    /// The CAP lead records what was done about a low score.
    pub async fn close_survey_follow_up(
        &self,
        actor: Actor<'_>,
        id: i64,
        note: &str,
    ) -> Result<()> {
        let mut v = atiende_domain::error::Validator::new();
        let note = v.text("note", note, 2000, true);
        v.finish()?;
        let mut tx = self.begin().await?;
        let n = sqlx::query(
            "UPDATE surveys SET follow_up = 'done', follow_up_note = $1, follow_up_by = $2, follow_up_at = $3 \
             WHERE id = $4 AND follow_up = 'pending'",
        )
        .bind(note.clone())
        .bind(actor.user_id().map(|u| u.0))
        .bind(ms(now()))
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound("follow-up"));
        }
        let change = Change {
            entity: EntityKind::Survey,
            entity_id: id.to_string(),
            action: "survey.follow_up",
            before: None,
            after: Some(serde_json::json!({ "note": note })),
        };
        record(&mut tx, actor, change).await?;
        tx.commit().await?;
        Ok(())
    }
}
