//! `atiende import contacts FILE.csv`: a roster (name, email, phone, student code, user type,
//! programme line) read in UTF-8 or Latin-1, with `,` or `;`, applied all or nothing.

use std::path::Path;

use anyhow::{Context, Result};
use atiende_domain::import::{RosterField, programme_line_of, user_type_of};
use atiende_store::Actor;
use atiende_store::import::RosterRow;

use super::{Skipped, decode, print_report, progress, read_table};
use crate::config::Config;
use crate::serve::open_store;

/// Reads the roster's rows; rows that cannot be read are returned with their line and reason.
pub fn read_roster(text: &str) -> Result<(Vec<RosterRow>, Skipped)> {
    let (table, mut broken) = read_table(text)?;
    let fields: Vec<Option<RosterField>> = table
        .headers
        .iter()
        .map(|h| RosterField::of_header(h))
        .collect();
    anyhow::ensure!(
        fields.iter().any(Option::is_some),
        "no known column in the header (expected nombre, correo, teléfono, código, tipo, nivel)"
    );
    let mut rows = Vec::new();
    for (line, values) in table.rows {
        let mut row = RosterRow {
            line,
            ..Default::default()
        };
        let mut readable = true;
        for (value, field) in values.into_iter().zip(&fields) {
            match field {
                Some(RosterField::Name) => row.name = value,
                Some(RosterField::Email) if !value.is_empty() => row.emails.push(value),
                Some(RosterField::Phone) if !value.is_empty() => row.phones.push(value),
                Some(RosterField::StudentCode) => row.student_code = value,
                Some(RosterField::UserType) if !value.is_empty() => match user_type_of(&value) {
                    Some(t) => row.user_type = Some(t),
                    None => {
                        broken.push((line, format!("unknown user type `{value}`")));
                        readable = false;
                    }
                },
                Some(RosterField::ProgrammeLine) if !value.is_empty() => {
                    match programme_line_of(&value) {
                        Some(l) => row.programme_line = Some(l),
                        None => {
                            broken.push((line, format!("unknown programme line `{value}`")));
                            readable = false;
                        }
                    }
                }
                _ => {}
            }
        }
        if readable {
            rows.push(row);
        }
    }
    Ok((rows, broken))
}

pub async fn run(config: &Config, file: &Path, dry_run: bool) -> Result<()> {
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let (rows, broken) = read_roster(&decode(&bytes))?;
    let store = open_store(config).await?;
    let mut report = store
        .import_roster(Actor::System, &rows, dry_run, |done, total| {
            progress("contacts", done, total)
        })
        .await?;
    report.skipped.extend(broken);
    if dry_run {
        println!("dry run (nothing saved)");
    }
    print_report("contacts", &report);
    Ok(())
}
#[cfg(test)]
mod tests {
    use super::*;

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
