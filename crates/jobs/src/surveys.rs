//! Procedure step 13: a closing becomes a survey invitation once its delay has passed.

use atiende_domain::survey::SurveyPolicy;
use atiende_store::Store;
use atiende_store::outbox::{Job, JobKind, Outcome};
use atiende_store::settings;
use atiende_store::surveys::SurveyStep;

use crate::worker::WorkerConfig;

/// Turns due closings into survey invitations. Returns how many were handled.
pub async fn send_surveys(store: &Store, config: &WorkerConfig) -> usize {
    let items = match store.claim_outbox(JobKind::SurveyDue, 20, 120).await {
        Ok(items) => items,
        Err(e) => {
            tracing::warn!(error = %e, "worker: cannot claim survey jobs");
            return 0;
        }
    };
    if items.is_empty() {
        return 0;
    }
    let policy: SurveyPolicy = match store.setting(settings::key::SURVEY_POLICY).await {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(error = %e, "worker: cannot read the survey policy");
            SurveyPolicy::default()
        }
    };
    let template = config.meta.template(&policy.whatsapp_template);
    let mut handled = 0;
    for item in items {
        let outcome = match (item.job(), item.incident_id) {
            (Ok(Job::SurveyDue(due)), Some(incident)) => {
                match store
                    .process_survey_due(incident, &policy, &config.base_url, template)
                    .await
                {
                    Ok(SurveyStep::NotYet(until)) => Outcome::Later(until),
                    Ok(step) => {
                        handled += 1;
                        tracing::info!(incident.folio = %due.folio, ?step, "survey job");
                        Outcome::Done
                    }
                    Err(e) => Outcome::Retry(e.to_string()),
                }
            }
            (Ok(Job::SurveyDue(_)), None) => Outcome::Done,
            (Ok(other), _) => Outcome::Fail(format!("not a survey: {:?}", other.kind())),
            (Err(e), _) => Outcome::Fail(format!("payload: {e}")),
        };
        if let Err(e) = store.finish_outbox(&item, outcome).await {
            tracing::warn!(error = %e, outbox.id = item.id, "worker: cannot record the result");
        }
    }
    handled
}
