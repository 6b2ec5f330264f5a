//! Outbound webhooks against a real HTTP endpoint on this machine: a closing reaches the
//! subscribed endpoint once, signed as Standard Webhooks says (checked here and by the Python
//! the README gives integrators), with two workers racing for it; a failing endpoint is tried
//! again with the same `webhook-id`, a delivery can be replayed, an endpoint that keeps failing
//! is turned off; and the server's own network is never called unless allowed.

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};

use atiende_domain::contact::ContactInput;
use atiende_domain::user::Role;
use atiende_domain::webhook::{DISABLE_AFTER_FAILURES, EventType, SubscriptionInput, signature};
use atiende_jobs::webhooks::send_webhooks;
use atiende_store::Actor;
use atiende_store::testing::TestDb;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

atiende_store::on_both_engines!(
    a_closing_reaches_the_subscribed_endpoint_once_signed_even_with_two_workers,
    a_failing_endpoint_is_tried_again_replayed_and_turned_off_after_repeated_failures,
    the_servers_own_network_is_never_called_unless_allowed,
    every_step_of_the_procedure_and_every_change_to_a_person_sends_its_event_once,
);

/// One request the endpoint received.
#[derive(Debug, Clone)]
struct Received {
    headers: Vec<(String, String)>,
    body: String,
}

impl Received {
    fn header(&self, name: &str) -> &str {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map_or("", |(_, v)| v.as_str())
    }
}

/// A bare HTTP/1.1 endpoint that keeps what it is sent and answers `status`.
struct Endpoint {
    url: String,
    received: Arc<Mutex<Vec<Received>>>,
    status: Arc<AtomicU16>,
}

async fn endpoint() -> Endpoint {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/eventos", listener.local_addr().expect("addr"));
    let received = Arc::new(Mutex::new(Vec::new()));
    let status = Arc::new(AtomicU16::new(200));
    let (kept, answer) = (received.clone(), status.clone());
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let (kept, answer) = (kept.clone(), answer.clone());
            tokio::spawn(async move {
                let mut data = Vec::new();
                let mut buf = [0u8; 4096];
                let (head, body_len) = loop {
                    let n = socket.read(&mut buf).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    data.extend_from_slice(&buf[..n]);
                    if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&data[..end]).to_string();
                        let len = head
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                            })
                            .unwrap_or(0);
                        data.drain(..end + 4);
                        break (head, len);
                    }
                };
                while data.len() < body_len {
                    let n = socket.read(&mut buf).await.unwrap_or(0);
                    if n == 0 {
                        break;
                    }
                    data.extend_from_slice(&buf[..n]);
                }
                let headers = head
                    .lines()
                    .skip(1)
                    .filter_map(|l| l.split_once(':'))
                    .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
                    .collect();
                kept.lock().expect("lock").push(Received {
                    headers,
                    body: String::from_utf8_lossy(&data).to_string(),
                });
                let status = answer.load(Ordering::SeqCst);
                let reply = format!(
                    "HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                );
                let _ = socket.write_all(reply.as_bytes()).await;
            });
        }
    });
    Endpoint {
        url,
        received,
        status,
    }
}

/// A closed incident of a named person (whose name must not travel in events).
async fn close_one(db: &TestDb) -> String {
    let agent = match db.user_by_login("agente-wh").await {
        Ok(u) => u,
        Err(_) => {
            db.create_user(
                Actor::System,
                &atiende_domain::user::UserInput {
                    login: Some("agente-wh".into()),
                    name: Some("Agente".into()),
                    role: Some(Role::Agent),
                    password: Some("una contraseña larga de prueba".into()),
                    ..Default::default()
                },
            )
            .await
            .expect("agent")
            .user
        }
    };
    let person = db
        .create_contact(
            Actor::System,
            &ContactInput {
                name: Some("Rosalba Quintero".into()),
                ..Default::default()
            },
        )
        .await
        .expect("contact");
    let id = db.closed_phone_incident(&agent, Some(person.id)).await;
    db.incident(id).await.expect("incident").folio.to_string()
}

async fn subscribe(db: &TestDb, url: &str, events: Vec<EventType>) -> (i64, String) {
    let created = db
        .create_webhook(
            Actor::System,
            &SubscriptionInput {
                url: url.into(),
                events,
                description: "BI".into(),
            },
            true,
        )
        .await
        .expect("subscribed");
    (created.subscription.id, created.secret)
}

/// The README's verification, in Python as an integrator writes it.
const VERIFY_PY: &str = include_str!("../../../docs/examples/verify_webhook.py");

async fn a_closing_reaches_the_subscribed_endpoint_once_signed_even_with_two_workers(db: TestDb) {
    db.first_run(Some("contraseña-segura-1"))
        .await
        .expect("first run");
    let endpoint = endpoint().await;
    let (id, secret) = subscribe(&db, &endpoint.url, vec![EventType::IncidentClosed]).await;
    // Another endpoint subscribed to something else gets nothing.
    let (other, _) = subscribe(&db, &endpoint.url, vec![EventType::SurveyAnswered]).await;
    let folio = close_one(&db).await;

    let (a, b) = tokio::join!(send_webhooks(&db, true), send_webhooks(&db, true));
    assert_eq!(a + b, 1, "one delivery, by one of the two workers");
    assert_eq!(send_webhooks(&db, true).await, 0, "nothing left");
    let received = endpoint.received.lock().expect("lock").clone();
    assert_eq!(received.len(), 1, "{received:?}");
    let r = &received[0];
    let event: serde_json::Value = serde_json::from_str(&r.body).expect("JSON body");
    assert_eq!(event["type"], "incident.closed");
    assert_eq!(event["data"]["folio"], folio.as_str());
    assert_eq!(event["data"]["status"], "closed");
    assert!(!r.body.contains("Rosalba"), "no personal data: {}", r.body);
    assert_eq!(r.header("content-type"), "application/json");
    let timestamp: i64 = r.header("webhook-timestamp").parse().expect("timestamp");
    assert!((chrono::Utc::now().timestamp() - timestamp).abs() < 60);
    assert_eq!(
        r.header("webhook-signature"),
        signature(
            &secret,
            r.header("webhook-id"),
            timestamp,
            r.body.as_bytes()
        )
    );
    // The integrator's Python accepts it, and refuses it with another secret.
    for (key, accepted) in [(secret.as_str(), true), ("whsec_b3Ryb3NlY3JldG8=", false)] {
        let out = std::process::Command::new("python3")
            .arg("-c")
            .arg(VERIFY_PY)
            .env("WEBHOOK_SECRET", key)
            .env("WEBHOOK_ID", r.header("webhook-id"))
            .env("WEBHOOK_TIMESTAMP", r.header("webhook-timestamp"))
            .env("WEBHOOK_SIGNATURE", r.header("webhook-signature"))
            .env("WEBHOOK_BODY", &r.body)
            .output()
            .expect("python3");
        assert_eq!(out.status.success(), accepted, "{out:?}");
    }
    let log = db.webhook_deliveries(id, None, 10).await.expect("log");
    assert_eq!(log.len(), 1);
    assert_eq!(
        (log[0].status.as_str(), log[0].attempts, log[0].last_status),
        ("delivered", 1, Some(200))
    );
    assert!(
        db.webhook_deliveries(other, None, 10)
            .await
            .expect("log")
            .is_empty()
    );
}

async fn a_failing_endpoint_is_tried_again_replayed_and_turned_off_after_repeated_failures(
    db: TestDb,
) {
    db.first_run(Some("contraseña-segura-1"))
        .await
        .expect("first run");
    let endpoint = endpoint().await;
    let (id, _) = subscribe(&db, &endpoint.url, vec![EventType::IncidentClosed]).await;
    close_one(&db).await;
    endpoint.status.store(503, Ordering::SeqCst);
    assert_eq!(send_webhooks(&db, true).await, 0);
    let log = db.webhook_deliveries(id, None, 10).await.expect("log");
    assert_eq!(
        (log[0].status.as_str(), log[0].last_status),
        ("pending", Some(503))
    );
    assert_eq!(db.webhook(id).await.expect("sub").consecutive_failures, 1);
    // Not before its delay; once due, it goes again with the same id and arrives.
    assert_eq!(send_webhooks(&db, true).await, 0);
    assert_eq!(endpoint.received.lock().expect("lock").len(), 1);
    db.execute("UPDATE outbox SET run_after = 0 WHERE kind = 'webhook_send'")
        .await;
    endpoint.status.store(200, Ordering::SeqCst);
    assert_eq!(send_webhooks(&db, true).await, 1);
    let received = endpoint.received.lock().expect("lock").clone();
    assert_eq!(received.len(), 2);
    assert_eq!(
        received[0].header("webhook-id"),
        received[1].header("webhook-id")
    );
    let log = db.webhook_deliveries(id, None, 10).await.expect("log");
    assert_eq!((log[0].status.as_str(), log[0].attempts), ("delivered", 2));
    assert_eq!(db.webhook(id).await.expect("sub").consecutive_failures, 0);

    // A replay: a new entry of the log, the same message.
    let replay = db
        .replay_webhook_delivery(Actor::System, id, log[0].id)
        .await
        .expect("replay");
    assert_ne!(replay.id, log[0].id);
    assert_eq!(send_webhooks(&db, true).await, 1);
    let received = endpoint.received.lock().expect("lock").clone();
    assert_eq!(
        received[2].header("webhook-id"),
        received[0].header("webhook-id")
    );
    assert_eq!(received[2].body, received[0].body);

    // An endpoint down for good: after enough failures in a row it is turned off, and new
    // events no longer go to it.
    for _ in 0..DISABLE_AFTER_FAILURES {
        db.record_webhook_attempt(replay.id, &Err("connection refused".into()), false)
            .await
            .expect("attempt");
    }
    let sub = db.webhook(id).await.expect("sub");
    assert!(!sub.active && sub.disabled_at.is_some(), "{sub:?}");
    close_one(&db).await;
    assert_eq!(
        db.webhook_deliveries(id, None, 10)
            .await
            .expect("log")
            .len(),
        2
    );
}

async fn the_servers_own_network_is_never_called_unless_allowed(db: TestDb) {
    db.first_run(Some("contraseña-segura-1"))
        .await
        .expect("first run");
    let refused = db
        .create_webhook(
            Actor::System,
            &SubscriptionInput {
                url: "https://169.254.169.254/latest/meta-data".into(),
                events: vec![EventType::IncidentClosed],
                description: String::new(),
            },
            false,
        )
        .await;
    assert!(
        format!("{refused:?}").contains("private_address"),
        "{refused:?}"
    );
    // A name that resolves to this machine passes the form, and is refused when sending.
    let endpoint = endpoint().await;
    let port = endpoint
        .url
        .rsplit(':')
        .next()
        .expect("port")
        .trim_end_matches("/eventos");
    let by_name = format!("http://localhost:{port}/eventos");
    let (id, _) = subscribe(&db, &by_name, vec![EventType::IncidentClosed]).await;
    close_one(&db).await;
    assert_eq!(send_webhooks(&db, false).await, 0);
    assert!(
        endpoint.received.lock().expect("lock").is_empty(),
        "never called"
    );
    let log = db.webhook_deliveries(id, None, 10).await.expect("log");
    assert!(
        log[0]
            .last_error
            .as_deref()
            .unwrap_or_default()
            .contains("private address"),
        "{:?}",
        log[0]
    );
}

/// The event types an endpoint received, oldest first.
fn types_received(endpoint: &Endpoint) -> Vec<String> {
    endpoint
        .received
        .lock()
        .expect("lock")
        .iter()
        .map(|r| {
            let event: serde_json::Value = serde_json::from_str(&r.body).expect("JSON");
            event["type"].as_str().unwrap_or_default().to_string()
        })
        .collect()
}

async fn every_step_of_the_procedure_and_every_change_to_a_person_sends_its_event_once(db: TestDb) {
    use atiende_domain::chat::{ChatContent, InboundChat, Provider};
    use atiende_domain::classification::{Channel, IncidentType, Medium, UserType};
    use atiende_domain::derivation::{DeriveInput, UnitAnswer};
    use atiende_domain::incident::{ClassifyInput, EntryKind, NewIncidentInput};

    db.first_run(Some("contraseña-segura-1"))
        .await
        .expect("first run");
    let endpoint = endpoint().await;
    let (subscription, _) = subscribe(&db, &endpoint.url, EventType::ALL.to_vec()).await;
    let lead = db
        .create_user(
            Actor::System,
            &atiende_domain::user::UserInput {
                login: Some("lider".into()),
                name: Some("Líder".into()),
                role: Some(Role::CapLead),
                password: Some("una contraseña larga de prueba".into()),
                ..Default::default()
            },
        )
        .await
        .expect("lead")
        .user;
    let actor = Actor::Staff(&lead);
    let person = db
        .create_contact(
            actor,
            &ContactInput {
                name: Some("Rosalba Quintero".into()),
                ..Default::default()
            },
        )
        .await
        .expect("contact");

    // Registered through the intake's groups, and by a channel in its own transaction.
    let id = db
        .create_incident(
            actor,
            NewIncidentInput {
                channel: Channel::Phone,
                contact_id: Some(person.id),
                subject: "Kárdex".into(),
                body: String::new(),
                user_type: Some(UserType::Student),
                incident_type: None,
                topic_id: None,
                critical: false,
                assigned_to: None,
                received_at: None,
            },
        )
        .await
        .expect("incident")
        .id;
    db.ingest_chat(&InboundChat {
        provider: Provider::Whatsapp,
        account_id: "106540352242922".into(),
        peer_id: "5213311112222".into(),
        peer_name: Some("Rosalba Quintero".into()),
        external_id: "wamid.ev1".into(),
        sent_at: chrono::Utc::now(),
        contents: vec![ChatContent::Text {
            body: "Hola".into(),
        }],
    })
    .await
    .expect("chat");
    let classify = ClassifyInput {
        incident_type: Some(IncidentType::Question),
        ..Default::default()
    };
    db.classify_incident(actor, id, &classify)
        .await
        .expect("classify");
    db.add_entry(actor, id, EntryKind::OutboundMessage, "Se revisa su kárdex")
        .await
        .expect("answer");
    let unit = db
        .units()
        .await
        .expect("units")
        .into_iter()
        .find(|u| u.active && !u.email.is_empty())
        .expect("a unit with an address");
    let derive = DeriveInput {
        unit_id: unit.id,
        medium: Medium::Email,
        reason: "Corrección del kárdex".into(),
        user_told: None,
        told_address: None,
        close: false,
        notes: None,
    };
    let (_, derivation) = db
        .derive_incident(actor, id, &derive)
        .await
        .expect("derive");
    db.answer_derivation(
        actor,
        id,
        derivation.id,
        &UnitAnswer::returning("Corregido"),
    )
    .await
    .expect("unit answer");
    db.close_incident(actor, id, Some("Se corrigió el kárdex."))
        .await
        .expect("close");
    db.reopen_incident(actor, id, "La persona escribió de nuevo")
        .await
        .expect("reopen");
    let rename = ContactInput {
        name: Some("Rosalba Quintero Díaz".into()),
        ..Default::default()
    };
    db.update_contact(actor, person.id, &rename)
        .await
        .expect("rename");
    db.block_contact(actor, person.id, "Solicitud ARCO")
        .await
        .expect("block");

    while send_webhooks(&db, true).await > 0 {}
    let received = types_received(&endpoint);
    for event in EventType::ALL
        .iter()
        .filter(|e| **e != EventType::SurveyAnswered && **e != EventType::NonconformityRegistered)
        .filter(|e| **e != EventType::ContactSuppressed)
    {
        let times = received.iter().filter(|t| *t == event.code()).count();
        let expected = if *event == EventType::IncidentCreated {
            2
        } else {
            1
        };
        assert_eq!(times, expected, "{}: {received:?}", event.code());
    }
    let bodies: Vec<String> = endpoint
        .received
        .lock()
        .expect("lock")
        .iter()
        .map(|r| r.body.clone())
        .collect();
    let changed = bodies
        .iter()
        .find(|b| b.contains("contact.changed"))
        .expect("contact.changed");
    assert!(changed.contains(r#""fields":["name"]"#), "{changed}");
    assert!(
        bodies.iter().all(|b| !b.contains("Rosalba")),
        "no event carries the person's name"
    );

    // Suppression: its own event leaves; nothing else about the person does afterwards.
    db.anonymise_contact(actor, person.id)
        .await
        .expect("suppress");
    while send_webhooks(&db, true).await > 0 {}
    let after = types_received(&endpoint);
    assert_eq!(&after[received.len()..], ["contact.suppressed"]);
    let log = db
        .webhook_deliveries(subscription, None, 100)
        .await
        .expect("log");
    assert_eq!(log.len(), after.len());
}
