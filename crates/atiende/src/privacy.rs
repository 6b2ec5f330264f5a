//! `atiende privacy`: ARCO requests from the command line — export a person's file (JSON and
//! readable HTML), block, unblock, suppress, read the access log. Each step is recorded in the
//! access log under the administrator named with `--by` (or as atiende itself).

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use atiende_domain::access::Action;
use atiende_domain::classification::Lang;
use atiende_domain::ids::ContactId;
use atiende_domain::privacy::RetentionPolicy;
use atiende_domain::user::StaffUser;
use atiende_store::settings::key;
use atiende_store::{Actor, Store};
use atiende_web::pages::export::csv_cell;
use clap::{Args, Subcommand};

use crate::config::Config;
use crate::serve::open_store;

#[derive(Subcommand)]
pub enum PrivacyCommand {
    /// Write everything held about a person: FILE.json (portable) and FILE.html (readable).
    Export {
        contact: i64,
        /// Path without extension; `.json` and `.html` are added.
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        by: By,
    },
    /// Cancellation, first stage: keep the data but take it out of normal use.
    Block {
        contact: i64,
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        by: By,
    },
    /// Lift a block made by mistake.
    Unblock {
        contact: i64,
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        by: By,
    },
    /// Cancellation, second stage: suppress a blocked person's data for good.
    Anonymise {
        contact: i64,
        /// Confirms that this cannot be undone.
        #[arg(long)]
        yes: bool,
        #[command(flatten)]
        by: By,
    },
    /// What the retention periods anonymise now: a dry run, unless `--apply`.
    Retention {
        /// Anonymise it now instead of only counting.
        #[arg(long)]
        apply: bool,
    },
    /// Print the access log (newest first), of one person or of everyone, as CSV.
    Log {
        #[arg(long)]
        contact: Option<i64>,
    },
}

#[derive(Args)]
pub struct By {
    /// The administrator handling the request (their login), for the access log.
    #[arg(long)]
    by: Option<String>,
}

async fn administrator(store: &Store, by: &By) -> Result<Option<StaffUser>> {
    let Some(login) = &by.by else {
        return Ok(None);
    };
    let user = store
        .user_by_login(login)
        .await
        .with_context(|| format!("no user `{login}`"))?;
    if !user.may(Action::PersonalData) {
        bail!("`{login}` is not an administrator");
    }
    Ok(Some(user))
}

fn actor(user: &Option<StaffUser>) -> Actor<'_> {
    match user {
        Some(u) => Actor::Staff(u),
        None => Actor::System,
    }
}

pub async fn run(config: &Config, command: PrivacyCommand) -> Result<()> {
    let store = open_store(config).await?;
    match command {
        PrivacyCommand::Export { contact, out, by } => {
            let user = administrator(&store, &by).await?;
            let file = store
                .personal_file(actor(&user), ContactId(contact), "cli")
                .await?;
            let json = out.with_extension("json");
            let html = out.with_extension("html");
            std::fs::write(&json, serde_json::to_vec_pretty(&file)?)
                .with_context(|| format!("writing {}", json.display()))?;
            let lang = user.as_ref().map_or(Lang::Es, |u| u.language);
            let page =
                atiende_web::pages::privacy::personal_file_html(&file, lang, config.time_zone()?);
            std::fs::write(&html, page).with_context(|| format!("writing {}", html.display()))?;
            println!("{}\n{}", json.display(), html.display());
        }
        PrivacyCommand::Block {
            contact,
            reason,
            by,
        } => {
            let user = administrator(&store, &by).await?;
            store
                .block_contact(actor(&user), ContactId(contact), &reason)
                .await?;
            println!("blocked {contact}");
        }
        PrivacyCommand::Unblock {
            contact,
            reason,
            by,
        } => {
            let user = administrator(&store, &by).await?;
            store
                .unblock_contact(actor(&user), ContactId(contact), &reason)
                .await?;
            println!("unblocked {contact}");
        }
        PrivacyCommand::Anonymise { contact, yes, by } => {
            if !yes {
                bail!("suppression cannot be undone: add --yes to confirm");
            }
            let user = administrator(&store, &by).await?;
            let done = store
                .anonymise_contact(actor(&user), ContactId(contact))
                .await?;
            println!(
                "suppressed {contact}: {} records, {} incidents, {} entries, {} messages, {} attachments",
                done.contacts, done.incidents, done.entries, done.messages, done.attachments
            );
        }
        PrivacyCommand::Retention { apply } => {
            let policy: RetentionPolicy = store.setting(key::RETENTION_POLICY).await?;
            let now = atiende_store::db::now();
            let report = if apply {
                store.apply_retention_all(&policy, now).await?
            } else {
                store.retention_due(&policy, now).await?
            };
            let days = |d: Option<i64>| d.map_or("kept".to_string(), |d| format!("{d} days"));
            println!(
                "{}blocked people: {} ({})\nclosed incidents' text: {} ({})\nattachments: {} ({})\nwritten survey answers: {} ({})",
                if apply {
                    "anonymised now\n"
                } else {
                    "dry run (nothing changed)\n"
                },
                report.blocked_contacts,
                days(policy.blocked_days),
                report.incidents,
                days(policy.closed_incident_days),
                report.attachments,
                days(policy.attachment_days),
                report.surveys,
                days(policy.survey_comment_days),
            );
        }
        PrivacyCommand::Log { contact } => {
            let tz = config.time_zone()?;
            let entries = store
                .personal_access_log(contact.map(ContactId), None, 10_000)
                .await?;
            let mut w = csv::Writer::from_writer(std::io::stdout());
            w.write_record(["at", "actor", "contact", "action", "detail"])?;
            for e in entries {
                let cells = [
                    e.at.with_timezone(&tz).to_rfc3339(),
                    e.actor,
                    e.contact_id.0.to_string(),
                    e.action.code().to_string(),
                    e.detail,
                ];
                w.write_record(cells.iter().map(|c| csv_cell(c).into_owned()))?;
            }
            w.flush()?;
        }
    }
    Ok(())
}
