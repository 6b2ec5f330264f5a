//! Reading a CSV file as Excel, SugarCRM and older systems write it: the encoding, the
//! delimiter, quoting and broken rows. Nothing here knows what the columns mean, so the fuzz
//! target `import_csv` compiles this file on its own.

use anyhow::{Context, Result};

/// The file's text: UTF-8 (with or without BOM), else Windows-1252 — what Excel and older
/// systems in Mexico write (a superset of Latin-1 in its printable range).
pub fn decode(bytes: &[u8]) -> String {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_string(),
        Err(_) => encoding_rs::WINDOWS_1252.decode(bytes).0.into_owned(),
    }
}

/// Rows left out of a file, with their line and why.
pub type Skipped = Vec<(usize, String)>;

/// A CSV file's header and its readable rows, each with the line it starts on.
pub struct Table {
    pub headers: Vec<String>,
    pub rows: Vec<(usize, Vec<String>)>,
}

/// Reads a CSV file written with `,` or `;` (whichever the header uses more), quoted or not,
/// with newlines inside quoted values; rows that cannot be read or have the wrong number of
/// columns are returned with their line and reason.
pub fn read_table(text: &str) -> Result<(Table, Skipped)> {
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
    let headers: Vec<String> = reader
        .headers()
        .context("reading the header row")?
        .iter()
        .map(str::to_string)
        .collect();
    let mut rows = Vec::new();
    let mut broken = Vec::new();
    let mut lines = LineCounter {
        bytes: text.as_bytes(),
        at: 0,
        line: 1,
    };
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                broken.push((lines.line_of(e.position()), format!("unreadable: {e}")));
                continue;
            }
        };
        let line = lines.line_of(record.position());
        if record.len() != headers.len() {
            broken.push((
                line,
                format!("{} columns, the header has {}", record.len(), headers.len()),
            ));
            continue;
        }
        rows.push((line, record.iter().map(|v| v.trim().to_string()).collect()));
    }
    Ok((Table { headers, rows }, broken))
}

/// The line a record starts on, counted from its byte offset: after a CRLF line end (what
/// SugarCRM and Excel write) the csv crate's own line count is one short, and the offset
/// points at the `\n` before the record. Counting goes on from the previous record, so a
/// large file is read once.
struct LineCounter<'a> {
    bytes: &'a [u8],
    at: usize,
    line: usize,
}

impl LineCounter<'_> {
    fn line_of(&mut self, position: Option<&csv::Position>) -> usize {
        let mut to = position
            .map_or(0, |p| p.byte() as usize)
            .min(self.bytes.len());
        while to < self.bytes.len() && matches!(self.bytes[to], b'\r' | b'\n') {
            to += 1;
        }
        if to < self.at {
            (self.at, self.line) = (0, 1);
        }
        self.line += self.bytes[self.at..to]
            .iter()
            .filter(|b| **b == b'\n')
            .count();
        self.at = to;
        self.line
    }
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
    fn rows_are_numbered_by_the_line_they_start_on_with_crlf_and_embedded_newlines() {
        let text = "\"a\",\"b\"\r\n\"1\",\"x\r\ny\"\r\n\"2\"\r\n\"3\",\"z\"\r\n";
        let (table, broken) = read_table(text).expect("table");
        let lines: Vec<usize> = table.rows.iter().map(|(l, _)| *l).collect();
        assert_eq!(lines, [2, 5]);
        assert_eq!(broken, [(4, "1 columns, the header has 2".to_string())]);
        assert_eq!(table.rows[0].1[1], "x\r\ny");
    }
}
