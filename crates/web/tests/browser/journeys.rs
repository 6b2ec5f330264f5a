//! What a person does in the console, in a real browser.

use atiende_domain::classification::{Channel, ProgrammeLine, UserType};
use atiende_domain::contact::ContactInput;
use atiende_domain::incident::NewIncidentInput;
use atiende_domain::user::Role;
use atiende_store::testing::TestDb;

use crate::harness::{PASSWORD, Site};

atiende_store::on_both_engines!(
    an_agent_registers_a_phone_call_through_the_guided_flow_to_closure,
    closing_without_intervention_notes_shows_what_the_procedure_requires,
    a_derived_incident_is_seen_by_that_units_responsible_and_not_by_another,
    a_continuing_education_contacts_incident_goes_to_promocion,
    a_contact_named_like_a_script_is_shown_as_text_and_nothing_runs,
    a_form_posted_without_the_csrf_token_is_refused,
    a_new_incident_appears_in_an_open_queue_without_reloading,
    the_main_pages_show_the_demo_data_to_a_lead,
    an_answered_call_pops_up_for_the_agent_and_registers_with_the_caller,
    the_quality_owner_sets_targets_treats_a_nonconformity_and_prints_the_report,
    a_person_answers_the_survey_on_the_page_once,
    the_security_policy_blocks_injected_script_and_the_browser_reports_it,
    twenty_pages_back_and_forward_each_load_promptly,
    an_agent_answers_with_a_file_that_reaches_the_mail_server_and_whatsapp,
    a_service_level_warning_reaches_the_agent_live_with_a_notification,
    a_canned_response_with_variables_answers_by_email_and_whatsapp,
    a_frequent_case_is_closed_with_one_macro,
);

fn phone(contact: atiende_domain::ids::ContactId, subject: &str) -> NewIncidentInput {
    NewIncidentInput {
        channel: Channel::Phone,
        contact_id: Some(contact),
        subject: subject.into(),
        body: String::new(),
        user_type: None,
        incident_type: None,
        topic_id: None,
        critical: false,
        assigned_to: None,
        received_at: None,
    }
}

/// A WhatsApp message from Luis Torres that opens an incident: its id and folio.
async fn whatsapp_incident(
    site: &Site,
    peer: &str,
    message_id: &str,
    words: &str,
) -> (atiende_domain::ids::IncidentId, String) {
    let atiende_store::chat::ChatIngest::Created(id) = site
        .db
        .ingest_chat(&atiende_domain::chat::InboundChat {
            provider: atiende_domain::chat::Provider::Whatsapp,
            account_id: "106540352242922".into(),
            peer_id: peer.into(),
            peer_name: Some("Luis Torres".into()),
            external_id: message_id.into(),
            sent_at: chrono::Utc::now(),
            contents: vec![atiende_domain::chat::ChatContent::Text { body: words.into() }],
        })
        .await
        .expect("WhatsApp")
    else {
        panic!("a new incident")
    };
    let folio = site
        .db
        .incident(id)
        .await
        .expect("incident")
        .folio
        .to_string();
    (id, folio)
}

async fn an_agent_registers_a_phone_call_through_the_guided_flow_to_closure(db: TestDb) {
    let site = Site::start(db).await;
    site.staff("lupita", Role::Agent, vec![]).await;
    let b = site.browser().await;
    b.goto("/").await;
    b.wait_for_path("/login").await;
    b.screenshot("login").await;
    b.login("lupita", PASSWORD).await;
    assert_eq!(b.path().await, "/bandeja");

    b.submit("a[href='/incidentes/nuevo']").await;
    b.fill("#q", "Mariana").await;
    b.submit("form[role=search] button").await;
    assert!(b.text().await.contains("Ningún usuario coincide"));
    b.fill("#name", "Mariana Hernández").await;
    b.fill("#email", "mariana.hernandez@alumnos.udg.mx").await;
    b.fill("#phone", "33 3658 1200").await;
    b.select("#user_type", "student").await;
    b.submit("form[action='/incidentes/nuevo/usuario'] button")
        .await;
    b.wait_for_path("/incidentes/nuevo").await;
    assert!(b.text().await.contains("Mariana Hernández"));

    b.click("input[name=incident_type][value=question]").await;
    b.fill("#subject", "No puede entrar a la plataforma").await;
    // Closing without intervention notes is blocked, and the form says why.
    b.submit("#register-form button[type=submit]").await;
    let text = b.text().await;
    assert!(text.contains("pormenores de la intervención"), "{text}");
    let nothing = atiende_store::incidents::IncidentFilter {
        limit: 10,
        ..Default::default()
    };
    let created = site
        .db
        .incidents(&atiende_domain::access::Scope::All, &nothing)
        .await
        .expect("list");
    assert!(
        created.is_empty(),
        "a blocked closing leaves no half-done incident"
    );
    b.screenshot("registrar").await;
    b.click("input[name=incident_type][value=question]").await;
    b.fill(
        "#notes",
        "Se restableció la contraseña del correo institucional y se verificó el acceso.",
    )
    .await;
    b.submit("#register-form button[type=submit]").await;
    b.wait_for_path("/incidentes/CAP-").await;
    let text = b.text().await;
    assert!(text.contains("Incidente cerrado"), "{text}");
    assert!(text.contains("resuelto al primer contacto"), "{text}");
    b.screenshot("incidente").await;

    b.goto("/bandeja?queue=closed").await;
    assert!(b.text().await.contains("No puede entrar a la plataforma"));
    b.screenshot("bandeja-cerrados").await;
    b.logout().await;
    b.close().await;
}

async fn closing_without_intervention_notes_shows_what_the_procedure_requires(db: TestDb) {
    let site = Site::start(db).await;
    let agent = site.staff("lupita", Role::Agent, vec![]).await;
    let c = site
        .contact(ContactInput {
            name: Some("Jorge Ruiz".into()),
            user_type: Some(UserType::Applicant),
            ..Default::default()
        })
        .await;
    let folio = site.incident(&agent, phone(c, "Fecha del dictamen")).await;
    let b = site.browser().await;
    b.login("lupita", PASSWORD).await;
    b.goto(&format!("/incidentes/{folio}")).await;
    b.submit("form[action$='/cerrar'] button").await;
    let text = b.text().await;
    assert!(text.contains("No se puede cerrar el incidente: falta tipo de incidencia, pormenores de la intervención."), "{text}");
    b.close().await;
}

async fn a_derived_incident_is_seen_by_that_units_responsible_and_not_by_another(db: TestDb) {
    let site = Site::start(db).await;
    let agent = site.staff("lupita", Role::Agent, vec![]).await;
    let escolar = site.unit("coordination", 0).await;
    let finanzas = site.unit("coordination", 1).await;
    site.staff("escolar", Role::UnitResponsible, vec![escolar])
        .await;
    site.staff("finanzas", Role::UnitResponsible, vec![finanzas])
        .await;
    let c = site
        .contact(ContactInput {
            name: Some("Luis Gómez".into()),
            ..Default::default()
        })
        .await;
    let folio = site
        .incident(&agent, phone(c, "Calificación que no aparece en el kárdex"))
        .await;

    let b = site.browser().await;
    b.login("lupita", PASSWORD).await;
    b.goto(&format!("/incidentes/{folio}")).await;
    b.click("#derivar summary").await;
    b.select("#d-unit", &escolar.to_string()).await;
    b.fill(
        "#d-reason",
        "Corrección de calificación: la atiende Control Escolar",
    )
    .await;
    b.submit("form[action$='/derivar'] button[type=submit]")
        .await;
    let text = b.text().await;
    assert!(text.contains("Incidente derivado"), "{text}");
    assert!(
        text.contains("En espera de la respuesta de la unidad"),
        "{text}"
    );
    b.logout().await;

    b.login("escolar", PASSWORD).await;
    assert!(
        b.text().await.contains(&folio),
        "the unit's responsible sees it in the queue"
    );
    b.goto(&format!("/incidentes/{folio}")).await;
    b.fill(
        "textarea[name=answer]",
        "Se corrigió la calificación en el sistema.",
    )
    .await;
    b.submit("form[action*='/derivaciones/'] button").await;
    assert!(b.text().await.contains("Respuesta de la unidad registrada"));
    b.logout().await;

    b.login("finanzas", PASSWORD).await;
    assert!(
        !b.text().await.contains(&folio),
        "another unit's responsible does not see it"
    );
    b.goto(&format!("/incidentes/{folio}")).await;
    assert!(b.text().await.contains("No se encontró"));
    b.close().await;
}

async fn a_continuing_education_contacts_incident_goes_to_promocion(db: TestDb) {
    let site = Site::start(db).await;
    site.staff("lupita", Role::Agent, vec![]).await;
    let c = site
        .contact(ContactInput {
            name: Some("Rosa Medina".into()),
            emails: Some(vec!["rosa.medina@gmail.com".into()]),
            programme_line: Some(ProgrammeLine::ContinuingEducation),
            user_type: Some(UserType::Prospect),
            ..Default::default()
        })
        .await;
    let b = site.browser().await;
    b.login("lupita", PASSWORD).await;
    b.goto("/incidentes/nuevo?q=rosa").await;
    b.submit(&format!("a[href='/incidentes/nuevo?contact_id={c}']"))
        .await;
    let text = b.text().await;
    assert!(text.contains("Usuario de Educación Continua"), "{text}");
    let promoted = b
        .count("input[name=outcome][value=promotion]:checked")
        .await;
    assert_eq!(promoted, 1, "the derivation to Promoción is offered first");
    b.click("input[name=incident_type][value=question]").await;
    b.fill("#subject", "Costo del diplomado en línea").await;
    b.fill(
        "#notes",
        "Se canalizó a Promoción; se le dio el correo de la unidad.",
    )
    .await;
    b.submit("#register-form button[type=submit]").await;
    b.wait_for_path("/incidentes/CAP-").await;
    let text = b.text().await;
    assert!(text.contains("Incidente derivado y cerrado"), "{text}");
    assert!(text.contains("Unidad de Promoción"), "{text}");
    b.close().await;
}

async fn a_contact_named_like_a_script_is_shown_as_text_and_nothing_runs(db: TestDb) {
    let site = Site::start(db).await;
    let agent = site.staff("lupita", Role::Agent, vec![]).await;
    let evil = "<img src=x onerror=alert(1)>";
    let c = site
        .contact(ContactInput {
            name: Some(evil.into()),
            ..Default::default()
        })
        .await;
    let folio = site
        .incident(&agent, phone(c, "<script>alert(2)</script>"))
        .await;
    let b = site.browser().await;
    b.login("lupita", PASSWORD).await;
    for path in [
        "/bandeja".to_string(),
        format!("/incidentes/{folio}"),
        format!("/contactos/{c}"),
        "/contactos".into(),
    ] {
        b.goto(&path).await;
        let text = b.text().await;
        assert!(text.contains(evil), "{path} shows the name as text: {text}");
        assert_eq!(b.count("img").await, 0, "{path} has no injected image");
        assert!(
            b.client.get_alert_text().await.is_err(),
            "{path} opened no alert"
        );
    }
    b.close().await;
}

async fn a_form_posted_without_the_csrf_token_is_refused(db: TestDb) {
    let site = Site::start(db).await;
    let agent = site.staff("lupita", Role::Agent, vec![]).await;
    let c = site
        .contact(ContactInput {
            name: Some("Ana".into()),
            ..Default::default()
        })
        .await;
    let folio = site.incident(&agent, phone(c, "Beca")).await;
    let b = site.browser().await;
    b.login("lupita", PASSWORD).await;
    b.goto(&format!("/incidentes/{folio}")).await;
    b.client
        .execute(
            "var f = document.querySelector(\"form[action$='/nota']\"); f.querySelector('input[name=_csrf]').remove(); \
             f.querySelector('textarea').value = 'sin token'; f.submit();",
            vec![],
        )
        .await
        .expect("script");
    let mut text = String::new();
    for _ in 0..100 {
        text = b.text().await;
        if text.contains("token de seguridad") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(text.contains("token de seguridad"), "{text}");
    let timeline = site
        .db
        .timeline(site.db.incident_id(&folio).await.expect("id"))
        .await
        .expect("timeline");
    assert!(
        timeline.iter().all(|e| e.body != "sin token"),
        "nothing was written"
    );
    b.close().await;
}

async fn a_new_incident_appears_in_an_open_queue_without_reloading(db: TestDb) {
    let site = Site::start(db).await;
    let agent = site.staff("lupita", Role::Agent, vec![]).await;
    let c = site
        .contact(ContactInput {
            name: Some("Pedro Salas".into()),
            ..Default::default()
        })
        .await;
    let b = site.browser().await;
    b.login("lupita", PASSWORD).await;
    b.goto("/bandeja").await;
    b.client
        .execute("window.__stale = true", vec![])
        .await
        .expect("mark page");
    assert!(!b.text().await.contains("Orden de pago vencida"));
    // Another agent (or another instance) registers an incident.
    site.incident(&agent, phone(c, "Orden de pago vencida"))
        .await;
    let mut seen = false;
    for _ in 0..100 {
        if b.text().await.contains("Orden de pago vencida") {
            seen = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(seen, "the new incident appeared");
    let same_page = b
        .client
        .execute("return window.__stale === true", vec![])
        .await
        .expect("script");
    assert_eq!(
        same_page.as_bool(),
        Some(true),
        "without reloading the page"
    );
    b.close().await;
}

/// Incidents in the demo's history for the journeys that take the README's screenshots: enough
/// for every chart to show its year.
const DEMO_HISTORY: usize = 2_000;

async fn the_main_pages_show_the_demo_data_to_a_lead(db: TestDb) {
    let site = Site::start(db).await;
    site.db
        .load_demo(DEMO_HISTORY, 11, Some(PASSWORD))
        .await
        .expect("demo data");
    let b = site.browser().await;
    b.login("carmen.lider", PASSWORD).await;
    let text = b.text().await;
    assert!(text.contains("Abiertos") && text.contains("CAP-"), "{text}");
    b.screenshot("bandeja").await;
    let with_derivation = {
        let mut found = None;
        for id in 1..=40 {
            let d = site
                .db
                .derivations(atiende_domain::ids::IncidentId(id))
                .await
                .expect("derivations");
            if !d.is_empty() {
                found = Some(
                    site.db
                        .incident(atiende_domain::ids::IncidentId(id))
                        .await
                        .expect("incident")
                        .folio
                        .to_string(),
                );
                break;
            }
        }
        found.expect("a derived incident in the demo")
    };
    b.goto(&format!("/incidentes/{with_derivation}")).await;
    assert!(b.text().await.contains("Derivaciones"));
    b.screenshot("incidente-derivado").await;
    b.goto("/contactos").await;
    b.screenshot("usuarios").await;
    b.goto("/responsables").await;
    assert!(b.text().await.contains("Carga por agente"));
    b.screenshot("responsables").await;
    b.logout().await;
    b.login("admin", "clave-administrador-1").await;
    b.goto("/admin").await;
    assert!(b.text().await.contains("Catálogo de temas"));
    b.screenshot("administracion").await;
    b.close().await;
}

async fn an_answered_call_pops_up_for_the_agent_and_registers_with_the_caller(db: TestDb) {
    use atiende_domain::call::CallEventInput;
    use atiende_domain::call::{CallDirection, CallEvent, HangupCause};
    let site = Site::start(db).await;
    site.staff("lupita", Role::Agent, vec![]).await;
    site.contact(ContactInput {
        name: Some("Rosa Villaseñor".into()),
        phones: Some(vec!["33 3658 1200".into()]),
        ..Default::default()
    })
    .await;
    let b = site.browser().await;
    b.login("lupita", PASSWORD).await;
    b.goto("/bandeja").await;
    assert_eq!(b.count("#screen-pop:not([hidden])").await, 0);
    // The telephone system reports the call and that Lupita's line answered it.
    let event = |event| CallEventInput {
        event,
        call_id: "pbx-4711".into(),
        direction: CallDirection::In,
        from: "523336581200".into(),
        to: "523331345678".into(),
        users: vec![],
        answering_number: Some("lupita".into()),
    };
    site.db
        .record_call_event(&event(CallEvent::NewCall))
        .await
        .expect("new call");
    site.db
        .record_call_event(&event(CallEvent::Answer))
        .await
        .expect("answer");
    let mut popped = false;
    for _ in 0..100 {
        if b.count("#screen-pop:not([hidden])").await == 1 {
            popped = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(popped, "the call popped up");
    assert!(b.text().await.contains("Rosa Villaseñor"));
    b.screenshot("llamada").await;
    b.submit("#screen-pop a").await;
    b.wait_for_path("/incidentes/nuevo").await;
    assert!(
        b.text().await.contains("Rosa Villaseñor"),
        "the caller is chosen"
    );
    b.select("#user_type", "student").await;
    b.click("input[name=incident_type][value=question]").await;
    b.fill("#subject", "Fechas de reinscripción").await;
    b.fill(
        "#notes",
        "Se le indicaron las fechas del calendario escolar.",
    )
    .await;
    b.submit("#register-form button[type=submit]").await;
    b.wait_for_path("/incidentes/CAP-").await;
    site.db
        .record_call_event(&event(CallEvent::Hangup(Some(HangupCause::NormalClearing))))
        .await
        .expect("hangup");
    let call = &site.db.calls(1).await.expect("calls")[0];
    assert!(
        call.incident_id.is_some(),
        "the call is tied to its incident"
    );
    b.close().await;
}

async fn the_quality_owner_sets_targets_treats_a_nonconformity_and_prints_the_report(db: TestDb) {
    let site = Site::start(db).await;
    site.db
        .load_demo(DEMO_HISTORY, 11, Some(PASSWORD))
        .await
        .expect("demo data");
    let b = site.browser().await;
    b.login("siga", PASSWORD).await;

    // What the buzón routed to them today: they close one with their answer.
    b.goto("/bandeja?queue=siga").await;
    assert!(b.text().await.contains("Para el SIGA"));
    b.click("table a[href^='/incidentes/CAP-']").await;
    b.fill(
        "textarea[name=answer]",
        "Se turnó la sugerencia a la coordinación de la plataforma.",
    )
    .await;
    b.screenshot("siga").await;
    b.submit("button[name=close]").await;
    let text = b.text().await;
    assert!(
        text.contains("Respuesta registrada e incidente cerrado"),
        "{text}"
    );

    // The demo's year: targets with their responsibles, a trend of twelve months.
    b.goto("/calidad/indicadores").await;
    let text = b.text().await;
    assert!(text.contains("Resolución al primer contacto"));
    assert!(text.contains("Responsable del SIGA"), "{text}");
    b.fill("#target_first_contact_resolution", "80").await;
    b.fill(
        "input[name=responsible_first_contact_resolution]",
        "Responsable del CAP",
    )
    .await;
    b.fill("#target_satisfaction_index", "90").await;
    b.submit("#targets button[type=submit]").await;
    let text = b.text().await;
    assert!(text.contains("Metas guardadas"), "{text}");
    assert!(text.contains("≥ 80.0 %"), "{text}");
    assert_eq!(b.count("#ind-first_contact_resolution svg").await, 1);
    b.screenshot("indicadores").await;
    b.goto("/calidad/pnc").await;
    let text = b.text().await;
    assert!(text.contains("En tratamiento"), "{text}");
    b.click("details.card summary").await;
    b.fill(
        "#nc-description",
        "Se informó una fecha de inscripción equivocada.",
    )
    .await;
    b.fill("#nc-responsible", "Responsable del CAP").await;
    b.submit("form[method=post][action='/calidad/pnc'] button")
        .await;
    let text = b.text().await;
    assert!(b.path().await.starts_with("/calidad/pnc/"), "{text}");
    b.fill(
        "#corrective_action",
        "Se actualizó la guía de fechas del calendario escolar.",
    )
    .await;
    b.fill(
        "#effectiveness",
        "Sin nuevas quejas por fechas en el mes siguiente.",
    )
    .await;
    b.select("#status", "closed").await;
    b.submit("form.card button[type=submit]").await;
    let text = b.text().await;
    assert!(
        text.contains("Cambios guardados") && text.contains("Cerrada"),
        "{text}"
    );
    b.screenshot("pnc").await;
    b.goto("/calidad/reporte").await;
    assert!(b.text().await.contains("revisión por la dirección"));
    b.screenshot("reporte").await;
    b.close().await;
}

async fn a_person_answers_the_survey_on_the_page_once(db: TestDb) {
    let site = Site::start(db).await;
    let agent = site.staff("lupita", Role::Agent, vec![]).await;
    site.db
        .save_mailbox(
            atiende_store::Actor::System,
            &atiende_store::testing::sending_mailbox(),
        )
        .await
        .expect("mailbox");
    let c = site
        .contact(ContactInput {
            name: Some("Rosa Villaseñor".into()),
            emails: Some(vec!["rosa@alumnos.udg.example".into()]),
            user_type: Some(UserType::Student),
            ..Default::default()
        })
        .await;
    let folio = site
        .incident(&agent, phone(c, "Constancia de estudios"))
        .await;
    let id = site.db.incident_id(&folio).await.expect("id");
    let classify = atiende_domain::incident::ClassifyInput {
        incident_type: Some(atiende_domain::classification::IncidentType::Question),
        user_type: Some(UserType::Student),
        ..Default::default()
    };
    site.db
        .classify_incident(atiende_store::Actor::Staff(&agent), id, &classify)
        .await
        .expect("classify");
    site.db
        .close_incident(
            atiende_store::Actor::Staff(&agent),
            id,
            Some("Se explicó el trámite."),
        )
        .await
        .expect("close");
    let policy = atiende_domain::survey::SurveyPolicy {
        delay_hours: 0,
        ..Default::default()
    };
    site.db
        .process_survey_due(id, &policy, &site.base, None)
        .await
        .expect("invite");
    let link = site.db.sent_link(Some(id), "encuesta").await;
    let path = link.trim_start_matches(&site.base).to_string();
    let b = site.browser().await;
    b.goto(&path).await;
    assert!(b.text().await.contains("Aviso de privacidad"));
    b.click("input[name=overall][value='5']").await;
    b.click("input[name=resolved][value=yes]").await;
    b.click("input[name=clarity][value='4']").await;
    b.click("input[name=speed][value='5']").await;
    b.fill("#q-comment", "Me atendieron muy rápido.").await;
    b.screenshot("encuesta").await;
    b.submit("form.card button[type=submit]").await;
    let text = b.text().await;
    assert!(text.contains("¡Gracias!"), "{text}");
    b.goto(&path).await;
    let text = b.text().await;
    assert!(text.contains("ya fue respondida"), "{text}");
    b.close().await;
}

async fn the_security_policy_blocks_injected_script_and_the_browser_reports_it(db: TestDb) {
    let site = Site::start(db).await;
    let b = site.browser().await;
    b.goto("/login").await;
    // What an injection would add: an inline script and another origin's file.
    b.client
        .execute(
            "var inline = document.createElement('script'); \
             inline.textContent = 'window.__ran = true'; document.body.appendChild(inline); \
             var remote = document.createElement('script'); \
             remote.src = 'https://evil.example/steal.js'; document.body.appendChild(remote);",
            vec![],
        )
        .await
        .expect("inject");
    let ran = b
        .client
        .execute("return window.__ran === true", vec![])
        .await
        .expect("read");
    assert_eq!(
        ran,
        serde_json::Value::Bool(false),
        "the inline script did not run"
    );
    let mut reported = 0;
    for _ in 0..100 {
        reported = b.csp_violations();
        if reported >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        reported >= 2,
        "both blocks reported to the server, got {reported}"
    );
    site.metrics
        .csp_violations
        .store(0, std::sync::atomic::Ordering::Relaxed);
    b.close().await;
}

/// Every console page holds a live stream; a page kept in the browser's back/forward cache must
/// not keep holding it, or after a few navigations the six connections HTTP/1.1 allows per host
/// are all streams and the next page waits for one to time out (52 s, seen in Chrome).
async fn twenty_pages_back_and_forward_each_load_promptly(db: TestDb) {
    let site = Site::start(db).await;
    site.staff("agente", Role::Agent, vec![]).await;
    let b = site.browser().await;
    b.login("agente", PASSWORD).await;
    let mut slowest = std::time::Duration::ZERO;
    let pages = [
        "/bandeja",
        "/contactos",
        "/conocimiento",
        "/llamadas",
        "/preferencias",
    ];
    for step in 0..20 {
        let started = std::time::Instant::now();
        match step % 4 {
            // Forward through new pages, then back and forward again through the history.
            0 | 1 => b.goto(pages[step % pages.len()]).await,
            2 => b.client.back().await.expect("back"),
            _ => b.client.forward().await.expect("forward"),
        }
        b.client
            .wait()
            .for_element(fantoccini::Locator::Css("main"))
            .await
            .expect("the page shows");
        slowest = slowest.max(started.elapsed());
    }
    // Generous against a slow machine; a held connection costs tens of seconds.
    assert!(
        slowest < std::time::Duration::from_secs(15),
        "the slowest of twenty navigations took {slowest:?}"
    );
    b.close().await;
}

async fn an_agent_answers_with_a_file_that_reaches_the_mail_server_and_whatsapp(db: TestDb) {
    let site = Site::start(db).await;
    let agent = site.staff("lupita", Role::Agent, vec![]).await;
    // The CAP's mailbox sends through the local mail server; WhatsApp is the Graph stand-in.
    site.db
        .save_mailbox(
            atiende_store::Actor::System,
            &atiende_store::testing::sending_mailbox(),
        )
        .await
        .expect("mailbox");
    let graph = atiende_channels::chat::stand_in::GraphStandIn::start().await;
    let meta = atiende_channels::chat::MetaConfig {
        graph_url: graph.graph_url.clone(),
        whatsapp: vec![atiende_channels::chat::Account {
            id: "106540352242922".into(),
            access_token: "token-wa".to_string().into(),
        }],
        ..Default::default()
    };
    // A fresh address per run: the mail server keeps what earlier runs delivered.
    let address = format!(
        "mariana.{}@alumnos.udg.mx",
        chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
    );
    let c = site
        .contact(ContactInput {
            name: Some("Mariana Ruiz".into()),
            emails: Some(vec![address.clone()]),
            user_type: Some(UserType::Student),
            ..Default::default()
        })
        .await;
    let mut input = phone(c, "Constancia de estudios");
    input.channel = Channel::Email;
    let folio = site.incident(&agent, input).await;
    let (_, by_chat) = whatsapp_incident(
        &site,
        "5213311223355",
        "wamid.file-1",
        "¿Me mandan mi constancia?",
    )
    .await;
    let dir = tempfile::tempdir().expect("temporary folder");
    let file = dir.path().join("constancia.pdf");
    let pdf = b"%PDF-1.4\n1 0 obj << >> endobj\n%%EOF\n";
    std::fs::write(&file, pdf).expect("file");

    let b = site.browser().await;
    b.login("lupita", PASSWORD).await;
    for (incident, words) in [
        (&folio, "Le enviamos su constancia de estudios."),
        (&by_chat, "Aquí está su constancia."),
    ] {
        b.goto(&format!("/incidentes/{incident}")).await;
        b.fill("#reply", words).await;
        b.client
            .find(fantoccini::Locator::Css("#reply-files"))
            .await
            .expect("file input")
            .send_keys(&file.to_string_lossy())
            .await
            .expect("choose the file");
        b.submit("form[action$='/responder'] button[type=submit]")
            .await;
        let text = b.text().await;
        assert!(text.contains("constancia.pdf"), "{text}");
    }
    let id = site.db.incident_id(&folio).await.expect("incident");
    let files = site.db.attachments(id).await.expect("attachments");
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].content_type, "application/pdf");

    // The worker's jobs send them: the mail server receives the email with the file, and
    // WhatsApp's media endpoint the file, then the message that carries it.
    assert_eq!(
        atiende_channels::email::jobs::send_due(&site.db, &site.base).await,
        1
    );
    let received = atiende_channels::testing::inbox_of(&address, 1).await;
    let message = String::from_utf8_lossy(&received[0]).to_string();
    assert!(
        message.contains("Le enviamos su constancia de estudios."),
        "{message}"
    );
    assert!(
        message.contains("filename=\"constancia.pdf\"")
            || message.contains("filename=constancia.pdf"),
        "{message}"
    );
    let graph_client = atiende_channels::chat::graph::Graph::new(&meta.graph_url);
    assert!(atiende_channels::chat::jobs::send_chats(&site.db, &graph_client, &meta).await >= 1);
    let uploads = graph.uploads();
    assert_eq!(uploads.len(), 1, "{uploads:?}");
    assert_eq!(uploads[0].bytes, pdf);
    assert_eq!(uploads[0].content_type, "application/pdf");
    assert!(
        graph
            .sent()
            .iter()
            .any(|s| format!("{s:?}").contains(&uploads[0].id)),
        "the message carries the uploaded file's id: {:?}",
        graph.sent()
    );
    b.close().await;
}

async fn a_service_level_warning_reaches_the_agent_live_with_a_notification(db: TestDb) {
    let site = Site::start(db).await;
    let agent = site.staff("lupita", Role::Agent, vec![]).await;
    let c = site
        .contact(ContactInput {
            name: Some("Pedro Salas".into()),
            ..Default::default()
        })
        .await;
    let mut input = phone(c, "Constancia para la beca");
    input.channel = Channel::Whatsapp;
    input.assigned_to = Some(agent.id);
    let incident = site
        .db
        .create_incident(atiende_store::Actor::Staff(&agent), input)
        .await
        .expect("incident");
    let (id, folio) = (incident.id, incident.folio.to_string());
    let b = site.browser().await;
    b.login("lupita", PASSWORD).await;
    b.goto("/bandeja").await;
    // The browser allowed notifications; what it is asked to show is kept for the test.
    b.client
        .execute(
            "window.__shown = []; window.Notification = function (title, o) { window.__shown.push(title + ' | ' + o.body); }; \
             window.Notification.permission = 'granted'; window.__stale = true;",
            vec![],
        )
        .await
        .expect("stand-in for the browser's notifications");
    assert!(!b.text().await.contains("Tiempo comprometido por vencer"));

    // The worker (of any instance) reaches the first response's warning.
    let first = site
        .db
        .incident_clocks(id)
        .await
        .expect("clocks")
        .into_iter()
        .find(|c| c.measure == atiende_domain::service_level::Measure::FirstResponse)
        .expect("a first-response target");
    let warned = site
        .db
        .tell_service_levels(first.warn_at.expect("warns"), 100)
        .await
        .expect("told");
    assert_eq!(warned.len(), 1, "the warning, not yet the breach");

    let mut shown = serde_json::Value::Null;
    for _ in 0..100 {
        shown = b
            .client
            .execute("return window.__shown", vec![])
            .await
            .expect("script");
        if shown.as_array().is_some_and(|a| !a.is_empty()) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let shown = shown.as_array().cloned().unwrap_or_default();
    assert_eq!(shown.len(), 1, "{shown:?}");
    let told = shown[0].as_str().unwrap_or_default();
    assert!(
        told.contains("Tiempo comprometido por vencer") && told.contains(&folio),
        "{told}"
    );
    let badge = b
        .client
        .find(fantoccini::Locator::Css("#unread"))
        .await
        .expect("the header counts it")
        .text()
        .await
        .expect("text");
    assert_eq!(badge, "1");
    let same_page = b
        .client
        .execute("return window.__stale === true", vec![])
        .await
        .expect("script");
    assert_eq!(
        same_page.as_bool(),
        Some(true),
        "without reloading the page"
    );

    // Avisos lists it, linked to the incident.
    b.click("#notifications-link").await;
    assert!(b.text().await.contains("Tiempo comprometido por vencer"));
    b.click(&format!("a[href='/incidentes/{folio}']")).await;
    assert_eq!(b.path().await, format!("/incidentes/{folio}"));
    b.close().await;
}

/// Types `::` and a word in the answer box, waits for the canned responses it finds.
async fn find_canned(b: &crate::harness::Browser, word: &str) {
    b.fill("#reply", &format!("::{word}")).await;
    for _ in 0..100 {
        if b.client
            .find(fantoccini::Locator::Css("#canned-results .canned-option"))
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("no canned response found for {word}");
}

async fn reply_text(b: &crate::harness::Browser) -> String {
    b.client
        .execute("return document.getElementById('reply').value", vec![])
        .await
        .expect("script")
        .as_str()
        .unwrap_or_default()
        .to_string()
}

async fn a_canned_response_with_variables_answers_by_email_and_whatsapp(db: TestDb) {
    let site = Site::start(db).await;
    let lead = site.staff("carmen", Role::CapLead, vec![]).await;
    site.staff("lupita", Role::Agent, vec![]).await;
    site.mailbox().await;
    let canned = site
        .db
        .create_canned_response(
            &lead,
            &atiende_domain::canned_response::CannedResponseInput {
                title: "Horario del CAP".into(),
                body: "Hola, {{ nombre }}: atendemos de 9 a 18 h. Su folio es {{ folio }}.\n{{ agente }}"
                    .into(),
                topic_id: None,
                shared: true,
            },
        )
        .await
        .expect("canned response");
    let c = site
        .contact(ContactInput {
            name: Some("Mariana Ruiz".into()),
            emails: Some(vec!["mariana.ruiz@alumnos.udg.mx".into()]),
            user_type: Some(UserType::Student),
            ..Default::default()
        })
        .await;
    let mut input = phone(c, "¿A qué hora atienden?");
    input.channel = Channel::Email;
    let by_email = site.incident(&lead, input).await;
    let (chat_id, by_chat) = whatsapp_incident(
        &site,
        "5213311223344",
        "wamid.canned-1",
        "¿Cuál es su horario?",
    )
    .await;

    let b = site.browser().await;
    b.login("lupita", PASSWORD).await;
    // By email, chosen with the mouse from what "::hora" found.
    b.goto(&format!("/incidentes/{by_email}")).await;
    find_canned(&b, "hora").await;
    b.click("#canned-results .canned-option").await;
    let text = reply_text(&b).await;
    assert!(
        text.starts_with(&format!(
            "Hola, Mariana Ruiz: atendemos de 9 a 18 h. Su folio es {by_email}."
        )),
        "{text}"
    );
    b.submit("form[action$='/responder'] button[type=submit]")
        .await;
    let sends = site
        .db
        .claim_outbox(atiende_store::outbox::JobKind::EmailSend, 10, 60)
        .await
        .expect("claim");
    let sent = sends.iter().any(|c| {
        matches!(c.job().expect("job"), atiende_store::outbox::Job::EmailSend(out)
            if out.to == "mariana.ruiz@alumnos.udg.mx" && out.text.contains("Hola, Mariana Ruiz: atendemos"))
    });
    assert!(sent, "the filled text leaves by email");

    // By WhatsApp, with the keyboard only: "::hora", arrow down, Enter.
    b.goto(&format!("/incidentes/{by_chat}")).await;
    find_canned(&b, "hora").await;
    b.client
        .find(fantoccini::Locator::Css("#reply"))
        .await
        .expect("answer box")
        .send_keys("\u{E015}")
        .await
        .expect("arrow down");
    b.client
        .active_element()
        .await
        .expect("focus")
        .send_keys("\u{E007}")
        .await
        .expect("enter");
    let text = reply_text(&b).await;
    assert!(text.starts_with("Hola, Luis Torres: atendemos"), "{text}");
    b.submit("form[action$='/responder'] button[type=submit]")
        .await;
    let messages = site.db.chat_messages(chat_id).await.expect("messages");
    assert!(
        messages
            .iter()
            .any(|m| m.direction == "out" && m.body.starts_with("Hola, Luis Torres: atendemos")),
        "the filled text leaves by WhatsApp"
    );

    let now = chrono::Utc::now();
    let usage = site
        .db
        .canned_usage(
            now - chrono::Duration::hours(1),
            now + chrono::Duration::hours(1),
        )
        .await
        .expect("usage");
    assert_eq!((usage[0].id, usage[0].uses), (canned.id, 2));
    b.close().await;
}

async fn a_frequent_case_is_closed_with_one_macro(db: TestDb) {
    let site = Site::start(db).await;
    let lead = site.staff("carmen", Role::CapLead, vec![]).await;
    let agent = site.staff("lupita", Role::Agent, vec![]).await;
    site.mailbox().await;
    let canned = site
        .db
        .create_canned_response(
            &lead,
            &atiende_domain::canned_response::CannedResponseInput {
                title: "Constancia de estudios".into(),
                body: "Hola, {{ nombre }}: la constancia se pide en el portal; llega en 3 días hábiles."
                    .into(),
                topic_id: None,
                shared: true,
            },
        )
        .await
        .expect("canned response");
    let c = site
        .contact(ContactInput {
            name: Some("Mariana Ruiz".into()),
            emails: Some(vec!["mariana.ruiz@alumnos.udg.mx".into()]),
            ..Default::default()
        })
        .await;
    let mut input = phone(c, "¿Cómo pido mi constancia?");
    input.channel = Channel::Email;
    let folio = site.incident(&agent, input).await;

    let b = site.browser().await;
    b.login("carmen", PASSWORD).await;
    // The lead writes the CAP's macro in the console.
    b.goto("/macros").await;
    b.fill("#macro-name", "Constancia: orientar y cerrar").await;
    b.client
        .execute(
            "document.getElementById('macro-user-type').value = 'student'; \
             document.getElementById('macro-incident-type').value = 'question'; \
             document.getElementById('macro-canned').value = arguments[0]; \
             document.querySelector('input[name=finish][value=close]').checked = true; \
             document.querySelector('input[name=shared]').checked = true;",
            vec![serde_json::json!(canned.id.to_string())],
        )
        .await
        .expect("choose the steps");
    b.fill("#macro-notes", "Se indicó cómo pedirla en el portal.")
        .await;
    b.submit("#macro-form button[type=submit]").await;
    assert!(b.text().await.contains("Constancia: orientar y cerrar"));
    b.close().await;

    // The agent applies it: one click, the case is closed.
    let b = site.browser().await;
    b.login("lupita", PASSWORD).await;
    b.goto(&format!("/incidentes/{folio}")).await;
    b.submit("#macro-apply button[type=submit]").await;
    let text = b.text().await;
    assert!(text.contains("Macro aplicada."), "{text}");
    let id = site.db.incident_id(&folio).await.expect("incident");
    let incident = site.db.incident(id).await.expect("incident");
    assert_eq!(incident.status, atiende_domain::incident::Status::Closed);
    assert_eq!(incident.user_type, Some(UserType::Student));
    let sends = site
        .db
        .claim_outbox(atiende_store::outbox::JobKind::EmailSend, 10, 60)
        .await
        .expect("claim");
    assert!(sends.iter().any(|c| {
        matches!(c.job().expect("job"), atiende_store::outbox::Job::EmailSend(out)
            if out.to == "mariana.ruiz@alumnos.udg.mx" && out.text.contains("Hola, Mariana Ruiz: la constancia"))
    }));
    b.close().await;
}
