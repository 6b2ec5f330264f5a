//! `atiende-bench import`: a SugarCRM export of the size a CAP's years leave behind (by
//! default 300,000 cases, a contact for every three, a note for every two and a call for every
//! five), written as the CSV files SugarCRM's list views export, then imported by the real
//! `atiende import sugarcrm` in its own process — timed, imported again (which must change
//! nothing), and checked: every case an incident, counted in the indicators and found by its
//! old number.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result, ensure};
use atiende_domain::classification::IncidentType;
use atiende_store::demo::{FIRST_NAMES, QUESTIONS, SURNAMES, message};
use chrono::{DateTime, Duration, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::open_store;
use crate::server::{BENCH_SECRETS_KEY, server_binary};

/// What to write.
#[derive(Debug, Clone)]
pub struct ExportSpec {
    pub cases: usize,
    pub contacts: usize,
    pub notes: usize,
    pub calls: usize,
    pub seed: u64,
    /// The newest case is opened before this instant; the oldest five years earlier.
    pub end: DateTime<Utc>,
}

impl ExportSpec {
    pub fn for_cases(cases: usize) -> ExportSpec {
        ExportSpec {
            cases,
            contacts: (cases / 3).max(1),
            notes: cases / 2,
            calls: cases / 5,
            seed: 2026,
            end: Utc::now(),
        }
    }
}

/// A field as SugarCRM's CSV export writes it: always quoted, quotes doubled.
fn field(out: &mut String, value: &str) {
    out.push('"');
    out.push_str(&value.replace('"', "\"\""));
    out.push('"');
}

fn row(out: &mut String, values: &[&str]) {
    for (n, v) in values.iter().enumerate() {
        if n > 0 {
            out.push(',');
        }
        field(out, v);
    }
    out.push_str("\r\n");
}

/// A date as SugarCRM's list export prints it with the default `m/d/Y h:ia` preference.
fn sugar_date(at: DateTime<Utc>) -> String {
    let local = at.with_timezone(&atiende_store::db::DEFAULT_TZ);
    local.format("%m/%d/%Y %I:%M%P").to_string()
}

fn write_file(dir: &Path, name: &str, text: &str) -> Result<()> {
    let mut file = std::fs::File::create(dir.join(name))?;
    file.write_all(text.as_bytes())?;
    Ok(())
}

/// Writes `Contacts.csv`, `Cases.csv`, `Notes.csv`, `Calls.csv` and `mapping.toml` into `dir`.
pub fn write_export(dir: &Path, spec: &ExportSpec) -> Result<()> {
    let mut rng = StdRng::seed_from_u64(spec.seed);
    let span = Duration::days(5 * 365);
    let start = spec.end - span;

    let mut out = String::new();
    row(
        &mut out,
        &[
            "ID",
            "First Name",
            "Last Name",
            "Email Address",
            "Mobile",
            "Account ID",
            "Description",
            "Deleted",
            "tipo_usuario_c",
            "nivel_c",
            "codigo_c",
        ],
    );
    let user_types = [
        "Aspirante",
        "Estudiante",
        "Estudiante",
        "Egresado",
        "Prospecto",
    ];
    let levels = ["Bachillerato", "Licenciatura", "Licenciatura", "Posgrado"];
    for n in 0..spec.contacts {
        let first = FIRST_NAMES[rng.gen_range(0..FIRST_NAMES.len())];
        let last = format!(
            "{} {}",
            SURNAMES[rng.gen_range(0..SURNAMES.len())],
            SURNAMES[rng.gen_range(0..SURNAMES.len())]
        );
        let email = format!(
            "{}.{}{n}@correo.example.mx",
            atiende_domain::import::simplify(first),
            atiende_domain::import::simplify(&last).replace(' ', ".")
        );
        let mobile = if rng.gen_bool(0.7) {
            format!("33 {:04} {:04}", (n / 10_000) % 10_000, n % 10_000)
        } else {
            String::new()
        };
        let user_type = user_types[rng.gen_range(0..user_types.len())];
        let code = if user_type == "Estudiante" {
            format!("2{n:08}")
        } else {
            String::new()
        };
        row(
            &mut out,
            &[
                &format!("c-{n}"),
                first,
                &last,
                &email,
                &mobile,
                &format!("acc-{n}"),
                if n % 17 == 0 {
                    "Prefiere que le llamen por la tarde."
                } else {
                    ""
                },
                "0",
                user_type,
                levels[rng.gen_range(0..levels.len())],
                &code,
            ],
        );
    }
    write_file(dir, "Contacts.csv", &out)?;

    out.clear();
    row(
        &mut out,
        &[
            "ID",
            "Number",
            "Subject",
            "Description",
            "Status",
            "Type",
            "Resolution",
            "Date Created",
            "Date Modified",
            "Contact ID",
            "Account ID",
            "Assigned to",
            "Deleted",
            "canal_c",
        ],
    );
    let kinds = [
        ("Duda", IncidentType::Question),
        ("Duda", IncidentType::Question),
        ("Duda", IncidentType::Question),
        ("Administration", IncidentType::Question),
        ("Queja", IncidentType::Complaint),
        ("Sugerencia", IncidentType::Suggestion),
        ("Felicitación", IncidentType::Compliment),
    ];
    let channels = ["Correo", "Teléfono", "WhatsApp", "Presencial", "Correo"];
    // Cases in the order they were opened: SugarCRM numbers them so.
    let mut opened: Vec<DateTime<Utc>> = (0..spec.cases)
        .map(|_| start + Duration::seconds(rng.gen_range(0..span.num_seconds())))
        .collect();
    opened.sort();
    for (n, received) in opened.iter().enumerate() {
        let (type_label, kind) = kinds[rng.gen_range(0..kinds.len())];
        let question = rng.gen_range(0..QUESTIONS.len());
        let (subject, description) = message(&mut rng, question, kind);
        let closed = *received < spec.end - Duration::days(20) || rng.gen_bool(0.5);
        let (status, resolution, modified) = if closed {
            let took = Duration::minutes(rng.gen_range(5..(60 * 24 * 6)));
            (
                if rng.gen_bool(0.9) {
                    "Closed"
                } else {
                    "Closed_Closed"
                },
                QUESTIONS[question].3.to_string(),
                (*received + took).min(spec.end),
            )
        } else {
            (
                ["New", "Assigned", "Pending Input"][rng.gen_range(0..3)],
                String::new(),
                *received,
            )
        };
        let contact = rng.gen_range(0..spec.contacts);
        // Most cases name their person; the others reach them through their account.
        let (contact_id, account_id) = if rng.gen_bool(0.8) {
            (format!("c-{contact}"), String::new())
        } else {
            (String::new(), format!("acc-{contact}"))
        };
        row(
            &mut out,
            &[
                &format!("k-{n}"),
                &(100_000 + n).to_string(),
                &subject,
                &description,
                status,
                type_label,
                &resolution,
                &sugar_date(*received),
                &sugar_date(modified),
                &contact_id,
                &account_id,
                "",
                "0",
                channels[rng.gen_range(0..channels.len())],
            ],
        );
    }
    write_file(dir, "Cases.csv", &out)?;

    out.clear();
    row(
        &mut out,
        &[
            "id",
            "name",
            "description",
            "parent_type",
            "parent_id",
            "contact_id",
            "date_entered",
            "filename",
            "deleted",
            "assigned_user_name",
        ],
    );
    for n in 0..spec.notes {
        let case = rng.gen_range(0..spec.cases.max(1));
        let at = opened.get(case).copied().unwrap_or(start) + Duration::hours(2);
        // Most notes follow a case; some are about the person.
        let (parent_type, parent) = if rng.gen_bool(0.9) {
            ("Cases", format!("k-{case}"))
        } else {
            ("Contacts", format!("c-{}", rng.gen_range(0..spec.contacts)))
        };
        row(
            &mut out,
            &[
                &format!("n-{n}"),
                "Seguimiento",
                "La persona llamó para preguntar cómo va su trámite.",
                parent_type,
                &parent,
                "",
                &at.with_timezone(&atiende_store::db::DEFAULT_TZ)
                    .format("%Y-%m-%d %H:%M:%S")
                    .to_string(),
                if n % 11 == 0 { "comprobante.pdf" } else { "" },
                "0",
                "",
            ],
        );
    }
    write_file(dir, "Notes.csv", &out)?;

    out.clear();
    row(
        &mut out,
        &[
            "ID",
            "Subject",
            "Description",
            "Direction",
            "Status",
            "Start Date",
            "Duration Hours",
            "Duration Minutes",
            "Parent Type",
            "Parent ID",
            "Assigned to",
            "Deleted",
        ],
    );
    for n in 0..spec.calls {
        let case = rng.gen_range(0..spec.cases.max(1));
        let at = opened.get(case).copied().unwrap_or(start) + Duration::minutes(30);
        let held = rng.gen_bool(0.8);
        row(
            &mut out,
            &[
                &format!("l-{n}"),
                "Seguimiento por teléfono",
                "",
                if rng.gen_bool(0.6) {
                    "Outbound"
                } else {
                    "Inbound"
                },
                if held { "Held" } else { "Not Held" },
                &sugar_date(at),
                "0",
                &rng.gen_range(1..30).to_string(),
                "Cases",
                &format!("k-{case}"),
                "",
                "0",
            ],
        );
    }
    write_file(dir, "Calls.csv", &out)?;
    write_file(
        dir,
        "mapping.toml",
        "date_order = \"mdy\"\n\n[case_type]\nAdministration = \"question\"\n",
    )?;
    Ok(())
}

/// Runs `atiende import sugarcrm DIR` on the database; returns its wall time and its report.
fn import(url: &str, dir: &Path) -> Result<(std::time::Duration, String)> {
    let binary = server_binary().context(
        "no atiende binary next to atiende-bench: build both (cargo build --release -p atiende -p atiende-bench) or set ATIENDE_BIN",
    )?;
    let started = Instant::now();
    let output = std::process::Command::new(&binary)
        .args(["import", "sugarcrm"])
        .arg(dir)
        .env("ATIENDE_DATABASE_URL", url)
        .env("ATIENDE_LOG", "warn")
        .env("ATIENDE_SECRETS_KEY", BENCH_SECRETS_KEY)
        .output()
        .with_context(|| format!("starting {}", binary.display()))?;
    let took = started.elapsed();
    let report = String::from_utf8_lossy(&output.stdout).to_string();
    ensure!(
        output.status.success(),
        "the import failed: {report}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok((took, report))
}

/// The `import` benchmark.
pub async fn run(
    spec: &ExportSpec,
    database_url: Option<String>,
    export_dir: Option<std::path::PathBuf>,
) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let export = export_dir.unwrap_or_else(|| dir.path().join("export"));
    std::fs::create_dir_all(&export)?;
    let started = Instant::now();
    write_export(&export, spec)?;
    let size: u64 = std::fs::read_dir(&export)?
        .filter_map(|e| e.ok()?.metadata().ok())
        .map(|m| m.len())
        .sum();
    println!(
        "export of {} cases, {} contacts, {} notes, {} calls ({:.0} MB of CSV) written in {:.1?}",
        spec.cases,
        spec.contacts,
        spec.notes,
        spec.calls,
        size as f64 / 1e6,
        started.elapsed()
    );
    let (store, url) = open_store(database_url, &dir).await?;
    let (first, report) = import(&url, &export)?;
    let mut summary = String::new();
    for line in report.lines().filter(|l| !l.starts_with("  line")) {
        let _ = writeln!(summary, "  {line}");
    }
    print!("{summary}");
    println!(
        "imported in {:.1?}: {:.0} cases/s",
        first,
        spec.cases as f64 / first.as_secs_f64()
    );
    let (again, _) = import(&url, &export)?;
    println!("imported again (nothing to change) in {again:.1?}");

    let all = store.period_rollup(190001, 300012, false).await?;
    ensure!(
        all.totals.incidents == spec.cases as i64,
        "the indicators count {} incidents of {} cases",
        all.totals.incidents,
        spec.cases
    );
    let hits = store
        .search_incidents(
            &atiende_domain::access::Scope::All,
            &atiende_domain::knowledge::SearchQuery::parse("100000"),
            5,
        )
        .await?;
    ensure!(
        hits.len() == 1,
        "the first case is found by its old number: {hits:?}"
    );
    println!(
        "checked: {} incidents counted in the indicators, the first case found by its number",
        all.totals.incidents
    );
    Ok(())
}
