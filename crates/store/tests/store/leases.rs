//! Work one instance at a time must do is taken with a named lease: whoever holds it unexpired
//! keeps it, a released or expired lease goes to the next instance that asks. (The retention
//! run's daily lease is tested with retention, in `privacy.rs`.) Queued jobs are claimed for a
//! lease too, renewed job by job.

use atiende_store::testing::TestDb;
use chrono::{Duration, Utc};

atiende_store::on_both_engines!(
    a_lease_is_held_by_one_instance_until_it_is_released_or_expires,
    a_batch_that_outlasts_its_claim_runs_each_job_once_between_two_workers,
);

async fn a_lease_is_held_by_one_instance_until_it_is_released_or_expires(db: TestDb) {
    let now = Utc::now();
    let later = now + Duration::minutes(5);
    assert!(
        db.take_lease("mailbox:1", "a", now, later)
            .await
            .expect("lease")
    );
    assert!(
        !db.take_lease("mailbox:1", "b", now, later)
            .await
            .expect("lease")
    );
    assert!(
        !db.take_lease("mailbox:1", "a", now, later)
            .await
            .expect("lease"),
        "not even its holder takes a lease twice"
    );
    assert!(
        db.take_lease("mailbox:2", "b", now, later)
            .await
            .expect("lease"),
        "leases are by name"
    );

    db.release_lease("mailbox:1", "b").await.expect("release");
    assert!(
        !db.take_lease("mailbox:1", "b", now, later)
            .await
            .expect("lease"),
        "only the holder gives a lease back"
    );
    db.release_lease("mailbox:1", "a").await.expect("release");
    assert!(
        db.take_lease("mailbox:1", "b", now, later)
            .await
            .expect("lease")
    );

    assert!(
        db.take_lease("mailbox:1", "c", later, later + Duration::minutes(5))
            .await
            .expect("lease"),
        "an expired lease (its holder died) goes to whoever asks"
    );
}

/// A slow provider makes a worker's batch of claimed jobs outlast the claim's lease; a second
/// worker then claims what is left. Each job must still run once: the first worker renews its
/// claim before each job and leaves those the second has taken.
async fn a_batch_that_outlasts_its_claim_runs_each_job_once_between_two_workers(db: TestDb) {
    use atiende_domain::chat::Provider;
    use atiende_store::outbox::{Job, JobKind, Outcome, ProfileJob};
    use std::sync::{Arc, Mutex};
    for n in 0..4 {
        db.enqueue(&Job::ChatProfile(ProfileJob {
            contact_id: n,
            provider: Provider::Whatsapp,
            account_id: "cuenta".into(),
            peer_id: format!("persona{n}"),
        }))
        .await;
    }
    let ran: Arc<Mutex<Vec<(&str, i64)>>> = Arc::default();
    let job_run = |worker: &'static str, pause: std::time::Duration| {
        let ran = ran.clone();
        move |_claim, job: Job| {
            let ran = ran.clone();
            async move {
                let Job::ChatProfile(p) = job else {
                    return Outcome::Fail("not a profile".into());
                };
                // The provider answers slowly.
                tokio::time::sleep(pause).await;
                ran.lock().expect("ran").push((worker, p.contact_id));
                Outcome::Done
            }
        }
    };
    // The first worker claims all four for two seconds, and each takes 1.2 s.
    let first = db.run_jobs(
        JobKind::ChatProfile,
        10,
        2,
        job_run("primero", std::time::Duration::from_millis(1200)),
    );
    // The second asks every 100 ms, and takes whatever lease has run out.
    let second = async {
        let mut taken = 0;
        for _ in 0..60 {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            taken += db
                .run_jobs(
                    JobKind::ChatProfile,
                    10,
                    60,
                    job_run("segundo", std::time::Duration::ZERO),
                )
                .await;
        }
        taken
    };
    let (by_first, by_second) = tokio::join!(first, second);
    let mut ran = ran.lock().expect("ran").clone();
    ran.sort_by_key(|(_, job)| *job);
    let jobs: Vec<i64> = ran.iter().map(|(_, job)| *job).collect();
    assert_eq!(jobs, [0, 1, 2, 3], "each job once: {ran:?}");
    assert_eq!(by_first + by_second, 4);
    assert!(by_second > 0, "the batch outlasted its claim: {ran:?}");
}
