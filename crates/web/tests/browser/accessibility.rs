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
);

fn axe_js() -> String {
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
async fn audit(b: &Browser, axe: &str) -> Vec<String> {
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
    let problems = audit_all(&b, &paths).await;
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    b.close().await;
}
