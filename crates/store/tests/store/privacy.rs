//! Personal data on both engines: a person's file holds everything about them; blocking hides
//! them from normal use; suppression removes a planted canary from every table, the search
//! index and the attachment store (and, on SQLite, from the database files themselves) while
//! the indicators stay as they were; the access log records each step and refuses edits.

use atiende_domain::access::Scope;
use atiende_domain::call::{CallDirection, CallEvent, CallEventInput};
use atiende_domain::chat::{ChatContent, InboundChat, Provider};
use atiende_domain::classification::{Channel, IncidentType, Medium, UserType};
use atiende_domain::contact::ContactInput;
use atiende_domain::derivation::DeriveInput;
use atiende_domain::email::{InboundAttachment, InboundEmail};
use atiende_domain::ids::{ContactId, IncidentId};
use atiende_domain::incident::{ClassifyInput, NewIncidentInput};
use atiende_domain::knowledge::SearchQuery;
use atiende_domain::privacy::{DataAction, NoticeKind, RetentionPolicy};
use atiende_domain::survey::SurveyPolicy;
use atiende_domain::unit::UnitKind;
use atiende_domain::user::{Role, UserInput};
use atiende_store::Actor;
use atiende_store::contacts::ContactQuery;
use atiende_store::import::RosterRow;
use atiende_store::import::sugarcrm::{
    Parents, SugarCall, SugarCase, SugarContact, SugarExport, SugarNote,
};
use atiende_store::privacy::retention::RetentionReport;
use atiende_store::public::SuggestionBoxEntry;
use atiende_store::testing::TestDb;

atiende_store::on_both_engines!(
    a_blocked_person_leaves_normal_use_and_suppression_leaves_no_trace_but_the_statistics,
    an_automatic_reply_carries_the_simplified_privacy_notice_in_force,
    retention_counts_first_then_anonymises_what_outlived_its_period_once,
    an_objection_travels_with_the_derivation_and_a_blocked_person_is_not_surveyed,
    a_mailbox_password_is_sealed_and_opens_only_where_the_login_needs_it,
);

/// Written in the person's name, address, notes, messages, an attachment, a derivation, the
/// intervention notes and a survey comment.
const CANARY: &str = "zyxwcanary";

async fn plant(db: &TestDb) -> (ContactId, Vec<IncidentId>) {
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
    let actor = Actor::Staff(&agent);
    let person = db
        .create_contact(
            actor,
            &ContactInput {
                name: Some(format!("Ana {CANARY}")),
                emails: Some(vec![format!("{CANARY}@gmail.com")]),
                phones: Some(vec!["33 9988 7766".into()]),
                whatsapp_id: Some("5213399887766".into()),
                user_type: Some(UserType::Student),
                notes: Some(format!("Prefiere correo, dice {CANARY}")),
                ..Default::default()
            },
        )
        .await
        .expect("person");
    // Rectification: a change kept with its before and after.
    db.update_contact(
        actor,
        person.id,
        &ContactInput {
            name: Some(format!("Ana María {CANARY}")),
            ..Default::default()
        },
    )
    .await
    .expect("rectify");
    let phone = db
        .create_incident(
            actor,
            NewIncidentInput {
                channel: Channel::Phone,
                contact_id: Some(person.id),
                subject: format!("Constancia para {CANARY}"),
                body: format!("Llamó {CANARY} para pedir una constancia"),
                user_type: None,
                incident_type: None,
                topic_id: None,
                critical: false,
                assigned_to: Some(agent.id),
                received_at: None,
            },
        )
        .await
        .expect("phone incident");
    db.classify_incident(
        actor,
        phone.id,
        &ClassifyInput {
            incident_type: Some(IncidentType::Question),
            user_type: Some(UserType::Student),
            ..Default::default()
        },
    )
    .await
    .expect("classify");
    let unit = db
        .units()
        .await
        .expect("units")
        .into_iter()
        .find(|u| u.kind == UnitKind::Coordination)
        .expect("unit");
    db.derive_incident(
        actor,
        phone.id,
        &DeriveInput {
            unit_id: unit.id,
            medium: Medium::Email,
            reason: format!("Revisar el expediente de {CANARY}"),
            user_told: Some(true),
            told_address: None,
            close: true,
            notes: Some(format!("Se derivó; {CANARY} quedó enterada")),
        },
    )
    .await
    .expect("derive and close");
    let policy = SurveyPolicy {
        delay_hours: 0,
        min_days_between: 0,
        ..Default::default()
    };
    db.process_survey_due(phone.id, &policy, "https://cap.example.mx", None)
        .await
        .expect("survey");
    let link = db.sent_link(Some(phone.id), "encuesta").await;
    let token = link.rsplit('/').next().expect("token");
    let answers = [
        ("overall", "5".to_string()),
        ("resolved", "yes".to_string()),
        ("clarity", "5".to_string()),
        ("speed", "5".to_string()),
        ("comment", format!("Gracias, soy {CANARY}")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    db.answer_survey(token, &answers, &policy)
        .await
        .expect("answer");
    let email = InboundEmail {
        message_id: format!("{CANARY}-1@gmail.com"),
        from_address: Some(format!("{CANARY}@gmail.com")),
        from_name: format!("Ana {CANARY}"),
        to: vec!["cap@udgvirtual.example".into()],
        subject: format!("Mi kardex, {CANARY}"),
        text: format!("Hola, soy {CANARY}; adjunto mi kardex."),
        html: Some(format!("<p>Hola, soy {CANARY}</p>")),
        attachments: vec![InboundAttachment {
            filename: format!("kardex-{CANARY}.txt"),
            content_type: "text/plain".into(),
            content_id: None,
            inline: false,
            data: format!("Kardex de {CANARY}").into_bytes(),
        }],
        ..Default::default()
    };
    let raw = format!("From: {CANARY}@gmail.com\r\nSubject: kardex\r\n\r\nHola, soy {CANARY}");
    db.ingest_email(None, &email, raw.as_bytes())
        .await
        .expect("email");
    // Every other way their data comes in: WhatsApp, the buzón, a phone call.
    db.ingest_chat(&InboundChat {
        provider: Provider::Whatsapp,
        account_id: "106540352242922".into(),
        peer_id: "5213399887766".into(),
        peer_name: Some(format!("Ana {CANARY}")),
        external_id: "wamid.plant-1".into(),
        sent_at: chrono::Utc::now(),
        contents: vec![ChatContent::Text {
            body: format!("Hola, soy {CANARY} por WhatsApp"),
        }],
    })
    .await
    .expect("chat");
    // And a message for a WhatsApp number not configured yet, held until it is.
    db.hold_chat(&InboundChat {
        provider: Provider::Whatsapp,
        account_id: "999000111".into(),
        peer_id: "5213399887766".into(),
        peer_name: Some(format!("Ana {CANARY}")),
        external_id: "wamid.held-1".into(),
        sent_at: chrono::Utc::now(),
        contents: vec![ChatContent::Text {
            body: format!("¿Me leen? Soy {CANARY}"),
        }],
    })
    .await
    .expect("held");
    db.submit_to_suggestion_box(&SuggestionBoxEntry {
        kind: Some(IncidentType::Complaint),
        message: format!("Queja de {CANARY}: nadie contesta"),
        name: format!("Ana {CANARY}"),
        email: format!("{CANARY}@gmail.com"),
        phone: String::new(),
        student_code: String::new(),
        privacy_notice_id: None,
    })
    .await
    .expect("buzón");
    db.record_call_event(&CallEventInput {
        event: CallEvent::NewCall,
        call_id: "call-plant-1".into(),
        direction: CallDirection::In,
        from: "3399887766".into(),
        to: "3331345678".into(),
        users: vec![],
        answering_number: None,
    })
    .await
    .expect("call");
    // The past brought in: a roster row and a SugarCRM export (a case with a note and a call)
    // that name the same address, so they land on the same person.
    let roster = RosterRow {
        line: 2,
        name: format!("Ana María {CANARY}"),
        emails: vec![format!("{CANARY}@gmail.com")],
        phones: vec!["33 1122 3344".into()],
        student_code: "219876543".into(),
        ..Default::default()
    };
    db.import_roster(
        Actor::System,
        std::slice::from_ref(&roster),
        false,
        |_, _| {},
    )
    .await
    .expect("roster");
    // Recent history, so that retention finds it as it finds the rest.
    let at = |hours_ago: i64| chrono::Utc::now() - chrono::Duration::hours(hours_ago);
    let export = SugarExport {
        contacts: vec![(
            2,
            SugarContact {
                id: "sugar-ana".into(),
                person: roster,
                account_id: String::new(),
            },
        )],
        cases: vec![SugarCase {
            line: 2,
            id: "sugar-case-1".into(),
            number: "1001".into(),
            subject: format!("Baja temporal de {CANARY}"),
            description: format!("{CANARY} pide una baja temporal"),
            resolution: format!("Se orientó a {CANARY}"),
            work_log: format!("Bitácora: {CANARY} llamó dos veces"),
            received_at: at(72),
            closed_at: Some(at(48)),
            status: atiende_domain::incident::Status::Closed,
            sugar_status: "Closed".into(),
            channel: Channel::Email,
            incident_type: Some(IncidentType::Question),
            user_type: None,
            contact: "sugar-ana".into(),
            account: String::new(),
            assigned: String::new(),
        }],
        notes: vec![SugarNote {
            line: 2,
            id: "sugar-note-1".into(),
            subject: format!("Nota sobre {CANARY}"),
            body: format!("{CANARY} mandó su identificación"),
            at: at(70),
            parents: Parents {
                case: "sugar-case-1".into(),
                contact: String::new(),
            },
            author: String::new(),
            attachment: format!("ine-{CANARY}.pdf"),
        }],
        calls: vec![SugarCall {
            line: 2,
            id: "sugar-call-1".into(),
            subject: format!("Llamada con {CANARY}"),
            description: format!("{CANARY} confirmó sus datos"),
            started_at: at(71),
            minutes: 15,
            direction: CallDirection::Out,
            held: true,
            parents: Parents {
                case: "sugar-case-1".into(),
                contact: "sugar-ana".into(),
            },
            agent: String::new(),
        }],
        case_contacts: vec![],
    };
    db.import_sugarcrm(Actor::System, &export, false, |_, _, _| {})
        .await
        .expect("SugarCRM");
    // A request for their own file (/mis-datos): a message to their address that belongs to
    // no incident.
    db.request_personal_file(&format!("{CANARY}@gmail.com"), "https://cap.example.mx")
        .await
        .expect("own file requested");
    let emailed = db
        .incidents(
            &Scope::All,
            &atiende_store::incidents::IncidentFilter {
                contact_id: Some(person.id),
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .expect("incidents");
    let ids = emailed.iter().map(|i| i.incident.id).collect();
    (person.id, ids)
}

/// Every place in the database that still holds the canary, as `table.column`.
async fn canary_hits(db: &TestDb) -> Vec<String> {
    db.columns_containing(CANARY).await
}

/// On SQLite, the bytes of the database and its log, where deleted rows could linger.
fn canary_in_files(db: &TestDb) -> bool {
    let Some(path) = db.url.strip_prefix("sqlite://") else {
        return false;
    };
    [path.to_string(), format!("{path}-wal")].iter().any(|p| {
        std::fs::read(p).is_ok_and(|bytes| {
            bytes
                .windows(CANARY.len())
                .any(|w| w.eq_ignore_ascii_case(CANARY.as_bytes()))
        })
    })
}

async fn a_blocked_person_leaves_normal_use_and_suppression_leaves_no_trace_but_the_statistics(
    db: TestDb,
) {
    let (person, incidents) = plant(&db).await;
    assert_eq!(
        incidents.len(),
        5,
        "the phone call, the email, WhatsApp, the buzón and the imported case"
    );
    let admin = db.user_by_login("admin").await.expect("admin");
    let admin = Actor::Staff(&admin);

    // Access: the whole file, and the export is logged.
    let file = db.personal_file(admin, person, "json").await.expect("file");
    assert_eq!(file.incidents.len(), 5);
    let json = serde_json::to_string(&file).expect("json");
    for expected in [
        "kardex-",
        "pide una baja temporal",
        "confirmó sus datos",
        "Revisar el expediente",
        "Gracias, soy",
        "33 9988 7766",
    ] {
        let expected = expected.replace("33 9988 7766", "523399887766");
        assert!(json.contains(&expected), "`{expected}` in the file");
    }
    assert!(
        file.history.iter().any(|e| e.action == "contact.update"),
        "rectification history"
    );
    assert!(file.incidents.iter().any(|i| !i.attachments.is_empty()));

    let before = format!(
        "{:?}",
        db.period_rollup(0, 999_999, true).await.expect("rollup")
    );
    assert!(!canary_hits(&db).await.is_empty(), "the canary is planted");
    assert_eq!(
        canary_in_files(&db),
        db.url.starts_with("sqlite"),
        "and in the SQLite files"
    );

    // Suppression needs a block first.
    assert!(db.anonymise_contact(admin, person).await.is_err());
    db.block_contact(admin, person, "Solicitud ARCO 2026-014")
        .await
        .expect("block");
    let listed = db
        .contacts(&ContactQuery {
            limit: 50,
            ..Default::default()
        })
        .await
        .expect("contacts");
    assert!(listed.iter().all(|c| c.id != person), "blocked: not listed");
    let found = db
        .search_contacts(&SearchQuery::parse(CANARY), 10)
        .await
        .expect("search");
    assert!(found.is_empty(), "blocked: not found");

    let report = db.anonymise_contact(admin, person).await.expect("suppress");
    assert_eq!(
        report.incidents, 5,
        "phone, email, WhatsApp, buzón and the imported case"
    );
    assert_eq!(report.attachments, 1);

    assert_eq!(
        canary_hits(&db).await,
        Vec::<String>::new(),
        "nowhere in the tables"
    );
    assert!(!canary_in_files(&db), "nowhere in the database files");
    assert_eq!(
        db.columns_containing("99887766").await,
        Vec::<String>::new(),
        "the phone number nowhere either"
    );
    assert!(
        db.search_incidents(&Scope::All, &SearchQuery::parse(CANARY), 10)
            .await
            .expect("search")
            .is_empty()
    );
    let after = format!(
        "{:?}",
        db.period_rollup(0, 999_999, true).await.expect("rollup")
    );
    assert_eq!(before, after, "the indicators do not move");
    let mut kept = Vec::new();
    for id in &incidents {
        kept.push(db.incident(*id).await.expect("incident"));
    }
    assert!(kept.iter().all(|i| i.folio.to_string().starts_with("CAP-")));
    assert!(
        kept.iter()
            .any(|i| i.incident_type == Some(IncidentType::Question) && i.closed_at.is_some()),
        "folios, dates and classifications stay"
    );

    // The access log shows each step, newest first, and refuses to be edited.
    let log = db
        .personal_access_log(Some(person), None, 50)
        .await
        .expect("log");
    let actions: Vec<DataAction> = log.iter().map(|e| e.action).collect();
    assert_eq!(
        actions,
        [DataAction::Anonymise, DataAction::Block, DataAction::Export]
    );
    assert!(log.iter().all(|e| e.actor == "admin"));
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&db.url).await.expect("connect");
    for sql in [
        "UPDATE personal_data_access SET actor = 'nadie'",
        "DELETE FROM personal_data_access",
    ] {
        assert!(
            sqlx::query(sql).execute(&pool).await.is_err(),
            "`{sql}` is refused"
        );
    }
    pool.close().await;
    assert_eq!(
        db.personal_access_log(Some(person), None, 50)
            .await
            .expect("log")
            .len(),
        3
    );
}

async fn an_automatic_reply_carries_the_simplified_privacy_notice_in_force(db: TestDb) {
    db.first_run(Some("contraseña-segura-1"))
        .await
        .expect("first run");
    let mailbox = db
        .save_mailbox(Actor::System, &atiende_store::testing::sending_mailbox())
        .await
        .expect("mailbox");
    db.ensure_notice(NoticeKind::Simplified, "Aviso simplificado, versión uno.")
        .await
        .expect("v1");
    db.publish_notice(
        Actor::System,
        NoticeKind::Simplified,
        "Aviso simplificado, versión dos.",
    )
    .await
    .expect("v2");
    let email = InboundEmail {
        message_id: "kardex-1@gmail.com".into(),
        from_address: Some("pablo@gmail.com".into()),
        from_name: "Pablo".into(),
        to: vec!["cap@udgvirtual.example".into()],
        subject: "Kardex".into(),
        text: "¿Cómo descargo mi kardex?".into(),
        ..Default::default()
    };
    db.ingest_email(
        Some(&mailbox),
        &email,
        b"From: pablo@gmail.com\r\n\r\nkardex",
    )
    .await
    .expect("email");
    let replies = db.outbox(None, 10).await.expect("outbox");
    let text = replies
        .iter()
        .find_map(|o| o.payload["text"].as_str())
        .expect("acknowledgement");
    assert!(text.contains("Aviso simplificado, versión dos."), "{text}");
}

async fn retention_counts_first_then_anonymises_what_outlived_its_period_once(db: TestDb) {
    let (person, incidents) = plant(&db).await;
    let now = chrono::Utc::now();
    let later = now + chrono::Duration::days(31);
    let policy = RetentionPolicy {
        closed_incident_days: Some(30),
        attachment_days: Some(30),
        survey_comment_days: Some(30),
        ..Default::default()
    };
    let nothing = RetentionReport::default();
    assert_eq!(db.retention_due(&policy, now).await.expect("due"), nothing);
    assert_eq!(
        db.retention_due(&RetentionPolicy::default(), later)
            .await
            .expect("due"),
        nothing,
        "no period, nothing anonymised"
    );
    let due = db.retention_due(&policy, later).await.expect("due");
    // The phone incident and the imported case are closed; the emailed one (with the
    // attachment) is still open.
    let expected = RetentionReport {
        blocked_contacts: 0,
        incidents: 2,
        attachments: 0,
        surveys: 1,
    };
    assert_eq!(due, expected);
    let before = format!(
        "{:?}",
        db.period_rollup(0, 999_999, true).await.expect("rollup")
    );
    assert_eq!(
        db.apply_retention(&policy, later).await.expect("apply"),
        expected
    );
    assert_eq!(
        db.apply_retention(&policy, later).await.expect("again"),
        nothing,
        "once"
    );
    let mut closed = None;
    for id in &incidents {
        let i = db.incident(*id).await.expect("incident");
        if i.closed_at.is_some() {
            assert_eq!(i.subject, "[Suprimido]");
            if i.channel == Channel::Phone {
                closed = Some(i);
            }
        }
    }
    let closed = closed.expect("the closed phone call");
    let survey = db
        .survey_of_incident(closed.id)
        .await
        .expect("survey")
        .expect("answered");
    let answers = survey.answers.expect("answers");
    assert_eq!(answers["overall"], 5);
    assert!(answers.get("comment").is_none(), "{answers}");
    assert_eq!(
        before,
        format!(
            "{:?}",
            db.period_rollup(0, 999_999, true).await.expect("rollup")
        ),
        "the indicators do not move"
    );
    // The person is still there: their contact data is not a closed incident.
    assert!(!db.contact(person).await.expect("person").emails.is_empty());

    // A blocked person is suppressed once the blocking period has run out.
    db.block_contact(Actor::System, person, "ARCO-2026-031")
        .await
        .expect("block");
    let blocked = RetentionPolicy {
        blocked_days: Some(10),
        ..Default::default()
    };
    assert_eq!(
        db.retention_due(&blocked, now)
            .await
            .expect("due")
            .blocked_contacts,
        0
    );
    let eleven = now + chrono::Duration::days(11);
    assert_eq!(
        db.retention_due(&blocked, eleven)
            .await
            .expect("due")
            .blocked_contacts,
        1
    );
    db.apply_retention(&blocked, eleven).await.expect("apply");
    let gone = db.contact(person).await.expect("person");
    assert!(gone.anonymised_at.is_some() && gone.emails.is_empty());
    assert_eq!(canary_hits(&db).await, Vec::<String>::new());
    let log = db
        .personal_access_log(Some(person), None, 10)
        .await
        .expect("log");
    assert_eq!(log[0].action, DataAction::Anonymise);
    assert_eq!(
        (log[0].actor.as_str(), log[0].detail.as_str()),
        ("atiende", "retention")
    );

    // One run a day, whichever instance claims it.
    assert!(db.claim_retention_run("a", now).await.expect("claim"));
    assert!(!db.claim_retention_run("a", now).await.expect("claimed"));
    assert!(
        !db.claim_retention_run("b", now)
            .await
            .expect("claimed by another")
    );
    assert!(
        db.claim_retention_run("b", later)
            .await
            .expect("another day")
    );
}

async fn an_objection_travels_with_the_derivation_and_a_blocked_person_is_not_surveyed(db: TestDb) {
    db.first_run(Some("contraseña-segura-1"))
        .await
        .expect("first run");
    db.save_mailbox(Actor::System, &atiende_store::testing::sending_mailbox())
        .await
        .expect("mailbox");
    let admin = db.user_by_login("admin").await.expect("admin");
    let actor = Actor::Staff(&admin);
    let person = db
        .create_contact(
            actor,
            &ContactInput {
                name: Some("Mario Ruiz".into()),
                emails: Some(vec!["mario.ruiz@gmail.com".into()]),
                user_type: Some(UserType::Prospect),
                opt_out_marketing: Some(true),
                ..Default::default()
            },
        )
        .await
        .expect("person");
    let incident = db
        .create_incident(
            actor,
            NewIncidentInput {
                channel: Channel::Phone,
                contact_id: Some(person.id),
                subject: "Diplomado en docencia".into(),
                body: "Quiere información del diplomado".into(),
                user_type: None,
                incident_type: Some(IncidentType::Question),
                topic_id: None,
                critical: false,
                assigned_to: Some(admin.id),
                received_at: None,
            },
        )
        .await
        .expect("incident");
    let promotion = db
        .units()
        .await
        .expect("units")
        .into_iter()
        .find(|u| u.kind == UnitKind::Promotion)
        .expect("Promoción");
    db.derive_incident(
        actor,
        incident.id,
        &DeriveInput {
            unit_id: promotion.id,
            medium: Medium::Email,
            reason: "Informes del diplomado".into(),
            user_told: Some(true),
            told_address: None,
            close: true,
            notes: Some("Se le explicó que Promoción le escribirá".into()),
        },
    )
    .await
    .expect("derive");
    let notice = db
        .outbox(Some(incident.id), 10)
        .await
        .expect("outbox")
        .into_iter()
        .find_map(|o| o.payload["text"].as_str().map(str::to_string))
        .expect("derivation email");
    assert!(notice.contains("se opuso a recibir promoción"), "{notice}");

    db.block_contact(actor, person.id, "ARCO-2026-040")
        .await
        .expect("block");
    let policy = SurveyPolicy {
        delay_hours: 0,
        min_days_between: 0,
        ..Default::default()
    };
    let step = db
        .process_survey_due(incident.id, &policy, "https://cap.example.mx", None)
        .await
        .expect("survey");
    assert_eq!(
        step,
        atiende_store::surveys::SurveyStep::Skipped(atiende_domain::survey::SkipReason::Cancelled)
    );
}

async fn a_mailbox_password_is_sealed_and_opens_only_where_the_login_needs_it(db: TestDb) {
    let mut mailbox = atiende_store::testing::sending_mailbox();
    mailbox.imap_password = "clave-imap-zyxw".into();
    mailbox.smtp_password = "clave-smtp-zyxw".into();
    mailbox.oauth_client_secret = "secreto-cliente-zyxw".into();
    let saved = db
        .save_mailbox(Actor::System, &mailbox)
        .await
        .expect("mailbox");
    mailbox.imap_password = "otra-clave-zyxw".into();
    db.save_mailbox(Actor::System, &mailbox)
        .await
        .expect("changed");
    assert_eq!(
        db.mailbox(saved.id)
            .await
            .expect("read")
            .imap_password
            .expose(),
        "otra-clave-zyxw"
    );
    // A mailbox connected by OAuth 2.0 keeps its tokens the same way, refreshed or not.
    let tokens = atiende_store::mail_auth::OAuthTokens {
        access_token: "acceso-zyxw".into(),
        refresh_token: "renovacion-zyxw".into(),
        expires_at: Some(4_000_000_000),
    };
    db.connect_mailbox(Actor::System, saved.id, &tokens, "admin")
        .await
        .expect("connected");
    let refreshed = atiende_store::mail_auth::OAuthTokens {
        access_token: "acceso-nuevo-zyxw".into(),
        refresh_token: Default::default(),
        expires_at: Some(4_000_000_100),
    };
    db.store_refreshed_tokens(saved.id, &refreshed)
        .await
        .expect("refreshed");
    let opened = db.mailbox_tokens(saved.id).await.expect("tokens");
    assert_eq!(opened.access_token.expose(), "acceso-nuevo-zyxw");
    assert_eq!(
        opened.refresh_token.expose(),
        "renovacion-zyxw",
        "kept when the provider sends none"
    );
    // Sealed with the secrets key: no column holds a password, a client secret or a token
    // (the audit records of both saves say one is set, never which), so a copy of the
    // database alone reveals none.
    for password in [
        "clave-imap-zyxw",
        "otra-clave-zyxw",
        "clave-smtp-zyxw",
        "secreto-cliente-zyxw",
        "acceso-zyxw",
        "renovacion-zyxw",
        "zyxw",
    ] {
        assert_eq!(
            db.columns_containing(password).await,
            Vec::<String>::new(),
            "{password}"
        );
    }
    assert_eq!(
        db.mailbox(saved.id)
            .await
            .expect("read")
            .smtp_password
            .expose(),
        "clave-smtp-zyxw"
    );
    assert!(!format!("{saved:?}").contains("zyxw"), "nor in a log line");
}
