//! Tables as downloads: CSV (one table) and XLSX (a sheet per table), with Spanish headers.
//!
//! One convention for every export: counts as whole numbers, rates and hours as plain numbers
//! with their unit in the header, and moments as ISO 8601 with their UTC offset
//! (`2026-12-05T09:31:00-06:00`, [`when`]); in XLSX numbers are number cells and moments are
//! date cells in the institution's time zone, which the header names.

use axum::http::header;
use axum::response::{IntoResponse, Response};

use crate::error::AppError;

/// A table: its title (the sheet's name) and its rows, the first being the header.
pub type Table = (String, Vec<Vec<String>>);

/// A moment as every export writes it: the institution's local time with its offset, which a
/// spreadsheet reads and nobody can mistake for another zone.
pub fn when(at: &chrono::DateTime<chrono::Utc>, tz: chrono_tz::Tz) -> String {
    at.with_timezone(&tz)
        .format("%Y-%m-%dT%H:%M:%S%:z")
        .to_string()
}

/// A CSV cell that a spreadsheet will show as text, never run: a value beginning with `=`,
/// `+`, `-`, `@`, a tab or a carriage return (a survey comment such as `=HYPERLINK(…)`) gets a
/// leading apostrophe, as OWASP advises. Numbers, negative ones included, stay numbers.
pub fn csv_cell(value: &str) -> std::borrow::Cow<'_, str> {
    let risky = value.starts_with(['=', '+', '-', '@', '\t', '\r']);
    if risky && value.trim().parse::<f64>().is_err() {
        std::borrow::Cow::Owned(format!("'{value}"))
    } else {
        std::borrow::Cow::Borrowed(value)
    }
}

/// Every CSV download goes through here, so every cell is neutralised ([`csv_cell`]).
pub fn csv(rows: &[Vec<String>], file: &str) -> Result<Response, AppError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    for r in rows {
        w.write_record(r.iter().map(|c| csv_cell(c).into_owned()))
            .map_err(|_| AppError::Internal)?;
    }
    let bytes = w.into_inner().map_err(|_| AppError::Internal)?;
    Ok(download(
        "text/csv; charset=utf-8",
        &format!("{file}.csv"),
        bytes,
    ))
}

pub fn xlsx(tables: &[Table], file: &str) -> Result<Response, AppError> {
    let mut book = rust_xlsxwriter::Workbook::new();
    let bold = rust_xlsxwriter::Format::new().set_bold();
    let moment_format = rust_xlsxwriter::Format::new().set_num_format("yyyy-mm-dd hh:mm");
    let fail = |_| AppError::Internal;
    for (title, rows) in tables {
        let sheet = book.add_worksheet();
        // Sheet names: at most 31 characters, none of []:*?/\
        let name: String = title
            .chars()
            .filter(|c| !"[]:*?/\\".contains(*c))
            .take(31)
            .collect();
        sheet.set_name(name).map_err(fail)?;
        for (r, row) in rows.iter().enumerate() {
            for (c, cell) in row.iter().enumerate() {
                let (r, c) = (r as u32, c as u16);
                let moment = chrono::DateTime::parse_from_rfc3339(cell).ok();
                match cell.parse::<f64>() {
                    Ok(n) if r > 0 && c > 0 => sheet.write_number(r, c, n).map(|_| ()),
                    _ if r > 0 && moment.is_some() => {
                        let local = moment.map(|m| m.naive_local()).unwrap_or_default();
                        sheet
                            .write_datetime_with_format(r, c, local, &moment_format)
                            .map(|_| ())
                    }
                    _ if r == 0 => sheet
                        .write_string_with_format(r, c, cell, &bold)
                        .map(|_| ()),
                    _ => sheet.write_string(r, c, cell).map(|_| ()),
                }
                .map_err(fail)?;
            }
        }
        sheet.set_column_width(0, 40).map_err(fail)?;
    }
    let bytes = book.save_to_buffer().map_err(fail)?;
    Ok(download(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        &format!("{file}.xlsx"),
        bytes,
    ))
}

pub fn download(content_type: &str, file: &str, bytes: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{file}\""),
            ),
        ],
        bytes,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::csv_cell;

    #[test]
    fn a_cell_that_a_spreadsheet_would_run_is_written_as_text() {
        for formula in [
            "=HYPERLINK(\"http://x\")",
            "+1+1",
            "-1+cmd|' /C calc'!A0",
            "@SUM(A1)",
            "\tx",
            "\rx",
        ] {
            assert_eq!(csv_cell(formula), format!("'{formula}"), "{formula:?}");
        }
        for plain in ["Gracias", "-3.5", "+4", "10", "", "ana@gmail.com"] {
            assert_eq!(csv_cell(plain), plain);
        }
    }
}
