//! The worker's survey job: it waits for the delay after closing, then queues the invitation,
//! and several workers never invite twice.

use std::time::Duration;

use atiende_channels::chat::MetaConfig;
use atiende_domain::contact::ContactInput;
use atiende_domain::survey::SurveyPolicy;
use atiende_jobs::surveys::send_surveys;
use atiende_jobs::worker::WorkerConfig;
use atiende_store::testing::TestDb;
use atiende_store::{Actor, Engine};

fn config() -> WorkerConfig {
    WorkerConfig {
        base_url: "https://cap.example.mx".into(),
        interval: Duration::from_secs(1),
        owner: "test".into(),
        meta: MetaConfig::default(),
        webhooks_allow_private: true,
        external_service_alert_after: chrono::Duration::minutes(15),
    }
}

async fn closed_incident(db: &TestDb) -> atiende_domain::ids::IncidentId {
    db.first_run(Some("contraseña-segura-1"))
        .await
        .expect("first run");
    let mailbox = atiende_store::testing::sending_mailbox();
    db.save_mailbox(Actor::System, &mailbox)
        .await
        .expect("mailbox");
    let admin = db.user_by_login("admin").await.expect("admin");
    let contact = db
        .create_contact(
            Actor::System,
            &ContactInput {
                name: Some("Luis Pérez".into()),
                emails: Some(vec!["luis@alumnos.udg.example".into()]),
                ..Default::default()
            },
        )
        .await
        .expect("contact");
    db.closed_phone_incident(&admin, Some(contact.id)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_invitation_waits_for_the_delay_after_closing() {
    let db = TestDb::new(Engine::Sqlite).await;
    let id = closed_incident(&db).await;
    assert_eq!(
        send_surveys(&db, &config()).await,
        0,
        "the default delay is an hour"
    );
    let job = db.outbox(Some(id), 10).await.expect("outbox");
    let due = job.iter().find(|o| o.kind == "survey_due").expect("job");
    assert_eq!(due.status, "pending");
    assert_eq!(due.attempts, 0, "waiting is not a failed attempt");
    assert!(due.run_after > chrono::Utc::now() + chrono::Duration::minutes(50));
    assert!(db.surveys(5).await.expect("surveys").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_workers_invite_once() {
    let db = TestDb::new(Engine::Postgres).await;
    let id = closed_incident(&db).await;
    let now = SurveyPolicy {
        delay_hours: 0,
        ..Default::default()
    };
    db.save_setting(Actor::System, "survey_policy", &now)
        .await
        .expect("policy");
    let mut workers = Vec::new();
    for _ in 0..4 {
        let store = db.store.clone();
        workers.push(tokio::spawn(async move {
            send_surveys(&store, &config()).await
        }));
    }
    let mut handled = 0;
    for w in workers {
        handled += w.await.expect("worker");
    }
    assert_eq!(handled, 1);
    let emails: Vec<_> = db
        .outbox(Some(id), 20)
        .await
        .expect("outbox")
        .into_iter()
        .filter(|o| o.kind == "email_send")
        .collect();
    assert_eq!(emails.len(), 1);
    assert!(
        emails[0].payload["text"]
            .as_str()
            .unwrap_or_default()
            .contains("https://cap.example.mx/encuesta/")
    );
    assert_eq!(db.surveys(5).await.expect("surveys").len(), 1);
}

/// Retention runs once a day whichever of several workers gets there first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_workers_apply_retention_once() {
    let db = TestDb::new(Engine::Postgres).await;
    let id = closed_incident(&db).await;
    // Closed forty days ago.
    db.execute("UPDATE incidents SET closed_at = closed_at - 3456000000")
        .await;
    let policy = atiende_domain::privacy::RetentionPolicy {
        closed_incident_days: Some(30),
        ..Default::default()
    };
    db.save_setting(Actor::System, "retention_policy", &policy)
        .await
        .expect("policy");
    let mut workers = Vec::new();
    for _ in 0..4 {
        let store = db.store.clone();
        workers.push(tokio::spawn(async move {
            atiende_jobs::periodic::apply_retention(&store, "test").await
        }));
    }
    let mut anonymised = 0;
    for w in workers {
        anonymised += w.await.expect("worker").incidents;
    }
    assert_eq!(anonymised, 1);
    assert_eq!(
        db.incident(id).await.expect("incident").subject,
        "[Suprimido]"
    );
    assert_eq!(
        atiende_jobs::periodic::apply_retention(&db.store, "test")
            .await
            .incidents,
        0,
        "claimed for today"
    );
}

/// The suggestions are retrained once a day whichever of several workers gets there first, and
/// again as soon as a suppression dropped the model.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_workers_retrain_the_suggestions_once_a_day() {
    let db = TestDb::new(Engine::Postgres).await;
    closed_incident(&db).await;
    let mut workers = Vec::new();
    for n in 0..4 {
        let store = db.store.clone();
        workers.push(tokio::spawn(async move {
            atiende_jobs::periodic::retrain_suggestions(&store, &format!("worker-{n}")).await
        }));
    }
    let mut trained = 0;
    for w in workers {
        trained += usize::from(w.await.expect("worker"));
    }
    assert_eq!(trained, 1);
    assert!(
        !atiende_jobs::periodic::retrain_suggestions(&db.store, "worker-0").await,
        "trained for today"
    );
    let now = chrono::Utc::now();
    let report = db.suggestion_report(now, now).await.expect("report");
    assert_eq!(report.model.map(|m| m.examples), Some(1));
}
