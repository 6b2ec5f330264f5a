//! The knowledge base and full-text search on both engines: Spanish text without accents or
//! case, word forms, phrases, ranking, permissions, suggestions, and an index in step with
//! every write.

use atiende_domain::access::Scope;
use atiende_domain::classification::{Channel, Medium};
use atiende_domain::contact::ContactInput;
use atiende_domain::derivation::DeriveInput;
use atiende_domain::ids::{ContactId, IncidentId, UnitId};
use atiende_domain::incident::{EntryKind, NewIncidentInput};
use atiende_domain::knowledge::{ArticleInput, SearchQuery};
use atiende_domain::unit::UnitKind;
use atiende_domain::user::{Role, StaffUser, UserInput};
use atiende_store::Actor;
use atiende_store::search::Match;
use atiende_store::testing::TestDb;

atiende_store::on_both_engines!(
    accents_case_and_word_forms_do_not_matter,
    a_phrase_matches_its_words_in_order,
    function_words_are_left_out_and_short_words_match_whole_on_both_engines,
    a_title_match_ranks_before_a_body_match,
    the_public_finds_only_public_articles_and_a_unit_only_its_incidents,
    a_public_article_is_found_behind_hundreds_of_better_ranked_internal_ones,
    an_incident_suggests_the_article_that_answers_it,
    the_index_follows_updates_archives_merges_and_new_messages,
    contacts_are_found_by_name_and_any_identifier,
    the_most_useful_articles_and_the_topics_without_one_are_counted,
    a_common_word_is_ranked_among_its_newest_matches_and_a_rare_one_anywhere,
    a_word_the_newest_incidents_seldom_hold_is_ranked_among_its_newest_matches_further_back,
    the_queue_filter_finds_words_in_messages_and_contacts_and_looks_past_the_newest_matches,
    the_queue_filter_reaches_its_matches_past_a_million_ids_that_hold_none,
    a_beginning_finds_every_word_that_has_it_however_many_words_have_it,
    the_contact_list_finds_the_newest_matches_among_the_newest_contacts_and_the_rest_further_back,
);

async fn setup(db: &TestDb) -> StaffUser {
    db.first_run(Some("contraseña-segura-1"))
        .await
        .expect("first run");
    db.create_user(
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
    .user
}

async fn article(db: &TestDb, user: &StaffUser, title: &str, body: &str, public: bool) -> i64 {
    db.create_article(
        Actor::Staff(user),
        &ArticleInput {
            title: title.into(),
            body: body.into(),
            public,
            ..Default::default()
        },
    )
    .await
    .expect("article")
    .id
}

async fn found(db: &TestDb, q: &str) -> Vec<String> {
    db.search_articles(&SearchQuery::parse(q), Match::All, false, 10)
        .await
        .expect("search")
        .into_iter()
        .map(|h| h.title)
        .collect()
}

async fn corpus(db: &TestDb, user: &StaffUser) {
    article(
        db,
        user,
        "Reinscripción al siguiente ciclo",
        "La reinscripción se hace en SIIAU con la orden de pago del ciclo.",
        true,
    )
    .await;
    article(
        db,
        user,
        "Orden de pago vencida",
        "Si tu orden de pago venció, genera una nueva desde el portal de pagos.",
        true,
    )
    .await;
    article(
        db,
        user,
        "Acceso a la plataforma",
        "Para entrar a la plataforma usa tu código y la contraseña del correo institucional.",
        false,
    )
    .await;
    article(db, user, "Constancias y kárdex", "Las constancias de estudios se solicitan en control escolar; el pago de la orden se hace en línea.", true).await;
}

async fn accents_case_and_word_forms_do_not_matter(db: TestDb) {
    let user = setup(&db).await;
    corpus(&db, &user).await;
    for q in ["reinscripcion", "REINSCRIPCIÓN", "Reinscripcion ciclo"] {
        assert_eq!(
            found(&db, q).await.first().map(String::as_str),
            Some("Reinscripción al siguiente ciclo"),
            "{q}"
        );
    }
    // Word forms: the beginning of a word (and, on PostgreSQL, its Spanish stem).
    article(
        &db,
        &user,
        "Calendario",
        "Las reinscripciones abren en enero y julio.",
        true,
    )
    .await;
    let forms = found(&db, "reinscripcion").await;
    assert!(forms.contains(&"Calendario".to_string()), "{forms:?}");
    assert!(
        found(&db, "kardex")
            .await
            .contains(&"Constancias y kárdex".to_string())
    );
    assert!(
        found(&db, "institucional plataforma")
            .await
            .contains(&"Acceso a la plataforma".to_string())
    );
    assert!(found(&db, "inexistente").await.is_empty());
}

async fn a_phrase_matches_its_words_in_order(db: TestDb) {
    let user = setup(&db).await;
    corpus(&db, &user).await;
    let titles = found(&db, "\"orden de pago\"").await;
    assert!(titles.contains(&"Orden de pago vencida".to_string()));
    assert!(titles.contains(&"Reinscripción al siguiente ciclo".to_string()));
    assert!(
        !titles.contains(&"Constancias y kárdex".to_string()),
        "«pago de la orden» is not the phrase: {titles:?}"
    );
}

async fn function_words_are_left_out_and_short_words_match_whole_on_both_engines(db: TestDb) {
    let user = setup(&db).await;
    corpus(&db, &user).await;
    article(
        &db,
        &user,
        "Pagos en línea",
        "Tu orden se paga con tarjeta.",
        true,
    )
    .await;
    // «de» is left out: «orden» and «pago» are what is looked for, whatever joins them.
    let titles = found(&db, "orden de pago").await;
    assert!(titles.contains(&"Pagos en línea".to_string()), "{titles:?}");
    assert!(titles.contains(&"Orden de pago vencida".to_string()));
    // Alone, a function word finds nothing.
    assert!(found(&db, "del").await.is_empty());
    // Two letters match the word, not every word they begin.
    assert!(found(&db, "pa").await.is_empty(), "«pa» is no word here");
    assert!(
        !found(&db, "pag").await.is_empty(),
        "three letters are a beginning"
    );
}

async fn a_title_match_ranks_before_a_body_match(db: TestDb) {
    let user = setup(&db).await;
    article(
        &db,
        &user,
        "Becas",
        "Requisitos y fechas de las convocatorias. También se menciona la credencial.",
        true,
    )
    .await;
    article(
        &db,
        &user,
        "Credencial de estudiante",
        "Cómo tramitar y reponer la credencial.",
        true,
    )
    .await;
    let titles = found(&db, "credencial").await;
    assert_eq!(titles, ["Credencial de estudiante", "Becas"]);
}

async fn incident(db: &TestDb, user: &StaffUser, subject: &str, body: &str) -> IncidentId {
    let contact = ana(db).await;
    db.create_incident(Actor::Staff(user), phone_call(contact, subject, body))
        .await
        .expect("incident")
        .id
}

async fn ana(db: &TestDb) -> ContactId {
    person(db, "Ana").await
}

async fn person(db: &TestDb, name: &str) -> ContactId {
    db.create_contact(
        Actor::System,
        &ContactInput {
            name: Some(name.into()),
            ..Default::default()
        },
    )
    .await
    .expect("contact")
    .id
}

/// Creates the incidents, a hundred to a group as the intake writer would; their ids in order.
async fn create_all(db: &TestDb, user: &StaffUser, inputs: &[NewIncidentInput]) -> Vec<IncidentId> {
    let mut created = Vec::new();
    for chunk in inputs.chunks(100) {
        let batch = chunk
            .iter()
            .map(|i| (Actor::Staff(user), i.clone()))
            .collect();
        for incident in db.create_incidents(batch).await {
            created.push(incident.expect("incident").id);
        }
    }
    created
}

/// Twenty incidents that say "reinscripción" in their subject and twice in their text (the
/// best ranked for it), and alone say "xilófono".
fn best_ranked(contact: ContactId) -> Vec<NewIncidentInput> {
    (0..20)
        .map(|_| {
            phone_call(
                contact,
                "Reinscripción",
                "Reinscripción del xilófono: reinscripción.",
            )
        })
        .collect()
}

/// The next incident's id past a million, as if a million incidents that never said the
/// words came between (PostgreSQL; SQLite hands out the next id).
async fn skip_a_million_ids(db: &TestDb) {
    if db.engine() == atiende_store::Engine::Postgres {
        db.execute("SELECT setval(pg_get_serial_sequence('incidents', 'id'), 1000000)")
            .await;
    }
}

fn phone_call(contact: ContactId, subject: &str, body: &str) -> NewIncidentInput {
    NewIncidentInput {
        channel: Channel::Phone,
        contact_id: Some(contact),
        subject: subject.into(),
        body: body.into(),
        user_type: None,
        incident_type: None,
        topic_id: None,
        critical: false,
        assigned_to: None,
        received_at: None,
    }
}

async fn the_public_finds_only_public_articles_and_a_unit_only_its_incidents(db: TestDb) {
    let user = setup(&db).await;
    corpus(&db, &user).await;
    let public = db
        .search_articles(&SearchQuery::parse("plataforma"), Match::All, true, 10)
        .await
        .expect("public");
    assert!(public.is_empty(), "the platform article is internal");
    let staff = db
        .search_articles(&SearchQuery::parse("plataforma"), Match::All, false, 10)
        .await
        .expect("staff");
    assert_eq!(staff.len(), 1);
    let units = db.units().await.expect("units");
    let mine = units
        .iter()
        .find(|u| u.kind == UnitKind::Coordination)
        .expect("unit");
    let theirs = units
        .iter()
        .filter(|u| u.kind == UnitKind::Coordination)
        .nth(1)
        .expect("another unit");
    let derived = incident(
        &db,
        &user,
        "Equivalencia de materias",
        "Necesito la equivalencia de materias.",
    )
    .await;
    let other = incident(
        &db,
        &user,
        "Equivalencia de estudios",
        "Pregunto por equivalencia de estudios.",
    )
    .await;
    let derive = |unit: UnitId| DeriveInput {
        unit_id: unit,
        medium: Medium::Email,
        reason: "Corresponde a la unidad".into(),
        user_told: None,
        told_address: None,
        close: false,
        notes: None,
    };
    db.derive_incident(Actor::Staff(&user), derived, &derive(mine.id))
        .await
        .expect("derive");
    db.derive_incident(Actor::Staff(&user), other, &derive(theirs.id))
        .await
        .expect("derive");
    let q = SearchQuery::parse("equivalencia");
    assert_eq!(
        db.search_incidents(&Scope::All, &q, 10)
            .await
            .expect("all")
            .len(),
        2
    );
    let scoped = db
        .search_incidents(&Scope::DerivedTo(vec![mine.id]), &q, 10)
        .await
        .expect("scoped");
    assert_eq!(scoped.iter().map(|h| h.id).collect::<Vec<_>>(), [derived]);
}

async fn an_incident_suggests_the_article_that_answers_it(db: TestDb) {
    let user = setup(&db).await;
    corpus(&db, &user).await;
    let text = "Hola, buenas tardes. ¿Cuándo es la reinscripción para el siguiente ciclo? No encuentro la fecha.";
    let hits = db
        .search_articles(&SearchQuery::suggestion(text), Match::Any, false, 3)
        .await
        .expect("suggestions");
    assert_eq!(hits[0].title, "Reinscripción al siguiente ciclo");
    let hits = db
        .search_articles(
            &SearchQuery::suggestion("No puedo entrar a la plataforma, olvidé la contraseña"),
            Match::Any,
            false,
            3,
        )
        .await
        .expect("suggestions");
    assert_eq!(hits[0].title, "Acceso a la plataforma");
    assert!(!hits[0].snippet.is_empty());
}

async fn the_index_follows_updates_archives_merges_and_new_messages(db: TestDb) {
    let user = setup(&db).await;
    let id = article(
        &db,
        &user,
        "Servicio social",
        "Se libera con 480 horas.",
        true,
    )
    .await;
    let mut input = db.article(id).await.expect("article").input();
    input.title = "Prácticas profesionales".into();
    input.body = "Se acreditan con el informe final.".into();
    db.update_article(Actor::Staff(&user), id, &input)
        .await
        .expect("update");
    assert!(
        found(&db, "servicio social").await.is_empty(),
        "old words are gone"
    );
    assert_eq!(found(&db, "practicas").await, ["Prácticas profesionales"]);
    assert_eq!(db.article_versions(id).await.expect("versions").len(), 2);
    db.archive_article(Actor::Staff(&user), id)
        .await
        .expect("archive");
    assert!(
        found(&db, "practicas").await.is_empty(),
        "archived articles leave the index"
    );
    // A new message on an incident is searchable at once.
    let i = incident(&db, &user, "Duda", "Una pregunta").await;
    db.add_entry(
        Actor::Staff(&user),
        i,
        EntryKind::OutboundMessage,
        "Revise la credencialización en línea",
    )
    .await
    .expect("answer");
    let hits = db
        .search_incidents(&Scope::All, &SearchQuery::parse("credencializacion"), 10)
        .await
        .expect("search");
    assert_eq!(hits.iter().map(|h| h.id).collect::<Vec<_>>(), [i]);
    let folio = db.incident(i).await.expect("incident").folio.to_string();
    let by_folio = db
        .search_incidents(&Scope::All, &SearchQuery::parse(&folio), 10)
        .await
        .expect("by folio");
    assert_eq!(
        by_folio.iter().map(|h| h.id).collect::<Vec<_>>(),
        [i],
        "{folio}"
    );
    // A merged contact leaves the index; the one kept stays.
    let a = db
        .create_contact(
            Actor::System,
            &ContactInput {
                name: Some("Zoe Quintanilla".into()),
                ..Default::default()
            },
        )
        .await
        .expect("a");
    let b = db
        .create_contact(
            Actor::System,
            &ContactInput {
                name: Some("Zoe Q.".into()),
                ..Default::default()
            },
        )
        .await
        .expect("b");
    db.merge_contacts(Actor::Staff(&user), a.id, b.id)
        .await
        .expect("merge");
    let zoe = db
        .search_contacts(&SearchQuery::parse("zoe"), 10)
        .await
        .expect("contacts");
    assert_eq!(zoe.iter().map(|h| h.id).collect::<Vec<_>>(), [a.id]);
    // A rebuild gives the same answers.
    db.rebuild_search().await.expect("rebuild");
    assert_eq!(
        db.search_incidents(&Scope::All, &SearchQuery::parse("credencializacion"), 10)
            .await
            .expect("after rebuild")
            .len(),
        1
    );
    assert!(found(&db, "practicas").await.is_empty());
}

async fn contacts_are_found_by_name_and_any_identifier(db: TestDb) {
    setup(&db).await;
    let c = db
        .create_contact(
            Actor::System,
            &ContactInput {
                name: Some("Mariana Hernández Ruiz".into()),
                emails: Some(vec!["mariana.hdz@alumnos.udg.mx".into()]),
                phones: Some(vec!["33 3658 1200".into()]),
                student_code: Some("219876543".into()),
                ..Default::default()
            },
        )
        .await
        .expect("contact");
    for q in [
        "hernandez",
        "mariana ruiz",
        "mariana.hdz@alumnos.udg.mx",
        "hdz",
        "523336581200",
        "219876543",
    ] {
        let hits = db
            .search_contacts(&SearchQuery::parse(q), 10)
            .await
            .expect("search");
        assert_eq!(hits.iter().map(|h| h.id).collect::<Vec<_>>(), [c.id], "{q}");
    }
    // The contact list's filter reads the same index, and a number as a caller shows it.
    for q in [
        "hernandez",
        "Mariana Ruiz",
        "hdz",
        "33 3658 1200",
        "3336581200",
        "+52 33 3658 1200",
    ] {
        let listed = db
            .contacts(&atiende_store::contacts::ContactQuery {
                q: Some(q.into()),
                limit: 50,
                ..Default::default()
            })
            .await
            .expect("contacts");
        assert_eq!(
            listed.iter().map(|c| c.id).collect::<Vec<_>>(),
            [c.id],
            "{q}"
        );
    }
    for q in ["ernandez", "ruizz", "...", "3399990000"] {
        let listed = db
            .contacts(&atiende_store::contacts::ContactQuery {
                q: Some(q.into()),
                limit: 50,
                ..Default::default()
            })
            .await
            .expect("contacts");
        assert!(listed.is_empty(), "{q}: {listed:?}");
    }
}

async fn the_most_useful_articles_and_the_topics_without_one_are_counted(db: TestDb) {
    let user = setup(&db).await;
    let topics = db.topics().await.expect("topics");
    let covered = &topics[0];
    let lacking = &topics[1];
    let id = db
        .create_article(
            Actor::Staff(&user),
            &ArticleInput {
                title: "Cómo pagar".into(),
                body: "En el portal.".into(),
                topic_id: Some(covered.id),
                ..Default::default()
            },
        )
        .await
        .expect("article")
        .id;
    for topic in [covered.id, lacking.id, lacking.id] {
        let i = incident(&db, &user, "Consulta", "Una consulta").await;
        db.classify_incident(
            Actor::Staff(&user),
            i,
            &atiende_domain::incident::ClassifyInput {
                topic_id: Some(topic),
                ..Default::default()
            },
        )
        .await
        .expect("classify");
        if topic == covered.id {
            assert!(
                db.mark_resolved_by_article(Actor::Staff(&user), i, id)
                    .await
                    .expect("mark")
            );
            assert!(
                !db.mark_resolved_by_article(Actor::Staff(&user), i, id)
                    .await
                    .expect("again")
            );
            assert_eq!(db.resolutions_of(i).await.expect("of"), [id]);
        }
    }
    // Past its review date, an article is flagged to its owner unit (and only to it).
    let unit = db.units().await.expect("units")[0].id;
    db.create_article(
        Actor::Staff(&user),
        &ArticleInput {
            title: "Aranceles 2025".into(),
            body: "Tabla de aranceles.".into(),
            owner_unit_id: Some(unit),
            review_on: chrono::NaiveDate::from_ymd_opt(2025, 12, 31),
            ..Default::default()
        },
    )
    .await
    .expect("old article");
    let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 30);
    let due = |units: Vec<UnitId>| atiende_store::knowledge::ArticleFilter {
        due_on: today,
        owner_units: Some(units),
        ..Default::default()
    };
    let flagged = db.articles(&due(vec![unit])).await.expect("due");
    assert_eq!(
        flagged.iter().map(|a| a.title.as_str()).collect::<Vec<_>>(),
        ["Aranceles 2025"]
    );
    let other = db.units().await.expect("units")[1].id;
    assert!(
        db.articles(&due(vec![other]))
            .await
            .expect("none")
            .is_empty()
    );
    let useful = db.most_useful_articles(5).await.expect("useful");
    assert_eq!((useful[0].id, useful[0].resolved), (id, 1));
    let gaps = db.topics_without_articles(0).await.expect("gaps");
    assert_eq!(
        gaps.iter()
            .map(|g| (g.topic_id, g.incidents))
            .collect::<Vec<_>>(),
        [(lacking.id, 2)]
    );
}

/// A word in a good part of the history is ranked among its 2,000 newest matches (where an
/// agent looks, and what keeps a search fast at a million incidents); a word that only old
/// incidents have is still found.
async fn a_common_word_is_ranked_among_its_newest_matches_and_a_rare_one_anywhere(db: TestDb) {
    let user = setup(&db).await;
    let contact = ana(&db).await;
    let new = |subject: &str, body: &str| phone_call(contact, subject, body);
    // The oldest match the word in their subject (the best rank), the 2,000 after them only
    // once in their text.
    let mut inputs = best_ranked(contact);
    inputs.extend(
        (0..2_000).map(|n| new(&format!("Consulta {n}"), "Pregunta por la reinscripción.")),
    );
    let created = create_all(&db, &user, &inputs).await;
    let hits = db
        .search_incidents(&Scope::All, &SearchQuery::parse("reinscripcion"), 10)
        .await
        .expect("search");
    assert_eq!(hits.len(), 10);
    assert!(
        hits.iter().all(|h| h.subject.starts_with("Consulta")),
        "the oldest are outside the newest 2,000 matches: {hits:?}"
    );
    let rare = db
        .search_incidents(&Scope::All, &SearchQuery::parse("xilofono"), 30)
        .await
        .expect("search");
    let mut ids: Vec<_> = rare.iter().map(|h| h.id).collect();
    ids.sort();
    assert_eq!(ids, created[..20]);
}

/// A word a day's intake seldom says, common in older history: the newest 2,000 matches reach
/// back past a million ids that hold none, and the best of those are found, not the best of
/// the recent few nor of the whole history. (PostgreSQL gets there through the newest ids,
/// then its index's newest periods, then the whole index.)
async fn a_word_the_newest_incidents_seldom_hold_is_ranked_among_its_newest_matches_further_back(
    db: TestDb,
) {
    let user = setup(&db).await;
    let contact = ana(&db).await;
    let new = |subject: &str, body: &str| phone_call(contact, subject, body);
    // Best ranked and oldest: outside the window.
    let mut inputs = best_ranked(contact);
    inputs.extend(
        (0..1_990).map(|n| new(&format!("Consulta {n}"), "Pregunta por la reinscripción.")),
    );
    // Ranked above the rest and inside the window, 700 places from its newest end.
    inputs.extend((0..10).map(|_| new("Reinscripción tardía", "Pregunta por la reinscripción.")));
    create_all(&db, &user, &inputs).await;
    skip_a_million_ids(&db).await;
    let recent: Vec<NewIncidentInput> = (0..700)
        .map(|n| new(&format!("Reciente {n}"), "Pregunta por la reinscripción."))
        .collect();
    create_all(&db, &user, &recent).await;
    let hits = db
        .search_incidents(&Scope::All, &SearchQuery::parse("reinscripcion"), 10)
        .await
        .expect("search");
    let subjects: Vec<&str> = hits.iter().map(|h| h.subject.as_str()).collect();
    assert_eq!(subjects, ["Reinscripción tardía"; 10]);
    let rare = db
        .search_incidents(&Scope::All, &SearchQuery::parse("xilofono"), 30)
        .await
        .expect("search");
    assert_eq!(rare.len(), 20);
}

/// The queue's text filter reads the search index: a word in the first message or in the
/// person's name finds the incident, and when the other filters keep only old matches of a
/// common word, the filter looks past its newest 2,000 matches, page after page.
async fn the_queue_filter_finds_words_in_messages_and_contacts_and_looks_past_the_newest_matches(
    db: TestDb,
) {
    use atiende_store::incidents::IncidentFilter;
    let user = setup(&db).await;
    let ana = ana(&db).await;
    let ximena = person(&db, "Ximena Quetzalli").await;
    // The oldest 60 arrived by email; the 2,100 after them by phone; all mention the word.
    let mut inputs: Vec<NewIncidentInput> = (0..60)
        .map(|n| NewIncidentInput {
            channel: Channel::Email,
            ..phone_call(
                ana,
                &format!("Correo {n}"),
                "Pregunta por la reinscripción.",
            )
        })
        .collect();
    inputs.extend((0..2_100).map(|n| {
        phone_call(
            ana,
            &format!("Llamada {n}"),
            "Pregunta por la reinscripción.",
        )
    }));
    inputs.push(phone_call(ximena, "Constancia", "Necesito una constancia."));
    let created: Vec<i64> = create_all(&db, &user, &inputs)
        .await
        .iter()
        .map(|id| id.0)
        .collect();
    let filter = |q: &str, channel: Option<Channel>, before_id: Option<i64>| IncidentFilter {
        q: Some(q.into()),
        channel,
        before_id,
        limit: 50,
        ..Default::default()
    };
    let ids = |page: &[atiende_store::incidents::IncidentSummary]| {
        page.iter().map(|s| s.incident.id.0).collect::<Vec<_>>()
    };
    let by_name = db
        .incidents(&Scope::All, &filter("quetzal", None, None))
        .await
        .expect("by name");
    assert_eq!(
        ids(&by_name),
        [created[2_160]],
        "found by the person's name"
    );
    let first = db
        .incidents(
            &Scope::All,
            &filter("reinscripcion", Some(Channel::Email), None),
        )
        .await
        .expect("first page");
    let newest_emails: Vec<i64> = created[..60].iter().rev().copied().collect();
    assert_eq!(
        ids(&first),
        newest_emails[..50],
        "the 50 newest emails, past 2,100 newer calls"
    );
    let second = db
        .incidents(
            &Scope::All,
            &filter(
                "reinscripcion",
                Some(Channel::Email),
                ids(&first).last().copied(),
            ),
        )
        .await
        .expect("second page");
    assert_eq!(ids(&second), newest_emails[50..]);
    let calls = db
        .incidents(&Scope::All, &filter("reinscripcion", None, None))
        .await
        .expect("newest");
    let newest_calls: Vec<i64> = created[2_110..2_160].iter().rev().copied().collect();
    assert_eq!(
        ids(&calls),
        newest_calls,
        "a common word: its newest matches first"
    );
}

async fn a_public_article_is_found_behind_hundreds_of_better_ranked_internal_ones(db: TestDb) {
    let user = setup(&db).await;
    for n in 0..110 {
        article(
            &db,
            &user,
            &format!("Constancia de estudios, caso {n}"),
            "Procedimiento interno para la constancia.",
            false,
        )
        .await;
    }
    article(
        &db,
        &user,
        "Trámites en línea",
        "Puede pedir su constancia desde el portal.",
        true,
    )
    .await;
    let public = db
        .search_articles(&SearchQuery::parse("constancia"), Match::All, true, 10)
        .await
        .expect("public");
    let titles: Vec<&str> = public.iter().map(|h| h.title.as_str()).collect();
    assert_eq!(titles, vec!["Trámites en línea"]);
    let staff = db
        .search_articles(&SearchQuery::parse("constancia"), Match::All, false, 10)
        .await
        .expect("staff");
    assert_eq!(staff.len(), 10);
    assert!(
        staff.iter().all(|h| h.title.starts_with("Constancia")),
        "title matches first"
    );
}

/// The queue's filter finds old matches of a word past a million newer ids that never said it
/// and the newest calls that did: the emails that mention it are all there, newest first.
/// (PostgreSQL finds them by checking the newest emails one by one, past the calls.)
async fn the_queue_filter_reaches_its_matches_past_a_million_ids_that_hold_none(db: TestDb) {
    use atiende_store::incidents::IncidentFilter;
    let user = setup(&db).await;
    let ana = ana(&db).await;
    let asks = |channel: Channel, subject: String| NewIncidentInput {
        channel,
        ..phone_call(ana, &subject, "Pregunta por la reinscripción.")
    };
    let mut old: Vec<NewIncidentInput> = (0..60)
        .map(|n| asks(Channel::Email, format!("Correo {n}")))
        .collect();
    old.extend((0..2_100).map(|n| asks(Channel::Phone, format!("Llamada {n}"))));
    let emails: Vec<i64> = create_all(&db, &user, &old).await[..60]
        .iter()
        .rev()
        .map(|id| id.0)
        .collect();
    skip_a_million_ids(&db).await;
    let recent: Vec<NewIncidentInput> = (0..2_100)
        .map(|n| asks(Channel::Phone, format!("Reciente {n}")))
        .collect();
    create_all(&db, &user, &recent).await;
    let page = |before_id: Option<i64>| IncidentFilter {
        q: Some("reinscripcion".into()),
        channel: Some(Channel::Email),
        before_id,
        limit: 50,
        ..Default::default()
    };
    let first = db
        .incidents(&Scope::All, &page(None))
        .await
        .expect("first page");
    let ids = |p: &[atiende_store::incidents::IncidentSummary]| {
        p.iter().map(|s| s.incident.id.0).collect::<Vec<_>>()
    };
    assert_eq!(ids(&first), emails[..50], "the 50 newest emails");
    let second = db
        .incidents(&Scope::All, &page(ids(&first).last().copied()))
        .await
        .expect("second page");
    assert_eq!(ids(&second), emails[50..]);
}

/// A word's beginning finds every word that has it, in the search, the queue filter and the
/// contact list: whether PostgreSQL spells it out as the few whole words that have it or
/// reads it as a beginning because more words have it than it spells out.
async fn a_beginning_finds_every_word_that_has_it_however_many_words_have_it(db: TestDb) {
    use atiende_store::contacts::ContactQuery;
    use atiende_store::incidents::IncidentFilter;
    let user = setup(&db).await;
    let ana = ana(&db).await;
    let ximena = person(&db, "Ximena Zanahoriero").await;
    // Forty codes that begin alike, and three words (two stems) that begin with "zanah".
    let mut inputs: Vec<NewIncidentInput> = (0..40)
        .map(|n| phone_call(ana, &format!("Código qz7{n:03}"), "Consulta de código."))
        .collect();
    for word in ["zanahoria", "zanahorias", "zanahoriero"] {
        inputs.push(phone_call(
            ximena,
            "Pedido",
            &format!("Sobre la {word} del comedor."),
        ));
    }
    create_all(&db, &user, &inputs).await;
    let searched = async |q: &str| {
        db.search_incidents(&Scope::All, &SearchQuery::parse(q), 100)
            .await
            .expect("search")
            .len()
    };
    assert_eq!(searched("qz7").await, 40, "more words than spelled out");
    assert_eq!(searched("qz701").await, 10);
    assert_eq!(searched("zanah").await, 3, "a few words");
    assert_eq!(searched("zanah comedor").await, 3);
    assert_eq!(
        searched("\"del comedor\" zanahori").await,
        3,
        "beside a phrase"
    );
    assert_eq!(searched("zanahx").await, 0, "no word has it");
    let filtered = async |q: &str| {
        let filter = IncidentFilter {
            q: Some(q.into()),
            limit: 100,
            ..Default::default()
        };
        db.incidents(&Scope::All, &filter)
            .await
            .expect("queue")
            .len()
    };
    assert_eq!(filtered("qz7").await, 40);
    assert_eq!(
        filtered("zanah").await,
        3,
        "by the messages and the contact's name"
    );
    let listed = db
        .contacts(&ContactQuery {
            q: Some("zanah".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .expect("contacts");
    assert_eq!(listed.iter().map(|c| c.id).collect::<Vec<_>>(), [ximena]);
}

/// The contact list's filter, newest first: the newest matches are found among the newest
/// contacts, and the older ones past a hundred thousand ids that hold none when a page needs
/// them (PostgreSQL looks among the newest contacts first), page after page.
async fn the_contact_list_finds_the_newest_matches_among_the_newest_contacts_and_the_rest_further_back(
    db: TestDb,
) {
    use atiende_store::contacts::ContactQuery;
    setup(&db).await;
    let oldest = person(&db, "Rosa Garza").await;
    let older = person(&db, "Luis Garza").await;
    if db.engine() == atiende_store::Engine::Postgres {
        db.execute("SELECT setval(pg_get_serial_sequence('contacts', 'id'), 100000)")
            .await;
    }
    person(&db, "Marta Ruiz").await;
    let newer = person(&db, "Eva Garza").await;
    let newest = person(&db, "Juan Garza").await;
    let listed = async |limit: i64, before_id: Option<i64>| {
        db.contacts(&ContactQuery {
            q: Some("garza".into()),
            limit,
            before_id,
            ..Default::default()
        })
        .await
        .expect("contacts")
        .iter()
        .map(|c| c.id)
        .collect::<Vec<_>>()
    };
    assert_eq!(listed(2, None).await, [newest, newer]);
    assert_eq!(listed(10, None).await, [newest, newer, older, oldest]);
    assert_eq!(listed(2, Some(newer.0)).await, [older, oldest]);
    assert_eq!(listed(1, Some(older.0)).await, [oldest]);
}
