//! Importing a roster on both engines: new people are created, known ones updated and never
//! duplicated, a second run changes nothing, a dry run saves nothing, bad rows are skipped with
//! their line.

use atiende_domain::classification::{ProgrammeLine, UserType};
use atiende_domain::contact::{ContactInput, Identifier, IdentifierKind};
use atiende_store::Actor;
use atiende_store::contacts::ContactQuery;
use atiende_store::import::RosterRow;
use atiende_store::testing::TestDb;

atiende_store::on_both_engines!(a_roster_creates_updates_and_is_idempotent);

fn row(line: usize, name: &str, email: &str, phone: &str, code: &str) -> RosterRow {
    RosterRow {
        line,
        name: name.into(),
        email: email.into(),
        phone: phone.into(),
        student_code: code.into(),
        user_type: Some(UserType::Student),
        programme_line: Some(ProgrammeLine::Undergraduate),
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
