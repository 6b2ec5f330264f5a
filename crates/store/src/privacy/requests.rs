//! The person's own access request: they give an email address; if a person on record holds
//! it, a link with a one-time secret goes to that address, and whoever opens it within a day
//! sees that person's file. Nothing tells the asker whether the address is on record.

use atiende_domain::ids::ContactId;
use atiende_domain::privacy::DataAction;
use chrono::Duration;
use sqlx::Row;

use super::{PersonalFile, insert_access};
use crate::db::{Store, ms, now};
use crate::email::{holder_of_address, queue_link_email};
use crate::error::Result;
use crate::links::{OneTimeLink, link_with_slot, unusable_hash};
use crate::users::token_hash;

/// How long the emailed link opens the file.
const LINK_HOURS: i64 = 24;

/// How the access log names the person themselves.
const HOLDER: &str = "titular (solicitud verificada)";
/// … and signed in to their portal.
const HOLDER_PORTAL: &str = "titular (portal Mis solicitudes)";

impl Store {
    /// Sends the link when the address belongs to a person on record (not suppressed);
    /// otherwise does nothing, and says nothing different.
    pub async fn request_personal_file(&self, email: &str, base_url: &str) -> Result<()> {
        let mut tx = self.begin().await?;
        let Some((contact, address, mailbox)) = holder_of_address(&mut tx, email, true).await?
        else {
            return Ok(());
        };
        let at = now();
        let request: i64 = sqlx::query(
            "INSERT INTO personal_data_requests (contact_id, token_hash, created_at, expires_at) \
             VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(contact)
        .bind(unusable_hash())
        .bind(ms(at))
        .bind(ms(at + Duration::hours(LINK_HOURS)))
        .fetch_one(&mut *tx)
        .await?
        .try_get("id")?;
        let link = link_with_slot(base_url, "mis-datos");
        queue_link_email(
            &mut tx,
            &mailbox,
            (address, "arco"),
            "Sus datos personales en el Centro de Atención Personalizada",
            format!(
                "Hola:\n\nRecibimos una solicitud de acceso a sus datos personales. Para verlos y descargarlos, \
                 abra este enlace durante las próximas {LINK_HOURS} horas:\n\n{link}\n\n\
                 Si usted no hizo esta solicitud, ignore este mensaje.\n\n\
                 Atentamente,\nCentro de Atención Personalizada"
            ),
            OneTimeLink::PersonalFile(request),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The file a valid, unexpired link opens, logged as the holder's own access.
    pub async fn personal_file_by_link(
        &self,
        token: &str,
        format: &str,
    ) -> Result<Option<PersonalFile>> {
        let mut tx = self.begin().await?;
        let row = sqlx::query(
            "SELECT r.contact_id FROM personal_data_requests r JOIN contacts c ON c.id = r.contact_id \
             WHERE r.token_hash = $1 AND r.expires_at > $2 AND c.anonymised_at IS NULL",
        )
        .bind(token_hash(token))
        .bind(ms(now()))
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let contact = ContactId(row.try_get("contact_id")?);
        insert_access(&mut *tx, None, HOLDER, contact, DataAction::Export, format).await?;
        tx.commit().await?;
        Ok(Some(
            self.assemble_file(self.contact(contact).await?).await?,
        ))
    }

    /// The file of the person signed in to their portal, logged as the holder's own access.
    pub async fn personal_file_for_portal(
        &self,
        person: ContactId,
        format: &str,
    ) -> Result<PersonalFile> {
        let mut tx = self.begin().await?;
        insert_access(
            &mut *tx,
            None,
            HOLDER_PORTAL,
            person,
            DataAction::Export,
            format,
        )
        .await?;
        tx.commit().await?;
        self.assemble_file(self.contact(person).await?).await
    }
}
