//! Procedure step 13: a closing becomes a survey invitation once its delay has passed.

use atiende_domain::survey::SurveyPolicy;
use atiende_store::Store;
use atiende_store::outbox::{Job, JobKind, Outcome};
use atiende_store::settings;
use atiende_store::surveys::SurveyStep;

use crate::worker::WorkerConfig;

/// Turns due closings into survey invitations. Returns how many were handled.
pub async fn send_surveys(store: &Store, config: &WorkerConfig) -> usize {
    // Read once per round, and only when a job was claimed.
    let policy = tokio::sync::OnceCell::new();
    let policy = &policy;
    store
        .run_jobs(JobKind::SurveyDue, 20, 120, |claim, job| async move {
            let (Job::SurveyDue(due), Some(incident)) = (job, claim.incident) else {
                return Outcome::Done;
            };
            let policy = policy.get_or_init(|| read_policy(store)).await;
            let template = config.meta.template(&policy.whatsapp_template);
            match store
                .process_survey_due(incident, policy, &config.base_url, template)
                .await
            {
                Ok(SurveyStep::NotYet(until)) => Outcome::Later(until),
                Ok(step) => {
                    tracing::info!(incident.folio = %due.folio, ?step, "survey job");
                    Outcome::Done
                }
                Err(e) => Outcome::Retry(e.to_string()),
            }
        })
        .await
}

async fn read_policy(store: &Store) -> SurveyPolicy {
    store
        .setting(settings::key::SURVEY_POLICY)
        .await
        .unwrap_or_else(|e| {
            tracing::warn!(error = %e, "worker: cannot read the survey policy");
            SurveyPolicy::default()
        })
}
