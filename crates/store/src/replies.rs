//! What a step of the procedure sends: an answer to the person on their incident's channel, and
//! the notice to a unit an incident is derived to by email. Both are written to the outbox in the
//! step's own transaction (sent only if it commits); the channel modules below know each wire
//! format, so the procedure's steps name what they send, never how it travels.

use atiende_domain::attachment::OutgoingFile;
use atiende_domain::chat::Template;
use atiende_domain::classification::Channel;
use atiende_domain::ids::EntryId;
use atiende_domain::incident::Incident;
use atiende_domain::unit::Unit;

use crate::error::Result;
use crate::tx::Tx;

/// The answer recorded as timeline entry `entry` goes to the person: through the provider on
/// WhatsApp, Messenger and Instagram (refused before anything is written when the reply window
/// does not allow it), in the web chat's widget while the person is there, by email threaded
/// under their last message otherwise. Files staff
/// attached travel with it: in the same email, or as one chat message each after the text. An
/// incident with no way back to the person (a phone call with no address on record) keeps the
/// answer and its files on its timeline only.
pub(crate) async fn answer(
    tx: &mut Tx,
    incident: &Incident,
    entry: EntryId,
    body: &str,
    template: Option<(&Template, &[String])>,
    files: &[OutgoingFile],
) -> Result<()> {
    match incident.channel {
        Channel::Whatsapp | Channel::Social => {
            if !body.is_empty() || template.is_some() {
                crate::chat::queue_message(tx, incident, entry, body, template, None).await?;
            }
            crate::chat::queue_files(tx, incident, entry, files).await?;
        }
        // The person reads it in the widget while they are there; by email once they left.
        Channel::ChatWeb if crate::web_chat::connected(tx, incident.id).await? => {}
        _ => {
            crate::email::queue_answer(tx, incident, entry, body, files).await?;
        }
    }
    Ok(())
}

/// A derivation by email sends the unit a summary of the incident and the reason.
pub(crate) async fn notify_unit(
    tx: &mut Tx,
    incident: &Incident,
    unit: &Unit,
    reason: &str,
) -> Result<()> {
    crate::email::queue_derivation_notice(tx, incident, unit, reason).await
}
