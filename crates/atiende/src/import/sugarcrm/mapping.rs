//! How SugarCRM Community Edition's CSV exports (Contacts, Cases, Notes, Calls) map to atiende.
//!
//! SugarCRM writes either its field names (`case_number`) or the field labels in the exporting
//! user's language (`Number`, `Número`) as headers, so both are recognised; custom fields
//! (`tipo_usuario_c`) keep their names. Values atiende cannot know (the CAP's case types,
//! custom fields) go through a small editable [`Mapping`].

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::Deserialize;

use atiende_domain::call::CallDirection;
use atiende_domain::classification::{Channel, IncidentType, ProgrammeLine, UserType};
use atiende_domain::import::{programme_line_of, simplify, user_type_of};
use atiende_domain::incident::Status;

/// The SugarCRM modules an export comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Module {
    Contacts,
    Cases,
    Notes,
    Calls,
    /// The `contacts_cases` relationship table, when exported.
    ContactsCases,
}

impl Module {
    /// The module a file holds, from its name (`Cases.csv`, `cases_export.csv`).
    pub fn of_file_name(name: &str) -> Option<Module> {
        let s = simplify(name.strip_suffix(".csv").unwrap_or(name));
        if s.contains("contacts_cases") || s.contains("cases_contacts") {
            Some(Module::ContactsCases)
        } else if s.contains("contact") {
            Some(Module::Contacts)
        } else if s.contains("case") {
            Some(Module::Cases)
        } else if s.contains("note") {
            Some(Module::Notes)
        } else if s.contains("call") {
            Some(Module::Calls)
        } else {
            None
        }
    }
}

/// Labels SugarCRM prints for a field (English and the Spanish language pack), by module.
const COMMON: &[(&str, &[&str])] = &[
    ("id", &["ID"]),
    (
        "date_entered",
        &[
            "Date Created",
            "Date Entered",
            "Fecha de Creación",
            "Fecha Creación",
        ],
    ),
    (
        "date_modified",
        &[
            "Date Modified",
            "Fecha de Modificación",
            "Fecha Modificación",
        ],
    ),
    (
        "assigned_user_name",
        &[
            "Assigned to",
            "Assigned User",
            "Assigned User Name",
            "Asignado a",
            "Usuario Asignado",
        ],
    ),
    ("created_by_name", &["Created By", "Creado Por"]),
    ("description", &["Description", "Descripción"]),
    ("deleted", &["Deleted", "Eliminado", "Borrado"]),
];

const CONTACTS: &[(&str, &[&str])] = &[
    ("first_name", &["First Name", "Nombre"]),
    ("last_name", &["Last Name", "Apellidos", "Apellido"]),
    ("name", &["Full Name", "Nombre Completo"]),
    (
        "salutation",
        &["Salutation", "Saludo", "Tratamiento", "Título"],
    ),
    (
        "email1",
        &[
            "Email Address",
            "Email",
            "Primary Email",
            "Correo Electrónico",
            "Dirección de Email",
            "Email Principal",
        ],
    ),
    (
        "email2",
        &["Other Email", "Otro Email", "Email Alternativo"],
    ),
    (
        "phone_mobile",
        &["Mobile", "Mobile Phone", "Móvil", "Teléfono Móvil"],
    ),
    (
        "phone_work",
        &[
            "Office Phone",
            "Work Phone",
            "Tel. Oficina",
            "Teléfono Oficina",
        ],
    ),
    (
        "phone_home",
        &["Home Phone", "Home", "Tel. Casa", "Teléfono Casa"],
    ),
    (
        "phone_other",
        &["Other Phone", "Tel. Alternativo", "Otro Teléfono"],
    ),
    ("account_id", &["Account ID", "ID Cuenta"]),
    (
        "account_name",
        &["Account Name", "Nombre de Cuenta", "Cuenta"],
    ),
];

const CASES: &[(&str, &[&str])] = &[
    (
        "case_number",
        &["Number", "Case Number", "Número", "Núm.", "Número de Caso"],
    ),
    ("name", &["Subject", "Asunto"]),
    ("status", &["Status", "Estado"]),
    ("state", &["State"]),
    ("type", &["Type", "Tipo"]),
    ("priority", &["Priority", "Prioridad"]),
    ("resolution", &["Resolution", "Resolución"]),
    ("work_log", &["Work Log", "Registro de Trabajo"]),
    ("account_id", &["Account ID", "ID Cuenta"]),
    (
        "account_name",
        &["Account Name", "Nombre de Cuenta", "Cuenta"],
    ),
    (
        "contact_id",
        &[
            "Contact ID",
            "ID Contacto",
            "contact_created_by_id",
            "contact_id_c",
        ],
    ),
];

const NOTES: &[(&str, &[&str])] = &[
    ("name", &["Subject", "Asunto"]),
    ("description", &["Note", "Nota"]),
    (
        "parent_type",
        &["Parent Type", "Tipo de Padre", "Relacionado con"],
    ),
    ("parent_id", &["Parent ID", "ID Padre", "ID de Padre"]),
    ("contact_id", &["Contact ID", "ID Contacto"]),
    (
        "filename",
        &["Attachment", "File Name", "Adjunto", "Archivo"],
    ),
];

const CALLS: &[(&str, &[&str])] = &[
    ("name", &["Subject", "Asunto"]),
    (
        "date_start",
        &[
            "Start Date",
            "Start Date & Time",
            "Fecha Inicio",
            "Fecha de Inicio",
        ],
    ),
    (
        "duration_hours",
        &["Duration Hours", "Duración (horas)", "Horas"],
    ),
    (
        "duration_minutes",
        &["Duration Minutes", "Duración (minutos)", "Minutos"],
    ),
    ("direction", &["Direction", "Dirección"]),
    ("status", &["Status", "Estado"]),
    (
        "parent_type",
        &["Parent Type", "Tipo de Padre", "Relacionado con"],
    ),
    ("parent_id", &["Parent ID", "ID Padre", "ID de Padre"]),
    ("contact_id", &["Contact ID", "ID Contacto"]),
];

const CONTACTS_CASES: &[(&str, &[&str])] = &[
    ("contact_id", &["Contact ID", "ID Contacto"]),
    ("case_id", &["Case ID", "ID Caso"]),
];

/// The field a header names in a module: SugarCRM's field name when the header is one of its
/// names or labels, else the header itself, simplified (custom fields, unknown columns).
pub fn field_of(module: Module, header: &str) -> String {
    let wanted = simplify(header.trim_end_matches(':'));
    let specific = match module {
        Module::Contacts => CONTACTS,
        Module::Cases => CASES,
        Module::Notes => NOTES,
        Module::Calls => CALLS,
        Module::ContactsCases => CONTACTS_CASES,
    };
    // The module's own fields first: "Nombre" is a first name in Contacts, "Estado" a status.
    for (field, labels) in specific.iter().chain(COMMON) {
        if wanted == *field || labels.iter().any(|l| simplify(l) == wanted) {
            return (*field).to_string();
        }
    }
    wanted
}

/// How dates written with slashes are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DateOrder {
    /// `03/15/2024`, SugarCRM's default user preference.
    #[default]
    Mdy,
    /// `15/03/2024`.
    Dmy,
}

/// What becomes of a salutation ("Lic.", "Sr.") SugarCRM keeps with a person's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SalutationUse {
    /// Kept in the person's notes ("Tratamiento: Lic."), out of the name.
    #[default]
    Notes,
    /// Left out altogether.
    Drop,
}

/// Salutations written before a name, compared without case, accents or the final dot.
const SALUTATIONS: &[&str] = &[
    "sr", "sra", "srta", "srita", "lic", "licda", "ing", "dr", "dra", "mtro", "mtra", "prof",
    "profa", "arq", "cp", "mr", "mrs", "ms", "miss",
];

/// A name without the salutation before it, and that salutation: the one the export names, or
/// a common one written first ("Sr. Ramón Peña" → "Ramón Peña", "Sr."). Greetings then read
/// "Hola Ramón", and the name matches the same person in a roster.
pub fn split_salutation(name: &str, given: &str) -> (String, Option<String>) {
    let name = name.trim();
    let given = given.trim();
    let key = |w: &str| simplify(w).trim_matches('_').replace('_', "");
    if let Some((first, rest)) = name.split_once(char::is_whitespace) {
        let known = SALUTATIONS.contains(&key(first).as_str());
        if (!given.is_empty() && key(first) == key(given)) || known {
            return (rest.trim().to_string(), Some(first.to_string()));
        }
    }
    (
        name.to_string(),
        (!given.is_empty()).then(|| given.to_string()),
    )
}

/// Which custom fields hold what atiende needs, and how their values translate.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Mapping {
    pub date_order: DateOrder,
    /// A salutation goes to the person's notes (`notes`) or nowhere (`drop`), never into
    /// the name.
    pub salutation: SalutationUse,
    /// Dates in the export are in UTC rather than in the institution's time zone.
    pub dates_in_utc: bool,
    /// The channel of a case when no field says it.
    pub default_channel: Channel,
    pub fields: FieldNames,
    /// SugarCRM case type → incident type (code or the CAP's word).
    pub case_type: BTreeMap<String, String>,
    /// SugarCRM case status → `open` or `closed`.
    pub case_status: BTreeMap<String, String>,
    pub channel: BTreeMap<String, String>,
    pub user_type: BTreeMap<String, String>,
    pub programme_line: BTreeMap<String, String>,
}

/// The fields (names or labels, as in the header) that hold what SugarCRM has no field for.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FieldNames {
    /// A Cases field with the channel the person used.
    pub channel: String,
    /// A Contacts or Cases field with the user type.
    pub user_type: String,
    /// A Contacts field with the programme line.
    pub programme_line: String,
    /// A Contacts field with the student code.
    pub student_code: String,
    /// The Cases field whose date is taken as the closing date of a closed case (SugarCRM
    /// keeps none of its own).
    pub closed_at: String,
}

impl Default for FieldNames {
    fn default() -> Self {
        FieldNames {
            channel: "canal_c".into(),
            user_type: "tipo_usuario_c".into(),
            programme_line: "nivel_c".into(),
            student_code: "codigo_c".into(),
            closed_at: "date_modified".into(),
        }
    }
}

impl Default for Mapping {
    fn default() -> Self {
        let pairs = |p: &[(&str, &str)]| {
            p.iter()
                .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
                .collect()
        };
        Mapping {
            date_order: DateOrder::Mdy,
            salutation: SalutationUse::Notes,
            dates_in_utc: false,
            default_channel: Channel::Phone,
            fields: FieldNames::default(),
            // SugarCRM's stock case types say nothing of the procedure's; a question is the
            // honest default, and the mapping file is where the CAP's own types go.
            case_type: pairs(&[
                ("Administration", "question"),
                ("Product", "question"),
                ("User", "question"),
            ]),
            case_status: BTreeMap::new(),
            channel: BTreeMap::new(),
            user_type: BTreeMap::new(),
            programme_line: BTreeMap::new(),
        }
    }
}

impl Mapping {
    fn lookup<'a>(table: &'a BTreeMap<String, String>, raw: &str) -> Option<&'a str> {
        let wanted = simplify(raw);
        table
            .iter()
            .find(|(k, _)| simplify(k) == wanted)
            .map(|(_, v)| v.as_str())
    }

    /// An incident type: `Ok(None)` when empty, `Err` with the value when nothing maps it.
    pub fn incident_type(&self, raw: &str) -> Result<Option<IncidentType>, String> {
        if raw.trim().is_empty() {
            return Ok(None);
        }
        let value = Self::lookup(&self.case_type, raw).unwrap_or(raw);
        incident_type_of(value)
            .map(Some)
            .ok_or_else(|| raw.trim().to_string())
    }

    /// Whether a case is closed, from its status (and `state`, in versions that have it).
    pub fn case_status(&self, status: &str, state: &str) -> Result<Status, String> {
        if let Some(v) = Self::lookup(&self.case_status, status) {
            return match simplify(v).as_str() {
                "open" | "abierto" => Ok(Status::Open),
                "closed" | "cerrado" => Ok(Status::Closed),
                _ => Err(format!("{status} → {v}")),
            };
        }
        match simplify(state).as_str() {
            "closed" => return Ok(Status::Closed),
            "open" => return Ok(Status::Open),
            _ => {}
        }
        // Stock values: New, Assigned, Pending Input, Closed, Rejected, Duplicate, and since
        // 6.5 the same prefixed with their state (`Open_New`, `Closed_Closed`).
        let s = simplify(status);
        if s.starts_with("closed") || s.starts_with("cerrad") {
            return Ok(Status::Closed);
        }
        match s.as_str() {
            "rejected" | "duplicate" | "rechazado" | "duplicado" => Ok(Status::Closed),
            ""
            | "new"
            | "assigned"
            | "pending_input"
            | "nuevo"
            | "asignado"
            | "pendiente_de_informacion"
            | "pendiente" => Ok(Status::Open),
            _ if s.starts_with("open") || s.starts_with("abiert") => Ok(Status::Open),
            _ => Err(status.trim().to_string()),
        }
    }

    /// The channel of a case: the mapped or recognised value, else the default.
    pub fn channel(&self, raw: &str) -> Result<Channel, String> {
        if raw.trim().is_empty() {
            return Ok(self.default_channel);
        }
        let value = Self::lookup(&self.channel, raw).unwrap_or(raw);
        channel_of(value).ok_or_else(|| raw.trim().to_string())
    }

    pub fn user_type(&self, raw: &str) -> Result<Option<UserType>, String> {
        if raw.trim().is_empty() {
            return Ok(None);
        }
        let value = Self::lookup(&self.user_type, raw).unwrap_or(raw);
        user_type_of(value)
            .map(Some)
            .ok_or_else(|| raw.trim().to_string())
    }

    pub fn programme_line(&self, raw: &str) -> Result<Option<ProgrammeLine>, String> {
        if raw.trim().is_empty() {
            return Ok(None);
        }
        let value = Self::lookup(&self.programme_line, raw).unwrap_or(raw);
        programme_line_of(value)
            .map(Some)
            .ok_or_else(|| raw.trim().to_string())
    }

    /// A date as SugarCRM wrote it (database format or the user's display format), in the
    /// institution's time zone unless the mapping says UTC.
    pub fn datetime(&self, raw: &str, tz: Tz) -> Option<DateTime<Utc>> {
        let naive = parse_naive(raw.trim(), self.date_order)?;
        if self.dates_in_utc {
            return Some(Utc.from_utc_datetime(&naive));
        }
        tz.from_local_datetime(&naive)
            .earliest()
            .map(|t| t.with_timezone(&Utc))
    }
}

fn parse_naive(raw: &str, order: DateOrder) -> Option<NaiveDateTime> {
    if raw.is_empty() {
        return None;
    }
    let slashed = match order {
        DateOrder::Mdy => "%m/%d/%Y",
        DateOrder::Dmy => "%d/%m/%Y",
    };
    let dotted = slashed.replace('/', ".");
    let dashed = slashed.replace('/', "-");
    let lower = raw.to_lowercase();
    let times = ["%H:%M:%S", "%H:%M", "%I:%M%p", "%I:%M %p"];
    for date in ["%Y-%m-%d", slashed, &dotted, &dashed] {
        for time in times {
            if let Ok(t) = NaiveDateTime::parse_from_str(&lower, &format!("{date} {time}")) {
                return Some(t);
            }
        }
        if let Ok(d) = NaiveDate::parse_from_str(&lower, date) {
            return d.and_hms_opt(0, 0, 0);
        }
    }
    // ISO 8601 with a `T`, as some tools re-save exports.
    NaiveDateTime::parse_from_str(&lower, "%Y-%m-%dt%H:%M:%S").ok()
}

/// An incident type written as a code or in the CAP's words (Spanish or English).
pub fn incident_type_of(raw: &str) -> Option<IncidentType> {
    let s = simplify(raw);
    if let Some(t) = IncidentType::from_code(&s) {
        return Some(t);
    }
    Some(match s.as_str() {
        "duda" | "pregunta" | "consulta" | "informacion" => IncidentType::Question,
        "queja" | "reclamo" | "inconformidad" => IncidentType::Complaint,
        "sugerencia" => IncidentType::Suggestion,
        "felicitacion" | "reconocimiento" => IncidentType::Compliment,
        _ => return None,
    })
}

/// A channel written as a code or in the CAP's words.
pub fn channel_of(raw: &str) -> Option<Channel> {
    let s = simplify(raw);
    if let Some(c) = Channel::from_code(&s) {
        return Some(c);
    }
    Some(match s.as_str() {
        "correo" | "correo_electronico" | "e_mail" | "mail" => Channel::Email,
        "telefono" | "llamada" | "telephone" => Channel::Phone,
        "persona" | "presencial" | "ventanilla" => Channel::InPerson,
        "redes_sociales" | "facebook" | "messenger" | "instagram" | "twitter" => Channel::Social,
        "buzon" | "buzon_de_sugerencias" => Channel::SuggestionBox,
        _ => return None,
    })
}

/// What became of a logged call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallOutcome {
    Held,
    NotHeld,
    /// Scheduled and never made: not history.
    Planned,
}

pub fn call_outcome_of(raw: &str) -> Option<CallOutcome> {
    Some(match simplify(raw).as_str() {
        "held" | "realizada" | "atendida" => CallOutcome::Held,
        "not_held" | "no_realizada" | "no_atendida" => CallOutcome::NotHeld,
        "planned" | "planificada" | "planeada" | "" => CallOutcome::Planned,
        _ => return None,
    })
}

pub fn call_direction_of(raw: &str) -> Option<CallDirection> {
    Some(match simplify(raw).as_str() {
        "inbound" | "entrante" | "in" => CallDirection::In,
        "outbound" | "saliente" | "out" => CallDirection::Out,
        _ => return None,
    })
}

/// SugarCRM's `deleted` column: records deleted there are not history to bring.
pub fn is_deleted(raw: &str) -> bool {
    matches!(simplify(raw).as_str(), "1" | "true" | "yes" | "si")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_salutation_is_kept_out_of_the_name() {
        let split = |n: &str, g: &str| split_salutation(n, g);
        assert_eq!(
            split("Sr. Ramón Peña Núñez", ""),
            ("Ramón Peña Núñez".into(), Some("Sr.".into()))
        );
        assert_eq!(
            split("Lic. Ángel Muñoz Saldaña", "Lic."),
            ("Ángel Muñoz Saldaña".into(), Some("Lic.".into()))
        );
        assert_eq!(
            split("Ana López", "Dra."),
            ("Ana López".into(), Some("Dra.".into())),
            "a salutation in its own column, not in the name"
        );
        assert_eq!(split("Ingrid Solís", ""), ("Ingrid Solís".into(), None));
        assert_eq!(split("Sr.", ""), ("Sr.".into(), None), "nothing but a word");
    }

    #[test]
    fn headers_are_read_as_field_names_or_labels_in_english_or_spanish() {
        assert_eq!(field_of(Module::Cases, "Number"), "case_number");
        assert_eq!(field_of(Module::Cases, "Número"), "case_number");
        assert_eq!(field_of(Module::Cases, "case_number"), "case_number");
        assert_eq!(field_of(Module::Cases, "Date Created:"), "date_entered");
        assert_eq!(field_of(Module::Contacts, "Nombre"), "first_name");
        assert_eq!(field_of(Module::Contacts, "Email Address"), "email1");
        assert_eq!(field_of(Module::Notes, "Note"), "description");
        assert_eq!(field_of(Module::Calls, "Start Date"), "date_start");
        assert_eq!(field_of(Module::Cases, "Tipo Usuario_c"), "tipo_usuario_c");
        assert_eq!(Module::of_file_name("Cases.csv"), Some(Module::Cases));
        assert_eq!(
            Module::of_file_name("contacts_cases.csv"),
            Some(Module::ContactsCases)
        );
        assert_eq!(Module::of_file_name("Leads.csv"), None);
    }

    #[test]
    fn stock_and_mapped_case_statuses_say_open_or_closed() {
        let mut m = Mapping::default();
        assert_eq!(m.case_status("Closed_Closed", ""), Ok(Status::Closed));
        assert_eq!(m.case_status("Rejected", ""), Ok(Status::Closed));
        assert_eq!(m.case_status("Pending Input", ""), Ok(Status::Open));
        assert_eq!(m.case_status("Open_Assigned", ""), Ok(Status::Open));
        assert_eq!(m.case_status("Whatever", "Closed"), Ok(Status::Closed));
        assert_eq!(m.case_status("Resuelto", ""), Err("Resuelto".into()));
        m.case_status.insert("resuelto".into(), "cerrado".into());
        assert_eq!(m.case_status("Resuelto", ""), Ok(Status::Closed));
    }

    #[test]
    fn unknown_values_are_errors_until_the_mapping_names_them() {
        let mut m = Mapping::default();
        assert_eq!(m.incident_type("Product"), Ok(Some(IncidentType::Question)));
        assert_eq!(m.incident_type("Queja"), Ok(Some(IncidentType::Complaint)));
        assert_eq!(m.incident_type(""), Ok(None));
        assert_eq!(m.incident_type("Trámite"), Err("Trámite".into()));
        m.case_type.insert("Trámite".into(), "duda".into());
        assert_eq!(m.incident_type("tramite"), Ok(Some(IncidentType::Question)));
        assert_eq!(m.channel(""), Ok(Channel::Phone));
        assert_eq!(m.channel("Correo electrónico"), Ok(Channel::Email));
        assert_eq!(m.user_type("Alumno"), Ok(Some(UserType::Student)));
    }

    #[test]
    fn dates_are_read_in_database_and_display_formats_in_local_time() {
        let tz: Tz = "America/Mexico_City".parse().expect("tz");
        let m = Mapping::default();
        let at = |s: &str| m.datetime(s, tz).map(|t| t.to_rfc3339());
        assert_eq!(
            at("2024-03-15 10:30:00").as_deref(),
            Some("2024-03-15T16:30:00+00:00")
        );
        assert_eq!(
            at("03/15/2024 10:30am").as_deref(),
            Some("2024-03-15T16:30:00+00:00")
        );
        assert_eq!(
            at("03/15/2024 22:30").as_deref(),
            Some("2024-03-16T04:30:00+00:00")
        );
        assert_eq!(
            at("2024-03-15").as_deref(),
            Some("2024-03-15T06:00:00+00:00")
        );
        assert_eq!(at("mañana"), None);
        let dmy = Mapping {
            date_order: DateOrder::Dmy,
            dates_in_utc: true,
            ..Mapping::default()
        };
        assert_eq!(
            dmy.datetime("15/03/2024 10:30", tz).map(|t| t.to_rfc3339()),
            Some("2024-03-15T10:30:00+00:00".into())
        );
    }

    #[test]
    fn calls_and_deleted_flags_are_read() {
        assert_eq!(call_outcome_of("Not Held"), Some(CallOutcome::NotHeld));
        assert_eq!(call_outcome_of("Held"), Some(CallOutcome::Held));
        assert_eq!(call_direction_of("Inbound"), Some(CallDirection::In));
        assert!(is_deleted("1"));
        assert!(!is_deleted("0"));
    }

    #[test]
    fn a_mapping_file_overrides_only_what_it_names() {
        let m: Mapping = serde_json::from_value(serde_json::json!({
            "date_order": "dmy",
            "fields": { "user_type": "perfil_c" },
            "case_type": { "Queja formal": "complaint" }
        }))
        .expect("mapping");
        assert_eq!(m.date_order, DateOrder::Dmy);
        assert_eq!(m.fields.user_type, "perfil_c");
        assert_eq!(m.fields.channel, "canal_c");
        assert_eq!(
            m.incident_type("queja formal"),
            Ok(Some(IncidentType::Complaint))
        );
        assert_eq!(m.default_channel, Channel::Phone);
    }
}
