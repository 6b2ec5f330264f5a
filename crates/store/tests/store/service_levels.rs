//! Service-level clocks in storage, on both engines: computed for every new incident (through
//! the intake's groups and through a channel's own transaction), kept in step as the incident
//! waits on the person or on a unit, filtered by in the queue, and recomputed for the incidents
//! not closed when the calendar changes.

use atiende_domain::access::Scope;
use atiende_domain::business_hours::{BusinessCalendar, DayOff};
use atiende_domain::chat::{ChatContent, InboundChat, Provider};
use atiende_domain::classification::{Channel, Medium};
use atiende_domain::derivation::{DeriveInput, UnitAnswer};
use atiende_domain::ids::IncidentId;
use atiende_domain::incident::NewIncidentInput;
use atiende_domain::service_level::{ClockState, Measure};
use atiende_domain::user::{Role, StaffUser, UserInput};
use atiende_store::incidents::IncidentFilter;
use atiende_store::testing::TestDb;
use atiende_store::{Actor, Store};
use chrono::{DateTime, Datelike, Duration, TimeZone, Utc};

atiende_store::on_both_engines!(
    a_new_incident_has_its_clocks_in_business_hours_on_either_path,
    waiting_on_the_person_or_a_unit_stops_the_resolution_clock_until_it_moves,
    the_queue_keeps_the_overdue_and_a_new_holiday_moves_every_open_clock,
    each_threshold_is_told_once_and_a_breach_is_written_on_the_timeline,
    a_history_written_in_bulk_counts_the_thresholds_it_passed_as_told,
    the_indicator_counts_closed_incidents_resolved_within_their_target,
    the_queue_in_due_order_pages_from_the_earliest_due_to_those_with_no_clock,
    a_unit_late_with_its_answer_is_told_with_the_assignee,
);

const MX: chrono_tz::Tz = chrono_tz::America::Mexico_City;

async fn agent(db: &TestDb) -> StaffUser {
    db.first_run(Some("contraseña-segura-1"))
        .await
        .expect("first run");
    let input = UserInput {
        login: Some("agente1".into()),
        role: Some(Role::CapLead),
        password: Some("contraseña-segura-2".into()),
        ..Default::default()
    };
    db.create_user(Actor::System, &input)
        .await
        .expect("agent")
        .user
}

/// 10:00 local on the Monday of the week before last: inside the 31 days a reception may go
/// back, and long enough ago that every target of a new incident is overdue by now.
fn monday_before_last() -> DateTime<Utc> {
    let today = Utc::now().with_timezone(&MX).date_naive();
    let monday = today - Duration::days(i64::from(today.weekday().num_days_from_monday()) + 14);
    MX.from_local_datetime(&monday.and_hms_opt(10, 0, 0).expect("time"))
        .earliest()
        .expect("local")
        .with_timezone(&Utc)
}

fn on_day(monday: DateTime<Utc>, days: i64, h: u32, m: u32) -> DateTime<Utc> {
    let day = monday.with_timezone(&MX).date_naive() + Duration::days(days);
    MX.from_local_datetime(&day.and_hms_opt(h, m, 0).expect("time"))
        .earliest()
        .expect("local")
        .with_timezone(&Utc)
}

async fn whatsapp_incident(db: &Store, by: &StaffUser, received: DateTime<Utc>) -> IncidentId {
    let person = db
        .create_contact(
            Actor::Staff(by),
            &atiende_domain::contact::ContactInput {
                name: Some("Mariana Ruiz".into()),
                ..Default::default()
            },
        )
        .await
        .expect("contact");
    db.create_incident(
        Actor::Staff(by),
        NewIncidentInput {
            channel: Channel::Whatsapp,
            contact_id: Some(person.id),
            subject: "Constancia".into(),
            body: String::new(),
            user_type: None,
            incident_type: None,
            topic_id: None,
            critical: false,
            assigned_to: None,
            received_at: Some(received),
        },
    )
    .await
    .expect("incident")
    .id
}

async fn clock(db: &Store, id: IncidentId, m: Measure) -> atiende_domain::service_level::Clock {
    *db.incident_clocks(id)
        .await
        .expect("clocks")
        .iter()
        .find(|c| c.measure == m)
        .expect("a clock of that measure")
}

async fn a_new_incident_has_its_clocks_in_business_hours_on_either_path(db: TestDb) {
    let user = agent(&db).await;
    let monday = monday_before_last();
    // Through the intake's groups: WhatsApp answers within 2 working hours, resolves in 3
    // working days (27 h from Monday 10:00: Thursday 10:00).
    let id = whatsapp_incident(&db, &user, monday).await;
    let first = clock(&db, id, Measure::FirstResponse).await;
    assert_eq!(first.due_at, Some(on_day(monday, 0, 12, 0)));
    assert_eq!(first.warn_at, Some(on_day(monday, 0, 11, 30)));
    assert_eq!(first.state(Utc::now()), ClockState::Breached);
    let resolution = clock(&db, id, Measure::Resolution).await;
    assert_eq!(resolution.due_at, Some(on_day(monday, 3, 10, 0)));

    // Through a channel's own transaction: a WhatsApp message now.
    let msg = InboundChat {
        provider: Provider::Whatsapp,
        account_id: "106540352242922".into(),
        peer_id: "5213312345678".into(),
        peer_name: None,
        external_id: "wamid.sl1".into(),
        sent_at: Utc::now(),
        contents: vec![ChatContent::Text {
            body: "Hola".into(),
        }],
    };
    let atiende_store::chat::ChatIngest::Created(chat) =
        db.ingest_chat(&msg).await.expect("ingest")
    else {
        panic!("a new incident");
    };
    let first = clock(&db, chat, Measure::FirstResponse).await;
    let expected = BusinessCalendar::default().add(msg.sent_at, 120, MX);
    let to_ms = |t: Option<DateTime<Utc>>| t.map(|t| t.timestamp_millis());
    assert_eq!(to_ms(first.due_at), to_ms(expected));

    // Answering meets the first response; the resolution clock keeps running.
    db.add_entry(
        Actor::Staff(&user),
        chat,
        atiende_domain::incident::EntryKind::OutboundMessage,
        "Con gusto",
    )
    .await
    .expect("answer");
    let first = clock(&db, chat, Measure::FirstResponse).await;
    assert_eq!(first.state(Utc::now()), ClockState::Met);
}

fn message(id: &str, text: &str) -> InboundChat {
    InboundChat {
        provider: Provider::Whatsapp,
        account_id: "106540352242922".into(),
        peer_id: "5213399998888".into(),
        peer_name: None,
        external_id: id.into(),
        sent_at: Utc::now(),
        contents: vec![ChatContent::Text { body: text.into() }],
    }
}

async fn waiting_on_the_person_or_a_unit_stops_the_resolution_clock_until_it_moves(db: TestDb) {
    let user = agent(&db).await;
    let atiende_store::chat::ChatIngest::Created(id) = db
        .ingest_chat(&message("wamid.w1", "¿Me ayudan con mi pago?"))
        .await
        .expect("ingest")
    else {
        panic!("a new incident");
    };
    assert!(clock(&db, id, Measure::Resolution).await.due_at.is_some());

    db.wait_on_person(Actor::Staff(&user), id, "Se pidió el comprobante de pago")
        .await
        .expect("wait");
    let paused = clock(&db, id, Measure::Resolution).await;
    assert_eq!(paused.due_at, None);
    assert_eq!(paused.state(Utc::now()), ClockState::Paused);
    assert!(
        paused
            .paused_minutes_left
            .is_some_and(|m| m > 0 && m <= 27 * 60)
    );

    // The person writes: the clock runs again with what it had left.
    db.ingest_chat(&message("wamid.w2", "Aquí está el comprobante"))
        .await
        .expect("the person answers");
    let running = clock(&db, id, Measure::Resolution).await;
    assert!(running.due_at.is_some_and(|d| d > Utc::now()));

    // Derived to a unit: the unit's time is not the CAP's, until it answers.
    let derive = DeriveInput {
        unit_id: db
            .units()
            .await
            .expect("units")
            .into_iter()
            .find(|u| u.active && !u.email.is_empty())
            .expect("unit")
            .id,
        medium: Medium::Email,
        reason: "Revisión".into(),
        user_told: None,
        told_address: None,
        close: false,
        notes: None,
    };
    let (_, derivation) = db
        .derive_incident(Actor::Staff(&user), id, &derive)
        .await
        .expect("derive");
    assert_eq!(clock(&db, id, Measure::Resolution).await.due_at, None);
    // The unit's own clock runs from the derivation, in its time (two working days).
    let unit_clock = clock(&db, id, Measure::UnitAnswer).await;
    assert_eq!(unit_clock.unit_id, Some(derive.unit_id));
    assert_eq!(unit_clock.target_minutes, 2 * 9 * 60);
    assert_eq!(unit_clock.state(Utc::now()), ClockState::Running);
    assert!(
        db.wait_on_person(Actor::Staff(&user), id, "")
            .await
            .is_err(),
        "waiting on a unit already stops the clock"
    );
    db.answer_derivation(
        Actor::Staff(&user),
        id,
        derivation.id,
        &UnitAnswer::returning("Listo"),
    )
    .await
    .expect("unit answers");
    let resumed = clock(&db, id, Measure::Resolution).await;
    assert!(
        resumed.due_at.is_some_and(|d| d > Utc::now()),
        "it had time left"
    );
    let answered = clock(&db, id, Measure::UnitAnswer).await;
    assert_eq!(answered.state(Utc::now()), ClockState::Met);
}

async fn a_unit_late_with_its_answer_is_told_with_the_assignee(db: TestDb) {
    let user = agent(&db).await;
    let unit = db
        .units()
        .await
        .expect("units")
        .into_iter()
        .find(|u| u.active && !u.email.is_empty())
        .expect("unit");
    let responsible = db
        .create_user(
            Actor::System,
            &UserInput {
                login: Some("coordinacion".into()),
                role: Some(Role::UnitResponsible),
                unit_ids: Some(vec![unit.id]),
                password: Some("contraseña-segura-3".into()),
                ..Default::default()
            },
        )
        .await
        .expect("responsible")
        .user;
    let id = whatsapp_incident(&db, &user, Utc::now()).await;
    db.assign_incident(Actor::Staff(&user), id, Some(user.id))
        .await
        .expect("assign");
    db.derive_incident(
        Actor::Staff(&user),
        id,
        &DeriveInput {
            unit_id: unit.id,
            medium: Medium::Email,
            reason: "Revisión".into(),
            user_told: None,
            told_address: None,
            close: false,
            notes: None,
        },
    )
    .await
    .expect("derive");
    let told = db
        .tell_service_levels(Utc::now() + Duration::days(30), 100)
        .await
        .expect("told");
    let unit_breach = told
        .iter()
        .filter(|t| t.measure == Measure::UnitAnswer && t.threshold == "breach")
        .count();
    assert_eq!(unit_breach, 1);
    let kinds = |u| {
        let db = db.clone();
        async move {
            db.notifications(u, None, 50)
                .await
                .expect("notifications")
                .into_iter()
                .map(|n| n.kind)
                .collect::<Vec<_>>()
        }
    };
    use atiende_domain::notification::NotificationKind as K;
    let to_unit = kinds(responsible.id).await;
    assert!(to_unit.contains(&K::ServiceLevelBreach), "{to_unit:?}");
    assert!(to_unit.contains(&K::ServiceLevelWarning), "{to_unit:?}");
    assert!(kinds(user.id).await.contains(&K::ServiceLevelBreach));
    // Told once: another round finds nothing new for the unit.
    let again = db
        .tell_service_levels(Utc::now() + Duration::days(30), 100)
        .await
        .expect("told");
    assert!(again.iter().all(|t| t.measure != Measure::UnitAnswer));
}

async fn the_queue_keeps_the_overdue_and_a_new_holiday_moves_every_open_clock(db: TestDb) {
    let user = agent(&db).await;
    let monday = monday_before_last();
    let late = whatsapp_incident(&db, &user, monday).await;
    let fresh = whatsapp_incident(&db, &user, Utc::now()).await;
    let folios = |f: IncidentFilter| {
        let db = db.clone();
        async move {
            db.incidents(&Scope::All, &f)
                .await
                .expect("queue")
                .into_iter()
                .map(|s| s.incident.id)
                .collect::<Vec<_>>()
        }
    };
    let breached = folios(IncidentFilter {
        clock: Some(ClockState::Breached),
        limit: 50,
        ..Default::default()
    })
    .await;
    assert_eq!(breached, [late]);
    let listed = db
        .incidents(
            &Scope::All,
            &IncidentFilter {
                limit: 50,
                ..Default::default()
            },
        )
        .await
        .expect("queue");
    assert!(
        listed.iter().all(|s| !s.clocks.is_empty()),
        "every row has its clocks"
    );
    assert!(!breached.contains(&fresh));

    // The Monday it arrived becomes a day off: its clocks start on Tuesday.
    let day = monday.with_timezone(&MX).date_naive();
    let mut calendar = BusinessCalendar::default();
    calendar.days_off.push(DayOff {
        from: day,
        to: day,
        name: "Asueto".into(),
    });
    db.save_business_calendar(Actor::Staff(&user), &calendar)
        .await
        .expect("calendar");
    let first = clock(&db, late, Measure::FirstResponse).await;
    assert_eq!(first.due_at, Some(on_day(monday, 1, 11, 0)));
    assert_eq!(db.business_calendar().await.expect("calendar"), calendar);
}

async fn each_threshold_is_told_once_and_a_breach_is_written_on_the_timeline(db: TestDb) {
    let user = agent(&db).await;
    let id = whatsapp_incident(&db, &user, monday_before_last()).await;
    let now = Utc::now();
    // Two instances at once: every threshold is told by one of them.
    let (a, b) = tokio::join!(
        db.tell_service_levels(now, 100),
        db.tell_service_levels(now, 100)
    );
    let mut told: Vec<_> = a
        .expect("tell")
        .into_iter()
        .chain(b.expect("tell"))
        .map(|t| (t.measure, t.threshold))
        .collect();
    told.sort_by_key(|(m, t)| (m.code(), *t));
    assert_eq!(
        told,
        [
            (Measure::FirstResponse, "breach"),
            (Measure::FirstResponse, "warning"),
            (Measure::Resolution, "breach"),
            (Measure::Resolution, "warning"),
        ]
    );
    assert!(
        db.tell_service_levels(now, 100)
            .await
            .expect("again")
            .is_empty()
    );
    let breaches = db
        .timeline(id)
        .await
        .expect("timeline")
        .into_iter()
        .filter(|e| e.kind == atiende_domain::incident::EntryKind::ServiceLevel)
        .count();
    assert_eq!(breaches, 2, "each breach on the timeline, once");

    // Where the quality owner enabled it, a breached resolution is a nonconformity, once.
    let criteria = atiende_domain::nonconformity::Criteria {
        complaint_business_days: None,
        low_survey_score: None,
        closed_incomplete: false,
        derivation_days: None,
        reopened_days: None,
        service_level_breached: true,
    };
    assert_eq!(
        db.detect_nonconformities(&criteria).await.expect("detect"),
        1
    );
    assert_eq!(
        db.detect_nonconformities(&criteria).await.expect("detect"),
        0
    );
}

async fn a_history_written_in_bulk_counts_the_thresholds_it_passed_as_told(db: TestDb) {
    let user = agent(&db).await;
    let old = whatsapp_incident(&db, &user, monday_before_last()).await;
    let recent = whatsapp_incident(&db, &user, Utc::now()).await;
    let now = Utc::now();
    db.record_thresholds_told(now).await.expect("recorded");
    assert!(
        db.tell_service_levels(now, 100)
            .await
            .expect("tell")
            .is_empty(),
        "what the history passed is not told again"
    );
    let written = db.timeline(old).await.expect("timeline");
    assert!(
        !written
            .iter()
            .any(|e| e.kind == atiende_domain::incident::EntryKind::ServiceLevel),
        "recorded, not told: nothing written on the timeline"
    );
    // The thresholds still ahead are told when they come.
    let later: Vec<IncidentId> = db
        .tell_service_levels(now + Duration::days(30), 100)
        .await
        .expect("later")
        .into_iter()
        .map(|t| t.incident_id)
        .collect();
    assert_eq!(later, [recent; 4]);
}

async fn the_indicator_counts_closed_incidents_resolved_within_their_target(db: TestDb) {
    use atiende_domain::indicators::IndicatorKind;
    let user = agent(&db).await;
    let close = |id: IncidentId| {
        let db = db.clone();
        let user = user.clone();
        async move {
            db.classify_incident(
                Actor::Staff(&user),
                id,
                &atiende_domain::incident::ClassifyInput {
                    incident_type: Some(atiende_domain::classification::IncidentType::Question),
                    user_type: Some(atiende_domain::classification::UserType::Student),
                    ..Default::default()
                },
            )
            .await
            .expect("classify");
            db.close_incident(Actor::Staff(&user), id, Some("Se resolvió."))
                .await
                .expect("close");
        }
    };
    // Received two weeks ago and closed now: late. Received now and closed now: in time.
    // One left open: not measured yet.
    let late = whatsapp_incident(&db, &user, monday_before_last()).await;
    let on_time = whatsapp_incident(&db, &user, Utc::now()).await;
    whatsapp_incident(&db, &user, Utc::now()).await;
    close(late).await;
    close(on_time).await;
    let totals = db
        .period_rollup(0, 999_999, false)
        .await
        .expect("rollup")
        .totals;
    assert_eq!(
        (totals.resolution_measured, totals.resolution_in_time),
        (2, 1)
    );
    assert_eq!(
        IndicatorKind::WithinServiceLevel.value(&totals, &[], &[]),
        Some(50.0)
    );
    // A recount from the rows finds the same.
    db.rebuild_indicators(true).await.expect("rebuild");
    let again = db
        .period_rollup(0, 999_999, false)
        .await
        .expect("rollup")
        .totals;
    assert_eq!(
        (again.resolution_measured, again.resolution_in_time),
        (2, 1)
    );
}

async fn the_queue_in_due_order_pages_from_the_earliest_due_to_those_with_no_clock(db: TestDb) {
    let user = agent(&db).await;
    let monday = monday_before_last();
    // Received in this order, due in the opposite one for the two oldest.
    let tuesday = whatsapp_incident(&db, &user, on_day(monday, 1, 10, 0)).await;
    let monday_one = whatsapp_incident(&db, &user, monday).await;
    let fresh = whatsapp_incident(&db, &user, Utc::now()).await;
    let caller = db
        .create_contact(
            Actor::Staff(&user),
            &atiende_domain::contact::ContactInput {
                name: Some("Luis Peña".into()),
                ..Default::default()
            },
        )
        .await
        .expect("contact");
    let closed = db.closed_phone_incident(&user, Some(caller.id)).await;
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = db
            .incidents(
                &Scope::All,
                &IncidentFilter {
                    due_first: true,
                    after_due: after,
                    limit: 2,
                    ..Default::default()
                },
            )
            .await
            .expect("queue");
        let Some(last) = page.last() else { break };
        after = Some(atiende_store::incidents::DueCursor::after(last));
        let done = page.len() < 2;
        seen.extend(page.iter().map(|s| s.incident.id));
        if done {
            break;
        }
    }
    assert_eq!(seen, [monday_one, tuesday, fresh, closed]);
    // The cursor travels in a link and back.
    let cursor = atiende_store::incidents::DueCursor::Running { due_at: 17, id: 4 };
    assert_eq!(
        atiende_store::incidents::DueCursor::decode(&cursor.encode()),
        Some(cursor)
    );
    assert_eq!(atiende_store::incidents::DueCursor::decode("x1"), None);
}
