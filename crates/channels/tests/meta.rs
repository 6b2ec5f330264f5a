//! The worker against a local Graph API stand-in: replies leave in each provider's format with
//! the account's token, the provider's message id is kept for status callbacks, refusals and
//! outages are told apart, and media is downloaded and kept with the incident. An outage —
//! the provider failing, throttling, hanging or slow — keeps answers queued, retried when the
//! provider allows, sent once; the account's health shows it and administrators are told.

use atiende_channels::chat::graph::Graph;
use atiende_channels::chat::jobs::send_chats;
use atiende_channels::chat::stand_in::{GraphStandIn, Trouble};
use atiende_channels::chat::{Account, MetaConfig};
use atiende_domain::chat::{
    ChatContent, DeliveryStatus, InboundChat, MediaRef, Provider, Template,
};
use atiende_domain::classification::Lang;
use atiende_domain::ids::IncidentId;
use atiende_domain::incident::EntryKind;
use atiende_domain::notification::NotificationKind;
use atiende_domain::user::{Role, StaffUser, UserInput};
use atiende_jobs::chat::fetch_chat_media;
use atiende_store::Actor;
use atiende_store::chat::ChatIngest;
use atiende_store::external_services::ExternalServiceHealth;
use atiende_store::testing::TestDb;
use atiende_store::{Engine, Store};

const PHONE_ID: &str = "106540352242922";

fn meta(graph_url: &str) -> MetaConfig {
    let account = |id: &str| Account {
        id: id.into(),
        access_token: format!("token-{id}").into(),
    };
    MetaConfig {
        graph_url: graph_url.into(),
        app_secret: "s".into(),
        verify_token: "v".into(),
        whatsapp: vec![account(PHONE_ID)],
        messenger: vec![account("PAGE1")],
        instagram: vec![account("IG1")],
        templates: vec![],
        sign_in_template: String::new(),
    }
}

async fn setup() -> (TestDb, StaffUser, GraphStandIn) {
    let db = TestDb::new(Engine::Sqlite).await;
    db.first_run(Some("contraseña-segura-1"))
        .await
        .expect("first run");
    let input = UserInput {
        login: Some("agente1".into()),
        role: Some(Role::Agent),
        password: Some("contraseña-segura-2".into()),
        ..Default::default()
    };
    let agent = db
        .create_user(Actor::System, &input)
        .await
        .expect("agent")
        .user;
    (db, agent, GraphStandIn::start().await)
}

fn inbound(provider: Provider, account: &str, peer: &str, id: &str) -> InboundChat {
    InboundChat {
        provider,
        account_id: account.into(),
        peer_id: peer.into(),
        peer_name: None,
        external_id: id.into(),
        sent_at: chrono::Utc::now(),
        contents: vec![ChatContent::Text {
            body: "Hola, tengo una duda".into(),
        }],
    }
}

async fn open(store: &Store, msg: &InboundChat) -> atiende_domain::ids::IncidentId {
    match store.ingest_chat(msg).await.expect("ingest") {
        ChatIngest::Created(id) => id,
        other => panic!("expected a new incident, got {other:?}"),
    }
}

/// An incident opened on each provider: WhatsApp, Messenger, Instagram.
async fn one_of_each(
    store: &Store,
) -> (
    atiende_domain::ids::IncidentId,
    atiende_domain::ids::IncidentId,
    atiende_domain::ids::IncidentId,
) {
    (
        open(
            store,
            &inbound(Provider::Whatsapp, PHONE_ID, "5213312345678", "wamid.in1"),
        )
        .await,
        open(
            store,
            &inbound(Provider::Messenger, "PAGE1", "PSID1", "m_in1"),
        )
        .await,
        open(
            store,
            &inbound(Provider::Instagram, "IG1", "IGSID1", "ig_in1"),
        )
        .await,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_leave_in_each_providers_format_with_the_accounts_token() {
    let (db, agent, graph) = setup().await;
    let config = meta(&graph.graph_url);
    let client = atiende_channels::chat::graph::Graph::new(&config.graph_url);
    let (wa, fb, ig) = one_of_each(&db).await;
    for (id, text) in [
        (wa, "Respuesta por WhatsApp"),
        (fb, "Respuesta por Messenger"),
        (ig, "Respuesta por Instagram"),
    ] {
        db.add_entry(Actor::Staff(&agent), id, EntryKind::OutboundMessage, text)
            .await
            .expect("answer");
    }
    assert_eq!(send_chats(&db, &client, &config).await, 3);
    let sent = graph.sent();
    assert_eq!(sent.len(), 3);
    let wa_sent = sent
        .iter()
        .find(|s| s.account == PHONE_ID)
        .expect("whatsapp");
    assert_eq!(
        wa_sent.authorization.as_deref(),
        Some("Bearer token-106540352242922")
    );
    assert_eq!(wa_sent.body["messaging_product"], "whatsapp");
    assert_eq!(wa_sent.body["to"], "5213312345678");
    assert_eq!(wa_sent.body["type"], "text");
    assert_eq!(wa_sent.body["text"]["body"], "Respuesta por WhatsApp");
    let fb_sent = sent
        .iter()
        .find(|s| s.account == "PAGE1")
        .expect("messenger");
    assert_eq!(fb_sent.body["recipient"]["id"], "PSID1");
    assert_eq!(fb_sent.body["messaging_type"], "RESPONSE");
    assert_eq!(fb_sent.body["message"]["text"], "Respuesta por Messenger");
    let ig_sent = sent.iter().find(|s| s.account == "IG1").expect("instagram");
    assert_eq!(ig_sent.authorization.as_deref(), Some("Bearer token-IG1"));
    // The provider's id is kept, so its status callbacks find the message.
    let out = db
        .chat_messages(wa)
        .await
        .expect("messages")
        .pop()
        .expect("out");
    assert_eq!(out.delivery(), Some(DeliveryStatus::Sent));
    let external = out.external_id.clone().expect("provider id");
    assert!(external.starts_with("wamid."));
    assert!(
        db.record_chat_status(
            Provider::Whatsapp,
            &external,
            DeliveryStatus::Delivered,
            None
        )
        .await
        .expect("status")
    );
    // Nothing is sent twice.
    assert_eq!(send_chats(&db, &client, &config).await, 0);
    assert_eq!(graph.sent().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_staff_attach_are_uploaded_then_sent_by_the_id_the_provider_gave() {
    let (db, agent, graph) = setup().await;
    let config = meta(&graph.graph_url);
    let client = atiende_channels::chat::graph::Graph::new(&config.graph_url);
    let pdf = b"%PDF-1.4\n1 0 obj << >> endobj\n%%EOF\n".to_vec();
    let png = vec![
        0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 0x0D, 7,
    ];
    let (wa, fb, ig) = one_of_each(&db).await;
    let file = |name: &str, data: &[u8]| atiende_store::attachments::Upload {
        filename: name.into(),
        data: data.to_vec(),
    };
    db.add_entry_with_files(
        Actor::Staff(&agent),
        wa,
        EntryKind::OutboundMessage,
        "Le enviamos su constancia",
        &[
            file("Constancia de estudios.pdf", &pdf),
            file("horario.png", &png),
        ],
    )
    .await
    .expect("whatsapp answer");
    for id in [fb, ig] {
        db.add_entry_with_files(
            Actor::Staff(&agent),
            id,
            EntryKind::OutboundMessage,
            "",
            &[file("constancia.pdf", &pdf)],
        )
        .await
        .expect("messenger and instagram answers");
    }
    assert_eq!(send_chats(&db, &client, &config).await, 5);

    let uploads = graph.uploads();
    assert_eq!(uploads.len(), 4, "{uploads:?}");
    let wa_pdf = uploads
        .iter()
        .find(|u| u.account == PHONE_ID && u.filename.ends_with(".pdf"))
        .expect("the PDF reached WhatsApp's media endpoint");
    assert_eq!(wa_pdf.endpoint, "media");
    assert_eq!(wa_pdf.bytes, pdf);
    assert_eq!(wa_pdf.content_type, "application/pdf");
    assert_eq!(wa_pdf.fields["messaging_product"], "whatsapp");
    assert_eq!(wa_pdf.fields["type"], "application/pdf");
    let fb_pdf = uploads
        .iter()
        .find(|u| u.account == "PAGE1")
        .expect("messenger");
    assert_eq!(fb_pdf.endpoint, "message_attachments");
    assert_eq!(fb_pdf.bytes, pdf);
    let declared: serde_json::Value =
        serde_json::from_str(&fb_pdf.fields["message"]).expect("message field");
    assert_eq!(declared["attachment"]["type"], "file");
    let ig_pdf = uploads
        .iter()
        .find(|u| u.account == "IG1")
        .expect("instagram");
    assert_eq!(ig_pdf.fields["platform"], "instagram");

    let sent = graph.sent();
    let wa_doc = sent
        .iter()
        .find(|s| s.account == PHONE_ID && s.body["type"] == "document")
        .expect("the document message");
    assert_eq!(wa_doc.body["document"]["id"], wa_pdf.id.as_str());
    assert_eq!(
        wa_doc.body["document"]["filename"],
        "Constancia de estudios.pdf"
    );
    assert!(
        sent.iter()
            .any(|s| s.account == PHONE_ID && s.body["type"] == "image"),
        "the picture goes as an image"
    );
    let fb_doc = sent
        .iter()
        .find(|s| s.account == "PAGE1")
        .expect("messenger send");
    assert_eq!(fb_doc.body["message"]["attachment"]["type"], "file");
    assert_eq!(
        fb_doc.body["message"]["attachment"]["payload"]["attachment_id"],
        fb_pdf.id.as_str()
    );
    // Every message records the provider's id, and nothing is sent twice.
    let out = db.chat_messages(wa).await.expect("messages");
    assert!(
        out.iter()
            .filter(|m| m.direction == "out")
            .all(|m| m.delivery() == Some(DeliveryStatus::Sent))
    );
    assert_eq!(send_chats(&db, &client, &config).await, 0);
    assert_eq!(graph.uploads().len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_template_goes_with_the_folio_as_its_parameter() {
    let (db, agent, graph) = setup().await;
    let config = meta(&graph.graph_url);
    let client = atiende_channels::chat::graph::Graph::new(&config.graph_url);
    let mut old = inbound(Provider::Whatsapp, PHONE_ID, "5213312345678", "wamid.old");
    old.sent_at = chrono::Utc::now() - chrono::Duration::hours(30);
    let id = open(&db, &old).await;
    let template = Template {
        name: "seguimiento_folio".into(),
        language: "es_MX".into(),
        text: "Sobre su folio {{1}}: ¿podemos ayudarle?".into(),
    };
    db.answer_with_template(Actor::Staff(&agent), id, &template)
        .await
        .expect("template");
    assert_eq!(send_chats(&db, &client, &config).await, 1);
    let body = &graph.sent()[0].body;
    let folio = db.incident(id).await.expect("incident").folio.to_string();
    assert_eq!(body["type"], "template");
    assert_eq!(body["template"]["name"], "seguimiento_folio");
    assert_eq!(body["template"]["language"]["code"], "es_MX");
    assert_eq!(
        body["template"]["components"][0]["parameters"][0]["text"],
        folio.as_str()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_fails_the_message_at_once_and_an_outage_is_retried() {
    let (db, agent, graph) = setup().await;
    let config = meta(&graph.graph_url);
    let client = atiende_channels::chat::graph::Graph::new(&config.graph_url);
    let refused = open(
        &db,
        &inbound(Provider::Whatsapp, PHONE_ID, "4001234567", "wamid.r"),
    )
    .await;
    let outage = open(
        &db,
        &inbound(Provider::Whatsapp, PHONE_ID, "5001234567", "wamid.o"),
    )
    .await;
    for id in [refused, outage] {
        db.add_entry(Actor::Staff(&agent), id, EntryKind::OutboundMessage, "Hola")
            .await
            .expect("answer");
    }
    assert_eq!(send_chats(&db, &client, &config).await, 0);
    let r = db
        .chat_messages(refused)
        .await
        .expect("m")
        .pop()
        .expect("out");
    assert_eq!(r.delivery(), Some(DeliveryStatus::Failed));
    assert!(r.error.as_deref().unwrap_or_default().contains("131026"));
    let o = db
        .chat_messages(outage)
        .await
        .expect("m")
        .pop()
        .expect("out");
    assert_eq!(
        o.delivery(),
        Some(DeliveryStatus::Queued),
        "waits for a retry"
    );
    let jobs = db.outbox(Some(outage), 10).await.expect("outbox");
    assert_eq!(jobs[0].status, "pending");
    assert!(jobs[0].run_after > chrono::Utc::now());
    let jobs = db.outbox(Some(refused), 10).await.expect("outbox");
    assert_eq!(jobs[0].status, "failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_is_downloaded_through_the_graph_api_and_kept_with_the_incident() {
    let (db, _agent, graph) = setup().await;
    let config = meta(&graph.graph_url);
    let client = atiende_channels::chat::graph::Graph::new(&config.graph_url);
    graph.add_media("1037543291543636", "application/pdf", b"%PDF-1.4 kardex");
    graph.add_media("foto1", "image/jpeg", b"\xff\xd8\xff foto");
    let mut wa = inbound(Provider::Whatsapp, PHONE_ID, "5213312345678", "wamid.doc");
    wa.contents = vec![ChatContent::Media {
        kind: "document".into(),
        source: MediaRef::GraphId("1037543291543636".into()),
        mime_type: Some("application/pdf".into()),
        caption: None,
        filename: Some("kardex.pdf".into()),
    }];
    let wa_id = open(&db, &wa).await;
    let mut fb = inbound(Provider::Messenger, "PAGE1", "PSID1", "m_img");
    fb.contents = vec![ChatContent::Media {
        kind: "image".into(),
        source: MediaRef::Url(graph.cdn_url("foto1")),
        mime_type: None,
        caption: None,
        filename: None,
    }];
    let fb_id = open(&db, &fb).await;
    assert_eq!(fetch_chat_media(&db, &client, &config).await, 2);
    let files = db.attachments(wa_id).await.expect("attachments");
    assert_eq!(files[0].filename, "kardex.pdf");
    assert_eq!(files[0].content_type, "application/pdf");
    let (_, bytes) = db.attachment_data(wa_id, files[0].id).await.expect("data");
    assert_eq!(bytes, b"%PDF-1.4 kardex");
    let files = db.attachments(fb_id).await.expect("attachments");
    assert_eq!(files.len(), 1);
    assert!(files[0].filename.ends_with(".jpeg"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_known_only_by_a_page_scoped_id_get_their_profile_name() {
    let (db, _agent, graph) = setup().await;
    let config = meta(&graph.graph_url);
    let client = atiende_channels::chat::graph::Graph::new(&config.graph_url);
    graph.add_profile(
        "PSID9",
        serde_json::json!({ "first_name": "Karla", "last_name": "Ramírez", "id": "PSID9" }),
    );
    graph.add_profile(
        "IGSID9",
        serde_json::json!({ "username": "karla.rmz", "id": "IGSID9" }),
    );
    let fb = open(&db, &inbound(Provider::Messenger, "PAGE1", "PSID9", "m_p1")).await;
    let ig = open(&db, &inbound(Provider::Instagram, "IG1", "IGSID9", "ig_p1")).await;
    assert_eq!(
        atiende_jobs::chat::fetch_chat_profiles(&db, &client, &config).await,
        2
    );
    let store = &db.store;
    let name_of = |id| async move {
        let c = store
            .incident(id)
            .await
            .expect("incident")
            .contact_id
            .expect("contact");
        store.contact(c).await.expect("contact").name
    };
    assert_eq!(name_of(fb).await, "Karla Ramírez");
    assert_eq!(
        name_of(ig).await,
        "karla.rmz",
        "Instagram without a name: the username"
    );
    // A WhatsApp profile name arrives with the message: nothing to ask.
    open(
        &db,
        &inbound(Provider::Whatsapp, PHONE_ID, "5213300000000", "wamid.p"),
    )
    .await;
    assert_eq!(
        atiende_jobs::chat::fetch_chat_profiles(&db, &client, &config).await,
        0
    );
}

/// A WhatsApp incident with one answer waiting to leave.
async fn one_answer_waiting(db: &TestDb, agent: &StaffUser, peer: &str) -> IncidentId {
    let id = open(
        db,
        &inbound(Provider::Whatsapp, PHONE_ID, peer, &format!("wamid.{peer}")),
    )
    .await;
    db.add_entry(Actor::Staff(agent), id, EntryKind::OutboundMessage, "Hola")
        .await
        .expect("answer");
    id
}

/// The WhatsApp account's sending, as Administración shows it.
async fn whatsapp_health(db: &TestDb) -> ExternalServiceHealth {
    db.external_services()
        .await
        .expect("services")
        .into_iter()
        .find(|s| s.service == format!("chat_send:whatsapp:{PHONE_ID}"))
        .expect("the account's sending is known")
}

/// Makes every waiting job due now, as the passing of its retry delay does.
async fn time_passes(db: &TestDb) {
    db.execute("UPDATE outbox SET run_after = 0 WHERE status = 'pending'")
        .await;
}

async fn administrator(db: &TestDb) -> StaffUser {
    db.users()
        .await
        .expect("users")
        .into_iter()
        .find(|u| u.role == Role::Admin)
        .expect("the administrator")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_keeps_the_answer_queued_shows_the_account_failing_and_tells_the_administrators_once()
 {
    let (db, agent, graph) = setup().await;
    let config = meta(&graph.graph_url);
    let client = Graph::new(&config.graph_url);
    let incident = one_answer_waiting(&db, &agent, "5213311111111").await;
    graph.set_trouble(Trouble::Failing);
    for _ in 0..3 {
        assert_eq!(send_chats(&db, &client, &config).await, 0);
        time_passes(&db).await;
    }
    let job = &db.outbox(Some(incident), 10).await.expect("outbox")[0];
    assert_eq!(
        (job.status.as_str(), job.attempts),
        ("pending", 3),
        "kept for later"
    );
    let health = whatsapp_health(&db).await;
    assert!(!health.working());
    assert_eq!(health.failures, 3);
    assert!(
        health
            .last_error
            .as_deref()
            .unwrap_or_default()
            .contains("HTTP 500")
    );

    // Past the configured time, the administrators are told, once for the whole outage.
    let admin = administrator(&db).await;
    assert_eq!(
        db.tell_failing_services(chrono::Duration::hours(1))
            .await
            .expect("tell"),
        0
    );
    assert_eq!(
        db.tell_failing_services(chrono::Duration::zero())
            .await
            .expect("tell"),
        1
    );
    assert_eq!(
        db.tell_failing_services(chrono::Duration::zero())
            .await
            .expect("tell"),
        0
    );
    let told = db
        .notifications(admin.id, None, 10)
        .await
        .expect("notifications");
    assert_eq!(told.len(), 1);
    assert_eq!(told[0].kind, NotificationKind::ExternalServiceFailing);
    assert_eq!(told[0].about(Lang::Es), format!("WhatsApp {PHONE_ID}"));
    assert_eq!(told[0].link().as_deref(), Some("/admin#servicios"));
    assert!(
        db.notifications(agent.id, None, 10)
            .await
            .expect("n")
            .is_empty(),
        "agents are not told"
    );

    // The provider is back: the answer leaves once, and the account works again.
    graph.set_trouble(Trouble::None);
    assert_eq!(send_chats(&db, &client, &config).await, 1);
    assert_eq!(graph.sent().len(), 1);
    let health = whatsapp_health(&db).await;
    assert!(health.working() && health.failures == 0 && health.noticed_at.is_none());
    // A new outage is a new run, told again.
    one_answer_waiting(&db, &agent, "5213322222222").await;
    graph.set_trouble(Trouble::Failing);
    send_chats(&db, &client, &config).await;
    assert_eq!(
        db.tell_failing_services(chrono::Duration::zero())
            .await
            .expect("tell"),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_puts_the_next_try_when_the_provider_asked_rather_than_sooner() {
    let (db, agent, graph) = setup().await;
    let config = meta(&graph.graph_url);
    let client = Graph::new(&config.graph_url);
    let incident = one_answer_waiting(&db, &agent, "5213333333333").await;
    graph.set_trouble(Trouble::Throttling(900));
    let asked = chrono::Utc::now();
    assert_eq!(send_chats(&db, &client, &config).await, 0);
    let job = &db.outbox(Some(incident), 10).await.expect("outbox")[0];
    assert_eq!(job.status, "pending");
    // The first retry would come after 30 s; the provider asked for fifteen minutes.
    assert!(
        job.run_after >= asked + chrono::Duration::seconds(899),
        "next try at {} (asked at {asked})",
        job.run_after
    );
    assert!(!whatsapp_health(&db).await.working());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_that_hangs_is_given_up_and_the_answer_leaves_once_when_it_answers() {
    let (db, agent, graph) = setup().await;
    let config = meta(&graph.graph_url);
    let client = Graph::with_timeout(&config.graph_url, std::time::Duration::from_secs(1));
    let incident = one_answer_waiting(&db, &agent, "5213344444444").await;
    graph.set_trouble(Trouble::Hanging);
    let began = std::time::Instant::now();
    assert_eq!(send_chats(&db, &client, &config).await, 0);
    assert!(
        began.elapsed() < std::time::Duration::from_secs(10),
        "given up"
    );
    let job = &db.outbox(Some(incident), 10).await.expect("outbox")[0];
    assert_eq!(job.status, "pending");
    assert!(!whatsapp_health(&db).await.working());
    graph.set_trouble(Trouble::None);
    time_passes(&db).await;
    assert_eq!(send_chats(&db, &client, &config).await, 1);
    assert_eq!(graph.sent().len(), 1, "sent once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_provider_gets_each_answer_once_from_two_workers() {
    let (db, agent, graph) = setup().await;
    let config = meta(&graph.graph_url);
    let client = Graph::new(&config.graph_url);
    for n in 0..3 {
        one_answer_waiting(&db, &agent, &format!("52133555555{n}")).await;
    }
    // Each send takes the provider 700 ms; two instances' workers run at once.
    graph.set_trouble(Trouble::Slow(std::time::Duration::from_millis(700)));
    let (a, b) = tokio::join!(
        send_chats(&db, &client, &config),
        send_chats(&db, &client, &config)
    );
    assert_eq!(a + b, 3);
    assert_eq!(graph.sent().len(), 3, "each answer once");
    assert!(whatsapp_health(&db).await.working());
}
