//! Files on an incident: those that arrived with a person's email or chat message, and those
//! staff attach to an answer or an internal note. One table for both; an outgoing file is tied to
//! its timeline entry and, once queued, to the email or chat message that carries it.

use atiende_domain::attachment::{CheckedFile, OutgoingFile};
use atiende_domain::ids::{EntryId, IncidentId};
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::db::{Store, flag, ms, now};
use crate::error::{Result, StoreError};
use crate::tx::Tx;

/// Largest file kept from an inbound message; larger ones are replaced by a note saying so.
pub const MAX_ATTACHMENT_BYTES: usize = 15 * 1024 * 1024;

/// An attachment's metadata and, when downloaded, its bytes.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Attachment {
    pub id: i64,
    pub incident_id: i64,
    pub entry_id: Option<i64>,
    pub filename: String,
    pub content_type: String,
    pub size: i64,
    pub inline: bool,
}

fn attachment_from_row(r: &AnyRow) -> Result<Attachment> {
    Ok(Attachment {
        id: r.try_get("id")?,
        incident_id: r.try_get("incident_id")?,
        entry_id: r.try_get("entry_id")?,
        filename: r.try_get("filename")?,
        content_type: r.try_get("content_type")?,
        size: r.try_get("size")?,
        inline: flag(r, "inline")?,
    })
}

/// A file as staff sent it, before it is checked.
#[derive(Debug, Clone)]
pub struct Upload {
    pub filename: String,
    pub data: Vec<u8>,
}

/// Stores checked files on an entry, in the entry's transaction.
pub(crate) async fn store_files(
    tx: &mut Tx,
    incident: IncidentId,
    entry: EntryId,
    files: &[(CheckedFile, &[u8])],
) -> Result<Vec<OutgoingFile>> {
    let mut stored = Vec::with_capacity(files.len());
    for (file, data) in files {
        let id: i64 = sqlx::query(
            "INSERT INTO attachments (incident_id, entry_id, filename, content_type, inline, size, data, created_at) \
             VALUES ($1, $2, $3, $4, 0, $5, $6, $7) RETURNING id",
        )
        .bind(incident.0)
        .bind(entry.0)
        .bind(file.filename.clone())
        .bind(file.content_type.to_string())
        .bind(file.size as i64)
        .bind(data.to_vec())
        .bind(ms(now()))
        .fetch_one(&mut **tx)
        .await?
        .try_get("id")?;
        stored.push(OutgoingFile {
            attachment_id: id,
            filename: file.filename.clone(),
            content_type: file.content_type.to_string(),
            kind: file.kind,
            size: file.size,
        });
    }
    Ok(stored)
}

/// Ties stored files to the outgoing email that carries them.
pub(crate) async fn link_to_email(tx: &mut Tx, files: &[OutgoingFile], message: i64) -> Result<()> {
    for f in files {
        sqlx::query("UPDATE attachments SET email_message_id = $1 WHERE id = $2")
            .bind(message)
            .bind(f.attachment_id)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Ties a stored file to the chat message that carries it.
pub(crate) async fn link_to_chat(tx: &mut Tx, file: &OutgoingFile, message: i64) -> Result<()> {
    sqlx::query("UPDATE attachments SET chat_message_id = $1 WHERE id = $2")
        .bind(message)
        .bind(file.attachment_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

impl Store {
    /// The files of an incident, oldest first.
    pub async fn attachments(&self, incident: IncidentId) -> Result<Vec<Attachment>> {
        let rows = sqlx::query(
            "SELECT id, incident_id, entry_id, filename, content_type, size, inline FROM attachments WHERE incident_id = $1 ORDER BY id",
        )
        .bind(incident.0)
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(attachment_from_row).collect()
    }

    /// An attachment's bytes, for download (only through the incident it belongs to, whose
    /// visibility the caller checked).
    pub async fn attachment_data(
        &self,
        incident: IncidentId,
        id: i64,
    ) -> Result<(Attachment, Vec<u8>)> {
        let r = sqlx::query("SELECT * FROM attachments WHERE id = $1 AND incident_id = $2")
            .bind(id)
            .bind(incident.0)
            .fetch_optional(self.reader())
            .await?
            .ok_or(StoreError::NotFound("attachment"))?;
        Ok((attachment_from_row(&r)?, r.try_get("data")?))
    }

    /// The bytes of a file being sent (the sending jobs know it by id from their payload).
    pub async fn outgoing_file_data(&self, file: &OutgoingFile) -> Result<Vec<u8>> {
        let r = sqlx::query("SELECT data FROM attachments WHERE id = $1")
            .bind(file.attachment_id)
            .fetch_optional(self.reader())
            .await?
            .ok_or(StoreError::NotFound("attachment"))?;
        Ok(r.try_get("data")?)
    }
}
