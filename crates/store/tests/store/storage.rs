//! One story of the storage, told on both engines: every test here runs on SQLite and on
//! PostgreSQL (`sqlite::…` and `postgres::…`).

use atiende_domain::RuleError;
use atiende_domain::access::Scope;
use atiende_domain::access::TokenScopes;
use atiende_domain::classification::{Channel, IncidentType, Medium, ProgrammeLine, UserType};
use atiende_domain::contact::{ContactInput, Identifier, IdentifierKind};
use atiende_domain::derivation::{DeriveInput, UnitAnswer};
use atiende_domain::ids::{ContactId, UserId};
use atiende_domain::incident::{ClassifyInput, EntryKind, NewIncidentInput, Status};
use atiende_domain::nonconformity::NcStatus;
use atiende_domain::unit::{Unit, UnitKind};
use atiende_domain::user::{Role, StaffUser, UserInput};
use atiende_store::audit::AuditQuery;
use atiende_store::incidents::IncidentFilter;
use atiende_store::queue::QueueCounts;
use atiende_store::testing::TestDb;
use atiende_store::{Actor, StoreError};
use chrono::TimeZone;

atiende_store::on_both_engines!(
    migrating_twice_changes_nothing,
    first_run_seeds_the_catalogues_and_one_administrator,
    folios_are_sequential_and_unique_under_concurrent_creation,
    an_incident_received_on_new_years_eve_gets_that_years_folio,
    a_contact_is_found_by_any_of_its_identifiers,
    two_contacts_never_share_an_email_phone_or_whatsapp_id,
    merging_two_contacts_keeps_both_histories,
    closing_without_notes_is_refused_and_changes_nothing,
    closing_writes_the_survey_due_entry_and_the_audit_trail_in_one_step,
    a_continuing_education_incident_is_derived_to_promotion_and_closed_at_once,
    a_critical_incident_waits_in_the_leads_queue_until_the_lead_derives_it,
    a_buzon_suggestion_is_routed_to_the_quality_owner,
    only_the_quality_owners_answer_closes_and_a_refused_close_writes_nothing,
    an_anonymous_entry_closes_as_unidentified_and_a_person_never_is,
    a_unit_responsible_sees_and_answers_only_what_was_derived_to_their_unit,
    reopening_is_recorded_and_cancels_first_contact_resolution,
    the_incident_list_filters_searches_and_pages,
    sessions_end_when_the_user_is_disabled_and_revoked_tokens_stop_working,
    disabling_an_account_or_setting_its_password_revokes_its_tokens_for_good,
    a_wrong_password_does_not_log_in,
    the_demo_is_a_year_that_every_page_can_show_and_loads_once,
    pending_migrations_are_listed_and_a_newer_schema_is_refused,
    the_queue_counts_follow_every_change_whatever_the_write_path,
    secrets_are_sealed_and_a_rotation_moves_them_to_the_new_key,
);

async fn setup(db: &TestDb) -> (StaffUser, StaffUser) {
    db.first_run(Some("contraseña-segura-1"))
        .await
        .expect("first run");
    let agent = user(db, "agente1", Role::Agent, vec![]).await;
    let lead = user(db, "lider", Role::CapLead, vec![]).await;
    (agent, lead)
}

async fn user(
    db: &TestDb,
    login: &str,
    role: Role,
    units: Vec<atiende_domain::ids::UnitId>,
) -> StaffUser {
    let input = UserInput {
        login: Some(login.into()),
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

async fn unit(db: &TestDb, kind: UnitKind) -> Unit {
    db.units()
        .await
        .expect("units")
        .into_iter()
        .find(|u| u.kind == kind)
        .expect("seeded unit")
}

async fn contact(
    db: &TestDb,
    agent: &StaffUser,
    email: &str,
    line: Option<ProgrammeLine>,
) -> ContactId {
    let input = ContactInput {
        name: Some("Ana López".into()),
        emails: Some(vec![email.into()]),
        programme_line: line,
        user_type: Some(UserType::Student),
        ..Default::default()
    };
    db.create_contact(Actor::Staff(agent), &input)
        .await
        .expect("contact")
        .id
}

fn phone_incident(contact: ContactId) -> NewIncidentInput {
    NewIncidentInput {
        channel: Channel::Phone,
        contact_id: Some(contact),
        subject: "No puedo entrar a la plataforma".into(),
        body: "Llama porque su contraseña no funciona.".into(),
        user_type: None,
        incident_type: None,
        topic_id: None,
        critical: false,
        assigned_to: None,
        received_at: None,
    }
}

fn classify_question() -> ClassifyInput {
    ClassifyInput {
        incident_type: Some(IncidentType::Question),
        ..Default::default()
    }
}

fn derive_to(unit: &Unit, close: bool) -> DeriveInput {
    DeriveInput {
        unit_id: unit.id,
        medium: Medium::Email,
        reason: "Lo atiende la unidad".into(),
        user_told: None,
        told_address: None,
        close,
        notes: close.then(|| "Se derivó y se informó al usuario".into()),
    }
}

async fn migrating_twice_changes_nothing(db: TestDb) {
    assert_eq!(db.migrate().await.expect("second migrate"), 0);
}

async fn first_run_seeds_the_catalogues_and_one_administrator(db: TestDb) {
    let admin = db
        .first_run(None)
        .await
        .expect("first run")
        .expect("admin created");
    assert_eq!(admin.login, "admin");
    let password = admin.generated_password.expect("one-time password");
    let user = db
        .verify_login("admin", &password)
        .await
        .expect("verify")
        .expect("logs in");
    assert!(
        user.must_change_password,
        "a generated password is one-time"
    );
    assert!(db.first_run(None).await.expect("second run").is_none());
    let kinds: Vec<_> = db
        .units()
        .await
        .expect("units")
        .iter()
        .map(|u| u.kind)
        .collect();
    for kind in [
        UnitKind::Promotion,
        UnitKind::TopManagement,
        UnitKind::Quality,
        UnitKind::Coordination,
    ] {
        assert!(kinds.contains(&kind), "{kind} seeded");
    }
    assert!(
        db.topics()
            .await
            .expect("topics")
            .iter()
            .any(|t| t.name == "Inscripción y reinscripción")
    );
}

async fn folios_are_sequential_and_unique_under_concurrent_creation(db: TestDb) {
    let (agent, _) = setup(&db).await;
    let c = contact(&db, &agent, "ana@alumnos.udg.mx", None).await;
    let mut tasks = Vec::new();
    for _ in 0..40 {
        let store = db.store.clone();
        let agent = agent.clone();
        tasks.push(tokio::spawn(async move {
            store
                .create_incident(Actor::Staff(&agent), phone_incident(c))
                .await
                .expect("created")
                .folio
        }));
    }
    let mut seqs = Vec::new();
    for t in tasks {
        seqs.push(t.await.expect("task").seq);
    }
    seqs.sort();
    assert_eq!(seqs, (1..=40).collect::<Vec<_>>());
}

async fn an_incident_received_on_new_years_eve_gets_that_years_folio(db: TestDb) {
    let (agent, _) = setup(&db).await;
    let c = contact(&db, &agent, "ana@alumnos.udg.mx", None).await;
    // 31 December 2025, 23:30 in Guadalajara: today more than a month back, so refused (such
    // history comes in through the imports, which keep the same rule for the folio's year).
    let mut input = phone_incident(c);
    input.received_at = chrono::Utc.with_ymd_and_hms(2026, 1, 1, 5, 30, 0).single();
    let refused = db
        .create_incident(Actor::Staff(&agent), input)
        .await
        .expect_err("too long ago");
    assert!(
        format!("{refused:?}").contains("too_long_ago"),
        "{refused:?}"
    );
    // A reception twenty days back takes the year of its local day, as the folio rule says.
    let mut input = phone_incident(c);
    let received = chrono::Utc::now() - chrono::Duration::days(20);
    input.received_at = Some(received);
    let incident = db
        .create_incident(Actor::Staff(&agent), input)
        .await
        .expect("created");
    let year = atiende_domain::folio::Folio::year_of(received, db.time_zone());
    assert_eq!(
        incident.folio.to_string(),
        format!("CAP-{year}-000001"),
        "no folio was spent on the refusal"
    );
}

async fn a_contact_is_found_by_any_of_its_identifiers(db: TestDb) {
    let (agent, _) = setup(&db).await;
    let input = ContactInput {
        name: Some("Luis Pérez".into()),
        emails: Some(vec!["Luis.Perez@Alumnos.UDG.mx".into()]),
        phones: Some(vec!["33 1234 5678".into()]),
        whatsapp_id: Some("5213312345678".into()),
        student_code: Some("219876543".into()),
        ..Default::default()
    };
    let created = db
        .create_contact(Actor::Staff(&agent), &input)
        .await
        .expect("contact");
    for (kind, raw) in [
        (IdentifierKind::Email, "luis.perez@alumnos.udg.mx"),
        (IdentifierKind::Phone, "+52 1 33 1234 5678"),
        (IdentifierKind::Whatsapp, "5213312345678"),
        (IdentifierKind::StudentCode, "219876543"),
    ] {
        let ident = Identifier::parse(kind, raw).expect("identifier");
        let found = db
            .find_contact(&ident)
            .await
            .expect("lookup")
            .expect("found");
        assert_eq!(found.id, created.id, "by {kind}");
    }
}

async fn two_contacts_never_share_an_email_phone_or_whatsapp_id(db: TestDb) {
    let (agent, _) = setup(&db).await;
    let first = contact(&db, &agent, "ana@alumnos.udg.mx", None).await;
    let dup = ContactInput {
        name: Some("Otra".into()),
        emails: Some(vec!["ANA@alumnos.udg.mx".into()]),
        ..Default::default()
    };
    match db.create_contact(Actor::Staff(&agent), &dup).await {
        Err(StoreError::Conflict {
            field, existing_id, ..
        }) => {
            assert_eq!(field, "email");
            assert_eq!(existing_id, Some(first.0));
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    let listed = db.contacts(&Default::default()).await.expect("list");
    assert_eq!(listed.len(), 1, "the refused contact was not half-created");
    assert_eq!(
        listed[0].emails,
        ["ana@alumnos.udg.mx"],
        "a listed contact carries its identifiers"
    );
}

async fn merging_two_contacts_keeps_both_histories(db: TestDb) {
    let (agent, _) = setup(&db).await;
    let a = contact(&db, &agent, "ana@alumnos.udg.mx", None).await;
    let b = contact(
        &db,
        &agent,
        "ana.lopez@gmail.com",
        Some(ProgrammeLine::Undergraduate),
    )
    .await;
    let ia = db
        .create_incident(Actor::Staff(&agent), phone_incident(a))
        .await
        .expect("incident a");
    let ib = db
        .create_incident(Actor::Staff(&agent), phone_incident(b))
        .await
        .expect("incident b");
    let merged = db
        .merge_contacts(Actor::Staff(&agent), a, b)
        .await
        .expect("merge");
    assert_eq!(merged.emails.len(), 2);
    assert_eq!(merged.programme_line, Some(ProgrammeLine::Undergraduate));
    let filter = IncidentFilter {
        contact_id: Some(a),
        limit: 50,
        ..Default::default()
    };
    let ids: Vec<_> = db
        .incidents(&Scope::All, &filter)
        .await
        .expect("list")
        .iter()
        .map(|s| s.incident.id)
        .collect();
    assert!(ids.contains(&ia.id) && ids.contains(&ib.id));
    assert_eq!(db.contact(b).await.expect("old").merged_into, Some(a));
    let gmail = Identifier::parse(IdentifierKind::Email, "ana.lopez@gmail.com").expect("id");
    assert_eq!(
        db.find_contact(&gmail).await.expect("lookup").map(|c| c.id),
        Some(a)
    );
    let trail = db
        .audit(&AuditQuery {
            entity_id: Some(a.to_string()),
            limit: 10,
            ..Default::default()
        })
        .await;
    assert!(
        trail
            .expect("audit")
            .iter()
            .any(|e| e.action == "contact.merge")
    );
}

async fn closing_without_notes_is_refused_and_changes_nothing(db: TestDb) {
    let (agent, _) = setup(&db).await;
    let c = contact(&db, &agent, "ana@alumnos.udg.mx", None).await;
    let i = db
        .create_incident(Actor::Staff(&agent), phone_incident(c))
        .await
        .expect("created");
    db.classify_incident(Actor::Staff(&agent), i.id, &classify_question())
        .await
        .expect("classified");
    match db.close_incident(Actor::Staff(&agent), i.id, None).await {
        Err(StoreError::Rule(RuleError::CloseMissing(fields))) => {
            assert_eq!(
                fields.iter().map(|f| f.field.as_str()).collect::<Vec<_>>(),
                ["notes"]
            );
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(
        db.incident(i.id).await.expect("reload").status,
        Status::Open
    );
    assert!(db.outbox(Some(i.id), 10).await.expect("outbox").is_empty());
}

async fn closing_writes_the_survey_due_entry_and_the_audit_trail_in_one_step(db: TestDb) {
    let (agent, _) = setup(&db).await;
    let c = contact(&db, &agent, "ana@alumnos.udg.mx", None).await;
    let i = db
        .create_incident(Actor::Staff(&agent), phone_incident(c))
        .await
        .expect("created");
    assert_eq!(
        i.user_type,
        Some(UserType::Student),
        "prefilled from the contact"
    );
    db.classify_incident(Actor::Staff(&agent), i.id, &classify_question())
        .await
        .expect("classified");
    let closed = db
        .close_incident(
            Actor::Staff(&agent),
            i.id,
            Some("Se restableció la contraseña"),
        )
        .await
        .expect("closed");
    assert_eq!(closed.status, Status::Closed);
    assert!(closed.first_response_at.is_some());
    let outbox = db.outbox(Some(i.id), 10).await.expect("outbox");
    assert_eq!(outbox.len(), 1);
    assert_eq!(outbox[0].kind, "survey_due");
    let detail = db.incident_detail(i.id, 7).await.expect("detail");
    assert!(detail.first_contact_resolution);
    assert!(
        detail
            .timeline
            .iter()
            .any(|e| e.kind == EntryKind::Intervention)
    );
    let trail = db
        .audit(&AuditQuery {
            entity_id: Some(i.folio.to_string()),
            limit: 20,
            ..Default::default()
        })
        .await;
    let actions: Vec<_> = trail
        .expect("audit")
        .into_iter()
        .map(|e| (e.action, e.actor_id))
        .collect();
    for action in ["incident.create", "incident.classify", "incident.close"] {
        assert!(
            actions.contains(&(action.to_string(), Some(agent.id))),
            "{action} in {actions:?}"
        );
    }
}

async fn a_continuing_education_incident_is_derived_to_promotion_and_closed_at_once(db: TestDb) {
    let (agent, _) = setup(&db).await;
    let c = contact(
        &db,
        &agent,
        "diplomado@gmail.com",
        Some(ProgrammeLine::ContinuingEducation),
    )
    .await;
    let i = db
        .create_incident(Actor::Staff(&agent), phone_incident(c))
        .await
        .expect("created");
    db.classify_incident(Actor::Staff(&agent), i.id, &classify_question())
        .await
        .expect("classified");
    let refused = db
        .close_incident(Actor::Staff(&agent), i.id, Some("Informé"))
        .await;
    assert!(matches!(
        refused,
        Err(StoreError::Rule(
            RuleError::ContinuingEducationNeedsPromotion
        ))
    ));
    let promotion = unit(&db, UnitKind::Promotion).await;
    let (after, derivation) = db
        .derive_incident(Actor::Staff(&agent), i.id, &derive_to(&promotion, true))
        .await
        .expect("derived");
    assert_eq!(after.status, Status::Closed);
    assert!(derivation.closed_incident);
    assert_eq!(db.outbox(Some(i.id), 10).await.expect("outbox").len(), 1);
}

async fn a_critical_incident_waits_in_the_leads_queue_until_the_lead_derives_it(db: TestDb) {
    let (agent, lead) = setup(&db).await;
    let c = contact(&db, &agent, "ana@alumnos.udg.mx", None).await;
    let i = db
        .create_incident(Actor::Staff(&agent), phone_incident(c))
        .await
        .expect("created");
    let critical = ClassifyInput {
        critical: Some(true),
        incident_type: Some(IncidentType::Complaint),
        ..Default::default()
    };
    db.classify_incident(Actor::Staff(&agent), i.id, &critical)
        .await
        .expect("flagged");
    let queue = IncidentFilter {
        leads_queue: true,
        limit: 50,
        ..Default::default()
    };
    assert_eq!(
        db.incidents(&Scope::All, &queue)
            .await
            .expect("queue")
            .len(),
        1
    );
    let top = unit(&db, UnitKind::TopManagement).await;
    let refused = db
        .derive_incident(Actor::Staff(&agent), i.id, &derive_to(&top, false))
        .await;
    assert!(matches!(
        refused,
        Err(StoreError::Rule(RuleError::OnlyLeadDerivesToTopManagement))
    ));
    db.derive_incident(Actor::Staff(&lead), i.id, &derive_to(&top, false))
        .await
        .expect("lead derives");
    assert!(
        db.incidents(&Scope::All, &queue)
            .await
            .expect("queue")
            .is_empty()
    );
}

async fn a_buzon_suggestion_is_routed_to_the_quality_owner(db: TestDb) {
    db.first_run(Some("contraseña-segura-1"))
        .await
        .expect("first run");
    let input = NewIncidentInput {
        channel: Channel::SuggestionBox,
        contact_id: None,
        subject: String::new(),
        body: "Sería útil tener tutoriales en video de la plataforma.".into(),
        user_type: None,
        incident_type: Some(IncidentType::Suggestion),
        topic_id: None,
        critical: false,
        assigned_to: None,
        received_at: None,
    };
    let i = db
        .create_incident(Actor::System, input)
        .await
        .expect("anonymous buzón entry");
    assert_eq!(i.contact_id, None);
    let derivations = db.derivations(i.id).await.expect("derivations");
    assert_eq!(derivations.len(), 1);
    assert_eq!(derivations[0].unit_kind, UnitKind::Quality);
    // It waits on the quality owner, as every derivation waits on its unit.
    assert_eq!(i.status, Status::WaitingUnit);
    assert_eq!(
        db.incident(i.id).await.expect("stored").status,
        Status::WaitingUnit
    );

    // Another unit's way — answer and return to the CAP — is not the only one here: the
    // quality owner attends the entry and closes it with their answer.
    let owner = user(&db, "siga", Role::QualityOwner, vec![]).await;
    let routed = derivations[0].id;
    let (closed, answered) = db
        .answer_derivation(
            Actor::Staff(&owner),
            i.id,
            routed,
            &UnitAnswer {
                answer: "Se incluyó en el plan de mejora del semestre.".into(),
                close: true,
                user_type: Some(UserType::Unidentified),
            },
        )
        .await
        .expect("the quality owner closes it");
    assert_eq!(closed.status, Status::Closed);
    assert_eq!(closed.user_type, Some(UserType::Unidentified));
    assert!(
        closed.first_response_at.is_some(),
        "the answer is the response"
    );
    assert_eq!(answered.answered_by, Some(owner.id));
    let audit = db
        .audit(&atiende_store::audit::AuditQuery {
            entity_id: Some(i.folio.to_string()),
            ..Default::default()
        })
        .await
        .expect("audit");
    assert!(
        audit
            .iter()
            .any(|a| a.action == "incident.derivation_answer_close"),
        "the audit says it was closed with the answer"
    );
}

async fn only_the_quality_owners_answer_closes_and_a_refused_close_writes_nothing(db: TestDb) {
    let (agent, _) = setup(&db).await;
    let coordination = unit(&db, UnitKind::Coordination).await;
    let responsible = user(&db, "coord", Role::UnitResponsible, vec![coordination.id]).await;
    let c = contact(&db, &agent, "elena@alumnos.udg.mx", None).await;
    let i = db
        .create_incident(Actor::Staff(&agent), phone_incident(c))
        .await
        .expect("incident");
    let (_, d) = db
        .derive_incident(Actor::Staff(&agent), i.id, &derive_to(&coordination, false))
        .await
        .expect("derived");
    let refused = db
        .answer_derivation(
            Actor::Staff(&responsible),
            i.id,
            d.id,
            &UnitAnswer {
                answer: "Se corrigió".into(),
                close: true,
                user_type: None,
            },
        )
        .await
        .expect_err("a unit's answer returns the incident to the CAP");
    let StoreError::Rule(rule) = refused else {
        panic!("a rule refuses it: {refused:?}");
    };
    assert_eq!(rule.fields()[0].code, "closed_by_the_cap");
    let derivations = db.derivations(i.id).await.expect("derivations");
    assert!(!derivations[0].is_answered(), "nothing was written");
    assert_eq!(
        db.incident(i.id).await.expect("stored").status,
        Status::WaitingUnit
    );
}

async fn an_anonymous_entry_closes_as_unidentified_and_a_person_never_is(db: TestDb) {
    let (agent, _) = setup(&db).await;
    let actor = Actor::Staff(&agent);
    let anonymous = db
        .create_incident(
            Actor::System,
            NewIncidentInput {
                channel: Channel::SuggestionBox,
                contact_id: None,
                subject: String::new(),
                body: "Nadie contesta el teléfono por la tarde.".into(),
                user_type: None,
                incident_type: Some(IncidentType::Complaint),
                topic_id: None,
                critical: false,
                assigned_to: None,
                received_at: None,
            },
        )
        .await
        .expect("anonymous buzón entry");
    let unidentified = ClassifyInput {
        user_type: Some(UserType::Unidentified),
        ..Default::default()
    };
    db.classify_incident(actor, anonymous.id, &unidentified)
        .await
        .expect("nobody to ask: no identificado");
    let closed = db
        .close_incident(actor, anonymous.id, Some("Se turnó al área de telefonía."))
        .await
        .expect("closes without inventing a user type");
    assert_eq!(closed.user_type, Some(UserType::Unidentified));

    // Someone the agent talks to is asked, never filed as unidentified.
    let c = contact(&db, &agent, "ana@alumnos.udg.mx", None).await;
    let call = db
        .create_incident(actor, phone_incident(c))
        .await
        .expect("call");
    let refused = db
        .classify_incident(actor, call.id, &unidentified)
        .await
        .expect_err("a person is asked");
    let StoreError::Rule(rule) = refused else {
        panic!("a rule error: {refused:?}");
    };
    assert_eq!(rule.fields()[0].code, "unidentified_with_a_person");

    // Counted apart in the breakdown by user type.
    let month = atiende_domain::period::month_key(chrono::Utc::now(), db.time_zone());
    let rollup = db.period_rollup(month, month, true).await.expect("rollup");
    let by_type = rollup.breakdown(atiende_domain::indicators::Dimension::UserType);
    let apart = by_type.iter().find(|(k, _)| k == "unidentified");
    assert_eq!(apart.map(|(_, c)| c.incidents), Some(1), "{by_type:?}");
}

async fn a_unit_responsible_sees_and_answers_only_what_was_derived_to_their_unit(db: TestDb) {
    let (agent, _) = setup(&db).await;
    let units = db.units().await.expect("units");
    let coordinations: Vec<_> = units
        .iter()
        .filter(|u| u.kind == UnitKind::Coordination)
        .collect();
    let (mine, other) = (coordinations[0], coordinations[1]);
    let responsible = user(&db, "escolar", Role::UnitResponsible, vec![mine.id]).await;
    let stranger = user(&db, "finanzas", Role::UnitResponsible, vec![other.id]).await;
    let c = contact(&db, &agent, "ana@alumnos.udg.mx", None).await;
    let derived = db
        .create_incident(Actor::Staff(&agent), phone_incident(c))
        .await
        .expect("created");
    let not_derived = db
        .create_incident(Actor::Staff(&agent), phone_incident(c))
        .await
        .expect("created");
    let (waiting, d) = db
        .derive_incident(Actor::Staff(&agent), derived.id, &derive_to(mine, false))
        .await
        .expect("derived");
    assert_eq!(waiting.status, Status::WaitingUnit);

    let scope = responsible.incident_scope();
    let seen: Vec<_> = db
        .incidents(
            &scope,
            &IncidentFilter {
                limit: 50,
                ..Default::default()
            },
        )
        .await
        .expect("list")
        .into_iter()
        .map(|s| s.incident.id)
        .collect();
    assert_eq!(seen, vec![derived.id]);
    assert!(
        db.incident_visible(&scope, derived.id)
            .await
            .expect("visible")
    );
    assert!(
        !db.incident_visible(&scope, not_derived.id)
            .await
            .expect("visible")
    );
    assert!(
        !db.incident_visible(&stranger.incident_scope(), derived.id)
            .await
            .expect("visible")
    );

    let refused = db
        .answer_derivation(
            Actor::Staff(&stranger),
            derived.id,
            d.id,
            &UnitAnswer::returning("No es nuestro"),
        )
        .await;
    assert!(matches!(refused, Err(StoreError::Forbidden)));
    let (back, answered) = db
        .answer_derivation(
            Actor::Staff(&responsible),
            derived.id,
            d.id,
            &UnitAnswer::returning("Ya se corrigió el kárdex"),
        )
        .await
        .expect("answered");
    assert_eq!(back.status, Status::Open, "returns to the CAP");
    assert_eq!(answered.answered_by, Some(responsible.id));
}

async fn reopening_is_recorded_and_cancels_first_contact_resolution(db: TestDb) {
    let (agent, _) = setup(&db).await;
    let c = contact(&db, &agent, "ana@alumnos.udg.mx", None).await;
    let i = db
        .create_incident(Actor::Staff(&agent), phone_incident(c))
        .await
        .expect("created");
    db.classify_incident(Actor::Staff(&agent), i.id, &classify_question())
        .await
        .expect("classified");
    db.close_incident(Actor::Staff(&agent), i.id, Some("Resuelto"))
        .await
        .expect("closed");
    let reopened = db
        .reopen_incident(Actor::Staff(&agent), i.id, "El usuario volvió a llamar")
        .await
        .expect("reopened");
    assert_eq!(
        (reopened.status, reopened.reopened_count),
        (Status::Open, 1)
    );
    db.close_incident(Actor::Staff(&agent), i.id, None)
        .await
        .expect("closed again: notes already recorded");
    let detail = db.incident_detail(i.id, 7).await.expect("detail");
    assert!(!detail.first_contact_resolution);
    let changes = detail
        .timeline
        .iter()
        .filter(|e| e.kind == EntryKind::StatusChange)
        .count();
    assert_eq!(changes, 3);
}

async fn the_incident_list_filters_searches_and_pages(db: TestDb) {
    let (agent, _) = setup(&db).await;
    let c = contact(&db, &agent, "ana@alumnos.udg.mx", None).await;
    for n in 0..7 {
        let mut input = phone_incident(c);
        input.subject = format!("Duda sobre inscripción {n}");
        if n % 2 == 0 {
            input.channel = Channel::InPerson;
        }
        db.create_incident(Actor::Staff(&agent), input)
            .await
            .expect("created");
    }
    let page1 = db
        .incidents(
            &Scope::All,
            &IncidentFilter {
                limit: 3,
                ..Default::default()
            },
        )
        .await
        .expect("page 1");
    assert_eq!(page1.len(), 3);
    let cursor = page1.last().map(|s| s.incident.id.0);
    let page2 = db
        .incidents(
            &Scope::All,
            &IncidentFilter {
                limit: 10,
                before_id: cursor,
                ..Default::default()
            },
        )
        .await;
    assert_eq!(page2.expect("page 2").len(), 4);
    let in_person = IncidentFilter {
        channel: Some(Channel::InPerson),
        limit: 50,
        ..Default::default()
    };
    assert_eq!(
        db.incidents(&Scope::All, &in_person)
            .await
            .expect("filtered")
            .len(),
        4
    );
    for q in ["INSCRIPCIÓN 3", "ana@alumnos", "ANA LÓPEZ", "CAP-"] {
        let found = db
            .incidents(
                &Scope::All,
                &IncidentFilter {
                    q: Some(q.into()),
                    limit: 50,
                    ..Default::default()
                },
            )
            .await;
        assert!(!found.expect("search").is_empty(), "search for {q}");
    }
    let none = IncidentFilter {
        q: Some("100%".into()),
        limit: 50,
        ..Default::default()
    };
    assert!(
        db.incidents(&Scope::All, &none)
            .await
            .expect("search")
            .is_empty(),
        "a percent sign is not a wildcard"
    );
}

async fn sessions_end_when_the_user_is_disabled_and_revoked_tokens_stop_working(db: TestDb) {
    let (agent, _) = setup(&db).await;
    let (cookie, csrf) = db
        .create_session(agent.id, chrono::Duration::hours(8))
        .await
        .expect("session");
    let session = db
        .session_user(&cookie, chrono::Duration::hours(2))
        .await
        .expect("lookup")
        .expect("active");
    assert_eq!(
        (session.user.id, session.csrf, session.provider),
        (agent.id, csrf, None)
    );
    let read = TokenScopes::parse(["read"]).expect("scopes");
    let (token_id, token) = db
        .create_api_token(Actor::System, agent.id, "integración", &read, None)
        .await
        .expect("token");
    assert_eq!(
        db.token_user(&token)
            .await
            .expect("lookup")
            .map(|(u, scopes)| (u.id, scopes)),
        Some((agent.id, read.clone()))
    );
    // A token that expired opens nothing and is no longer listed.
    let soon = chrono::Utc::now() + chrono::Duration::milliseconds(300);
    let (_, brief) = db
        .create_api_token(Actor::System, agent.id, "breve", &read, Some(soon))
        .await
        .expect("token");
    assert!(db.token_user(&brief).await.expect("lookup").is_some());
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    assert!(db.token_user(&brief).await.expect("lookup").is_none());
    assert!(
        db.create_api_token(
            Actor::System,
            agent.id,
            "pasado",
            &read,
            Some(chrono::Utc::now() - chrono::Duration::seconds(1))
        )
        .await
        .is_err(),
        "an expiry in the past is refused"
    );
    let listed = db.tokens_of(agent.id).await.expect("tokens");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].name, "integración");
    assert_eq!(listed[0].scopes, read);
    assert!(listed[0].last_used_at.is_some(), "its use is recorded");
    assert!(
        !db.revoke_api_token(Actor::System, token_id, Some(UserId(agent.id.0 + 1000)))
            .await
            .expect("revoke"),
        "someone else's token is not theirs to revoke"
    );
    assert!(
        db.revoke_api_token(Actor::System, token_id, Some(agent.id))
            .await
            .expect("revoke")
    );
    assert!(db.tokens_of(agent.id).await.expect("tokens").is_empty());
    assert!(db.token_user(&token).await.expect("lookup").is_none());
    let disable = UserInput {
        disabled: Some(true),
        ..Default::default()
    };
    db.update_user(Actor::System, agent.id, &disable)
        .await
        .expect("disabled");
    assert!(
        db.session_user(&cookie, chrono::Duration::hours(2))
            .await
            .expect("lookup")
            .is_none()
    );
}

async fn disabling_an_account_or_setting_its_password_revokes_its_tokens_for_good(db: TestDb) {
    let (agent, _) = setup(&db).await;
    let token = |name: &'static str| {
        let db = &db;
        async move {
            db.create_api_token(
                Actor::System,
                agent.id,
                name,
                &TokenScopes::everything(),
                None,
            )
            .await
            .expect("token")
            .1
        }
    };
    let works = |t: String| {
        let db = &db;
        async move { db.token_user(&t).await.expect("lookup").is_some() }
    };
    let before_disabling = token("antes de deshabilitar").await;
    for disabled in [true, false] {
        let input = UserInput {
            disabled: Some(disabled),
            ..Default::default()
        };
        db.update_user(Actor::System, agent.id, &input)
            .await
            .expect("update");
    }
    assert!(
        !works(before_disabling).await,
        "re-enabling the account brings no token back"
    );

    let before_reset = token("antes del cambio").await;
    assert!(works(before_reset.clone()).await);
    db.change_own_password(&agent, "contraseña-segura-2", "otra-clave-segura-3")
        .await
        .expect("new password");
    assert!(
        !works(before_reset).await,
        "a new password revokes the tokens"
    );
    let after = token("después del cambio").await;
    assert!(works(after).await);
}

async fn a_wrong_password_does_not_log_in(db: TestDb) {
    let (agent, _) = setup(&db).await;
    assert!(
        db.verify_login(&agent.login, "contraseña-segura-2")
            .await
            .expect("verify")
            .is_some()
    );
    assert!(
        db.verify_login(&agent.login, "otra-contraseña")
            .await
            .expect("verify")
            .is_none()
    );
    assert!(
        db.verify_login("nadie", "otra-contraseña")
            .await
            .expect("verify")
            .is_none()
    );
}

async fn the_demo_is_a_year_that_every_page_can_show_and_loads_once(db: TestDb) {
    db.first_run(Some("contraseña-segura-1"))
        .await
        .expect("first run");
    let summary = db
        .load_demo(400, 7, Some("clave-demo-larga"))
        .await
        .expect("demo");
    assert_eq!(summary.history.incidents, 400);
    assert_eq!(
        summary.incidents, 30,
        "the last days' work, through the rules"
    );
    assert!(summary.closed > 5 && summary.derived > 0, "{summary:?}");
    assert_eq!(summary.staff.len(), 8);

    // A year: the oldest incident came in eleven months ago or more.
    let count = || async { db.latest_incident_id(&Scope::All).await.expect("count") };
    assert_eq!(count().await, 400 + 30 + 2);
    let oldest = db
        .incident(atiende_domain::ids::IncidentId(1))
        .await
        .expect("the first of the history")
        .received_at;
    assert!(
        chrono::Utc::now() - oldest > chrono::Duration::days(330),
        "{oldest}"
    );

    // Real response and closing times, not the minutes between loading and "now"; the
    // history's counts are the product's (a rebuild gives the same).
    let year = db.period_rollup(0, 999_999, true).await.expect("rollup");
    let median_h = |h: &[(i64, i64)]| {
        atiende_domain::indicators::median(h).expect("observations") / 3_600_000.0
    };
    assert!(median_h(&year.first_response) < 48.0, "{year:?}");
    assert!(median_h(&year.close) < 7.0 * 24.0, "{year:?}");
    db.rebuild_indicators(true).await.expect("rebuild");
    let rebuilt = db.period_rollup(0, 999_999, true).await.expect("rollup");
    assert_eq!(year.totals, rebuilt.totals);
    assert_eq!(year.breakdowns, rebuilt.breakdowns);

    // Targets with their responsibles, surveys answered question by question, low scores
    // followed up, nonconformities in each stage of treatment, articles, and the buzón's
    // entries waiting on the SIGA.
    let targets: atiende_domain::indicators::Targets = db
        .setting(atiende_store::settings::key::INDICATOR_TARGETS)
        .await
        .expect("targets");
    assert!(
        targets.targets.len() >= 5 && targets.targets.iter().all(|t| !t.responsible.is_empty())
    );
    let surveys = db.surveys(500).await.expect("surveys");
    assert!(
        surveys.iter().any(|s| s.answers.is_some()),
        "answers by question"
    );
    let ncs = db
        .nonconformities(&atiende_store::nonconformities::NcFilter {
            limit: 1000,
            ..Default::default()
        })
        .await
        .expect("nonconformities");
    for status in [NcStatus::Closed, NcStatus::InTreatment] {
        assert!(
            ncs.iter().any(|n| n.status == status),
            "{status:?}: {ncs:?}"
        );
    }
    let articles = db
        .articles(&atiende_store::knowledge::ArticleFilter {
            limit: 100,
            ..Default::default()
        })
        .await
        .expect("articles");
    assert!(articles.len() >= 10);
    assert!(db.waiting_on(UnitKind::Quality).await.expect("siga") >= 2);

    // Every closed incident has its intervention notes.
    let closed = IncidentFilter {
        status: Some(Status::Closed),
        limit: 200,
        ..Default::default()
    };
    for s in db.incidents(&Scope::All, &closed).await.expect("closed") {
        let detail = db.incident_detail(s.incident.id, 7).await.expect("detail");
        assert!(
            detail
                .timeline
                .iter()
                .any(|e| e.kind == EntryKind::Intervention),
            "{} closed with notes",
            s.incident.folio
        );
    }

    // Loading it again changes nothing.
    let again = db
        .load_demo(400, 7, Some("clave-demo-larga"))
        .await
        .expect("again");
    assert!(again.already_loaded);
    assert_eq!(count().await, 432);
}

/// The counts a person's queue shows, counted the slow way from the incident list.
async fn counted_from_the_list(db: &TestDb, user: &StaffUser) -> QueueCounts {
    let open = db
        .incidents(
            &Scope::All,
            &IncidentFilter {
                not_closed: true,
                limit: 1000,
                ..Default::default()
            },
        )
        .await
        .expect("open incidents");
    let leads = IncidentFilter {
        leads_queue: true,
        limit: 1000,
        ..Default::default()
    };
    let count = |f: &dyn Fn(&atiende_store::incidents::IncidentSummary) -> bool| {
        open.iter().filter(|s| f(s)).count() as i64
    };
    QueueCounts {
        open: open.len() as i64,
        mine: count(&|s| s.incident.assigned_to == Some(user.id)),
        unassigned: count(&|s| s.incident.assigned_to.is_none()),
        waiting: count(&|s| s.incident.status == Status::WaitingUnit),
        critical: db
            .incidents(&Scope::All, &leads)
            .await
            .expect("leads")
            .len() as i64,
    }
}

async fn assert_counts_match_the_list(db: &TestDb, when: &str) {
    for user in db.users().await.expect("users") {
        let kept = db.queue_counts(user.id, &Scope::All).await.expect("counts");
        let counted = counted_from_the_list(db, &user).await;
        assert_eq!(kept, counted, "{when}, for {}", user.login);
    }
}

async fn the_queue_counts_follow_every_change_whatever_the_write_path(db: TestDb) {
    db.first_run(Some("contraseña-segura-1"))
        .await
        .expect("first run");
    // The demo goes through creation, classification (critical ones too), assignment,
    // derivation, answers, closing and reopening.
    db.load_demo(60, 7, Some("clave-demo-larga"))
        .await
        .expect("demo");
    assert_counts_match_the_list(&db, "after the demo").await;
    let agent = db.user_by_login("agente1").await.ok();
    let agent = match agent {
        Some(a) => a,
        None => user(&db, "agente1", Role::Agent, vec![]).await,
    };
    let c = contact(&db, &agent, "queue@alumnos.udg.mx", None).await;
    let mut tasks = Vec::new();
    for n in 0..24 {
        let store = db.store.clone();
        let agent = agent.clone();
        tasks.push(tokio::spawn(async move {
            let mut input = phone_incident(c);
            if n % 3 == 0 {
                input.assigned_to = Some(agent.id);
            }
            store
                .create_incident(Actor::Staff(&agent), input)
                .await
                .expect("created")
        }));
    }
    let mut created = Vec::new();
    for t in tasks {
        created.push(t.await.expect("task"));
    }
    assert_counts_match_the_list(&db, "after concurrent creation").await;
    db.assign_incident(Actor::Staff(&agent), created[1].id, Some(agent.id))
        .await
        .expect("assigned");
    db.assign_incident(Actor::Staff(&agent), created[0].id, None)
        .await
        .expect("unassigned");
    db.classify_incident(Actor::Staff(&agent), created[2].id, &classify_question())
        .await
        .expect("classified");
    db.close_incident(Actor::Staff(&agent), created[2].id, Some("Resuelto"))
        .await
        .expect("closed");
    assert_counts_match_the_list(&db, "after assigning and closing").await;
    let before = db
        .queue_counts(agent.id, &Scope::All)
        .await
        .expect("counts");
    assert!(before.open > 0 && before.mine > 0, "{before:?}");
    // A second instance writes, then stops: on PostgreSQL its server processes end, and
    // their counters are folded into the shared rows without changing a count.
    let other = atiende_store::Store::connect(&db.url, atiende_store::db::DEFAULT_TZ)
        .await
        .expect("second instance");
    for _ in 0..3 {
        other
            .create_incident(Actor::Staff(&agent), phone_incident(c))
            .await
            .expect("created by the other instance");
    }
    other.close().await;
    assert_counts_match_the_list(&db, "after the other instance stopped").await;
    let mut folded = db.fold_queue_tally().await.expect("fold");
    for _ in 0..50 {
        if folded > 0 || db.engine() == atiende_store::Engine::Sqlite {
            break;
        }
        // The server notices a closed connection a moment after the client closed it.
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        folded = db.fold_queue_tally().await.expect("fold");
    }
    if db.engine() == atiende_store::Engine::Postgres {
        assert!(folded > 0, "the stopped instance's counters were folded");
    }
    assert_counts_match_the_list(&db, "after folding").await;
    db.recount_queue_tally().await.expect("recount");
    assert_counts_match_the_list(&db, "after a recount").await;
}

/// The writer no longer copies SQLite's write-ahead log back into the database file at the
/// commit that crosses its size limit; a checkpointer beside it does, soon after writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_copies_its_log_into_the_database_beside_the_writer() {
    let db = TestDb::new(atiende_store::Engine::Sqlite).await;
    db.first_run(Some("contraseña-segura-1"))
        .await
        .expect("first run");
    db.load_demo(20, 7, Some("clave-demo-larga"))
        .await
        .expect("demo");
    let mut probe = <sqlx::AnyConnection as sqlx::Connection>::connect(&db.url)
        .await
        .expect("probe connection");
    let mut behind = i64::MAX;
    for _ in 0..40 {
        // NOOP reports the log's frames and how many are in the database, copying nothing.
        let row = sqlx::Executor::fetch_one(&mut probe, "PRAGMA wal_checkpoint(NOOP)")
            .await
            .expect("wal state");
        let (log, copied): (i64, i64) = (sqlx::Row::get(&row, 1), sqlx::Row::get(&row, 2));
        behind = log - copied;
        if behind == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(behind, 0, "frames of the log not yet in the database");
}

async fn pending_migrations_are_listed_and_a_newer_schema_is_refused(db: TestDb) {
    assert!(
        db.pending_migrations().await.expect("pending").is_empty(),
        "a migrated database has nothing pending"
    );
    let newest = atiende_store::migrate::for_engine(db.engine())
        .last()
        .expect("migrations")
        .version;
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&db.url)
        .await
        .expect("connect");
    let mark = |sql: &'static str, version: i64| sqlx::query(sql).bind(version);
    mark("DELETE FROM schema_migrations WHERE version = $1", newest)
        .execute(&mut conn)
        .await
        .expect("forget the newest");
    let pending = db.pending_migrations().await.expect("pending");
    assert_eq!(
        pending.iter().map(|m| m.version).collect::<Vec<_>>(),
        vec![newest]
    );
    mark(
        "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, 'from_the_future', 0)",
        newest + 1,
    )
    .execute(&mut conn)
    .await
    .expect("a newer release's step");
    for refused in [
        db.pending_migrations().await.map(|_| ()),
        db.migrate().await.map(|_| ()),
    ] {
        assert!(
            matches!(refused, Err(StoreError::NewerSchema { found, known }) if found == newest + 1 && known == newest),
            "{refused:?}"
        );
    }
}

async fn secrets_are_sealed_and_a_rotation_moves_them_to_the_new_key(db: TestDb) {
    use atiende_store::secrets::Keyring;
    use atiende_store::testing::TEST_SECRETS_KEY;
    let (agent, _) = setup(&db).await;
    let mut mailbox = atiende_store::testing::sending_mailbox();
    mailbox.smtp_password = "clave-smtp-qwzx".into();
    let saved = db
        .save_mailbox(Actor::System, &mailbox)
        .await
        .expect("mailbox");
    let totp = db.begin_second_factor(agent.id).await.expect("enrolling");
    let device = db.installation_secret("device").await.expect("secret");
    for secret in ["clave-smtp-qwzx", totp.as_str(), device.as_str()] {
        assert_eq!(
            db.columns_containing(secret).await,
            Vec::<String>::new(),
            "sealed"
        );
    }

    // A new key goes first, the old one stays to open what it sealed, and the rotation seals
    // everything again.
    let new = Keyring::new_key();
    let both = db
        .store
        .clone()
        .with_keyring(Keyring::parse(&[&new, TEST_SECRETS_KEY]).expect("keys"));
    assert!(both.rotate_secrets().await.expect("rotation") >= 3);
    assert_eq!(
        both.rotate_secrets().await.expect("again"),
        0,
        "nothing left to move"
    );
    let only_new = db
        .store
        .clone()
        .with_keyring(Keyring::parse(&[&new]).expect("key"));
    assert_eq!(
        only_new
            .mailbox(saved.id)
            .await
            .expect("opens")
            .smtp_password
            .expose(),
        "clave-smtp-qwzx"
    );
    assert_eq!(
        only_new.installation_secret("device").await.expect("opens"),
        device
    );
    assert_eq!(
        only_new
            .pending_second_factor(agent.id)
            .await
            .expect("opens"),
        Some(totp)
    );
    // The old key alone no longer opens them.
    assert!(db.mailbox(saved.id).await.is_err());
}
