//! The web chat in Chromium: a person on a page of another site (another origin, with a strict
//! security policy of its own) chats through the widget served by one instance of atiende; an
//! agent on another instance over the same database sees their messages and typing live and
//! answers from the console; the widget shows the answer and the agent typing; the closing
//! reaches the widget, and the transcript reaches the person's mailbox on the local mail
//! server. The widget passes the accessibility audit open, with its form and conversation.

use atiende_domain::business_hours::{BusinessCalendar, Shift};
use atiende_domain::classification::{IncidentType, UserType};
use atiende_domain::incident::ClassifyInput;
use atiende_domain::user::Role;
use atiende_store::Actor;
use atiende_store::testing::TestDb;
use atiende_web::{AppState, WebConfig};
use fantoccini::Locator;

use crate::harness::{Browser, PASSWORD, Site};

atiende_store::on_both_engines!(a_person_chats_from_another_site_and_gets_the_transcript_by_email,);

/// Another instance of atiende over the same database, with the given configuration: its
/// address and its counters.
async fn second_instance(
    site: &Site,
    config: WebConfig,
) -> (String, std::sync::Arc<atiende_web::health::Metrics>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let state = AppState::new(
        site.db.store.clone(),
        WebConfig {
            base_url: base.clone(),
            ..config
        },
    );
    let metrics = state.metrics.clone();
    tokio::spawn(atiende_web::server::serve(
        listener,
        atiende_web::app(state),
        atiende_web::server::ConnectionLimits::default(),
        None,
        std::future::pending(),
    ));
    (base, metrics)
}

/// A page of the university's site at its own origin: the widget's one tag, under a policy
/// as strict as the console's (no inline code; scripts and connections only to atiende).
async fn university_page(listener: tokio::net::TcpListener, atiende: String) {
    let page = format!(
        "<!doctype html><html lang=\"es\"><head><meta charset=\"utf-8\">\
         <title>Admisiones · UDG Virtual</title>\
         <script src=\"{atiende}/chat/widget.js\" defer></script></head>\
         <body><main><h1>Admisiones 2027</h1><p>Consulte las fechas del calendario.</p></main></body></html>"
    );
    let policy = format!(
        "default-src 'self'; script-src {atiende}; connect-src {atiende}; style-src 'self'; \
         img-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; \
         report-uri {atiende}/csp-report"
    );
    let app = axum::Router::new().route(
        "/",
        axum::routing::get(move || {
            let (page, policy) = (page.clone(), policy.clone());
            async move {
                (
                    [
                        (
                            axum::http::header::CONTENT_TYPE,
                            "text/html; charset=utf-8".to_string(),
                        ),
                        (axum::http::header::CONTENT_SECURITY_POLICY, policy),
                    ],
                    page,
                )
            }
        }),
    );
    axum::serve(listener, app).await.expect("the site's server");
}

async fn text_of(b: &Browser, css: &str) -> String {
    match b.client.find(Locator::Css(css)).await {
        Ok(e) => e.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

async fn wait_for(b: &Browser, css: &str, words: &str) {
    for _ in 0..300 {
        if text_of(b, css).await.contains(words) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!(
        "{words:?} never showed in {css}: {:?}",
        text_of(b, css).await
    );
}

async fn a_person_chats_from_another_site_and_gets_the_transcript_by_email(db: TestDb) {
    let site_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let university = format!("http://{}", site_listener.local_addr().expect("addr"));
    let config = WebConfig {
        web_chat_origins: vec![university.clone()],
        ..crate::harness::config()
    };
    let console_config = config.clone();
    let site = Site::start_with(db, move |_| async move { console_config }).await;
    let (widget_instance, widget_metrics) = second_instance(&site, config).await;
    tokio::spawn(university_page(site_listener, widget_instance.clone()));
    site.db
        .save_mailbox(Actor::System, &atiende_store::testing::sending_mailbox())
        .await
        .expect("mailbox");
    let time = |h, m| chrono::NaiveTime::from_hms_opt(h, m, 0).expect("time");
    let always = Some(Shift {
        opens: time(0, 0),
        closes: time(23, 59),
    });
    site.db
        .save_business_calendar(
            Actor::System,
            &BusinessCalendar {
                week: [always; 7],
                days_off: vec![],
            },
        )
        .await
        .expect("calendar");
    let agent = site.staff("lupita", Role::Agent, vec![]).await;
    // A fresh address per run: the mail server keeps what earlier runs delivered.
    let address = format!(
        "aspirante.{}@example.org",
        chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
    );

    let (person, console) = site.two_browsers().await;
    person.client.goto(&university).await.expect("the site");
    let open = person
        .client
        .wait()
        .for_element(Locator::Css("#atiende-chat-open"))
        .await
        .expect("the widget's button");
    open.click().await.expect("open the chat");
    assert_eq!(
        person.focused().await,
        "atiende-chat-name",
        "the form takes the focus"
    );
    let axe = crate::accessibility::axe_js();
    let mut problems = crate::accessibility::audit(&person, &axe).await;
    person.fill("#atiende-chat-name", "Ana Torres").await;
    person.fill("#atiende-chat-email", &address).await;
    person.select("#atiende-chat-user-type", "applicant").await;
    person
        .fill(
            "#atiende-chat-message",
            "¿Cuándo salen los resultados de admisión?",
        )
        .await;
    person.click("#atiende-chat-start").await;
    wait_for(&person, "#atiende-chat-folio", "CAP-").await;
    let folio_line = text_of(&person, "#atiende-chat-folio").await;
    let folio = folio_line
        .split_whitespace()
        .find(|w| w.starts_with("CAP-"))
        .expect("the folio")
        .trim_end_matches('.')
        .to_string();

    // The agent, on the other instance, has it open.
    console.login("lupita", PASSWORD).await;
    console.goto(&format!("/incidentes/{folio}")).await;
    assert!(
        console
            .text()
            .await
            .contains("¿Cuándo salen los resultados de admisión?")
    );

    // The person writes: the agent sees them typing, then the message, without reloading.
    person.fill("#atiende-chat-input", "Soy aspirante").await;
    console.wait_for_text("La persona está escribiendo…").await;
    person
        .keys(" a la licenciatura en Administración.\u{E007}")
        .await;
    wait_for(
        &console,
        ".timeline",
        "Soy aspirante a la licenciatura en Administración.",
    )
    .await;

    // The agent writes: the widget says so, then shows the answer with the agent's first name.
    console.fill("#reply", "Hola, Ana: los resultados").await;
    wait_for(&person, "#atiende-chat-typing", "está escribiendo").await;
    console
        .keys(" se publican el 15 de julio en la página de admisiones.")
        .await;
    console
        .submit("form[action$='/responder'] button[type=submit]")
        .await;
    wait_for(&person, "#atiende-chat-log", "se publican el 15 de julio").await;
    assert!(
        text_of(&person, "#atiende-chat-log")
            .await
            .contains("lupita")
    );
    problems.extend(crate::accessibility::audit(&person, &axe).await);
    person.screenshot("chat-web").await;
    // On a phone's width the open widget stays within the screen.
    person
        .client
        .set_window_size(360, 740)
        .await
        .expect("a phone's width");
    assert!(
        crate::accessibility::fits(&person).await,
        "no scrolling sideways"
    );
    let within = person
        .client
        .execute(
            "const r = document.getElementById('atiende-chat-panel').getBoundingClientRect(); \
             return r.left >= 0 && r.right <= window.innerWidth;",
            vec![],
        )
        .await
        .expect("script");
    assert_eq!(within, serde_json::json!(true), "the panel fits 360 px");

    // Closed in the console's steps: the widget is told, and the transcript goes by email.
    site.db
        .classify_incident(
            Actor::Staff(&agent),
            site.db.incident_id(&folio).await.expect("incident"),
            &ClassifyInput {
                incident_type: Some(IncidentType::Question),
                user_type: Some(UserType::Applicant),
                ..Default::default()
            },
        )
        .await
        .expect("classified");
    site.db
        .close_incident(
            Actor::Staff(&agent),
            site.db.incident_id(&folio).await.expect("incident"),
            Some("Se informó la fecha de resultados."),
        )
        .await
        .expect("closed");
    wait_for(&person, "#atiende-chat-finished", "La conversación terminó").await;
    assert!(
        atiende_channels::email::jobs::send_due(&site.db, &site.base).await >= 1,
        "the transcript leaves"
    );
    let received = atiende_channels::testing::inbox_of(&address, 1).await;
    let transcript = atiende_channels::email::parse::parse(&received[0]);
    assert!(
        transcript.subject.starts_with("Conversación con el CAP"),
        "{}",
        transcript.subject
    );
    for words in [
        "¿Cuándo salen los resultados de admisión?",
        "Soy aspirante a la licenciatura en Administración.",
        "se publican el 15 de julio",
        folio.as_str(),
    ] {
        assert!(
            transcript.text.contains(words),
            "{words}: {}",
            transcript.text
        );
    }
    assert!(problems.is_empty(), "{problems:#?}");
    assert_eq!(
        widget_metrics
            .csp_violations
            .load(std::sync::atomic::Ordering::Relaxed),
        0,
        "the university's strict policy blocked nothing of the widget"
    );
    person.close().await;
    console.close().await;
}
