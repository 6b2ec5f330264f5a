//! Upgrades on both engines. A database written by an earlier release — kept in
//! `tests/fixtures/upgrade/`, one per release and engine, with rows in every table — migrates
//! to today's schema without losing a row, and today's code reads and writes it.
//!
//! The fixtures are written by `fill_every_table` (kept current by the test that checks it
//! fills every table of today's schema): `scripts/upgrade-fixture` writes a release's pair
//! before the release that changes the schema.

use std::path::{Path, PathBuf};

use atiende_domain::access::Scope;
use atiende_domain::call::{CallDirection, CallEvent, CallEventInput};
use atiende_domain::chat::{ChatContent, InboundChat, Provider};
use atiende_domain::classification::{Channel, IncidentType, UserType};
use atiende_domain::contact::{Identifier, IdentifierKind};
use atiende_domain::email::{InboundAttachment, InboundEmail};
use atiende_domain::incident::NewIncidentInput;
use atiende_domain::knowledge::{ArticleInput, SearchQuery};
use atiende_domain::nonconformity::NonconformityInput;
use atiende_domain::privacy::{DataAction, NoticeKind};
use atiende_domain::survey::SurveyPolicy;
use atiende_domain::user::Role;
use atiende_store::import::RosterRow;
use atiende_store::import::sugarcrm::{Parents, SugarCall, SugarCase, SugarContact, SugarExport};
use atiende_store::incidents::IncidentFilter;
use atiende_store::knowledge::ArticleFilter;
use atiende_store::migrate::Migration;
use atiende_store::public::SuggestionBoxEntry;
use atiende_store::testing::TestDb;
use atiende_store::{Actor, Engine};

atiende_store::on_both_engines!(
    the_fixture_writer_fills_every_table_of_todays_schema,
    a_failing_migration_leaves_the_database_as_the_step_before_left_it,
);

/// The password of every staff account in the fixtures.
const PASSWORD: &str = "Cap-UdgV-fixture-2026";
/// A word written into the fixtures' incidents, to find them by after the upgrade.
const MARK: &str = "constanciafixture";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_database_of_every_earlier_release_upgrades_keeping_every_row() {
    every_earlier_release_upgrades(Engine::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_database_of_every_earlier_release_upgrades_keeping_every_row() {
    every_earlier_release_upgrades(Engine::Postgres).await;
}

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/upgrade")
}

fn fixture_name(engine: Engine, version: i64) -> String {
    match engine {
        Engine::Sqlite => format!("v{version}.sqlite.db"),
        Engine::Postgres => format!("v{version}.postgres.sql"),
    }
}

/// The fixtures kept for an engine, oldest first, with the schema version each was written at.
fn fixtures(engine: Engine) -> Vec<(i64, PathBuf)> {
    let mut out: Vec<(i64, PathBuf)> = std::fs::read_dir(fixtures_dir())
        .expect("the upgrade fixtures")
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let version = name.strip_prefix('v')?.split('.').next()?.parse().ok()?;
            (name == fixture_name(engine, version)).then(|| (version, e.path()))
        })
        .collect();
    out.sort();
    out
}

async fn every_earlier_release_upgrades(engine: Engine) {
    let kept = fixtures(engine);
    assert!(!kept.is_empty(), "at least one fixture for {engine:?}");
    let newest = atiende_store::migrate::for_engine(engine)
        .last()
        .expect("migrations")
        .version;
    for (version, path) in kept {
        let db = TestDb::restored(engine, &path).await;
        let before = db.rows_per_table().await;
        let empty: Vec<_> = before.iter().filter(|(_, n)| **n == 0).collect();
        assert!(
            empty.is_empty(),
            "v{version}: the fixture fills every table: {empty:?}"
        );

        let pending: Vec<i64> = db
            .pending_migrations()
            .await
            .expect("pending")
            .iter()
            .map(|m| m.version)
            .collect();
        assert_eq!(
            pending,
            ((version + 1)..=newest).collect::<Vec<_>>(),
            "v{version}: the steps after it are pending"
        );
        assert_eq!(
            db.migrate().await.expect("the upgrade applies"),
            pending.len()
        );
        assert!(db.pending_migrations().await.expect("pending").is_empty());

        // No table of the old schema lost a row.
        let after = db.rows_per_table().await;
        for (table, n) in &before {
            assert!(
                after.get(table).is_some_and(|m| m >= n),
                "v{version}: {table} kept its {n} rows (now {:?})",
                after.get(table)
            );
        }
        today_reads_and_writes_it(&db, version).await;
    }
}

/// What a person does first after an upgrade: log in, open the queue and an incident, search,
/// look at the indicators, and take in a new incident.
async fn today_reads_and_writes_it(db: &TestDb, version: i64) {
    let lead = db
        .verify_login("carmen.lider", PASSWORD)
        .await
        .expect("login")
        .unwrap_or_else(|| panic!("v{version}: the lead logs in with their password"));

    // The counts kept by triggers still agree with the incidents themselves.
    let counted = db.queue_counts(lead.id, &Scope::All).await.expect("counts");
    db.recount_queue_tally().await.expect("recount");
    assert_eq!(
        format!("{counted:?}"),
        format!(
            "{:?}",
            db.queue_counts(lead.id, &Scope::All).await.expect("counts")
        ),
        "v{version}: the queue's counts"
    );
    let rollup = format!(
        "{:?}",
        db.period_rollup(0, 999_999, true).await.expect("rollup")
    );
    db.rebuild_indicators(true).await.expect("rebuild");
    assert_eq!(
        rollup,
        format!(
            "{:?}",
            db.period_rollup(0, 999_999, true).await.expect("rollup")
        ),
        "v{version}: the indicators"
    );

    let listed = db
        .incidents(
            &Scope::All,
            &IncidentFilter {
                limit: 500,
                ..Default::default()
            },
        )
        .await
        .expect("the incident list");
    assert!(
        !listed.is_empty(),
        "v{version}: the list shows the incidents"
    );
    for item in listed.iter().take(50) {
        db.incident(item.incident.id).await.expect("an incident");
        db.timeline(item.incident.id).await.expect("its timeline");
    }
    let found = db
        .search_incidents(&Scope::All, &SearchQuery::parse(MARK), 10)
        .await
        .expect("search");
    assert!(!found.is_empty(), "v{version}: search finds what it held");
    assert!(
        !db.articles(&ArticleFilter::default())
            .await
            .expect("articles")
            .is_empty()
    );

    let created = db
        .create_incident(
            Actor::Staff(&lead),
            NewIncidentInput {
                channel: Channel::Phone,
                contact_id: listed.iter().find_map(|i| i.incident.contact_id),
                subject: "Después de actualizar".into(),
                body: "Primera llamada tras la actualización".into(),
                user_type: Some(UserType::Applicant),
                incident_type: Some(IncidentType::Question),
                topic_id: None,
                critical: false,
                assigned_to: Some(lead.id),
                received_at: None,
            },
        )
        .await
        .expect("a new incident after the upgrade");
    assert!(
        listed.iter().all(|i| i.incident.folio != created.folio),
        "v{version}: folios continue where they were ({})",
        created.folio
    );
}

async fn a_failing_migration_leaves_the_database_as_the_step_before_left_it(db: TestDb) {
    fill_every_table(&db).await;
    let before = db.rows_per_table().await;
    let engine = if db.url.starts_with("sqlite") {
        Engine::Sqlite
    } else {
        Engine::Postgres
    };
    let today = atiende_store::migrate::for_engine(engine);
    let newest = today.last().expect("migrations").version;
    // A next step that changes a table, adds one, and then fails half-way.
    let failing = Migration {
        version: newest + 1,
        name: "9999_fails_half_way",
        sql: "UPDATE incidents SET subject = 'perdido';\n\
              CREATE TABLE half_done (id BIGINT PRIMARY KEY);\n\
              INSERT INTO no_such_table VALUES (1);",
    };
    let steps: Vec<Migration> = today
        .iter()
        .map(|m| Migration {
            version: m.version,
            name: m.name,
            sql: m.sql,
        })
        .chain([failing])
        .collect();
    assert!(db.apply_migrations(&steps).await.is_err(), "the step fails");
    assert_eq!(
        db.rows_per_table().await,
        before,
        "no table gained or lost a row"
    );
    // A recorded step newer than the release would make this refuse the database.
    assert!(
        db.pending_migrations()
            .await
            .expect("the failed step is not recorded")
            .is_empty(),
        "today's steps stay applied"
    );
    let found = db
        .search_incidents(&Scope::All, &SearchQuery::parse(MARK), 10)
        .await
        .expect("search");
    assert!(!found.is_empty());
    assert!(
        found.iter().all(|h| h.subject != "perdido"),
        "no change kept"
    );
}

async fn the_fixture_writer_fills_every_table_of_todays_schema(db: TestDb) {
    fill_every_table(&db).await;
    let empty: Vec<String> = db
        .rows_per_table()
        .await
        .into_iter()
        .filter(|(_, n)| *n == 0)
        .map(|(t, _)| t)
        .collect();
    assert!(
        empty.is_empty(),
        "fill_every_table leaves these tables empty (a new table needs rows there): {empty:?}"
    );
    // `scripts/upgrade-fixture` sets this to write the current release's fixture.
    if let Ok(dir) = std::env::var("ATIENDE_WRITE_UPGRADE_FIXTURE") {
        let engine = if db.url.starts_with("sqlite") {
            Engine::Sqlite
        } else {
            Engine::Postgres
        };
        let version = atiende_store::migrate::for_engine(engine)
            .last()
            .expect("migrations")
            .version;
        db.write_fixture(&Path::new(&dir).join(fixture_name(engine, version)))
            .await;
    }
}

/// Rows in every table through today's operations: the demo (staff, a small year of history,
/// surveys, targets, nonconformities, articles) and what it leaves out — a mailbox and an
/// email with an attachment, WhatsApp (taken and held), a call, the buzón, imports, tokens,
/// sessions, a personal-data request and the access log, a published notice, an article that
/// resolved an incident, and a worker's lease.
async fn fill_every_table(db: &TestDb) {
    db.first_run(Some(PASSWORD)).await.expect("first run");
    db.load_demo(40, 2026, Some(PASSWORD)).await.expect("demo");
    let lead = db
        .user_by_login("carmen.lider")
        .await
        .expect("the demo's lead");
    let actor = Actor::Staff(&lead);
    // The lead wants low scores in the daily digest (sent at the end).
    db.save_notification_preferences(
        lead.id,
        &[atiende_store::notifications::NotificationChoice {
            kind: atiende_domain::notification::NotificationKind::LowSurveyScore,
            preference: atiende_domain::notification::Preference {
                in_console: true,
                email: atiende_domain::notification::EmailDelivery::Digest,
            },
        }],
    )
    .await
    .expect("notification preferences");

    db.save_mailbox(actor, &atiende_store::testing::sending_mailbox())
        .await
        .expect("mailbox");
    // A chat account's sending failed, and the administrators were told.
    let account = atiende_domain::external_service::ExternalService::chat_send(
        Provider::Whatsapp,
        "106540352242922",
    );
    db.record_service(&account, Some("HTTP 500: unavailable"))
        .await;
    db.tell_failing_services(chrono::Duration::zero())
        .await
        .expect("told");
    let email = InboundEmail {
        message_id: "fixture-1@alumnos.udg.mx".into(),
        from_address: Some("paola.fixture@alumnos.udg.mx".into()),
        from_name: "Paola Ruiz".into(),
        to: vec!["cap@udgvirtual.example".into()],
        subject: format!("Mi {MARK}"),
        text: format!("Hola, necesito mi {MARK}; adjunto mi kardex."),
        html: Some(format!("<p>Hola, necesito mi {MARK}</p>")),
        attachments: vec![InboundAttachment {
            filename: "kardex.txt".into(),
            content_type: "text/plain".into(),
            content_id: None,
            inline: false,
            data: b"Kardex".to_vec(),
        }],
        ..Default::default()
    };
    db.ingest_email(
        None,
        &email,
        b"From: paola.fixture@alumnos.udg.mx\r\n\r\nHola",
    )
    .await
    .expect("email");
    let chat = |account: &str, external: &str| InboundChat {
        provider: Provider::Whatsapp,
        account_id: account.into(),
        peer_id: "5213311223344".into(),
        peer_name: Some("Luis Torres".into()),
        external_id: external.into(),
        sent_at: chrono::Utc::now(),
        contents: vec![ChatContent::Text {
            body: format!("¿Cómo tramito la {MARK}?"),
        }],
    };
    db.ingest_chat(&chat("106540352242922", "wamid.fixture-1"))
        .await
        .expect("WhatsApp");
    db.hold_chat(&chat("999000111", "wamid.fixture-held"))
        .await
        .expect("held WhatsApp");
    db.record_call_event(&CallEventInput {
        event: CallEvent::NewCall,
        call_id: "call-fixture-1".into(),
        direction: CallDirection::In,
        from: "3311223344".into(),
        to: "3331345678".into(),
        users: vec![],
        answering_number: None,
    })
    .await
    .expect("call");
    db.submit_to_suggestion_box(&SuggestionBoxEntry {
        kind: Some(IncidentType::Suggestion),
        message: "Que el chat atienda los sábados".into(),
        ..Default::default()
    })
    .await
    .expect("buzón");

    let person = RosterRow {
        line: 2,
        name: "Karla Díaz".into(),
        emails: vec!["karla.fixture@alumnos.udg.mx".into()],
        student_code: "219000111".into(),
        ..Default::default()
    };
    let at = |hours_ago: i64| chrono::Utc::now() - chrono::Duration::hours(hours_ago);
    let export = SugarExport {
        contacts: vec![(
            2,
            SugarContact {
                id: "sugar-karla".into(),
                person,
                account_id: String::new(),
            },
        )],
        cases: vec![SugarCase {
            line: 2,
            id: "sugar-case-fixture".into(),
            number: "2001".into(),
            subject: "Revalidación".into(),
            description: "Pide revalidar materias".into(),
            resolution: "Se orientó".into(),
            work_log: String::new(),
            received_at: at(72),
            closed_at: Some(at(48)),
            status: atiende_domain::incident::Status::Closed,
            sugar_status: "Closed".into(),
            channel: Channel::Email,
            incident_type: Some(IncidentType::Question),
            user_type: None,
            contact: "sugar-karla".into(),
            account: String::new(),
            assigned: String::new(),
        }],
        notes: vec![],
        calls: vec![SugarCall {
            line: 2,
            id: "sugar-call-fixture".into(),
            subject: "Llamada".into(),
            description: "Confirmó sus datos".into(),
            started_at: at(71),
            minutes: 5,
            direction: CallDirection::Out,
            held: true,
            parents: Parents {
                case: "sugar-case-fixture".into(),
                contact: "sugar-karla".into(),
            },
            agent: String::new(),
        }],
        case_contacts: vec![],
    };
    db.import_sugarcrm(actor, &export, false, |_, _, _| {})
        .await
        .expect("SugarCRM");

    db.create_api_token(
        actor,
        lead.id,
        "Tablero de la rectoría",
        &atiende_domain::access::TokenScopes::parse(["read"]).expect("scopes"),
        None,
    )
    .await
    .expect("API token");
    db.create_session(lead.id, chrono::Duration::hours(8))
        .await
        .expect("session");
    db.request_personal_file("karla.fixture@alumnos.udg.mx", "https://cap.example.mx")
        .await
        .expect("a person asks for their file");
    let karla = db
        .find_contact(&Identifier {
            kind: IdentifierKind::Email,
            value: "karla.fixture@alumnos.udg.mx".into(),
        })
        .await
        .expect("lookup")
        .expect("Karla");
    db.log_personal_access(actor, karla.id, DataAction::View, "consulta")
        .await
        .expect("access log");
    // Karla signs in to her portal with the emailed link.
    db.request_portal_link("karla.fixture@alumnos.udg.mx", "https://cap.example.mx")
        .await
        .expect("a sign-in link");
    let link = db.sent_link(None, "mis-solicitudes/entrar").await;
    db.open_portal_session(link.rsplit('/').next().expect("token"))
        .await
        .expect("portal")
        .expect("a portal session");
    // And writes to the CAP from the web chat on the university's site.
    let chat = db
        .start_web_chat(&atiende_store::web_chat::WebChatStart {
            name: "Karla Núñez".into(),
            email: "karla.fixture@alumnos.udg.mx".into(),
            message: format!("¿Dónde veo mi {MARK}?"),
            origin: "https://www.udgvirtual.udg.mx".into(),
            ..Default::default()
        })
        .await
        .expect("a web chat");
    assert_eq!(
        chat.incident.channel,
        atiende_domain::classification::Channel::ChatWeb
    );
    db.ensure_notice(NoticeKind::Simplified, "Aviso de privacidad simplificado.")
        .await
        .expect("notice");

    let article = db
        .create_article(
            actor,
            &ArticleInput {
                title: "Cómo pedir una constancia de estudios".into(),
                body: format!("Pídala en el portal; la **{MARK}** llega por correo."),
                tags: "constancia, kardex".into(),
                public: true,
                ..Default::default()
            },
        )
        .await
        .expect("an article");
    let some = db
        .incidents(
            &Scope::All,
            &IncidentFilter {
                limit: 1,
                ..Default::default()
            },
        )
        .await
        .expect("incidents");
    db.mark_resolved_by_article(actor, some[0].incident.id, article.id)
        .await
        .expect("resolved by the article");
    // A canned response of the CAP's, sent once.
    let canned = db
        .create_canned_response(
            &lead,
            &atiende_domain::canned_response::CannedResponseInput {
                title: "Constancia".into(),
                body: "Hola, {{ nombre }}: pídala en el portal.".into(),
                topic_id: None,
                shared: true,
            },
        )
        .await
        .expect("canned response");
    let open = db
        .incidents(
            &Scope::All,
            &IncidentFilter {
                not_closed: true,
                limit: 1,
                ..Default::default()
            },
        )
        .await
        .expect("incidents");
    let body = db
        .fill_canned_response(&lead, canned.id, open[0].incident.id)
        .await
        .expect("filled");
    db.add_entry_from_canned(
        actor,
        open[0].incident.id,
        atiende_domain::incident::EntryKind::OutboundMessage,
        &body,
        &[],
        canned.id,
    )
    .await
    .expect("answered from it");
    db.create_macro(
        &lead,
        &atiende_domain::macros::MacroInput {
            name: "Constancia: orientar y cerrar".into(),
            steps: atiende_domain::macros::MacroSteps {
                canned_response_id: Some(canned.id),
                finish: atiende_domain::macros::MacroFinish::Close,
                ..Default::default()
            },
            shared: true,
        },
    )
    .await
    .expect("macro");
    // A closed call surveyed and answered, under a policy of the institution's own.
    let policy = SurveyPolicy {
        delay_hours: 0,
        min_days_between: 0,
        ..Default::default()
    };
    db.save_setting(actor, atiende_store::settings::key::SURVEY_POLICY, &policy)
        .await
        .expect("a setting");
    let surveyed = db.closed_phone_incident(&lead, Some(karla.id)).await;
    db.process_survey_due(surveyed, &policy, "https://cap.example.mx", None)
        .await
        .expect("survey");
    let link = db.sent_link(Some(surveyed), "encuesta").await;
    // The suggestions learned from the demo's history, one shown for a new incident that the
    // agent then classified.
    db.train_suggestions(chrono::Utc::now())
        .await
        .expect("trained")
        .expect("a model");
    let asked = db
        .create_incident(
            actor,
            atiende_domain::incident::NewIncidentInput {
                channel: atiende_domain::classification::Channel::Phone,
                contact_id: Some(karla.id),
                subject: "Orden de pago vencida".into(),
                body: "Mi orden de pago venció y no alcancé a pagar.".into(),
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
    db.suggestion_for(&asked)
        .await
        .expect("suggested")
        .expect("a suggestion");
    // The lead has it open while the agent writes; the lead keeps a view of the queue.
    db.mark_present(asked.id, lead.id, true, chrono::Utc::now())
        .await
        .expect("present");
    db.save_view(lead.id, "Correos", "queue=open&channel=email")
        .await
        .expect("saved view");
    db.classify_incident(
        actor,
        asked.id,
        &atiende_domain::incident::ClassifyInput {
            incident_type: Some(atiende_domain::classification::IncidentType::Question),
            ..Default::default()
        },
    )
    .await
    .expect("classified");
    let answers = [
        ("overall", "2"),
        ("resolved", "no"),
        ("clarity", "3"),
        ("speed", "1"),
        ("comment", "Tardaron"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    db.answer_survey(link.rsplit('/').next().expect("token"), &answers, &policy)
        .await
        .expect("answer");
    db.register_nonconformity(
        actor,
        Some(surveyed),
        &NonconformityInput {
            description: "Respuesta tardía a una llamada".into(),
            ..Default::default()
        },
    )
    .await
    .expect("a nonconformity");
    // An identity provider added in the console.
    db.save_identity_provider(
        actor,
        &atiende_domain::sign_in::IdentityProvider {
            id: "udg".into(),
            name: "Cuenta UDG".into(),
            issuer: "https://accounts.google.com".into(),
            client_id: "atiende".into(),
            client_secret: "secreto-del-cliente".into(),
            scopes: vec![],
            groups_claim: String::new(),
            accounts: Default::default(),
        },
    )
    .await
    .expect("identity provider");
    // A second factor, with its recovery codes.
    let secret = db.begin_second_factor(lead.id).await.expect("enrol");
    let code = totp_rs::Builder::new()
        .with_secret(totp_rs::Secret::try_from_base32(&secret).expect("base32"))
        .build()
        .expect("totp")
        .generate_current()
        .to_string();
    db.confirm_second_factor(&lead, &code)
        .await
        .expect("second factor");
    let now = chrono::Utc::now();
    db.take_lease(
        "fixture",
        "instance-1",
        now,
        now + chrono::Duration::minutes(1),
    )
    .await
    .expect("lease");
    // Service-level thresholds told (as the worker would, weeks from now).
    db.tell_service_levels(now + chrono::Duration::days(60), 1000)
        .await
        .expect("thresholds");
    // A webhook subscription, and the delivery of a closing to it.
    db.create_webhook(
        actor,
        &atiende_domain::webhook::SubscriptionInput {
            url: "https://bi.udg.example/eventos".into(),
            events: atiende_domain::webhook::EventType::ALL.to_vec(),
            description: "BI".into(),
        },
        false,
    )
    .await
    .expect("webhook");
    let webhook_person = db
        .create_contact(
            actor,
            &atiende_domain::contact::ContactInput {
                name: Some("Persona del webhook".into()),
                ..Default::default()
            },
        )
        .await
        .expect("contact");
    db.closed_phone_incident(&lead, Some(webhook_person.id))
        .await;
    // Tomorrow morning's digest.
    let tomorrow = chrono::Utc::now()
        .with_timezone(&db.time_zone())
        .date_naive()
        + chrono::Duration::days(1);
    let morning = chrono::TimeZone::from_local_datetime(
        &db.time_zone(),
        &tomorrow.and_hms_opt(9, 0, 0).expect("9:00"),
    )
    .earliest()
    .expect("local")
    .with_timezone(&chrono::Utc);
    db.queue_notification_emails("https://cap.example.mx", morning)
        .await
        .expect("digest");
    // Every demo role is there.
    for role in [Role::Agent, Role::CapLead, Role::QualityOwner] {
        assert!(
            db.users()
                .await
                .expect("users")
                .iter()
                .any(|u| u.role == role),
            "{role:?}"
        );
    }
}
