//! The audit trail: who changed what, when, with the state before and after.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::classification::coded_enum;
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
    }
);

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
