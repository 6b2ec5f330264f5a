//! Accessibility (WCAG 2.2 AA): every public and console page audited in Chromium with
//! axe-core (from the npm registry; `scripts/test` installs it and sets `ATIENDE_AXE_JS`), with
//! the demo's data so that tables, charts and forms are full. A violation names its rule and
//! where it is.

use atiende_domain::user::Role;
use atiende_store::testing::TestDb;

use crate::harness::{Browser, PASSWORD, Site};

atiende_store::on_both_engines!(
    every_public_page_passes_the_accessibility_audit,
    every_console_page_passes_the_accessibility_audit,
    the_buzon_the_survey_and_the_portal_work_by_keyboard_and_fit_a_phone,
);

pub(crate) fn axe_js() -> String {
    let path = std::env::var("ATIENDE_AXE_JS").unwrap_or_else(|_| {
        format!(
            "{}/../../scripts/axe/node_modules/axe-core/axe.min.js",
            env!("CARGO_MANIFEST_DIR")
        )
    });
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!("no axe-core at {path} ({e}). Run the suite with `scripts/test`, which installs it (npm ci --prefix scripts/axe).")
    })
}

/// The page's violations of WCAG 2.0–2.2 A and AA, each as "rule: where".
pub(crate) async fn audit(b: &Browser, axe: &str) -> Vec<String> {
    b.client
        .execute(axe, vec![])
        .await
        .expect("inject axe-core");
    let found = b
        .client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document, { runOnly: { type: 'tag', values:
               ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'] } })
               .then(r => done(r.violations.map(v => v.id + ': ' +
                 v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(' | '))))
               .catch(e => done(['axe failed: ' + e]));",
            vec![],
        )
        .await
        .expect("axe-core ran");
    found
        .as_array()
        .map(|v| {
            v.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

async fn audit_all(b: &Browser, paths: &[String]) -> Vec<String> {
    let axe = axe_js();
    let mut problems = Vec::new();
    for path in paths {
        b.goto(path).await;
        for v in audit(b, &axe).await {
            problems.push(format!("{path} → {v}"));
        }
    }
    problems
}

async fn every_public_page_passes_the_accessibility_audit(db: TestDb) {
    let site = Site::start(db).await;
    site.db
        .save_mailbox(
            atiende_store::Actor::System,
            &atiende_store::testing::sending_mailbox(),
        )
        .await
        .expect("mailbox");
    let b = site.browser().await;
    let paths: Vec<String> = [
        "/login",
        "/buzon",
        "/estado",
        "/mis-datos",
        "/aviso-de-privacidad",
        "/ayuda",
        "/mis-solicitudes",
        "/encuesta/no-such-link",
        "/chat",
    ]
    .iter()
    .map(|p| p.to_string())
    .collect();
    let mut problems = audit_all(&b, &paths).await;

    // The portal signed in: the list, an incident, a new request, the person's own file.
    let maria = site.staff("maria", Role::Agent, vec![]).await;
    let ana = site
        .contact(atiende_domain::contact::ContactInput {
            name: Some("Ana Torres".into()),
            emails: Some(vec!["ana.torres@alumnos.udg.mx".into()]),
            ..Default::default()
        })
        .await;
    let folio = site
        .incident(
            &maria,
            atiende_domain::incident::NewIncidentInput {
                channel: atiende_domain::classification::Channel::Email,
                contact_id: Some(ana),
                subject: "Beca".into(),
                body: "¿Qué necesito para la beca?".into(),
                user_type: None,
                incident_type: None,
                topic_id: None,
                critical: false,
                assigned_to: None,
                received_at: None,
            },
        )
        .await;
    site.db
        .request_portal_link("ana.torres@alumnos.udg.mx", &site.base)
        .await
        .expect("link");
    let link = site.db.sent_link(None, "mis-solicitudes/entrar").await;
    let entry = link[link.find("/mis-solicitudes").expect("path")..].to_string();
    problems.extend(audit_all(&b, std::slice::from_ref(&entry)).await);
    b.goto(&entry).await;
    b.submit("#enter").await;
    let signed_in: Vec<String> = [
        "/mis-solicitudes".to_string(),
        format!("/mis-solicitudes/{folio}"),
        "/mis-solicitudes/nueva".to_string(),
        "/mis-solicitudes/mis-datos".to_string(),
    ]
    .to_vec();
    problems.extend(audit_all(&b, &signed_in).await);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    b.close().await;
}

async fn every_console_page_passes_the_accessibility_audit(db: TestDb) {
    let site = Site::start(db).await;
    site.db
        .load_demo(12, 11, Some(PASSWORD))
        .await
        .expect("demo data");
    site.staff("lider", Role::CapLead, vec![]).await;
    let folio = site
        .db
        .incidents(
            &atiende_domain::access::Scope::All,
            &atiende_store::incidents::IncidentFilter {
                not_closed: true,
                limit: 1,
                ..Default::default()
            },
        )
        .await
        .expect("incidents")[0]
        .incident
        .folio
        .to_string();
    let b = site.browser().await;
    b.login("carmen.lider", PASSWORD).await;
    let paths: Vec<String> = [
        "/bandeja",
        "/bandeja?vista=compacta&channel=email",
        &format!("/incidentes/{folio}"),
        "/incidentes/nuevo",
        "/contactos",
        "/llamadas",
        "/conocimiento",
        "/buscar?q=beca",
        "/respuestas",
        "/macros",
        "/avisos",
        "/preferencias",
        "/preferencias/avisos",
        "/responsables",
        "/calidad/indicadores",
        "/calidad/pnc",
        "/calidad/tiempos",
        "/calidad/respuestas",
        "/calidad/sugerencias",
        "/privacidad",
    ]
    .iter()
    .map(|p| p.to_string())
    .collect();
    let mut problems = audit_all(&b, &paths).await;
    b.goto("/bandeja").await;
    b.logout().await;
    // Administración, and the survey's settings (the quality owner's).
    b.login("admin", "clave-administrador-1").await;
    // (Administración is one page: staff, units, topics, sign-in, mailboxes, webhooks.)
    problems.extend(audit_all(&b, &["/admin".to_string()]).await);
    b.goto("/admin").await;
    b.logout().await;
    b.login("siga", PASSWORD).await;
    problems.extend(audit_all(&b, &["/calidad/encuesta".to_string()]).await);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    b.close().await;
}

const TAB: &str = "\u{E004}";
const ENTER: &str = "\u{E007}";
const RIGHT: &str = "\u{E014}";

/// Presses Tab until the focus is on what `css` selects, as a person at the keyboard does.
async fn tab_to(b: &Browser, css: &str) {
    for _ in 0..40 {
        let there = b
            .client
            .execute(
                "return !!document.activeElement && document.activeElement.matches(arguments[0])",
                vec![serde_json::json!(css)],
            )
            .await
            .expect("script")
            .as_bool()
            .unwrap_or(false);
        if there {
            return;
        }
        b.keys(TAB).await;
    }
    panic!("Tab never reached {css} on {}", b.path().await);
}

/// Whether the page fits its window's width (no scrolling sideways).
pub(crate) async fn fits(b: &Browser) -> bool {
    b.client
        .execute(
            "return document.documentElement.scrollWidth <= document.documentElement.clientWidth",
            vec![],
        )
        .await
        .expect("script")
        .as_bool()
        .unwrap_or(false)
}

async fn the_buzon_the_survey_and_the_portal_work_by_keyboard_and_fit_a_phone(db: TestDb) {
    let site = Site::start(db).await;
    site.db
        .save_mailbox(
            atiende_store::Actor::System,
            &atiende_store::testing::sending_mailbox(),
        )
        .await
        .expect("mailbox");
    let maria = site.staff("maria", Role::Agent, vec![]).await;
    let ana = site
        .contact(atiende_domain::contact::ContactInput {
            name: Some("Ana Torres".into()),
            emails: Some(vec!["ana.torres@alumnos.udg.mx".into()]),
            ..Default::default()
        })
        .await;
    let closed = site.db.closed_phone_incident(&maria, Some(ana)).await;
    let policy = atiende_domain::survey::SurveyPolicy {
        delay_hours: 0,
        min_days_between: 0,
        ..Default::default()
    };
    site.db
        .process_survey_due(closed, &policy, &site.base, None)
        .await
        .expect("survey sent");
    let survey_link = site.db.sent_link(Some(closed), "encuesta").await;
    let survey_path = survey_link[survey_link.find("/encuesta/").expect("path")..].to_string();

    let b = site.browser().await;
    b.client
        .set_window_size(360, 780)
        .await
        .expect("a phone's width");

    // The buzón, by keyboard: a suggestion's kind with the arrows, the message, Enter.
    b.goto("/buzon").await;
    assert!(fits(&b).await, "the buzón fits 360 px");
    tab_to(&b, "input[name=kind]").await;
    b.keys(" ").await;
    tab_to(&b, "#message").await;
    b.keys("Sería bueno tener horario en sábado.").await;
    tab_to(&b, "form button[type=submit]").await;
    b.keys_to_new_page(ENTER).await;
    assert!(b.text().await.contains("CAP-"), "{}", b.text().await);

    // The survey, by keyboard: the scales with the arrows (to 5), yes with the space bar.
    b.goto(&survey_path).await;
    assert!(fits(&b).await, "the survey fits 360 px");
    b.screenshot("telefono-encuesta").await;
    tab_to(&b, "input[name=overall]").await;
    b.keys(&RIGHT.repeat(4)).await;
    tab_to(&b, "input[name=resolved]").await;
    b.keys(" ").await;
    for scale in ["clarity", "speed"] {
        tab_to(&b, &format!("input[name={scale}]")).await;
        b.keys(&RIGHT.repeat(4)).await;
    }
    tab_to(&b, "form button[type=submit]").await;
    b.keys_to_new_page(ENTER).await;
    let survey = site
        .db
        .surveys(5)
        .await
        .expect("surveys")
        .into_iter()
        .find(|s| s.incident_id == closed)
        .expect("the survey");
    assert_eq!(survey.overall, Some(5));

    // The portal, by keyboard: the address and Enter, the link's button, the folio, a reply.
    b.goto("/mis-solicitudes").await;
    assert!(fits(&b).await, "the portal fits 360 px");
    tab_to(&b, "#email").await;
    b.keys("ana.torres@alumnos.udg.mx").await;
    b.keys_to_new_page(ENTER).await;
    let link = site.db.sent_link(None, "mis-solicitudes/entrar").await;
    b.goto(&link[link.find("/mis-solicitudes").expect("path")..])
        .await;
    tab_to(&b, "#enter").await;
    b.keys_to_new_page(ENTER).await;
    assert!(fits(&b).await, "the portal's list fits 360 px");
    b.screenshot("telefono-portal").await;
    let folio = site
        .db
        .incident(closed)
        .await
        .expect("incident")
        .folio
        .to_string();
    tab_to(&b, &format!("a[href='/mis-solicitudes/{folio}']")).await;
    b.keys_to_new_page(ENTER).await;
    assert!(fits(&b).await, "an incident in the portal fits 360 px");

    // At twice the zoom of a 1280 px screen (640 CSS px), nothing scrolls sideways either.
    b.client
        .set_window_size(640, 800)
        .await
        .expect("200 % zoom");
    for path in [
        "/buzon",
        survey_path.as_str(),
        "/mis-solicitudes",
        "/mis-solicitudes/nueva",
    ] {
        b.goto(path).await;
        assert!(fits(&b).await, "{path} fits at 200 %");
    }
    b.close().await;
}
