//! The audit trail: who changed what, when, with the state before and after.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::classification::{Lang, coded_enum};
use crate::ids::UserId;

coded_enum!(
    EntityKind {
        Incident = "incident", "Incidente", "Incident";
        Contact = "contact", "Usuario", "Contact";
        Unit = "unit", "Unidad", "Unit";
        User = "user", "Usuario del sistema", "Staff user";
        Topic = "topic", "Tema", "Topic";
        ApiToken = "api_token", "Token de API", "API token";
        Setting = "setting", "Configuración", "Setting";
        Survey = "survey", "Encuesta", "Survey";
        Nonconformity = "nonconformity", "Producto no conforme", "Nonconformity";
        Article = "article", "Artículo", "Article";
        CannedResponse = "canned_response", "Respuesta predefinida", "Canned response";
        Macro = "macro", "Macro", "Macro";
    }
);

/// What an audit action (`incident.close`) says to a reader. Every action the store records
/// has its words (a test in the store reads its sources); an unknown one says only "Cambio".
pub fn action_label(action: &str, lang: Lang) -> &'static str {
    let (es, en) = match action {
        "article.archive" => ("Archivó el artículo", "Archived the article"),
        "article.create" => ("Creó el artículo", "Created the article"),
        "article.update" => ("Editó el artículo", "Edited the article"),
        "call.called_back" => ("Devolvió la llamada", "Called back"),
        "macro.archive" => ("Archivó la macro", "Archived the macro"),
        "macro.create" => ("Creó la macro", "Created the macro"),
        "macro.update" => ("Editó la macro", "Edited the macro"),
        "incident.macro" => ("Aplicó una macro", "Applied a macro"),
        "canned_response.archive" => (
            "Archivó la respuesta predefinida",
            "Archived the canned response",
        ),
        "canned_response.create" => (
            "Creó la respuesta predefinida",
            "Created the canned response",
        ),
        "canned_response.update" => (
            "Editó la respuesta predefinida",
            "Edited the canned response",
        ),
        "contact.anonymise" => (
            "Suprimió los datos personales",
            "Suppressed the personal data",
        ),
        "contact.block" => (
            "Bloqueó los datos (cancelación)",
            "Blocked the data (cancellation)",
        ),
        "contact.create" => ("Registró a la persona", "Registered the person"),
        "contact.merge" => (
            "Fusionó registros de la persona",
            "Merged the person's records",
        ),
        "contact.named_from_profile" => (
            "Tomó el nombre de su perfil en la red social",
            "Took the name from their social profile",
        ),
        "contact.unblock" => ("Desbloqueó los datos", "Unblocked the data"),
        "contact.update" => ("Rectificó los datos", "Rectified the data"),
        "incident.answer" => ("Respondió", "Answered"),
        "incident.assign" => ("Asignó", "Assigned"),
        "incident.classify" => ("Clasificó", "Classified"),
        "incident.close" => ("Cerró el incidente", "Closed the incident"),
        "incident.duplicate" => ("Lo cerró como duplicado", "Closed it as a duplicate"),
        "incident.portal_reply" => ("Respondió desde el portal", "Replied from the portal"),
        "incident.web_chat_message" => ("Escribió en el chat web", "Wrote in the web chat"),
        "incident.merge" => (
            "Lo fusionó con otro incidente",
            "Merged it into another incident",
        ),
        "incident.create" => ("Registró el incidente", "Registered the incident"),
        "incident.derivation_answer" => (
            "Registró la respuesta de la unidad",
            "Recorded the unit's answer",
        ),
        "incident.derivation_answer_close" => (
            "Respondió como unidad y cerró el incidente",
            "Answered for the unit and closed the incident",
        ),
        "incident.derive" => ("Derivó a una unidad", "Derived to a unit"),
        "incident.import" => ("Importó el historial", "Imported the history"),
        "incident.intervention" => ("Registró los pormenores", "Recorded the intervention notes"),
        "incident.note" => ("Agregó una nota", "Added a note"),
        "incident.wait_on_person" => (
            "Dejó el incidente en espera del usuario",
            "Set the incident waiting on the person",
        ),
        "incident.reopen" => ("Reabrió el incidente", "Reopened the incident"),
        "incident.resolved_by_article" => {
            ("Lo resolvió con un artículo", "Resolved it with an article")
        }
        "mailbox.create" => ("Agregó el buzón de correo", "Added the mailbox"),
        "mailbox.update" => ("Editó el buzón de correo", "Edited the mailbox"),
        "mailbox.connect" => (
            "Conectó el buzón con su proveedor",
            "Connected the mailbox with its provider",
        ),
        "mailbox.revoked" => (
            "El proveedor revocó la autorización del buzón",
            "The provider revoked the mailbox's authorization",
        ),
        "nonconformity.create" => (
            "Registró el producto no conforme",
            "Registered the nonconformity",
        ),
        "nonconformity.update" => (
            "Actualizó el producto no conforme",
            "Updated the nonconformity",
        ),
        "privacy_notice.publish" => (
            "Publicó el aviso de privacidad",
            "Published the privacy notice",
        ),
        "questionnaire.version" => (
            "Publicó una versión del cuestionario",
            "Published a questionnaire version",
        ),
        "setting.update" => ("Cambió la configuración", "Changed the settings"),
        "survey.follow_up" => ("Dio seguimiento a la encuesta", "Followed up the survey"),
        "token.create" => ("Creó un token de API", "Created an API token"),
        "token.revoke" => ("Revocó un token de API", "Revoked an API token"),
        "topic.create" => ("Agregó el tema", "Added the topic"),
        "topic.update" => ("Editó el tema", "Edited the topic"),
        "unit.create" => ("Agregó la unidad", "Added the unit"),
        "unit.update" => ("Editó la unidad", "Edited the unit"),
        "user.create" => ("Creó la cuenta", "Created the account"),
        "user.password" => ("Cambió la contraseña", "Changed the password"),
        "user.sessions_ended" => ("Cerró sus sesiones", "Ended their sessions"),
        "identity_provider.save" => (
            "Guardó un proveedor de identidad",
            "Saved an identity provider",
        ),
        "identity_provider.delete" => (
            "Quitó un proveedor de identidad",
            "Removed an identity provider",
        ),
        "user.second_factor_on" => ("Activó el segundo factor", "Turned the second factor on"),
        "user.second_factor_off" => ("Quitó el segundo factor", "Removed the second factor"),
        "user.recovery_codes" => (
            "Generó nuevos códigos de recuperación",
            "Made new recovery codes",
        ),
        "user.update" => ("Editó la cuenta", "Edited the account"),
        "webhook.create" => ("Suscribió un webhook", "Subscribed a webhook"),
        "webhook.update" => ("Cambió un webhook", "Changed a webhook"),
        "webhook.delete" => ("Quitó un webhook", "Removed a webhook"),
        "webhook.replay" => ("Reenvió un evento del webhook", "Replayed a webhook event"),
        "webhook.disabled" => (
            "Se desactivó un webhook tras fallos repetidos",
            "A webhook was turned off after repeated failures",
        ),
        _ => ("Cambio", "Change"),
    };
    match lang {
        Lang::Es => es,
        Lang::En => en,
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEntry {
    pub id: i64,
    pub at: DateTime<Utc>,
    /// Absent for changes made by the system itself (first run, channels).
    pub actor_id: Option<UserId>,
    pub entity: EntityKind,
    pub entity_id: String,
    /// What happened, e.g. `incident.close`, `contact.merge`.
    pub action: String,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub before: Option<serde_json::Value>,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub after: Option<serde_json::Value>,
}
