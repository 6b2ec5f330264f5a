//! Importing on both engines. A roster: new people are created, known ones updated and never
//! duplicated, a second run changes nothing, a dry run saves nothing, bad rows are skipped with
//! their line. A SugarCRM export: cases become incidents with their original dates, linked to
//! their people, counted in their own period's indicators and found by their old number.

use atiende_domain::access::Scope;
use atiende_domain::call::CallDirection;
use atiende_domain::classification::{Channel, IncidentType, ProgrammeLine, UserType};
use atiende_domain::contact::{ContactInput, Identifier, IdentifierKind};
use atiende_domain::incident::{EntryKind, Status};
use atiende_domain::knowledge::SearchQuery;
use atiende_store::Actor;
use atiende_store::contacts::ContactQuery;
use atiende_store::import::RosterRow;
use atiende_store::import::sugarcrm::{
    Parents, SugarCall, SugarCase, SugarContact, SugarExport, SugarNote,
};
use atiende_store::testing::TestDb;
use chrono::{DateTime, Utc};

atiende_store::on_both_engines!(
    a_roster_creates_updates_and_is_idempotent,
    a_sugarcrm_export_becomes_history_once_with_its_original_dates,
);

fn row(line: usize, name: &str, email: &str, phone: &str, code: &str) -> RosterRow {
    RosterRow {
        line,
        name: name.into(),
        emails: vec![email.into()],
        phones: vec![phone.into()],
        student_code: code.into(),
        user_type: Some(UserType::Student),
        programme_line: Some(ProgrammeLine::Undergraduate),
        notes: String::new(),
    }
}

async fn a_roster_creates_updates_and_is_idempotent(db: TestDb) {
    db.first_run(Some("contraseña-segura-1"))
        .await
        .expect("first run");
    let known = db
        .create_contact(
            Actor::System,
            &ContactInput {
                name: Some("Ana López".into()),
                emails: Some(vec!["ana@gmail.com".into()]),
                ..Default::default()
            },
        )
        .await
        .expect("known");
    let rows = vec![
        row(
            2,
            "Ana López García",
            "ANA@gmail.com",
            "33 1234 5678",
            "219000001",
        ),
        row(3, "Juan Pérez", "juan@gmail.com", "", ""),
        row(4, "Sin correo válido", "no-es-correo", "", ""),
        row(5, "Juan Pérez", "juan@gmail.com", "3398765432", ""),
    ];
    let dry = db
        .import_roster(Actor::System, &rows, true, |_, _| {})
        .await
        .expect("dry run");
    assert_eq!((dry.created, dry.updated), (1, 2));
    let query = ContactQuery {
        limit: 50,
        ..Default::default()
    };
    let all = || db.contacts(&query);
    assert_eq!(
        all().await.expect("contacts").len(),
        1,
        "a dry run saves nothing"
    );
    let report = db
        .import_roster(Actor::System, &rows, false, |_, _| {})
        .await
        .expect("import");
    assert_eq!(
        (report.created, report.updated, report.unchanged),
        (1, 2, 0)
    );
    assert_eq!(report.skipped.len(), 1);
    assert_eq!(report.skipped[0].0, 4);
    let ana = db.contact(known.id).await.expect("ana");
    assert_eq!(ana.name, "Ana López García");
    assert_eq!(ana.phones, vec!["523312345678".to_string()]);
    assert_eq!(ana.student_code.as_deref(), Some("219000001"));
    assert_eq!(ana.user_type, Some(UserType::Student));
    let juan = db
        .find_contact(&Identifier::parse(IdentifierKind::Email, "juan@gmail.com").expect("id"))
        .await
        .expect("lookup")
        .expect("juan");
    assert_eq!(juan.phones, vec!["523398765432".to_string()]);
    assert_eq!(all().await.expect("contacts").len(), 2, "nobody duplicated");
    let again = db
        .import_roster(Actor::System, &rows, false, |_, _| {})
        .await
        .expect("again");
    assert_eq!(
        (again.created, again.updated, again.unchanged),
        (0, 0, 3),
        "{again:?}"
    );
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("date")
        .with_timezone(&Utc)
}

fn sugar_case(id: &str, number: &str, received: &str, closed: Option<&str>) -> SugarCase {
    SugarCase {
        line: 2,
        id: id.into(),
        number: number.into(),
        subject: format!("Caso {number}"),
        description: "Necesito una constancia de estudios".into(),
        resolution: "Se envió la constancia por correo".into(),
        work_log: String::new(),
        received_at: at(received),
        closed_at: closed.map(at),
        status: if closed.is_some() {
            Status::Closed
        } else {
            Status::Open
        },
        sugar_status: if closed.is_some() { "Closed" } else { "New" }.into(),
        channel: Channel::Email,
        incident_type: Some(IncidentType::Question),
        user_type: None,
        contact: String::new(),
        account: "acc-1".into(),
        assigned: String::new(),
    }
}

fn export() -> SugarExport {
    let person = RosterRow {
        line: 2,
        name: "Ana López".into(),
        emails: vec!["ana.lopez@gmail.com".into()],
        user_type: Some(UserType::Student),
        ..Default::default()
    };
    let mut complaint = sugar_case(
        "k2",
        "1002",
        "2025-05-02T15:00:00Z",
        Some("2025-05-09T18:00:00Z"),
    );
    complaint.incident_type = Some(IncidentType::Complaint);
    SugarExport {
        contacts: vec![(
            2,
            SugarContact {
                id: "c1".into(),
                person,
                account_id: "acc-1".into(),
            },
        )],
        cases: vec![
            sugar_case(
                "k1",
                "1001",
                "2025-03-10T15:15:00Z",
                Some("2025-03-11T19:00:00Z"),
            ),
            complaint,
            sugar_case("k3", "1003", "2026-11-20T16:00:00Z", None),
        ],
        notes: vec![SugarNote {
            line: 2,
            id: "n1".into(),
            subject: "Llamó de nuevo".into(),
            body: "Pregunta si ya está lista".into(),
            at: at("2025-03-10T18:00:00Z"),
            parents: Parents {
                case: "k1".into(),
                contact: String::new(),
            },
            author: String::new(),
            attachment: "constancia.pdf".into(),
        }],
        calls: vec![SugarCall {
            line: 2,
            id: "l1".into(),
            subject: "Seguimiento".into(),
            description: String::new(),
            started_at: at("2025-03-10T16:00:00Z"),
            minutes: 15,
            direction: CallDirection::Out,
            held: true,
            parents: Parents {
                case: "k1".into(),
                contact: String::new(),
            },
            agent: String::new(),
        }],
        case_contacts: vec![],
    }
}

async fn a_sugarcrm_export_becomes_history_once_with_its_original_dates(db: TestDb) {
    db.first_run(Some("contraseña-segura-1"))
        .await
        .expect("first run");
    let mut export = export();
    let dry = db
        .import_sugarcrm(Actor::System, &export, true, |_, _, _| {})
        .await
        .expect("dry run");
    assert_eq!(dry.cases.created, 3);
    assert_eq!(
        db.period_rollup(202501, 202512, false)
            .await
            .expect("rollup")
            .totals
            .incidents,
        0,
        "a dry run saves nothing"
    );

    let report = db
        .import_sugarcrm(Actor::System, &export, false, |_, _, _| {})
        .await
        .expect("import");
    assert_eq!(report.contacts.created, 1);
    assert_eq!(report.cases.created, 3, "{report:?}");
    assert_eq!((report.notes.created, report.calls.created), (1, 1));

    // Counted in 2025's indicators, with the original dates.
    let year = db.period_rollup(202501, 202512, false).await.expect("2025");
    assert_eq!(year.totals.incidents, 2);
    assert_eq!(year.totals.closed, 2);
    assert_eq!(year.totals.complaints, 1);
    assert_eq!(year.totals.fcr, 2);
    let id = db
        .incident_id("CAP-2025-000001")
        .await
        .expect("first folio");
    let old = db.incident(id).await.expect("incident");
    assert_eq!(old.received_at, at("2025-03-10T15:15:00Z"));
    assert_eq!(old.closed_at, Some(at("2025-03-11T19:00:00Z")));
    assert_eq!(
        old.first_response_at,
        Some(at("2025-03-10T16:00:00Z")),
        "the held call was the first response"
    );
    let ana = db
        .find_contact(&Identifier::parse(IdentifierKind::Email, "ana.lopez@gmail.com").expect("id"))
        .await
        .expect("lookup")
        .expect("ana");
    assert_eq!(old.contact_id, Some(ana.id), "the account's only contact");
    assert_eq!(old.user_type, Some(UserType::Student));
    let timeline = db.timeline(id).await.expect("timeline");
    let kinds: Vec<EntryKind> = timeline.iter().map(|e| e.kind).collect();
    assert!(kinds.contains(&EntryKind::InboundMessage));
    assert!(kinds.contains(&EntryKind::Intervention));
    assert!(timeline.iter().any(|e| e.body.contains("constancia.pdf")));
    assert!(
        timeline
            .iter()
            .any(|e| e.body.contains("Llamada saliente realizada"))
    );
    let calls = db.calls(10).await.expect("calls");
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].incident_id, Some(id));
    assert!(!calls[0].missed);
    assert!(
        db.missed_calls().await.expect("missed").is_empty(),
        "history waits for no call-back"
    );

    // Found by the old case number and by its words.
    let hits = db
        .search_incidents(&Scope::All, &SearchQuery::parse("1002"), 10)
        .await
        .expect("search");
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert!(hits[0].folio.starts_with("CAP-2025-"));

    // History sends no survey now.
    let outbox = db.outbox(None, 100).await.expect("outbox");
    assert!(outbox.is_empty(), "{outbox:?}");

    // A second run changes nothing; a later export that closes the open case closes it.
    let again = db
        .import_sugarcrm(Actor::System, &export, false, |_, _, _| {})
        .await
        .expect("again");
    assert_eq!(
        (
            again.contacts.unchanged,
            again.cases.unchanged,
            again.notes.unchanged,
            again.calls.unchanged
        ),
        (1, 3, 1, 1),
        "{again:?}"
    );
    assert_eq!(
        (
            again.contacts.created,
            again.cases.created,
            again.cases.updated
        ),
        (0, 0, 0)
    );
    export.cases[2] = sugar_case(
        "k3",
        "1003",
        "2026-11-20T16:00:00Z",
        Some("2026-11-21T16:00:00Z"),
    );
    let later = db
        .import_sugarcrm(Actor::System, &export, false, |_, _, _| {})
        .await
        .expect("later");
    assert_eq!((later.cases.updated, later.cases.unchanged), (1, 2));
    let id = db.incident_id("CAP-2026-000001").await.expect("2026 folio");
    assert_eq!(db.incident(id).await.expect("k3").status, Status::Closed);
    let year = db.period_rollup(202501, 202512, false).await.expect("2025");
    assert_eq!(year.totals.incidents, 2, "unchanged by the second runs");
}
