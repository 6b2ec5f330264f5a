//! Importing on both engines. A roster: new people are created, known ones updated and never
//! duplicated, a second run changes nothing, a dry run saves nothing, bad rows are skipped with
//! their line. A SugarCRM export: cases become incidents with their original dates, linked to
//! their people, counted in their own period's indicators and found by their old number; the
//! bulk writer leaves every row, fact, rollup, clock and search answer the one-by-one import
//! (the ordinary transaction upkeep) leaves.

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
    Parents, SugarCall, SugarCase, SugarContact, SugarExport, SugarNote, Writing,
};
use atiende_store::testing::TestDb;
use chrono::{DateTime, Utc};

atiende_store::on_both_engines!(
    a_roster_creates_updates_and_is_idempotent,
    a_sugarcrm_export_becomes_history_once_with_its_original_dates,
    the_bulk_import_leaves_what_the_one_by_one_import_leaves,
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

/// An export with every road a record can take: people met before by an identifier, two rows
/// of one person, rows to skip; cases with their person named, by account, by relationship or
/// unknown, open and closed (one closed before it was opened), a case twice; notes and calls
/// on cases, on people, on nothing, and twice.
fn varied_export() -> SugarExport {
    let base = at("2024-01-08T15:00:00Z");
    let mut contacts = Vec::new();
    for i in 0..40usize {
        let person = RosterRow {
            line: i + 2,
            name: format!("Persona {} García", i),
            emails: vec![format!("persona{i}@correo.mx")],
            phones: if i % 2 == 0 {
                vec![format!("33{:08}", 10_000 + i)]
            } else {
                vec![]
            },
            student_code: if i % 3 == 0 {
                format!("2190{i:05}")
            } else {
                String::new()
            },
            user_type: [None, Some(UserType::Student), Some(UserType::Applicant)][i % 3],
            notes: if i % 5 == 0 {
                "Prefiere el correo".into()
            } else {
                String::new()
            },
            ..Default::default()
        };
        contacts.push((
            i + 2,
            SugarContact {
                id: format!("c-{i}"),
                person,
                account_id: format!("acc-{i}"),
            },
        ));
    }
    let extra = |line: usize, id: &str, name: &str, email: &str| {
        (
            line,
            SugarContact {
                id: id.into(),
                person: RosterRow {
                    line,
                    name: name.into(),
                    emails: if email.is_empty() {
                        vec![]
                    } else {
                        vec![email.into()]
                    },
                    ..Default::default()
                },
                account_id: String::new(),
            },
        )
    };
    // The same person as c-1 under another SugarCRM id; someone the roster brought before;
    // an address that is no address; nothing at all; c-2 exported twice.
    contacts.push(extra(50, "c-dup", "Persona 1 García", "persona1@correo.mx"));
    contacts.push(extra(51, "c-known", "Ya Conocida", "conocida@correo.mx"));
    contacts.push(extra(52, "c-bad", "Sin Correo", "no es correo"));
    contacts.push(extra(53, "c-empty", "", ""));
    contacts.push(extra(54, "c-2", "Persona 2 García", "persona2@correo.mx"));

    let mut cases = Vec::new();
    let mut case_contacts = Vec::new();
    for i in 0..120usize {
        let received = base + chrono::Duration::hours(i as i64 * 173);
        let closed = match i % 7 {
            0 => None,
            3 => Some(received - chrono::Duration::hours(1)),
            _ => Some(received + chrono::Duration::minutes((i as i64 * 37) % 5_000 + 5)),
        };
        let mut case = SugarCase {
            line: i + 2,
            id: format!("k-{i}"),
            number: format!("{}", 5_000 + i),
            subject: if i % 17 == 0 {
                String::new()
            } else {
                format!("Constancia {i}")
            },
            description: if i % 13 == 0 {
                String::new()
            } else {
                format!("Necesito una constancia de estudios número {i} para mi beca")
            },
            resolution: if i % 9 == 0 {
                String::new()
            } else {
                "Se envió la constancia por correo".into()
            },
            work_log: if i % 5 == 0 {
                "Se revisó el expediente".into()
            } else {
                String::new()
            },
            received_at: received,
            closed_at: closed,
            status: if closed.is_some() {
                Status::Closed
            } else {
                Status::Open
            },
            sugar_status: if closed.is_some() {
                "Closed"
            } else {
                "Assigned"
            }
            .into(),
            channel: [
                Channel::Email,
                Channel::Phone,
                Channel::Whatsapp,
                Channel::InPerson,
            ][i % 4],
            incident_type: [
                Some(IncidentType::Question),
                Some(IncidentType::Complaint),
                None,
                Some(IncidentType::Suggestion),
            ][i % 4],
            user_type: if i % 6 == 1 {
                Some(UserType::Alumnus)
            } else {
                None
            },
            contact: String::new(),
            account: String::new(),
            assigned: match i % 10 {
                0 => "admin".into(),
                5 => "nadie".into(),
                _ => String::new(),
            },
        };
        match i % 4 {
            0 => case.account = format!("acc-{}", i % 40),
            1 => case.contact = format!("c-{}", i % 40),
            2 => case_contacts.push((case.id.clone(), format!("c-{}", (i + 7) % 40))),
            _ if i % 19 == 0 => case.contact = "c-missing".into(),
            _ => {}
        }
        if i == 45 {
            case.contact = "c-dup".into();
        }
        if i == 46 {
            case.contact = "c-known".into();
        }
        cases.push(case);
    }
    // k-14 again, now closed: the export's second row is the news.
    let mut again = cases[14].clone();
    again.line = 200;
    again.closed_at = Some(again.received_at + chrono::Duration::hours(5));
    again.status = Status::Closed;
    again.sugar_status = "Closed".into();
    cases.push(again);

    let mut notes = Vec::new();
    for i in 0..80usize {
        let parents = match i % 8 {
            6 => Parents {
                case: String::new(),
                contact: format!("c-{}", i % 40),
            },
            7 if i % 16 == 15 => Parents::default(),
            _ => Parents {
                case: format!("k-{}", (i * 3) % 120),
                contact: String::new(),
            },
        };
        notes.push(SugarNote {
            line: i + 2,
            id: if i == 79 {
                "n-3".into()
            } else {
                format!("n-{i}")
            },
            subject: format!("Seguimiento {i}"),
            body: if i % 3 == 0 {
                String::new()
            } else {
                "La persona llamó de nuevo".into()
            },
            at: base + chrono::Duration::hours(i as i64 * 200 + 3),
            parents,
            author: if i % 4 == 0 {
                "admin".into()
            } else {
                String::new()
            },
            attachment: if i % 11 == 0 {
                "comprobante.pdf".into()
            } else {
                String::new()
            },
        });
    }
    let mut calls = Vec::new();
    for i in 0..50usize {
        let case = (i * 5) % 120;
        let parents = match i % 5 {
            3 => Parents {
                case: String::new(),
                contact: format!("c-{}", i % 40),
            },
            4 => Parents {
                case: format!("k-{case}"),
                contact: format!("c-{}", (i + 1) % 40),
            },
            _ => Parents {
                case: format!("k-{case}"),
                contact: String::new(),
            },
        };
        calls.push(SugarCall {
            line: i + 2,
            id: if i == 49 {
                "l-1".into()
            } else {
                format!("l-{i}")
            },
            subject: "Seguimiento".into(),
            description: if i % 2 == 0 {
                "Se le explicó el trámite".into()
            } else {
                String::new()
            },
            // Some before the case was opened: no response then.
            started_at: base + chrono::Duration::hours(case as i64 * 173 + [2, -1, 30][i % 3]),
            minutes: (i % 20) as i64,
            direction: if i % 2 == 0 {
                CallDirection::Out
            } else {
                CallDirection::In
            },
            held: i % 3 != 2,
            parents,
            agent: if i % 6 == 0 {
                "admin".into()
            } else {
                String::new()
            },
        });
    }
    SugarExport {
        contacts,
        cases,
        notes,
        calls,
        case_contacts,
    }
}

/// Everything an import leaves, by natural keys (folios, SugarCRM ids, names), not by ids.
async fn what_an_import_leaves(db: &TestDb) -> Vec<(&'static str, Vec<Vec<String>>)> {
    let mut out = Vec::new();
    for (what, sql) in [
        (
            "incidents",
            "SELECT i.folio, i.channel, c.name, i.subject, i.user_type, i.incident_type, i.status, \
             i.assigned_to, i.received_at, i.first_response_at, i.closed_at, i.created_by \
             FROM incidents i LEFT JOIN contacts c ON c.id = i.contact_id ORDER BY i.folio",
        ),
        (
            "timelines",
            "SELECT i.folio, e.kind, e.at, e.author_id, e.body, e.data FROM timeline_entries e \
             JOIN incidents i ON i.id = e.incident_id ORDER BY i.folio, e.id",
        ),
        (
            "facts",
            "SELECT i.folio, f.month, f.facts FROM incident_facts f \
             JOIN incidents i ON i.id = f.incident_id ORDER BY i.folio",
        ),
        (
            "rollups",
            "SELECT * FROM indicator_rollup ORDER BY month, dimension, value",
        ),
        (
            "durations",
            "SELECT * FROM duration_rollup ORDER BY metric, month, minutes",
        ),
        (
            "clocks",
            "SELECT i.folio, k.clocks, k.warn_at, k.due_at, k.next_check_at FROM incident_clocks k \
             JOIN incidents i ON i.id = k.incident_id ORDER BY i.folio",
        ),
        (
            "queue counts",
            // PostgreSQL counts in a row per server process: the sums are the counts.
            "SELECT status, assignee, CAST(SUM(n) AS BIGINT) AS n FROM queue_tally \
             GROUP BY status, assignee ORDER BY status, assignee",
        ),
        (
            "calls",
            "SELECT l.call_id, l.direction, l.from_number, l.to_number, c.name, l.state, l.cause, \
             l.user_id, l.agent, l.started_at, l.answered_at, l.ended_at, l.missed, i.folio \
             FROM calls l LEFT JOIN contacts c ON c.id = l.contact_id \
             LEFT JOIN incidents i ON i.id = l.incident_id ORDER BY l.call_id",
        ),
        (
            "contacts",
            "SELECT name, user_type, programme_line, notes, merged_into FROM contacts ORDER BY name, notes",
        ),
        (
            "identifiers",
            "SELECT k.kind, k.value, c.name FROM contact_identifiers k \
             JOIN contacts c ON c.id = k.contact_id ORDER BY k.kind, k.value",
        ),
        (
            "references",
            "SELECT r.kind, r.external_id, r.label, i.folio FROM external_refs r \
             LEFT JOIN incidents i ON r.kind = 'case' AND i.id = r.local_id \
             ORDER BY r.kind, r.external_id",
        ),
        (
            "audit",
            "SELECT entity, action, COUNT(*) AS n FROM audit_log GROUP BY entity, action ORDER BY entity, action",
        ),
    ] {
        let mut rows = db.rows_as_text(sql).await;
        if what == "timelines" {
            // A call's note names its row in the call log, numbered in the order each writer
            // wrote the calls: compared by the call's other fields above.
            for row in &mut rows {
                if let Some((head, tail)) = row[5].split_once("call_id") {
                    let rest = tail.trim_start_matches(|c: char| !c.is_ascii_digit());
                    let rest = rest.trim_start_matches(|c: char| c.is_ascii_digit());
                    row[5] = format!("{head}call_id…{rest}");
                }
            }
        }
        out.push((what, rows));
    }
    out
}

async fn the_bulk_import_leaves_what_the_one_by_one_import_leaves(db: TestDb) {
    let other = TestDb::new(db.engine()).await;
    let export = varied_export();
    let mut reports = Vec::new();
    for (db, writing) in [(&db, Writing::Bulk), (&other, Writing::OneByOne)] {
        db.first_run(Some("contraseña-segura-1"))
            .await
            .expect("first run");
        let known = [row(2, "Ya Conocida", "conocida@correo.mx", "", "")];
        db.import_roster(Actor::System, &known, false, |_, _| {})
            .await
            .expect("roster");
        let report = db
            .import_sugarcrm_as(Actor::System, &export, false, writing, |_, _, _| {})
            .await
            .expect("import");
        reports.push(format!("{report:?}"));
    }
    assert_eq!(reports[0], reports[1], "the same report");
    let report = &reports[0];
    assert!(report.contains("not linked"), "{report}");
    assert!(
        report.contains("contact `c-missing` not imported"),
        "{report}"
    );
    assert!(report.contains("user `nadie` not in atiende"), "{report}");

    let bulk = what_an_import_leaves(&db).await;
    let one_by_one = what_an_import_leaves(&other).await;
    for ((what, a), (_, b)) in bulk.iter().zip(&one_by_one) {
        assert!(!a.is_empty(), "{what}: nothing to compare");
        assert_eq!(a.len(), b.len(), "{what}: as many rows");
        for (x, y) in a.iter().zip(b) {
            assert_eq!(x, y, "{what}");
        }
    }
    // The same answers from the index, to staff and in the contact search.
    let scope = Scope::All;
    for q in [
        "constancia",
        "5007",
        "5119",
        "beca 12",
        "expediente",
        "CAP-2024",
        "correo",
    ] {
        let q = SearchQuery::parse(q);
        let folios = |hits: Vec<atiende_store::search::IncidentHit>| {
            let mut v: Vec<String> = hits.into_iter().map(|h| h.folio).collect();
            v.sort();
            v
        };
        let a = folios(db.search_incidents(&scope, &q, 500).await.expect("search"));
        let b = folios(
            other
                .search_incidents(&scope, &q, 500)
                .await
                .expect("search"),
        );
        assert_eq!(a, b, "{q:?}");
    }
    for q in ["garcia", "persona1", "conocida", "219000003", "persona4"] {
        let q = SearchQuery::parse(q);
        let names = |hits: Vec<atiende_store::search::ContactHit>| {
            let mut v: Vec<String> = hits.into_iter().map(|h| h.name).collect();
            v.sort();
            v
        };
        let a = names(db.search_contacts(&q, 100).await.expect("contacts"));
        let b = names(other.search_contacts(&q, 100).await.expect("contacts"));
        assert!(!a.is_empty() || q.is_empty(), "{q:?} finds someone");
        assert_eq!(a, b, "{q:?}");
    }
    // And a second run of the same export changes nothing, whichever wrote the first.
    let again = db
        .import_sugarcrm(Actor::System, &export, false, |_, _, _| {})
        .await
        .expect("again");
    assert_eq!(
        (
            again.contacts.created,
            again.cases.created,
            again.notes.created,
            again.calls.created
        ),
        (0, 0, 0, 0),
        "{again:?}"
    );
    assert!(what_an_import_leaves(&db).await == bulk, "unchanged");
}
