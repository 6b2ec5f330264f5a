//! Satisfaction surveys in storage, on both engines: who is invited and how, the single-use
//! link, expiry, questionnaire versions and low-score follow-ups.

use std::collections::BTreeMap;

use atiende_domain::chat::{ChatContent, InboundChat, OutgoingBody, Provider, Template};
use atiende_domain::classification::{Channel, IncidentType, UserType};
use atiende_domain::contact::ContactInput;
use atiende_domain::ids::{ContactId, IncidentId};
use atiende_domain::incident::{ClassifyInput, EntryKind, NewIncidentInput};
use atiende_domain::survey::{Question, QuestionKind, SkipReason, SurveyPolicy, default_questions};
use atiende_domain::user::{Role, StaffUser, UserInput};
use atiende_store::Actor;
use atiende_store::chat::ChatIngest;
use atiende_store::surveys::{AnswerOutcome, SurveyLink, SurveyStep};
use atiende_store::testing::TestDb;

atiende_store::on_both_engines!(
    a_closing_invites_by_email_after_the_delay_with_a_link_answered_once,
    anonymous_opted_out_and_recently_surveyed_people_are_not_asked,
    an_expired_link_cannot_be_answered,
    a_whatsapp_person_is_invited_on_whatsapp_as_a_template_outside_the_window,
    a_low_score_opens_a_follow_up_for_the_cap_lead,
    answers_keep_the_questionnaire_version_they_were_given_with,
);

const BASE: &str = "https://cap.example.mx";

async fn setup(db: &TestDb) -> StaffUser {
    db.first_run(Some("contraseña-segura-1"))
        .await
        .expect("first run");
    let mailbox = atiende_store::testing::sending_mailbox();
    db.save_mailbox(Actor::System, &mailbox)
        .await
        .expect("mailbox");
    let input = UserInput {
        login: Some("agente1".into()),
        role: Some(Role::Agent),
        password: Some("contraseña-segura-2".into()),
        ..Default::default()
    };
    db.create_user(Actor::System, &input)
        .await
        .expect("agent")
        .user
}

fn now_policy() -> SurveyPolicy {
    SurveyPolicy {
        delay_hours: 0,
        ..Default::default()
    }
}

async fn person(db: &TestDb, email: Option<&str>, opt_out: bool) -> ContactId {
    let input = ContactInput {
        name: Some("Ana López".into()),
        emails: email.map(|e| vec![e.to_string()]),
        user_type: Some(UserType::Student),
        opt_out_surveys: Some(opt_out),
        ..Default::default()
    };
    db.create_contact(Actor::System, &input)
        .await
        .expect("contact")
        .id
}

async fn closed(
    db: &TestDb,
    agent: &StaffUser,
    contact: Option<ContactId>,
    channel: Channel,
) -> IncidentId {
    let input = NewIncidentInput {
        channel,
        contact_id: contact,
        subject: "Constancia de estudios".into(),
        body: "¿Cómo pido una constancia?".into(),
        user_type: None,
        incident_type: None,
        topic_id: None,
        critical: false,
        assigned_to: Some(agent.id),
        received_at: None,
    };
    let i = db
        .create_incident(Actor::Staff(agent), input)
        .await
        .expect("incident");
    close(db, agent, i.id).await;
    i.id
}

async fn close(db: &TestDb, agent: &StaffUser, id: IncidentId) {
    let classify = ClassifyInput {
        incident_type: Some(IncidentType::Question),
        user_type: Some(UserType::Student),
        ..Default::default()
    };
    db.classify_incident(Actor::Staff(agent), id, &classify)
        .await
        .expect("classify");
    db.close_incident(
        Actor::Staff(agent),
        id,
        Some("Se explicó el trámite en SIIAU."),
    )
    .await
    .expect("close");
}

/// The token in the link of the invitation queued for an incident, made as it leaves.
async fn link_token(db: &TestDb, id: IncidentId) -> String {
    let link = db.sent_link(Some(id), "encuesta").await;
    link.rsplit('/').next().expect("token").to_string()
}

fn form(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn good() -> BTreeMap<String, String> {
    form(&[
        ("overall", "5"),
        ("resolved", "yes"),
        ("clarity", "5"),
        ("speed", "4"),
        ("comment", "Muy amable la atención"),
    ])
}

async fn a_closing_invites_by_email_after_the_delay_with_a_link_answered_once(db: TestDb) {
    let agent = setup(&db).await;
    let ana = person(&db, Some("ana.lopez@alumnos.udg.example"), false).await;
    let id = closed(&db, &agent, Some(ana), Channel::Phone).await;
    let waiting = SurveyPolicy::default();
    let step = db
        .process_survey_due(id, &waiting, BASE, None)
        .await
        .expect("job");
    assert!(matches!(step, SurveyStep::NotYet(_)), "{step:?}");
    let step = db
        .process_survey_due(id, &now_policy(), BASE, None)
        .await
        .expect("job");
    assert_eq!(step, SurveyStep::Sent("email"));
    assert_eq!(
        db.process_survey_due(id, &now_policy(), BASE, None)
            .await
            .expect("again"),
        SurveyStep::Nothing,
        "one survey per incident"
    );
    let token = link_token(&db, id).await;
    assert!(token.len() >= 22, "at least 128 bits");
    let all = db.surveys(10).await.expect("surveys");
    assert_eq!(all[0].invited_by.as_deref(), Some("email"));
    assert!(
        !serde_json::to_string(&all)
            .unwrap_or_default()
            .contains(&token),
        "only the token's hash is stored"
    );
    // Opening the link (a mail scanner does) records nothing.
    assert!(matches!(
        db.survey_link(&token).await.expect("open"),
        SurveyLink::Open { .. }
    ));
    assert!(matches!(
        db.survey_link(&token).await.expect("open"),
        SurveyLink::Open { .. }
    ));
    let outcome = db
        .answer_survey(&token, &good(), &now_policy())
        .await
        .expect("answer");
    assert_eq!(outcome, AnswerOutcome::Recorded { low_score: false });
    assert_eq!(
        db.answer_survey(&token, &good(), &now_policy())
            .await
            .expect("twice"),
        AnswerOutcome::AlreadyAnswered
    );
    assert!(matches!(
        db.survey_link(&token).await.expect("link"),
        SurveyLink::Answered
    ));
    assert_eq!(
        db.answer_survey("not-a-token", &good(), &now_policy())
            .await
            .expect("unknown"),
        AnswerOutcome::Unknown
    );
    let survey = &db.surveys(10).await.expect("surveys")[0];
    assert_eq!((survey.overall, survey.resolved), (Some(5), Some(true)));
    let entries: Vec<_> = db
        .timeline(id)
        .await
        .expect("timeline")
        .into_iter()
        .filter(|e| e.kind == EntryKind::Survey)
        .map(|e| e.body)
        .collect();
    assert_eq!(entries.len(), 2, "{entries:?}");
    assert!(entries[1].contains("satisfacción general 5/5"));
}

async fn anonymous_opted_out_and_recently_surveyed_people_are_not_asked(db: TestDb) {
    let agent = setup(&db).await;
    let anonymous = closed(&db, &agent, None, Channel::SuggestionBox).await;
    let opted = person(&db, Some("no-encuestas@gmail.example"), true).await;
    let opted_out = closed(&db, &agent, Some(opted), Channel::Phone).await;
    let ana = person(&db, Some("ana@gmail.example"), false).await;
    let first = closed(&db, &agent, Some(ana), Channel::Phone).await;
    let second = closed(&db, &agent, Some(ana), Channel::InPerson).await;
    let p = now_policy();
    let step = |id| db.process_survey_due(id, &p, BASE, None);
    assert_eq!(
        step(anonymous).await.expect("a"),
        SurveyStep::Skipped(SkipReason::Anonymous)
    );
    assert_eq!(
        step(opted_out).await.expect("o"),
        SurveyStep::Skipped(SkipReason::OptedOut)
    );
    assert_eq!(step(first).await.expect("1"), SurveyStep::Sent("email"));
    assert_eq!(
        step(second).await.expect("2"),
        SurveyStep::Skipped(SkipReason::RecentlySurveyed)
    );
    let skipped = db
        .surveys(10)
        .await
        .expect("surveys")
        .into_iter()
        .filter(|s| s.status == "skipped")
        .count();
    assert_eq!(skipped, 3);
}

async fn an_expired_link_cannot_be_answered(db: TestDb) {
    let agent = setup(&db).await;
    let ana = person(&db, Some("ana@gmail.example"), false).await;
    let id = closed(&db, &agent, Some(ana), Channel::Phone).await;
    db.process_survey_due(id, &now_policy(), BASE, None)
        .await
        .expect("job");
    let token = link_token(&db, id).await;
    db.execute_admin("UPDATE surveys SET expires_at = 1000")
        .await
        .expect("age the link");
    assert!(matches!(
        db.survey_link(&token).await.expect("link"),
        SurveyLink::Expired
    ));
    assert_eq!(
        db.answer_survey(&token, &good(), &now_policy())
            .await
            .expect("late"),
        AnswerOutcome::Expired
    );
}

async fn a_whatsapp_person_is_invited_on_whatsapp_as_a_template_outside_the_window(db: TestDb) {
    let agent = setup(&db).await;
    let msg = InboundChat {
        provider: Provider::Whatsapp,
        account_id: "106540352242922".into(),
        peer_id: "5213312345678".into(),
        peer_name: Some("Mariana".into()),
        external_id: "wamid.s1".into(),
        sent_at: chrono::Utc::now() - chrono::Duration::hours(30),
        contents: vec![ChatContent::Text {
            body: "¿Horario de atención?".into(),
        }],
    };
    let ChatIngest::Created(id) = db.ingest_chat(&msg).await.expect("ingest") else {
        panic!("incident");
    };
    close(&db, &agent, id).await;
    let template = Template {
        name: "encuesta_cap".into(),
        language: "es_MX".into(),
        text: "Su folio {{1}} se cerró. Califique la atención: {{2}}".into(),
    };
    let step = db
        .process_survey_due(id, &now_policy(), BASE, Some(&template))
        .await
        .expect("job");
    assert_eq!(step, SurveyStep::Sent("whatsapp"));
    let out = db
        .chat_messages(id)
        .await
        .expect("chat")
        .pop()
        .expect("invitation");
    let body: OutgoingBody = serde_json::from_value(out.content).expect("body");
    let OutgoingBody::Template {
        name, parameters, ..
    } = body
    else {
        panic!("a template outside the window, got {body:?}");
    };
    assert_eq!(name, "encuesta_cap");
    assert!(parameters[0].starts_with("CAP-"));
    assert!(parameters[1].starts_with("https://cap.example.mx/encuesta/"));
}

async fn a_low_score_opens_a_follow_up_for_the_cap_lead(db: TestDb) {
    let agent = setup(&db).await;
    let ana = person(&db, Some("ana@gmail.example"), false).await;
    let id = closed(&db, &agent, Some(ana), Channel::Phone).await;
    db.process_survey_due(id, &now_policy(), BASE, None)
        .await
        .expect("job");
    let token = link_token(&db, id).await;
    let mut low = good();
    low.insert("overall".into(), "1".into());
    low.insert("resolved".into(), "no".into());
    assert_eq!(
        db.answer_survey(&token, &low, &now_policy())
            .await
            .expect("answer"),
        AnswerOutcome::Recorded { low_score: true }
    );
    let pending = db.survey_follow_ups().await.expect("follow-ups");
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].overall, Some(1));
    db.close_survey_follow_up(
        Actor::Staff(&agent),
        pending[0].id,
        "Se llamó a la usuaria y se resolvió.",
    )
    .await
    .expect("close");
    assert!(db.survey_follow_ups().await.expect("none").is_empty());
}

async fn answers_keep_the_questionnaire_version_they_were_given_with(db: TestDb) {
    let agent = setup(&db).await;
    let ana = person(&db, Some("ana@gmail.example"), false).await;
    let id = closed(&db, &agent, Some(ana), Channel::Phone).await;
    db.process_survey_due(id, &now_policy(), BASE, None)
        .await
        .expect("job");
    let token = link_token(&db, id).await;
    let mut questions = default_questions();
    questions.push(Question {
        key: "recommend".into(),
        label: "¿Recomendaría el CAP?".into(),
        kind: QuestionKind::YesNo,
        required: true,
    });
    let v2 = db
        .save_questionnaire(Actor::Staff(&agent), &questions)
        .await
        .expect("new version");
    assert_eq!(v2.version, 2);
    let SurveyLink::Open {
        survey,
        questions: given,
    } = db.survey_link(&token).await.expect("link")
    else {
        panic!("open");
    };
    assert_eq!(survey.questionnaire_version, Some(1));
    assert!(!given.iter().any(|q| q.key == "recommend"));
    // Answering without the new question is fine: it was not asked.
    assert!(matches!(
        db.answer_survey(&token, &good(), &now_policy())
            .await
            .expect("answer"),
        AnswerOutcome::Recorded { .. }
    ));
    let mut broken = default_questions();
    broken.retain(|q| q.key != "overall");
    assert!(
        db.save_questionnaire(Actor::Staff(&agent), &broken)
            .await
            .is_err()
    );
    assert_eq!(
        db.current_questionnaire().await.expect("current").version,
        2
    );
}
