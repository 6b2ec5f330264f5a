//! Work one instance at a time must do is taken with a named lease: whoever holds it unexpired
//! keeps it, a released or expired lease goes to the next instance that asks. (The retention
//! run's daily lease is tested with retention, in `privacy.rs`.)

use atiende_store::testing::TestDb;
use chrono::{Duration, Utc};

atiende_store::on_both_engines!(a_lease_is_held_by_one_instance_until_it_is_released_or_expires);

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
