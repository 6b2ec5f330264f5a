//! `atiende import`: bringing the past along from files — a roster of contacts, or a SugarCRM
//! export. Files are read here (encodings, delimiters, quoting, broken rows); what the values
//! mean is the domain's; applying them, all or nothing, is the store's.

mod roster;
mod sugarcrm;
mod table;

use std::path::PathBuf;

use anyhow::Result;
use atiende_domain::import::ImportReport;
use clap::Subcommand;

use crate::config::Config;
pub use table::{Skipped, decode, read_table};

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
    /// Load a SugarCRM export: a folder with the CSV files of Contacts, Cases, Notes and Calls
    /// (and, optionally, the contacts_cases relationship).
    Sugarcrm {
        dir: PathBuf,
        /// The mapping file (TOML) for case types, statuses and custom fields; by default
        /// `mapping.toml` in the folder, if there is one.
        #[arg(long)]
        mapping: Option<PathBuf>,
        /// Check and count everything, change nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

pub async fn run(config: &Config, command: ImportCommand) -> Result<()> {
    match command {
        ImportCommand::Contacts { file, dry_run } => roster::run(config, &file, dry_run).await,
        ImportCommand::Sugarcrm {
            dir,
            mapping,
            dry_run,
        } => sugarcrm::run(config, &dir, mapping.as_deref(), dry_run).await,
    }
}

/// Prints one file's (or module's) summary: counts, then skipped rows and warnings by line.
pub fn print_report(title: &str, report: &ImportReport) {
    println!(
        "{title}: {} created, {} updated, {} unchanged, {} skipped, {} warnings",
        report.created,
        report.updated,
        report.unchanged,
        report.skipped.len(),
        report.warnings.len()
    );
    for remark in &report.remarks {
        println!("  {remark}");
    }
    const SHOWN: usize = 50;
    for (label, list) in [("skipped", &report.skipped), ("warning", &report.warnings)] {
        let mut list = list.clone();
        list.sort();
        for (line, reason) in list.iter().take(SHOWN) {
            println!("  line {line}, {label}: {reason}");
        }
        if list.len() > SHOWN {
            println!("  … and {} more {label} rows", list.len() - SHOWN);
        }
    }
}

/// Shows how far a long import has gone, on the terminal's error stream.
pub fn progress(stage: &str, done: usize, total: usize) {
    if total >= 1000 {
        eprint!("\r{stage}: {done}/{total}");
        if done == total {
            eprintln!();
        }
    }
}
