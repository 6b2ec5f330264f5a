//! Notifications in storage, on both engines: each person is told as they chose (in the
//! console, by email at once, in a daily digest, or not at all), each email is queued once
//! however many rounds look, a nonconformity's responsible and an article's owners are told,
//! and nobody is told what they may not see.

use atiende_domain::classification::Channel;
use atiende_domain::ids::{IncidentId, UnitId};
use atiende_domain::incident::NewIncidentInput;
use atiende_domain::knowledge::ArticleInput;
use atiende_domain::nonconformity::NonconformityInput;
use atiende_domain::notification::{EmailDelivery, NotificationKind, Preference};
use atiende_domain::unit::{UnitInput, UnitKind};
use atiende_domain::user::{Role, StaffUser, UserInput};
use atiende_store::notifications::NotificationChoice;
use atiende_store::testing::TestDb;
use atiende_store::{Actor, Store};
use chrono::{DateTime, Duration, TimeZone, Utc};

atiende_store::on_both_engines!(
    each_person_is_told_as_they_chose_and_each_email_is_queued_once,
    the_digest_leaves_once_a_day_after_its_hour,
    a_nonconformity_given_to_someone_tells_them_if_they_may_read_the_register,
    an_article_past_its_review_date_is_told_to_its_unit_once_per_date,
);

const PASSWORD: &str = "contraseña-segura-1";

async fn person(db: &TestDb, login: &str, role: Role, units: Vec<UnitId>) -> StaffUser {
    let input = UserInput {
        login: Some(login.into()),
        name: Some(format!("Persona {login}")),
        email: Some(format!("{login}@udgvirtual.example")),
        role: Some(role),
        unit_ids: Some(units),
        password: Some("contraseña-segura-2".into()),
        ..Default::default()
    };
    db.create_user(Actor::System, &input)
        .await
        .expect("user")
        .user
}

/// A lead and an agent, and a mailbox to send from.
async fn cap(db: &TestDb) -> (StaffUser, StaffUser) {
    db.first_run(Some(PASSWORD)).await.expect("first run");
    let lead = person(db, "lider", Role::CapLead, vec![]).await;
    let agent = person(db, "agente", Role::Agent, vec![]).await;
    db.save_mailbox(
        Actor::Staff(&lead),
        &atiende_store::testing::sending_mailbox(),
    )
    .await
    .expect("mailbox");
    (lead, agent)
}

async fn phone_incident(db: &Store, by: &StaffUser, subject: &str) -> (IncidentId, String) {
    let caller = db
        .create_contact(
            Actor::Staff(by),
            &atiende_domain::contact::ContactInput {
                name: Some(format!("Quien llamó por {subject}")),
                ..Default::default()
            },
        )
        .await
        .expect("contact");
    let i = db
        .create_incident(
            Actor::Staff(by),
            NewIncidentInput {
                channel: Channel::Phone,
                contact_id: Some(caller.id),
                subject: subject.into(),
                body: String::new(),
                user_type: None,
                incident_type: None,
                topic_id: None,
                critical: false,
                assigned_to: None,
                received_at: None,
            },
        )
        .await
        .expect("incident");
    (i.id, i.folio.to_string())
}

async fn choose(
    db: &Store,
    user: &StaffUser,
    kind: NotificationKind,
    in_console: bool,
    email: EmailDelivery,
) {
    db.save_notification_preferences(
        user.id,
        &[NotificationChoice {
            kind,
            preference: Preference { in_console, email },
        }],
    )
    .await
    .expect("preferences");
}

/// The notification emails waiting in the outbox, as (to, subject, text).
async fn emails(db: &Store) -> Vec<(String, String, String)> {
    db.outbox(None, 200)
        .await
        .expect("outbox")
        .into_iter()
        .filter(|o| {
            o.kind == "email_send"
                && o.payload["message_id"]
                    .as_str()
                    .is_some_and(|m| m.contains(".avisos@"))
        })
        .map(|o| {
            let field = |k: &str| o.payload[k].as_str().unwrap_or_default().to_string();
            (field("to"), field("subject"), field("text"))
        })
        .collect()
}

/// An instant at this local hour, `days` from today, in the institution's time zone.
fn local(db: &Store, days: i64, hour: u32) -> DateTime<Utc> {
    let day = Utc::now().with_timezone(&db.time_zone()).date_naive() + Duration::days(days);
    db.time_zone()
        .from_local_datetime(&day.and_hms_opt(hour, 0, 0).expect("time"))
        .earliest()
        .expect("local")
        .with_timezone(&Utc)
}

async fn each_person_is_told_as_they_chose_and_each_email_is_queued_once(db: TestDb) {
    let (lead, agent) = cap(&db).await;
    let prefs = db.notification_preferences(agent.id).await.expect("prefs");
    assert_eq!(prefs.len(), NotificationKind::ALL.len());
    let assigned = prefs
        .iter()
        .find(|c| c.kind == NotificationKind::Assigned)
        .expect("assigned");
    assert_eq!(
        assigned.preference,
        NotificationKind::Assigned.default_preference()
    );

    // By default: in the console, and by email at once.
    let (first, folio) = phone_incident(&db, &lead, "Constancia de estudios").await;
    db.assign_incident(Actor::Staff(&lead), first, Some(agent.id))
        .await
        .expect("assign");
    assert_eq!(db.unread_notifications(agent.id).await.expect("unread"), 1);
    let url = "https://cap.example.mx";
    // Two instances' rounds at once: one of them queues it.
    let (a, b) = tokio::join!(
        db.queue_notification_emails(url, Utc::now()),
        db.queue_notification_emails(url, Utc::now())
    );
    assert_eq!(a.expect("round") + b.expect("round"), 1);
    assert_eq!(
        db.queue_notification_emails(url, Utc::now())
            .await
            .expect("round"),
        0,
        "queued once"
    );
    let sent = emails(&db).await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, "agente@udgvirtual.example");
    assert!(
        sent[0].1.contains("Se le asignó un incidente"),
        "{}",
        sent[0].1
    );
    assert!(
        sent[0].2.contains(&format!("{url}/incidentes/{folio}")),
        "{}",
        sent[0].2
    );

    // By email only: nothing in the console.
    choose(
        &db,
        &agent,
        NotificationKind::Assigned,
        false,
        EmailDelivery::Immediate,
    )
    .await;
    let (second, _) = phone_incident(&db, &lead, "Baja temporal").await;
    db.assign_incident(Actor::Staff(&lead), second, Some(agent.id))
        .await
        .expect("assign");
    assert_eq!(db.unread_notifications(agent.id).await.expect("unread"), 1);
    assert_eq!(
        db.notifications(agent.id, None, 50)
            .await
            .expect("list")
            .len(),
        1
    );
    assert_eq!(
        db.queue_notification_emails(url, Utc::now())
            .await
            .expect("round"),
        1
    );

    // Nowhere: nothing written at all.
    choose(
        &db,
        &agent,
        NotificationKind::Assigned,
        false,
        EmailDelivery::Off,
    )
    .await;
    let (third, _) = phone_incident(&db, &lead, "Cambio de correo").await;
    db.assign_incident(Actor::Staff(&lead), third, Some(agent.id))
        .await
        .expect("assign");
    assert_eq!(
        db.queue_notification_emails(url, Utc::now())
            .await
            .expect("round"),
        0
    );
    assert_eq!(emails(&db).await.len(), 2);

    // Old ones are forgotten: read ones after 90 days, any after a year.
    db.mark_notifications_read(agent.id, None)
        .await
        .expect("read");
    choose(
        &db,
        &agent,
        NotificationKind::Assigned,
        true,
        EmailDelivery::Off,
    )
    .await;
    let (fifth, _) = phone_incident(&db, &lead, "Beca").await;
    db.assign_incident(Actor::Staff(&lead), fifth, Some(agent.id))
        .await
        .expect("assign");
    assert_eq!(
        db.notifications(agent.id, None, 50)
            .await
            .expect("list")
            .len(),
        2,
        "the first (read) and the new one; the second was by email only"
    );
    let later = Utc::now() + Duration::days(100);
    assert_eq!(db.prune_notifications(later).await.expect("pruned"), 2);
    assert_eq!(
        db.notifications(agent.id, None, 50)
            .await
            .expect("list")
            .len(),
        1,
        "the unread one stays"
    );
    assert_eq!(
        db.prune_notifications(Utc::now() + Duration::days(400))
            .await
            .expect("pruned"),
        1
    );

    // Whoever assigns to themselves is not told.
    let (fourth, _) = phone_incident(&db, &lead, "Pago de inscripción").await;
    db.assign_incident(Actor::Staff(&lead), fourth, Some(lead.id))
        .await
        .expect("assign");
    assert_eq!(db.unread_notifications(lead.id).await.expect("unread"), 0);
}

async fn the_digest_leaves_once_a_day_after_its_hour(db: TestDb) {
    let (lead, agent) = cap(&db).await;
    choose(
        &db,
        &agent,
        NotificationKind::Assigned,
        true,
        EmailDelivery::Digest,
    )
    .await;
    let mut folios = Vec::new();
    for subject in ["Constancia", "Kardex"] {
        let (id, folio) = phone_incident(&db, &lead, subject).await;
        db.assign_incident(Actor::Staff(&lead), id, Some(agent.id))
            .await
            .expect("assign");
        folios.push(folio);
    }
    let url = "https://cap.example.mx";
    let hour = atiende_store::notification_emails::DIGEST_HOUR;
    // Before the digest's hour (the day after: the notifications were written today).
    assert_eq!(
        db.queue_notification_emails(url, local(&db, 1, hour - 1))
            .await
            .expect("round"),
        0
    );
    assert_eq!(
        db.queue_notification_emails(url, local(&db, 1, hour + 1))
            .await
            .expect("round"),
        1
    );
    assert_eq!(
        db.queue_notification_emails(url, local(&db, 1, hour + 2))
            .await
            .expect("round"),
        0
    );
    let sent = emails(&db).await;
    assert_eq!(sent.len(), 1);
    assert!(sent[0].1.contains("Resumen de avisos (2)"), "{}", sent[0].1);
    for folio in &folios {
        assert!(
            sent[0].2.contains(folio.as_str()),
            "{folio} in {}",
            sent[0].2
        );
    }

    // Another one that same day waits for the next day's digest.
    let (id, _) = phone_incident(&db, &lead, "Revalidación").await;
    db.assign_incident(Actor::Staff(&lead), id, Some(agent.id))
        .await
        .expect("assign");
    assert_eq!(
        db.queue_notification_emails(url, local(&db, 1, hour + 3))
            .await
            .expect("round"),
        0
    );
    assert_eq!(
        db.queue_notification_emails(url, local(&db, 2, hour))
            .await
            .expect("round"),
        1
    );
    assert_eq!(emails(&db).await.len(), 2);
}

async fn a_nonconformity_given_to_someone_tells_them_if_they_may_read_the_register(db: TestDb) {
    let (lead, agent) = cap(&db).await;
    let quality = person(&db, "calidad", Role::QualityOwner, vec![]).await;
    let input = NonconformityInput {
        description: "Respuesta tardía".into(),
        responsible_user: Some(quality.id),
        ..Default::default()
    };
    let nc = db
        .register_nonconformity(Actor::Staff(&lead), None, &input)
        .await
        .expect("registered");
    assert_eq!(nc.responsible_user, Some(quality.id));
    let told = db.notifications(quality.id, None, 50).await.expect("list");
    assert_eq!(told.len(), 1);
    assert_eq!(told[0].kind, NotificationKind::NonconformityAssigned);
    assert_eq!(told[0].nonconformity_id, Some(nc.id));
    // Saving it again without changing its responsible tells nobody again.
    db.update_nonconformity(Actor::Staff(&lead), nc.id, &input)
        .await
        .expect("updated");
    assert_eq!(
        db.notifications(quality.id, None, 50)
            .await
            .expect("list")
            .len(),
        1
    );
    // An agent may not read the register: it cannot be theirs.
    let to_agent = NonconformityInput {
        responsible_user: Some(agent.id),
        ..input.clone()
    };
    let err = db
        .update_nonconformity(Actor::Staff(&lead), nc.id, &to_agent)
        .await
        .expect_err("an agent may not answer for it");
    assert!(format!("{err:?}").contains("responsible_user"), "{err:?}");
    assert_eq!(db.unread_notifications(agent.id).await.expect("unread"), 0);
    // The lead, told by email at once by default.
    db.update_nonconformity(
        Actor::Staff(&quality),
        nc.id,
        &NonconformityInput {
            responsible_user: Some(lead.id),
            ..input
        },
    )
    .await
    .expect("to the lead");
    assert_eq!(
        db.queue_notification_emails("https://cap.example.mx", Utc::now())
            .await
            .expect("round"),
        2,
        "the quality owner's and the lead's"
    );
    let sent = emails(&db).await;
    assert!(sent.iter().any(|(to, ..)| to == "lider@udgvirtual.example"));
    assert!(
        sent[0].2.contains(&format!("/calidad/pnc/{}", nc.id)),
        "{}",
        sent[0].2
    );
}

async fn an_article_past_its_review_date_is_told_to_its_unit_once_per_date(db: TestDb) {
    let (lead, _agent) = cap(&db).await;
    let unit = db
        .create_unit(
            Actor::Staff(&lead),
            &UnitInput {
                name: Some("Control Escolar".into()),
                kind: Some(UnitKind::Coordination),
                email: Some("control@udgvirtual.example".into()),
                ..Default::default()
            },
        )
        .await
        .expect("unit");
    let responsible = person(&db, "control", Role::UnitResponsible, vec![unit.id]).await;
    let other_unit = db
        .create_unit(
            Actor::Staff(&lead),
            &UnitInput {
                name: Some("Promoción".into()),
                kind: Some(UnitKind::Promotion),
                ..Default::default()
            },
        )
        .await
        .expect("unit");
    let outsider = person(&db, "promo", Role::UnitResponsible, vec![other_unit.id]).await;
    let today = Utc::now().with_timezone(&db.time_zone()).date_naive();
    let mut input = ArticleInput {
        title: "Cómo pedir una constancia".into(),
        body: "En el portal.".into(),
        owner_unit_id: Some(unit.id),
        review_on: Some(today - Duration::days(1)),
        ..Default::default()
    };
    let article = db
        .create_article(Actor::Staff(&lead), &input)
        .await
        .expect("article");
    assert_eq!(
        db.tell_articles_due_for_review(today).await.expect("told"),
        1
    );
    assert_eq!(
        db.tell_articles_due_for_review(today).await.expect("told"),
        0,
        "once per date"
    );
    let told = db
        .notifications(responsible.id, None, 50)
        .await
        .expect("list");
    assert_eq!(told.len(), 1);
    assert_eq!(told[0].kind, NotificationKind::ArticleReviewDue);
    assert_eq!(
        told[0].article_title.as_deref(),
        Some("Cómo pedir una constancia")
    );
    assert_eq!(
        db.unread_notifications(outsider.id).await.expect("unread"),
        0
    );
    assert_eq!(db.unread_notifications(lead.id).await.expect("unread"), 0);

    // Reviewed, with a new date that passes in turn: told again.
    input.review_on = Some(today + Duration::days(30));
    db.update_article(Actor::Staff(&lead), article.id, &input)
        .await
        .expect("reviewed");
    assert_eq!(
        db.tell_articles_due_for_review(today).await.expect("told"),
        0
    );
    assert_eq!(
        db.tell_articles_due_for_review(today + Duration::days(31))
            .await
            .expect("told"),
        1
    );
    // The CAP's own articles go to its leads.
    let other_lead = person(&db, "lider2", Role::CapLead, vec![]).await;
    db.create_article(
        Actor::Staff(&lead),
        &ArticleInput {
            title: "Horario del CAP".into(),
            body: "De 9 a 18 h.".into(),
            review_on: Some(today - Duration::days(2)),
            ..Default::default()
        },
    )
    .await
    .expect("article");
    assert_eq!(
        db.tell_articles_due_for_review(today).await.expect("told"),
        1
    );
    for l in [&lead, &other_lead] {
        assert_eq!(db.unread_notifications(l.id).await.expect("unread"), 1);
    }
    assert_eq!(
        db.unread_notifications(responsible.id)
            .await
            .expect("unread"),
        2,
        "once for each date"
    );
}
