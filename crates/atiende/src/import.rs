//! `atiende import contacts FILE.csv`: a roster (name, email, phone, student code, user type,
//! programme line) read in UTF-8 or Latin-1, with `,` or `;`, applied all or nothing.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use atiende_domain::import::{RosterField, programme_line_of, user_type_of};
use atiende_store::Actor;
use atiende_store::import::RosterRow;
use clap::Subcommand;

use crate::config::Config;
use crate::serve::open_store;

#[derive(Subcommand)]
pub enum ImportCommand {
    /// Load a roster of contacts; existing people (same email, phone or student code) are
    /// updated, not duplicated.
    Contacts {
        file: PathBuf,
        /// Check and count everything, change nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

/// The file's text: UTF-8 (with or without BOM), else Windows-1252 — what Excel and older
/// systems in Mexico write.
pub fn decode(bytes: &[u8]) -> String {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_string(),
        Err(_) => encoding_rs::WINDOWS_1252.decode(bytes).0.into_owned(),
    }
}

/// Rows left out of a file, with their line and why.
pub type Skipped = Vec<(usize, String)>;

/// Reads the roster's rows; rows that cannot be read are returned with their line and reason.
pub fn read_roster(text: &str) -> Result<(Vec<RosterRow>, Skipped)> {
    let first = text.lines().next().unwrap_or_default();
    let delimiter = if first.matches(';').count() > first.matches(',').count() {
        b';'
    } else {
        b','
    };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .from_reader(text.as_bytes());
    let headers = reader.headers().context("reading the header row")?.clone();
    let fields: Vec<Option<RosterField>> = headers.iter().map(RosterField::of_header).collect();
    anyhow::ensure!(
        fields.iter().any(Option::is_some),
        "no known column in the header (expected nombre, correo, teléfono, código, tipo, nivel)"
    );
    let mut rows = Vec::new();
    let mut broken = Vec::new();
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line() as usize);
                broken.push((line, format!("unreadable: {e}")));
                continue;
            }
        };
        let line = record.position().map_or(0, |p| p.line() as usize);
        if record.len() != headers.len() {
            broken.push((
                line,
                format!("{} columns, the header has {}", record.len(), headers.len()),
            ));
            continue;
        }
        let mut row = RosterRow {
            line,
            ..Default::default()
        };
        for (value, field) in record.iter().zip(&fields) {
            let value = value.trim();
            match field {
                Some(RosterField::Name) => row.name = value.to_string(),
                Some(RosterField::Email) => row.email = value.to_string(),
                Some(RosterField::Phone) => row.phone = value.to_string(),
                Some(RosterField::StudentCode) => row.student_code = value.to_string(),
                Some(RosterField::UserType) if !value.is_empty() => match user_type_of(value) {
                    Some(t) => row.user_type = Some(t),
                    None => {
                        broken.push((line, format!("unknown user type `{value}`")));
                        row.line = 0;
                    }
                },
                Some(RosterField::ProgrammeLine) if !value.is_empty() => {
                    match programme_line_of(value) {
                        Some(l) => row.programme_line = Some(l),
                        None => {
                            broken.push((line, format!("unknown programme line `{value}`")));
                            row.line = 0;
                        }
                    }
                }
                _ => {}
            }
        }
        if row.line > 0 {
            rows.push(row);
        }
    }
    Ok((rows, broken))
}

pub async fn run(config: &Config, command: ImportCommand) -> Result<()> {
    match command {
        ImportCommand::Contacts { file, dry_run } => contacts(config, &file, dry_run).await,
    }
}

async fn contacts(config: &Config, file: &Path, dry_run: bool) -> Result<()> {
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let (rows, broken) = read_roster(&decode(&bytes))?;
    let store = open_store(config).await?;
    let report = store
        .import_roster(Actor::System, &rows, dry_run, |done, total| {
            if total >= 1000 {
                eprint!("\r{done}/{total}");
            }
        })
        .await?;
    if rows.len() >= 1000 {
        eprintln!();
    }
    println!(
        "{}{} created, {} updated, {} unchanged, {} skipped",
        if dry_run {
            "dry run (nothing saved): "
        } else {
            ""
        },
        report.created,
        report.updated,
        report.unchanged,
        report.skipped.len() + broken.len()
    );
    let mut skipped: Vec<(usize, String)> = broken.into_iter().chain(report.skipped).collect();
    skipped.sort();
    for (line, reason) in skipped {
        println!("  line {line}: {reason}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latin1_files_are_read_as_well_as_utf8_with_bom() {
        assert_eq!(decode(b"Jos\xe9 P\xe9rez"), "José Pérez");
        assert_eq!(decode("\u{feff}Ñandú".as_bytes()), "Ñandú");
    }

    #[test]
    fn quoting_embedded_newlines_semicolons_and_broken_rows_are_handled() {
        let text = "Nombre;Correo;Teléfono;Código;Tipo;Nivel\n\
                    \"López; Ana\";ana@gmail.com;33 1234 5678;219000001;Estudiante;Licenciatura\n\
                    \"Pérez\nJuan\";juan@gmail.com;;;Aspirante;\n\
                    solo;dos\n\
                    Luis;luis@gmail.com;;;marciano;\n";
        let (rows, broken) = read_roster(text).expect("roster");
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].name, "López; Ana");
        assert_eq!(
            rows[0].user_type,
            Some(atiende_domain::classification::UserType::Student)
        );
        assert_eq!(rows[1].name, "Pérez\nJuan");
        assert_eq!(rows[1].line, 3);
        let lines: Vec<usize> = broken.iter().map(|(l, _)| *l).collect();
        assert_eq!(lines, [5, 6], "{broken:?}");
        assert!(broken[1].1.contains("marciano"));
        assert!(read_roster("color,sabor\nrojo,dulce\n").is_err());
    }
}
