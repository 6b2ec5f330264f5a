//! Indicator rollups on both engines: the values of a small fixed dataset equal the ones
//! counted by hand, and rollups kept in step with each change equal a rebuild from scratch.

use atiende_domain::classification::{Channel, IncidentType, Medium, UserType};
use atiende_domain::contact::ContactInput;
use atiende_domain::derivation::DeriveInput;
use atiende_domain::ids::{ContactId, IncidentId};
use atiende_domain::incident::{ClassifyInput, EntryKind, NewIncidentInput};
use atiende_domain::indicators::{Dimension, IndicatorKind};
use atiende_domain::period::month_key;
use atiende_domain::survey::SurveyPolicy;
use atiende_domain::unit::UnitKind;
use atiende_domain::user::{Role, StaffUser, UserInput};
use atiende_store::Actor;
use atiende_store::surveys::SurveyStep;
use atiende_store::testing::TestDb;
use chrono::{DateTime, Duration, Utc};

atiende_store::on_both_engines!(
    indicator_values_on_a_fixed_dataset_equal_the_ones_counted_by_hand,
    rollups_kept_in_step_equal_a_rebuild_from_scratch,
);

struct World {
    agent: StaffUser,
    contact: ContactId,
    months: (i64, i64),
}

async fn world(db: &TestDb) -> World {
    db.first_run(Some("contraseña-segura-1"))
        .await
        .expect("first run");
    db.save_mailbox(Actor::System, &atiende_store::testing::sending_mailbox())
        .await
        .expect("mailbox");
    let agent = db
        .create_user(
            Actor::System,
            &UserInput {
                login: Some("agente1".into()),
                role: Some(Role::Agent),
                password: Some("contraseña-segura-2".into()),
                ..Default::default()
            },
        )
        .await
        .expect("agent")
        .user;
    let contact = db
        .create_contact(
            Actor::System,
            &ContactInput {
                name: Some("Ana López".into()),
                emails: Some(vec!["ana@alumnos.udg.example".into()]),
                user_type: Some(UserType::Student),
                ..Default::default()
            },
        )
        .await
        .expect("contact")
        .id;
    World {
        agent,
        contact,
        months: (i64::MAX, i64::MIN),
    }
}

/// Received `minutes` ago (and a few seconds, so that whole minutes have passed when it is
/// answered or closed in the next instants).
fn ago(minutes: i64) -> DateTime<Utc> {
    Utc::now() - Duration::minutes(minutes) - Duration::seconds(5)
}

async fn incident(
    db: &TestDb,
    w: &mut World,
    channel: Channel,
    kind: IncidentType,
    minutes_ago: i64,
) -> IncidentId {
    let received = ago(minutes_ago);
    let m = month_key(received, db.time_zone());
    w.months = (w.months.0.min(m), w.months.1.max(m));
    let i = db
        .create_incident(
            Actor::Staff(&w.agent),
            NewIncidentInput {
                channel,
                contact_id: Some(w.contact),
                subject: "Asunto".into(),
                body: String::new(),
                user_type: None,
                incident_type: None,
                topic_id: None,
                critical: false,
                assigned_to: Some(w.agent.id),
                received_at: Some(received),
            },
        )
        .await
        .expect("incident");
    let classify = ClassifyInput {
        incident_type: Some(kind),
        user_type: Some(UserType::Student),
        ..Default::default()
    };
    db.classify_incident(Actor::Staff(&w.agent), i.id, &classify)
        .await
        .expect("classify");
    i.id
}

/// The dataset, and by hand:
/// - I1 phone question, 60 min, closed at first contact; survey answered with 5.
/// - I2 email complaint, 120 min, derived, still waiting on the unit; no response yet.
/// - I3 phone question, 30 min, closed then reopened within the window (open again).
/// - I4 in person complaint, 240 min, derived and closed in one step; survey sent, unanswered.
/// - I5 phone question, 10 min, open, untouched.
async fn dataset(db: &TestDb, w: &mut World) -> [IncidentId; 5] {
    let agent = w.agent.clone();
    let actor = Actor::Staff(&agent);
    let unit = db
        .units()
        .await
        .expect("units")
        .into_iter()
        .find(|u| u.kind == UnitKind::Coordination)
        .expect("unit");
    let i1 = incident(db, w, Channel::Phone, IncidentType::Question, 60).await;
    db.close_incident(actor, i1, Some("Se resolvió por teléfono."))
        .await
        .expect("close i1");
    let i2 = incident(db, w, Channel::Email, IncidentType::Complaint, 120).await;
    let derive = |close| DeriveInput {
        unit_id: unit.id,
        medium: Medium::Email,
        reason: "Lo atiende la coordinación".into(),
        user_told: None,
        told_address: None,
        close,
        notes: close.then(|| "Se derivó y se informó al usuario.".to_string()),
    };
    db.derive_incident(actor, i2, &derive(false))
        .await
        .expect("derive i2");
    let i3 = incident(db, w, Channel::Phone, IncidentType::Question, 30).await;
    db.close_incident(actor, i3, Some("Se explicó."))
        .await
        .expect("close i3");
    db.reopen_incident(actor, i3, "La usuaria volvió a llamar")
        .await
        .expect("reopen i3");
    let i4 = incident(db, w, Channel::InPerson, IncidentType::Complaint, 240).await;
    db.derive_incident(actor, i4, &derive(true))
        .await
        .expect("derive and close i4");
    let i5 = incident(db, w, Channel::Phone, IncidentType::Question, 10).await;
    let now = SurveyPolicy {
        delay_hours: 0,
        min_days_between: 0,
        ..Default::default()
    };
    for id in [i1, i4] {
        let step = db
            .process_survey_due(id, &now, "https://cap.example.mx", None)
            .await
            .expect("survey");
        assert_eq!(step, SurveyStep::Sent("email"));
    }
    let link = db.sent_link(Some(i1), "encuesta").await;
    let token = link.rsplit('/').next().expect("token");
    let answers = [
        ("overall", "5"),
        ("resolved", "yes"),
        ("clarity", "5"),
        ("speed", "5"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    db.answer_survey(token, &answers, &now)
        .await
        .expect("answer");
    [i1, i2, i3, i4, i5]
}

async fn indicator_values_on_a_fixed_dataset_equal_the_ones_counted_by_hand(db: TestDb) {
    let mut w = world(&db).await;
    dataset(&db, &mut w).await;
    let r = db
        .period_rollup(w.months.0, w.months.1, true)
        .await
        .expect("rollup");
    let c = r.totals;
    assert_eq!(
        (c.incidents, c.closed, c.fcr, c.derived, c.complaints),
        (5, 2, 1, 2, 2)
    );
    assert_eq!((c.surveys_sent, c.surveys_answered, c.satisfied), (2, 1, 1));
    let value = |k: IndicatorKind| k.value(&r.totals, &r.first_response, &r.close);
    assert_eq!(value(IndicatorKind::Incidents), Some(5.0));
    assert_eq!(value(IndicatorKind::FirstContactResolution), Some(50.0));
    assert_eq!(value(IndicatorKind::DerivationRate), Some(40.0));
    assert_eq!(value(IndicatorKind::Complaints), Some(2.0));
    assert_eq!(value(IndicatorKind::SurveyResponseRate), Some(50.0));
    assert_eq!(value(IndicatorKind::SatisfactionIndex), Some(100.0));
    // First responses (intervention notes): I3 at 30, I1 at 60, I4 at 240 minutes.
    assert_eq!(r.first_response, vec![(30, 1), (60, 1), (240, 1)]);
    assert_eq!(value(IndicatorKind::FirstResponseMedian), Some(1.0));
    assert_eq!(value(IndicatorKind::FirstResponseP90), Some(4.0));
    // Closed now: I1 at 60 and I4 at 240 minutes; I3 was reopened.
    assert_eq!(r.close, vec![(60, 1), (240, 1)]);
    // Two closings: the median is the mean of both (2.5 h), as a spreadsheet's MEDIAN says.
    assert_eq!(value(IndicatorKind::CloseMedian), Some(2.5));
    assert_eq!(value(IndicatorKind::CloseP90), Some(4.0));
    let channels: Vec<(String, i64)> = r
        .breakdown(Dimension::Channel)
        .iter()
        .map(|(v, c)| (v.clone(), c.incidents))
        .collect();
    assert_eq!(
        channels,
        [
            ("email".to_string(), 1),
            ("in_person".to_string(), 1),
            ("phone".to_string(), 3)
        ]
    );
    let types: Vec<(String, i64)> = r
        .breakdown(Dimension::IncidentType)
        .iter()
        .map(|(v, c)| (v.clone(), c.incidents))
        .collect();
    assert_eq!(
        types,
        [("complaint".to_string(), 2), ("question".to_string(), 3)]
    );
    // Derived to the coordination: I2 and I4; the rest count under "no unit".
    let units: Vec<i64> = r
        .breakdown(Dimension::Unit)
        .iter()
        .map(|(_, c)| c.incidents)
        .collect();
    assert_eq!(units, [3, 2]);
    // A month without incidents has nothing, and says so.
    let empty = db.period_rollup(190001, 190012, true).await.expect("empty");
    assert_eq!(empty.totals.incidents, 0);
    assert_eq!(
        IndicatorKind::SatisfactionIndex.value(&empty.totals, &[], &[]),
        None
    );
}

async fn rollups_kept_in_step_equal_a_rebuild_from_scratch(db: TestDb) {
    let mut w = world(&db).await;
    let [_, i2, i3, _, i5] = dataset(&db, &mut w).await;
    // More changes after the first counts: reclassify, answer, close, reassign.
    let actor = Actor::Staff(&w.agent);
    let reclass = ClassifyInput {
        channel: Some(Channel::Whatsapp),
        incident_type: Some(IncidentType::Suggestion),
        ..Default::default()
    };
    db.classify_incident(actor, i5, &reclass)
        .await
        .expect("reclassify");
    db.add_entry(
        actor,
        i3,
        EntryKind::OutboundMessage,
        "Le confirmo la fecha",
    )
    .await
    .expect("answer");
    db.close_incident(actor, i3, Some("Se confirmó la fecha."))
        .await
        .expect("close again");
    db.assign_incident(actor, i2, None).await.expect("unassign");
    let before = db
        .period_rollup(w.months.0, w.months.1, true)
        .await
        .expect("rollup");
    assert_eq!(before.breakdown(Dimension::Channel).len(), 4);
    let rebuilt = db.rebuild_indicators(true).await.expect("rebuild");
    assert_eq!(rebuilt, 5);
    let after = db
        .period_rollup(w.months.0, w.months.1, true)
        .await
        .expect("rollup");
    assert_eq!(before.totals, after.totals);
    assert_eq!(before.breakdowns, after.breakdowns);
    assert_eq!(before.first_response, after.first_response);
    assert_eq!(before.close, after.close);
    assert_eq!(
        db.rebuild_indicators(false).await.expect("nothing missing"),
        0
    );
}
