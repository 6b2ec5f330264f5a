//! Registering incidents in groups (group commit) on both engines: what a group writes is what
//! registering each incident alone writes, a refused input fails alone, concurrent callers
//! each get their own committed incident, webhooks hear of each, and other writes are not
//! starved. (On SQLite groups run on the direct connection, `db/direct.rs`.)

use atiende_domain::access::Scope;
use atiende_domain::audit::EntityKind;
use atiende_domain::classification::{Channel, IncidentType, UserType};
use atiende_domain::contact::ContactInput;
use atiende_domain::ids::{ContactId, TopicId};
use atiende_domain::incident::{EntryKind, NewIncidentInput, Status};
use atiende_domain::knowledge::SearchQuery;
use atiende_domain::unit::UnitKind;
use atiende_domain::user::{Role, StaffUser, UserInput};
use atiende_store::audit::AuditQuery;
use atiende_store::indicators::PeriodRollup;
use atiende_store::testing::TestDb;
use atiende_store::{Actor, StoreError};

atiende_store::on_both_engines!(
    a_group_of_registrations_writes_what_registering_each_alone_writes,
    an_input_the_shared_transaction_cannot_take_fails_alone,
    many_concurrent_registrations_are_each_answered_with_their_own_committed_incident,
    a_group_records_a_delivery_of_each_new_incident_for_a_subscribed_webhook,
    other_writes_take_their_turn_while_registrations_keep_coming,
);

async fn setup(db: &TestDb) -> StaffUser {
    db.first_run(Some("contraseña-segura-1"))
        .await
        .expect("first run");
    let input = UserInput {
        login: Some("agente1".into()),
        role: Some(Role::Agent),
        unit_ids: Some(vec![]),
        password: Some("contraseña-segura-2".into()),
        ..Default::default()
    };
    db.create_user(Actor::System, &input)
        .await
        .expect("user")
        .user
}

async fn student(db: &TestDb, agent: &StaffUser, email: &str) -> ContactId {
    let input = ContactInput {
        name: Some("Ana López".into()),
        emails: Some(vec![email.into()]),
        user_type: Some(UserType::Student),
        ..Default::default()
    };
    db.create_contact(Actor::Staff(agent), &input)
        .await
        .expect("contact")
        .id
}

fn input(channel: Channel, contact: Option<ContactId>, body: &str) -> NewIncidentInput {
    NewIncidentInput {
        channel,
        contact_id: contact,
        subject: String::new(),
        body: body.into(),
        user_type: None,
        incident_type: None,
        topic_id: None,
        critical: false,
        assigned_to: None,
        received_at: None,
    }
}

async fn everything(db: &TestDb) -> PeriodRollup {
    db.period_rollup(200001, 209912, true)
        .await
        .expect("rollup")
}

fn search(q: &str) -> SearchQuery {
    SearchQuery::parse(q)
}

async fn a_group_of_registrations_writes_what_registering_each_alone_writes(db: TestDb) {
    let agent = setup(&db).await;
    let ana = student(&db, &agent, "ana@alumnos.udg.mx").await;
    let luis = student(&db, &agent, "luis@alumnos.udg.mx").await;
    // Luis was merged into Ana: an incident naming him lands on her.
    db.merge_contacts(Actor::Staff(&agent), ana, luis)
        .await
        .expect("merge");
    let topic = db.topics().await.expect("topics")[0].id;
    // Received some days back (registered late, as a typed-in buzón entry is).
    let received = chrono::Utc::now() - chrono::Duration::days(20);
    let received_year = atiende_domain::folio::Folio::year_of(received, db.time_zone());
    let mut complaint = input(
        Channel::Whatsapp,
        Some(ana),
        "Me cobraron dos veces la inscripción",
    );
    complaint.incident_type = Some(IncidentType::Complaint);
    complaint.topic_id = Some(topic);
    complaint.assigned_to = Some(agent.id);
    complaint.received_at = Some(received);
    let mut suggestion = input(
        Channel::SuggestionBox,
        None,
        "Más horarios de atención por teléfono",
    );
    suggestion.incident_type = Some(IncidentType::Suggestion);
    let agent_actor = Actor::Staff(&agent);
    let batch = vec![
        (
            agent_actor,
            input(Channel::Phone, Some(ana), "Pide su kárdex certificado"),
        ),
        (
            agent_actor,
            input(Channel::Phone, Some(ContactId(999_999)), "Nadie"),
        ),
        (agent_actor, input(Channel::Phone, None, "Sin contacto")),
        (Actor::System, suggestion),
        (
            agent_actor,
            input(
                Channel::Email,
                None,
                "Consulta sobre titulación electrónica",
            ),
        ),
        (agent_actor, complaint),
        (
            agent_actor,
            input(
                Channel::InPerson,
                Some(luis),
                "Trae su constancia de estudios",
            ),
        ),
    ];
    let results = db.create_incidents(batch).await;
    assert_eq!(results.len(), 7);
    for (n, field) in [(1, "contact_id"), (2, "contact_id")] {
        match &results[n] {
            Err(StoreError::Rule(e)) => {
                assert!(e.fields().iter().any(|f| f.field == field), "{n}: {e:?}")
            }
            other => panic!("input {n} should be refused: {other:?}"),
        }
    }
    let created: Vec<_> = results
        .iter()
        .enumerate()
        .filter(|(n, _)| ![1, 2].contains(n))
        .map(|(n, r)| {
            r.as_ref()
                .unwrap_or_else(|e| panic!("input {n}: {e}"))
                .clone()
        })
        .collect();
    let [kardex, buzon, email, complaint, visit] = created.try_into().expect("five created");

    // Each answer is what a later read returns, with the contact's classification reused.
    for i in [&kardex, &buzon, &email, &complaint, &visit] {
        let stored = db.incident(i.id).await.expect("stored");
        assert_eq!(
            serde_json::to_value(&stored).ok(),
            serde_json::to_value(i).ok()
        );
        // The buzón suggestion waits on the quality owner it was derived to.
        let expected = if i.id == buzon.id {
            Status::WaitingUnit
        } else {
            Status::Open
        };
        assert_eq!(i.status, expected);
        let timeline = db.timeline(i.id).await.expect("timeline");
        assert_eq!(timeline[0].kind, EntryKind::InboundMessage);
        let trail = db
            .audit(&AuditQuery {
                entity: Some(EntityKind::Incident),
                entity_id: Some(i.folio.to_string()),
                limit: 10,
                ..Default::default()
            })
            .await
            .expect("audit");
        assert_eq!(trail.len(), 1, "{}", i.folio);
        assert_eq!(trail[0].action, "incident.create");
    }
    assert_eq!(kardex.user_type, Some(UserType::Student));
    assert_eq!(kardex.contact_id, Some(ana));
    assert_eq!(visit.contact_id, Some(ana), "merged contact resolved");
    assert_eq!(email.subject, "Consulta sobre titulación electrónica");
    assert_eq!(
        db.timeline(kardex.id).await.expect("t")[0].body,
        "Pide su kárdex certificado"
    );
    assert_eq!(
        db.audit(&AuditQuery {
            entity_id: Some(kardex.folio.to_string()),
            limit: 1,
            ..Default::default()
        })
        .await
        .expect("audit")[0]
            .actor_id,
        Some(agent.id)
    );
    // The buzón suggestion went to the quality owner, as the procedure says.
    let derivations = db.derivations(buzon.id).await.expect("derivations");
    assert_eq!(derivations.len(), 1);
    assert_eq!(derivations[0].unit_kind, UnitKind::Quality);
    // Folios: the complaint has its reception's year; each year's run is unbroken.
    assert_eq!(complaint.folio.year, received_year);
    let this_year = kardex.folio.year;
    let mut seqs: Vec<i64> = [&complaint, &kardex, &buzon, &email, &visit]
        .iter()
        .filter(|i| i.folio.year == this_year)
        .map(|i| i.folio.seq)
        .collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=seqs.len() as i64).collect::<Vec<_>>());

    // The rollups equal a recount from the incidents themselves.
    let kept = everything(&db).await;
    assert_eq!(kept.totals.incidents, 5);
    assert_eq!(kept.totals.complaints, 1);
    assert_eq!(kept.totals.derived, 1);
    db.rebuild_indicators(true).await.expect("rebuild");
    let recounted = everything(&db).await;
    assert_eq!(kept.totals, recounted.totals);
    assert_eq!(kept.breakdowns, recounted.breakdowns);

    // The search documents equal rewritten ones: the same questions find the same incidents.
    let questions = [
        "kardex",
        "titulacion electronica",
        "inscripcion",
        "horarios",
        &kardex.folio.to_string(),
    ];
    let mut before = Vec::new();
    for q in questions {
        let hits = db
            .search_incidents(&Scope::All, &search(q), 10)
            .await
            .expect("search");
        assert_eq!(hits.len(), 1, "{q}");
        before.push(hits[0].id);
    }
    db.rebuild_search().await.expect("rebuild search");
    for (q, id) in questions.iter().zip(before) {
        let hits = db
            .search_incidents(&Scope::All, &search(q), 10)
            .await
            .expect("search");
        assert_eq!(
            hits.iter().map(|h| h.id).collect::<Vec<_>>(),
            vec![id],
            "{q}"
        );
    }
}

async fn an_input_the_shared_transaction_cannot_take_fails_alone(db: TestDb) {
    let agent = setup(&db).await;
    let ana = student(&db, &agent, "ana@alumnos.udg.mx").await;
    let mut unknown_topic = input(Channel::Phone, Some(ana), "Tema que no existe");
    unknown_topic.topic_id = Some(TopicId(999_999));
    let actor = Actor::Staff(&agent);
    let results = db
        .create_incidents(vec![
            (actor, input(Channel::Phone, Some(ana), "Primera llamada")),
            (actor, unknown_topic),
            (actor, input(Channel::Phone, Some(ana), "Tercera llamada")),
        ])
        .await;
    assert!(results[0].is_ok() && results[2].is_ok(), "{results:?}");
    match &results[1] {
        Err(StoreError::Rule(e)) => assert!(e.fields().iter().any(|f| f.field == "topic_id")),
        other => panic!("an unknown topic is refused: {other:?}"),
    }
    assert_eq!(everything(&db).await.totals.incidents, 2);
}

async fn many_concurrent_registrations_are_each_answered_with_their_own_committed_incident(
    db: TestDb,
) {
    let agent = setup(&db).await;
    let ana = student(&db, &agent, "ana@alumnos.udg.mx").await;
    let mut tasks = Vec::new();
    for n in 0..200 {
        let store = db.store.clone();
        let agent = agent.clone();
        tasks.push(tokio::spawn(async move {
            let body = format!("Llamada número {n}");
            let mut i = input(Channel::Phone, Some(ana), &body);
            if n % 50 == 7 {
                // A few refused inputs among the others.
                i.contact_id = Some(ContactId(999_999));
            }
            (n, store.create_incident(Actor::Staff(&agent), i).await)
        }));
    }
    let mut folios = Vec::new();
    for t in tasks {
        let (n, result) = t.await.expect("task");
        match result {
            Ok(incident) => {
                assert_ne!(n % 50, 7);
                let body = &db.timeline(incident.id).await.expect("timeline")[0].body;
                assert_eq!(
                    body,
                    &format!("Llamada número {n}"),
                    "each caller gets its own"
                );
                folios.push(incident.folio.seq);
            }
            Err(e) => assert_eq!(n % 50, 7, "{n}: {e}"),
        }
    }
    folios.sort_unstable();
    assert_eq!(folios, (1..=196).collect::<Vec<_>>());
    assert_eq!(everything(&db).await.totals.incidents, 196);
    // The writer counts what it did, for the instance's metrics.
    let totals = db.store.intake_totals();
    assert_eq!(totals.incidents, 196, "the refused are not counted");
    assert!(
        (1..=200).contains(&totals.groups) && totals.seconds > 0.0,
        "{totals:?}"
    );
}

async fn a_group_records_a_delivery_of_each_new_incident_for_a_subscribed_webhook(db: TestDb) {
    let agent = setup(&db).await;
    let ana = student(&db, &agent, "ana@alumnos.udg.mx").await;
    let created = db
        .create_webhook(
            Actor::System,
            &atiende_domain::webhook::SubscriptionInput {
                url: "https://bi.udg.example/eventos".into(),
                events: vec![atiende_domain::webhook::EventType::IncidentCreated],
                description: "BI".into(),
            },
            false,
        )
        .await
        .expect("webhook");
    let actor = Actor::Staff(&agent);
    let results = db
        .create_incidents(vec![
            (actor, input(Channel::Phone, Some(ana), "Primera llamada")),
            (actor, input(Channel::Phone, Some(ana), "Segunda llamada")),
        ])
        .await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let deliveries = db
        .webhook_deliveries(created.subscription.id, None, 10)
        .await
        .expect("deliveries");
    assert_eq!(deliveries.len(), 2, "one delivery per new incident");
    assert_eq!(everything(&db).await.totals.incidents, 2);
}

async fn other_writes_take_their_turn_while_registrations_keep_coming(db: TestDb) {
    let agent = setup(&db).await;
    let ana = student(&db, &agent, "ana@alumnos.udg.mx").await;
    // More callers than a group takes, each registering again as soon as it is answered: the
    // intake queue never empties until the other write is done.
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut callers = Vec::new();
    for n in 0..100 {
        let (store, agent, done) = (db.store.clone(), agent.clone(), done.clone());
        callers.push(tokio::spawn(async move {
            let mut registered = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                let body = format!("Llamada {n}-{registered}");
                store
                    .create_incident(
                        Actor::Staff(&agent),
                        input(Channel::Phone, Some(ana), &body),
                    )
                    .await
                    .expect("registered");
                registered += 1;
            }
            registered
        }));
    }
    tokio::task::yield_now().await;
    // Through the pool's write connection, which the intake writer keeps between its groups
    // while incidents wait: its turn ends after a while all the same.
    let luis = db
        .create_contact(
            Actor::Staff(&agent),
            &ContactInput {
                name: Some("Luis Pérez".into()),
                ..Default::default()
            },
        )
        .await
        .expect("a write beside the intake");
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut registered = 0;
    for caller in callers {
        registered += caller.await.expect("task");
    }
    assert_eq!(everything(&db).await.totals.incidents, registered);
    assert_eq!(
        db.contact(luis.id).await.expect("contact").name,
        "Luis Pérez"
    );
}
