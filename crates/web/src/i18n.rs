//! The words of the API's errors in Spanish (default) and English. Codes never change; these
//! sentences may.

use atiende_domain::FieldError;
use atiende_domain::classification::Lang;

/// How a field is called in the CAP's words.
pub fn field_label(field: &str, lang: Lang) -> String {
    // A field inside a list or an object (`targets[2].target`) is named by its own name.
    let field = field.rsplit('.').next().unwrap_or(field);
    let field = field.split('[').next().unwrap_or(field);
    let (es, en) = match field {
        "target" => ("meta", "target"),
        "url" => ("dirección (URL)", "address (URL)"),
        "events" => ("eventos", "events"),
        "indicator" => ("indicador", "indicator"),
        "channel" => ("medio de contacto", "channel"),
        "scopes" => ("alcance", "scopes"),
        "expires_in_days" => ("vencimiento en días", "days until expiry"),
        "expires_at" => ("vencimiento", "expiry"),
        "user_type" => ("tipo de usuario", "user type"),
        "incident_type" => ("tipo de incidencia", "incident type"),
        "notes" => ("pormenores de la intervención", "intervention notes"),
        "topic_id" => ("tema", "topic"),
        "contact_id" | "contact" => ("usuario", "contact"),
        "unit_id" | "unit_ids" => ("unidad", "unit"),
        "reason" => ("motivo", "reason"),
        "told_address" => ("correo sugerido al usuario", "address given to the user"),
        "subject" => ("asunto", "subject"),
        "body" => ("texto", "text"),
        "files" => ("archivo adjunto", "attached file"),
        "name" => ("nombre", "name"),
        "email" => ("correo", "email"),
        "phone" => ("teléfono", "phone"),
        "whatsapp" => ("WhatsApp", "WhatsApp"),
        "facebook" | "instagram" | "social_ids" => {
            ("identificador de red social", "social network id")
        }
        "student_code" => ("código de alumno", "student code"),
        "login" => ("usuario de acceso", "login"),
        "break_glass_login" => ("cuenta local de emergencia", "local emergency account"),
        "code" => ("código", "code"),
        "issuer" => ("emisor", "issuer"),
        "sso_required" => (
            "solo con la cuenta institucional",
            "institutional account only",
        ),
        "password" => ("contraseña", "password"),
        "current_password" => ("contraseña actual", "current password"),
        "role" => ("rol", "role"),
        "received_at" => ("fecha de recepción", "reception date"),
        "answer" => ("respuesta", "answer"),
        "user_id" => ("agente", "agent"),
        "template" => ("plantilla", "template"),
        "questions" => ("preguntas", "questions"),
        "key" => ("clave de la pregunta", "question key"),
        "label" => ("texto de la pregunta", "question text"),
        "delay_hours" => ("horas después del cierre", "hours after closing"),
        "min_days_between" => ("días entre encuestas", "days between surveys"),
        "expiry_days" => ("vigencia del enlace", "link validity"),
        "low_score_threshold" => ("calificación de seguimiento", "follow-up score"),
        "note" => ("nota", "note"),
        "week" => ("horario de la semana", "weekly hours"),
        "days_off" => ("días inhábiles", "days off"),
        "targets" => ("tiempos comprometidos", "targets"),
        "first_response_minutes" => (
            "primera respuesta (minutos hábiles)",
            "first response (working minutes)",
        ),
        "resolution_minutes" => (
            "resolución (minutos hábiles)",
            "resolution (working minutes)",
        ),
        "unit_answer_minutes" => (
            "respuesta de las unidades (minutos hábiles)",
            "units' answer (working minutes)",
        ),
        "warning_percent" => ("aviso (% del tiempo)", "warning (% of the time)"),
        "critical_warning_percent" => (
            "aviso de críticos (% del tiempo)",
            "warning for critical incidents (% of the time)",
        ),
        "folio" => ("folio", "folio"),
        "description" => ("descripción", "description"),
        "disposition" => ("tratamiento", "disposition"),
        "corrective_action" => ("acción correctiva", "corrective action"),
        "responsible" => ("responsable", "responsible"),
        "responsible_user" => ("persona responsable", "responsible person"),
        "canned_response_id" => ("respuesta predefinida", "canned response"),
        "shared" => ("compartida con el CAP", "shared with the CAP"),
        "macro_id" => ("macro", "macro"),
        "original" => ("incidente original", "original incident"),
        "folios" => ("incidentes seleccionados", "selected incidents"),
        "steps" => ("pasos de la macro", "macro's steps"),
        "steps.notes" => ("pormenores de la intervención", "intervention notes"),
        "steps.finish.reason" => ("motivo de la derivación", "reason for the derivation"),
        "due_date" => ("fecha compromiso", "due date"),
        "effectiveness" => ("verificación de la eficacia", "effectiveness check"),
        "holidays" => ("días inhábiles", "days off"),
        "title" => ("título", "title"),
        "tags" => ("etiquetas", "tags"),
        "review_on" => ("fecha de revisión", "review date"),
        "complaint_business_days" => ("días hábiles de la queja", "complaint business days"),
        "low_survey_score" => ("calificación de encuesta", "survey score"),
        "derivation_days" => ("días de la derivación", "derivation days"),
        "reopened_days" => ("días tras el cierre", "days after closing"),
        "overall" | "clarity" | "speed" | "resolved" | "comment" => ("respuesta", "answer"),
        "phone_extension" => ("extensión telefónica", "phone extension"),
        "emails" => ("correos", "emails"),
        "phones" => ("teléfonos", "phones"),
        "whatsapp_id" => ("WhatsApp", "WhatsApp"),
        "programme_line" => ("nivel o programa", "programme line"),
        "opt_out_marketing" => ("no desea promoción", "no promotion"),
        "opt_out_surveys" => ("no desea encuestas", "no surveys"),
        "blocked" | "blocked_at" => ("bloqueo (cancelación)", "blocked (cancellation)"),
        "status" => ("estado", "status"),
        "critical" => ("asunto crítico", "critical matter"),
        "medium" => ("medio de la derivación", "derivation medium"),
        "disabled" => ("deshabilitado", "disabled"),
        "language" => ("idioma", "language"),
        "kind" => ("tipo", "kind"),
        "active" => ("activo", "active"),
        "merged_into" | "merged_from" => ("fusión", "merge"),
        "ended" => ("sesiones cerradas", "sessions ended"),
        "public" => ("público", "public"),
        "version" => ("versión", "version"),
        "created_at" => ("alta", "created"),
        "updated_at" => ("última modificación", "last changed"),
        "anonymised_at" => ("supresión", "suppressed"),
        other => (other, other),
    };
    match lang {
        Lang::Es => es.to_string(),
        Lang::En => en.to_string(),
    }
}

/// A value of a snapshot (an audit record's before or after) as a reader sees it: codes of the
/// procedure's vocabulary as their words, yes/no, lists joined.
pub fn shown_value(field: &str, value: &serde_json::Value, lang: Lang) -> String {
    use atiende_domain::classification::{Channel, IncidentType, Medium, ProgrammeLine, UserType};
    use serde_json::Value;
    let yes_no = |b: bool| match (b, lang) {
        (true, Lang::Es) => "sí",
        (false, Lang::Es) => "no",
        (true, Lang::En) => "yes",
        (false, Lang::En) => "no",
    };
    match value {
        Value::Null => String::new(),
        Value::Bool(b) => yes_no(*b).to_string(),
        Value::String(code) => {
            let label = match field {
                "user_type" => UserType::from_code(code).map(|v| v.label(lang)),
                "programme_line" => ProgrammeLine::from_code(code).map(|v| v.label(lang)),
                "channel" => Channel::from_code(code).map(|v| v.label(lang)),
                "incident_type" => IncidentType::from_code(code).map(|v| v.label(lang)),
                "medium" => Medium::from_code(code).map(|v| v.label(lang)),
                "status" => {
                    atiende_domain::incident::Status::from_code(code).map(|v| v.label(lang))
                }
                "role" => atiende_domain::user::Role::from_code(code).map(|v| v.label(lang)),
                _ => None,
            };
            label.map_or_else(|| code.clone(), str::to_string)
        }
        Value::Array(items) => items
            .iter()
            .map(|v| shown_value(field, v, lang))
            .collect::<Vec<_>>()
            .join(", "),
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| format!("{}: {}", field_label(k, lang), shown_value(k, v, lang)))
            .collect::<Vec<_>>()
            .join("; "),
        other => other.to_string(),
    }
}

pub fn field_message(f: &FieldError, lang: Lang) -> String {
    let label = field_label(&f.field, lang);
    let es = match f.code.as_str() {
        "required" => format!("Falta {label}."),
        "invalid_type" => format!(
            "{label}: el valor no es del tipo esperado (texto, número, sí/no o lista, según el campo)."
        ),
        "unknown_field" => format!("{label}: esta operación no tiene ese campo."),
        "required_to_close" => format!("Para cerrar falta registrar {label}."),
        "too_long" => format!("El campo {label} es demasiado largo."),
        "invalid_email" => format!("{label}: no es una dirección de correo válida."),
        "invalid_phone" => format!(
            "{label}: no es un número de teléfono válido (10 dígitos o con lada internacional)."
        ),
        "invalid_whatsapp" => {
            "El identificador de WhatsApp debe ser un número con lada internacional.".into()
        }
        "invalid_social_id" | "invalid_social_network" => {
            "Identificador de red social no válido (Facebook o Instagram).".into()
        }
        "invalid_student_code" => "El código de alumno solo lleva letras y números.".into(),
        "name_or_identifier_required" => {
            "Indique el nombre o al menos un medio de contacto del usuario.".into()
        }
        "required_except_suggestion_box" => {
            "Registre al usuario: solo el buzón anónimo y el correo sin remitente legible quedan sin usuario.".into()
        }
        "closed_by_the_cap" => {
            "Su respuesta devuelve el incidente al CAP, que la cierra; solo el responsable del SIGA cierra las sugerencias y felicitaciones del buzón.".into()
        }
        "unidentified_with_a_person" => {
            "«No identificado» es solo para entradas anónimas del buzón o mensajes sin remitente: pregunte a la persona qué tipo de usuario es.".into()
        }
        "in_the_future" => "La fecha de recepción no puede estar en el futuro.".into(),
        "too_long_ago" => "La fecha de recepción no puede ser de hace más de 31 días.".into(),
        "unknown_contact" => "El usuario indicado no existe.".into(),
        "unknown_topic" | "unknown_topic_or_user" => {
            "El tema o el agente indicado no existe.".into()
        }
        "unknown_unit" => "La unidad indicada no existe.".into(),
        "unknown_template" => "Esa plantilla no está entre las aprobadas en la configuración.".into(),
        "invalid_number" => format!("{label}: escriba un número (por ejemplo 90 o 12.5)."),
        "invalid_date" => format!("{label}: escriba la fecha como AAAA-MM-DD."),
        "unknown_incident" => "No existe un incidente con ese folio.".into(),
        "same_incident" => "Un incidente no puede ser duplicado de sí mismo.".into(),
        "not_the_same_person" => {
            "Solo se fusionan incidentes de la misma persona; ciérrelo como duplicado sin fusionar.".into()
        }
        "derivation_waiting" => {
            "Espera la respuesta de una unidad: atienda o cierre esa derivación antes.".into()
        }
        "original_is_duplicate" => {
            "El incidente original también es un duplicado: indique el folio del que se atiende.".into()
        }
        "too_many_views" => "Ya tiene 20 vistas guardadas: borre una antes de guardar otra.".into(),
        "nothing_selected" => "Seleccione al menos un incidente de la lista.".into(),
        "too_many" => "Seleccione hasta 100 incidentes a la vez.".into(),
        "invalid_key" => "La clave lleva solo minúsculas, números o guion bajo (máximo 40).".into(),
        "duplicate_key" => "Dos preguntas tienen la misma clave.".into(),
        "overall_scale_required" => {
            "El cuestionario debe conservar la pregunta obligatoria «overall» con escala del 1 al 5.".into()
        }
        "between_1_and_20" => "El cuestionario lleva de 1 a 20 preguntas.".into(),
        "out_of_range" => format!("{label}: valor fuera del intervalo permitido."),
        "duplicate" => format!("{label}: aparece más de una vez."),
        "invalid_url" => format!("{label}: no es una dirección web válida."),
        "https_required" => format!("{label}: debe empezar con https://."),
        "private_address" => format!(
            "{label}: es una dirección de la red interna del servidor; no se permite."
        ),
        "unknown_user" => "El agente indicado no existe o está deshabilitado.".into(),
        "invalid_login" => "El usuario de acceso lleva de 2 a 64 letras, números o . _ - @.".into(),
        "password_too_short" => "La contraseña debe tener al menos 10 caracteres.".into(),
        "password_too_guessable" => {
            "La contraseña es fácil de adivinar (común, repetitiva o parecida a su usuario o nombre): use una frase de varias palabras.".into()
        }
        "wrong_password" => "La contraseña actual no es correcta.".into(),
        "wrong_code" => "El código no es correcto o ya se usó; escriba el que muestra su aplicación ahora.".into(),
        "not_an_enabled_admin" => {
            "La cuenta local de emergencia debe ser de un administrador habilitado.".into()
        }
        "invalid_identity_provider" => {
            "Revise el proveedor: identificador con minúsculas, números y guiones; emisor https; nombre e identificador de cliente; nunca el rol de administrador.".into()
        }
        "no_identity_provider" => {
            "Configure antes un proveedor de identidad ([[sso]] en la configuración).".into()
        }
        "immutable" => format!("{label} no se puede cambiar."),
        "required_for_unit_responsible" => {
            "Un responsable de unidad debe tener al menos una unidad.".into()
        }
        "taken" => format!("Ya existe un registro con ese {label}."),
        "unknown" => format!("{label}: no existe o no está a su alcance."),
        "unknown_variable" => {
            "El texto usa una variable que no existe o está mal escrita: use las de la lista (por ejemplo {{ nombre }}).".into()
        }
        "belongs_to_another_contact" => format!("Ese {label} ya pertenece a otro usuario."),
        "between_1_and_36500_days" => {
            "Los plazos de conservación van de 1 a 36,500 días (vacío: se conserva).".into()
        }
        "block_before_suppressing" => {
            "Primero bloquee los datos; la supresión es la segunda etapa de la cancelación.".into()
        }
        "already_blocked" => "Los datos de esta persona ya están bloqueados.".into(),
        "already_suppressed" => "Los datos de esta persona ya fueron suprimidos.".into(),
        "not_blocked" => "Los datos de esta persona no están bloqueados.".into(),
        "too_many_files" => "Se adjuntan a lo más 5 archivos por respuesta.".into(),
        "not_allowed" => format!("Esa persona no puede ser {label}: debe estar activa y poder consultar el registro."),
        "files_too_large" => "Los archivos juntos pasan de 15 MB: envíe algunos en otra respuesta.".into(),
        "file_too_large" => format!("{label}: el archivo pasa de 10 MB."),
        "file_empty" => format!("{label}: el archivo está vacío."),
        "file_type_not_allowed" => format!(
            "{label}: ese tipo de archivo no se envía (se aceptan PDF, JPG, PNG, Word, Excel, PowerPoint, OpenDocument, texto, CSV, MP3, OGG y MP4)."
        ),
        "file_content_mismatch" => format!(
            "{label}: el contenido del archivo no corresponde a su extensión."
        ),
        "files_not_allowed_here" => {
            "Solo las respuestas y las notas internas llevan archivos.".into()
        }
        "waiting_on_a_unit" => {
            "El incidente espera a una unidad: su tiempo ya no cuenta para el CAP.".into()
        }
        "closes_before_it_opens" => format!("{label}: la hora de cierre debe ser posterior a la de apertura."),
        "ends_before_it_starts" => format!("{label}: el periodo termina antes de empezar."),
        _ => format!("{label}: valor no válido."),
    };
    if lang == Lang::Es {
        return es;
    }
    match f.code.as_str() {
        "required" => format!("{label} is required."),
        "invalid_type" => format!("{label}: the value is not of the expected type."),
        "unknown_field" => format!("{label}: this operation has no such field."),
        "required_to_close" => format!("Closing requires {label}."),
        "too_long" => format!("{label} is too long."),
        "invalid_email" => format!("{label}: not a valid email address."),
        "invalid_phone" => format!("{label}: not a valid phone number."),
        "name_or_identifier_required" => {
            "Give the contact's name or at least one way to reach them.".into()
        }
        "required_except_suggestion_box" => {
            "Only anonymous suggestion-box entries may have no contact.".into()
        }
        "closed_by_the_cap" => {
            "Your answer returns the incident to the CAP, which closes it; only the quality owner closes suggestions and compliments from the suggestion box.".into()
        }
        "unidentified_with_a_person" => {
            "\"Unidentified\" is only for anonymous suggestion-box entries or messages without a readable sender: ask the person their user type.".into()
        }
        "password_too_short" => "The password needs at least 10 characters.".into(),
        "password_too_guessable" => {
            "The password is easy to guess (common, repetitive or like your login or name): use a phrase of several words.".into()
        }
        "in_the_future" => "The reception date cannot be in the future.".into(),
        "invalid_whatsapp" => "The WhatsApp id must be a number with its country code.".into(),
        "invalid_social_id" | "invalid_social_network" => {
            "Not a valid social network id (Facebook or Instagram).".into()
        }
        "invalid_student_code" => "A student code has only letters and digits.".into(),
        "invalid_number" => format!("{label}: write a number (e.g. 90 or 12.5)."),
        "invalid_date" => format!("{label}: write the date as YYYY-MM-DD."),
        "unknown_incident" => "No incident has that folio.".into(),
        "invalid_key" => {
            "A key has only lowercase letters, digits or underscores (40 at most).".into()
        }
        "duplicate_key" => "Two questions have the same key.".into(),
        "overall_scale_required" => {
            "The questionnaire must keep the required question «overall» on a 1 to 5 scale.".into()
        }
        "between_1_and_20" => "A questionnaire has 1 to 20 questions.".into(),
        "out_of_range" => format!("{label}: value out of the allowed range."),
        "duplicate" => format!("{label}: given more than once."),
        "invalid_url" => format!("{label}: not a valid web address."),
        "https_required" => format!("{label}: must start with https://."),
        "private_address" => format!("{label}: an address of the server's own network; not allowed."),
        "invalid_login" => "A login has 2 to 64 letters, digits or . _ - @.".into(),
        "not_an_enabled_admin" => "The local emergency account must be an enabled administrator.".into(),
        "invalid_identity_provider" => "Check the provider: an id of lowercase letters, digits and dashes; an https issuer; a name and client id; never the administrator role.".into(),
        "wrong_code" => "The code is wrong or was already used; type the one your app shows now.".into(),
        "no_identity_provider" => "Configure an identity provider first ([[sso]] in the configuration).".into(),
        "immutable" => format!("{label} cannot be changed."),
        "required_for_unit_responsible" => "A unit responsible needs at least one unit.".into(),
        "not_allowed" => format!("That person cannot be the {label}: they must be active and able to read the register."),
        "too_long_ago" => "The reception date cannot be more than 31 days ago.".into(),
        "between_1_and_36500_days" => {
            "Retention periods run from 1 to 36,500 days (empty: kept).".into()
        }
        "block_before_suppressing" => {
            "Block the data first; suppression is the second stage of cancellation.".into()
        }
        "already_blocked" => "This person's data is already blocked.".into(),
        "already_suppressed" => "This person's data was already suppressed.".into(),
        "not_blocked" => "This person's data is not blocked.".into(),
        "too_many_files" => "An answer carries at most 5 files.".into(),
        "files_too_large" => "The files together exceed 15 MB: send some in another answer.".into(),
        "file_too_large" => format!("{label}: the file exceeds 10 MB."),
        "file_empty" => format!("{label}: the file is empty."),
        "file_type_not_allowed" => format!(
            "{label}: that kind of file is not sent (PDF, JPG, PNG, Word, Excel, PowerPoint, OpenDocument, text, CSV, MP3, OGG and MP4 are)."
        ),
        "file_content_mismatch" => format!("{label}: the file's content does not match its extension."),
        "files_not_allowed_here" => "Only answers and internal notes carry files.".into(),
        "waiting_on_a_unit" => "The incident waits on a unit: its time no longer counts for the CAP.".into(),
        "closes_before_it_opens" => format!("{label}: closing must come after opening."),
        "ends_before_it_starts" => format!("{label}: the period ends before it starts."),
        "wrong_password" => "The current password is wrong.".into(),
        "taken" => format!("{label} is already taken."),
        "unknown" => format!("{label}: it does not exist or is not yours to use."),
        "unknown_variable" => {
            "The text uses a variable that does not exist or is misspelt: use those listed (for example {{ nombre }}).".into()
        }
        "belongs_to_another_contact" => format!("That {label} belongs to another contact."),
        "unknown_template" => {
            "That template is not among the approved ones in the configuration.".into()
        }
        "same_incident" => "An incident cannot be a duplicate of itself.".into(),
        "not_the_same_person" => {
            "Only the same person's incidents merge; close it as a duplicate without merging.".into()
        }
        "derivation_waiting" => {
            "It is waiting on a unit's answer: settle or close that derivation first.".into()
        }
        "original_is_duplicate" => {
            "The original incident is a duplicate too: give the folio of the one being attended.".into()
        }
        "too_many_views" => "You already keep 20 saved views: delete one first.".into(),
        "nothing_selected" => "Select at least one incident of the list.".into(),
        "too_many" => "Select up to 100 incidents at a time.".into(),
        "unknown_contact"
        | "unknown_topic"
        | "unknown_unit"
        | "unknown_user"
        | "unknown_topic_or_user" => {
            format!("Unknown {label}.")
        }
        _ => format!("{label}: invalid value."),
    }
}

pub fn error_message(
    code: &str,
    fields: &[FieldError],
    what: Option<&str>,
    detail: Option<&str>,
    lang: Lang,
) -> String {
    let labels = || {
        fields
            .iter()
            .map(|f| field_label(&f.field, lang))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match lang {
        Lang::Es => match code {
            "close_requirements" => format!("No se puede cerrar el incidente: falta {}.", labels()),
            "validation" => format!("Revise los datos: {}.", labels()),
            "already_closed" => "El incidente ya está cerrado; reábralo para modificarlo.".into(),
            "not_closed" => "El incidente no está cerrado.".into(),
            "only_lead_derives_to_top_management" => "Solo el responsable del CAP deriva asuntos a la alta dirección.".into(),
            "critical_needs_top_management" => {
                "Es un asunto crítico: el responsable del CAP debe derivarlo a la alta dirección antes de cerrarlo.".into()
            }
            "continuing_education_needs_promotion" => {
                "El usuario es de Educación Continua: derive el incidente a la Unidad de Promoción (puede cerrarlo en el mismo paso).".into()
            }
            "derivation_already_answered" => "La unidad ya respondió esta derivación.".into(),
            "unit_inactive" => "La unidad está inactiva.".into(),
            "merge_into_self" => "No se puede fusionar un usuario consigo mismo.".into(),
            "contact_blocked" => "Los datos de esta persona están bloqueados por una cancelación (ARCO): solo pueden desbloquearse o suprimirse.".into(),
            "outside_reply_window" => {
                "Pasaron más de 24 horas desde el último mensaje del usuario: en WhatsApp solo puede enviarse una plantilla aprobada; en Messenger e Instagram, nada después de 7 días.".into()
            }
            "unauthorized" => "Inicie sesión para continuar.".into(),
            "forbidden" => "Su rol no permite esta acción.".into(),
            "insufficient_scope" => "Los alcances de este token no permiten esta acción; use un token con el alcance necesario.".into(),
            "password_change_required" => "Cambie su contraseña temporal antes de continuar.".into(),
            "csrf" => "Falta el token de seguridad (X-CSRF-Token) o no es válido.".into(),
            "rate_limited" => "Demasiados intentos; espere un minuto.".into(),
            "method_not_allowed" => "Esa dirección de la API no admite este método.".into(),
            "malformed_json" => "El cuerpo de la solicitud no es JSON válido.".into(),
            "json_expected" => "El cuerpo debe ser JSON (Content-Type: application/json).".into(),
            "malformed_form" => {
                "No se pudo leer el formulario enviado (multipart/form-data).".into()
            }
            "sso_required" => "El acceso es con su cuenta institucional: use el botón de acceso institucional.".into(),
            "sso_failed" => "El acceso institucional no se completó; intente de nuevo.".into(),
            "second_factor_required" => "Falta el segundo factor: el código de su aplicación de autenticación (o configúrelo en la consola).".into(),
            "sso_unverified_email" => "Su cuenta institucional no tiene un correo verificado; no puede entrar con ella.".into(),
            "sso_unknown_person" => "Su cuenta institucional no tiene acceso a atiende; pida a un administrador que le dé de alta.".into(),
            "sso_disabled_account" => "Su cuenta de atiende está deshabilitada.".into(),
            "sso_ambiguous_account" => "Varias cuentas de atiende tienen su correo; pida a un administrador que lo corrija.".into(),
            "not_found" => format!("No se encontró {}.", what_is(what, lang)),
            "conflict" => format!("Dato duplicado: {}.", labels()),
            "bad_request" => format!("Solicitud no válida: {}", detail.unwrap_or("")),
            "nul_in_text" => "El texto contiene un carácter nulo (NUL), que no se admite.".into(),
            "uri_too_long" => "La dirección es demasiado larga.".into(),
            "too_large" => "El contenido enviado es demasiado grande.".into(),
            "unavailable" => "El servicio no puede guardar ni consultar datos en este momento; no se guardó nada. Intente de nuevo en unos segundos.".into(),
            _ => "Ocurrió un error interno; intente de nuevo.".into(),
        },
        Lang::En => match code {
            "close_requirements" => format!("The incident cannot be closed: missing {}.", labels()),
            "validation" => format!("Check the data: {}.", labels()),
            "already_closed" => "The incident is closed; reopen it to change it.".into(),
            "not_closed" => "The incident is not closed.".into(),
            "only_lead_derives_to_top_management" => "Only the CAP lead derives matters to top management.".into(),
            "critical_needs_top_management" => "A critical matter must be derived to top management by the CAP lead before closing.".into(),
            "continuing_education_needs_promotion" => "A continuing-education contact is derived to the Promotion unit before closing.".into(),
            "derivation_already_answered" => "The unit already answered this derivation.".into(),
            "unit_inactive" => "The unit is inactive.".into(),
            "merge_into_self" => "A contact cannot be merged into itself.".into(),
            "contact_blocked" => "This person's data is blocked by a cancellation request (ARCO): it can only be unblocked or suppressed.".into(),
            "outside_reply_window" => {
                "More than 24 hours since the person's last message: on WhatsApp only an approved template can be sent; on Messenger and Instagram nothing after 7 days.".into()
            }
            "unauthorized" => "Log in to continue.".into(),
            "forbidden" => "Your role does not allow this action.".into(),
            "insufficient_scope" => "This token's scopes do not allow this action; use a token with the scope it needs.".into(),
            "password_change_required" => "Change your temporary password first.".into(),
            "csrf" => "Missing or wrong security token (X-CSRF-Token).".into(),
            "rate_limited" => "Too many attempts; wait a minute.".into(),
            "method_not_allowed" => "That API address does not take this method.".into(),
            "malformed_json" => "The request body is not valid JSON.".into(),
            "json_expected" => "The body must be JSON (Content-Type: application/json).".into(),
            "malformed_form" => "The form sent could not be read (multipart/form-data).".into(),
            "sso_required" => "Sign in with your institutional account: use the institutional sign-in button.".into(),
            "sso_failed" => "The institutional sign-in did not complete; try again.".into(),
            "second_factor_required" => "The second factor is missing: the code from your authenticator app (or set it up in the console).".into(),
            "sso_unverified_email" => "Your institutional account has no verified email; it cannot sign in.".into(),
            "sso_unknown_person" => "Your institutional account has no access to atiende; ask an administrator to add you.".into(),
            "sso_disabled_account" => "Your atiende account is disabled.".into(),
            "sso_ambiguous_account" => "Several atiende accounts have your email; ask an administrator to fix it.".into(),
            "not_found" => format!("{} was not found.", what_is(what, lang)),
            "conflict" => format!("Duplicate value: {}.", labels()),
            "bad_request" => format!("Bad request: {}", detail.unwrap_or("")),
            "nul_in_text" => "The text contains a NUL character, which is not accepted.".into(),
            "uri_too_long" => "The address is too long.".into(),
            "too_large" => "The content sent is too large.".into(),
            "unavailable" => "The service cannot save or read data right now; nothing was saved. Try again in a few seconds.".into(),
            _ => "Internal error; try again.".into(),
        },
    }
}

/// What was not found, in the reader's words: never the internal name of a table or type.
fn what_is(what: Option<&str>, lang: Lang) -> &'static str {
    let (es, en) = match what.unwrap_or_default() {
        "incident" => ("el incidente", "The incident"),
        "contact" => ("la persona", "The person"),
        "unit" => ("la unidad", "The unit"),
        "user" => ("el usuario del personal", "The staff account"),
        "token" => ("el token de API", "The API token"),
        "derivation" => ("la derivación", "The derivation"),
        "topic" => ("el tema", "The topic"),
        "message" | "chat message" => ("el mensaje", "The message"),
        "mailbox" => ("el buzón de correo", "The mailbox"),
        "article" => ("el artículo", "The article"),
        "nonconformity" => ("el producto no conforme", "The nonconformity"),
        "call" => ("la llamada", "The call"),
        "attachment" => ("el archivo adjunto", "The attachment"),
        "route" => ("esa dirección de la API", "That API address"),
        "identity provider" => ("el proveedor de identidad", "The identity provider"),
        "link" => (
            "el enlace (pudo haber vencido)",
            "The link (it may have expired)",
        ),
        _ => ("lo que buscaba", "What you asked for"),
    };
    match lang {
        Lang::Es => es,
        Lang::En => en,
    }
}

/// An error as one sentence for a page: the general message, then each field's.
pub fn describe_error(err: &crate::error::AppError, lang: Lang) -> String {
    let fields = match err {
        crate::error::AppError::Rule(r) => r.fields().to_vec(),
        crate::error::AppError::Conflict { field, code, .. } => {
            vec![FieldError::new(field.clone(), code.clone())]
        }
        _ => vec![],
    };
    let mut out = error_message(err.code(), &fields, None, None, lang);
    for f in &fields {
        if !matches!(err.code(), "close_requirements") {
            out.push(' ');
            out.push_str(&field_message(f, lang));
        }
    }
    out
}

/// The console's words: written in Spanish in the templates, translated here for English.
#[derive(Debug, Clone, Copy)]
pub struct Tr(pub Lang);

impl Tr {
    pub fn s<'a>(&self, es: &'a str) -> &'a str {
        match self.0 {
            Lang::Es => es,
            Lang::En => english(es).unwrap_or(es),
        }
    }
}

include!("i18n_en.rs");

#[cfg(test)]
mod tests {
    use super::*;

    /// Every Spanish string the console shows through `t.s("…")` has its English.
    #[test]
    fn every_console_string_has_an_english_translation() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut missing = Vec::new();
        let mut seen = 0;
        for dir in ["templates", "src/pages"] {
            for entry in std::fs::read_dir(root.join(dir)).expect("dir") {
                let text = std::fs::read_to_string(entry.expect("entry").path()).expect("file");
                for part in text.split(".s(\"").skip(1) {
                    let Some(es) = part.split("\")").next() else {
                        continue;
                    };
                    seen += 1;
                    if english(es).is_none() {
                        missing.push(es.to_string());
                    }
                }
            }
        }
        assert!(seen > 100, "found {seen} strings");
        assert!(missing.is_empty(), "without English: {missing:#?}");
    }

    /// Every field error code the rules and the store give (`push("field", "code")`,
    /// `invalid("field", "code")`) has its own sentence in both languages: no code reaches
    /// the screen.
    #[test]
    fn every_field_error_code_has_a_sentence_in_both_languages() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut codes = std::collections::BTreeSet::new();
        let mut stack = vec![
            root.join("domain/src"),
            root.join("store/src"),
            root.join("web/src"),
        ];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).expect("dir") {
                let path = entry.expect("entry").path();
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                let text: String = std::fs::read_to_string(&path)
                    .expect("file")
                    .lines()
                    .filter(|l| !l.trim_start().starts_with("//"))
                    .collect::<Vec<_>>()
                    .join("\n");
                for call in ["push(\"", "invalid(\"", "FieldError::new(\""] {
                    for part in text.split(call).skip(1) {
                        let mut quoted = part.split('"');
                        let (Some(field), Some(sep), Some(code)) =
                            (quoted.next(), quoted.next(), quoted.next())
                        else {
                            continue;
                        };
                        let plain = |s: &str| {
                            !s.is_empty()
                                && s.chars().all(|c| {
                                    c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'
                                })
                        };
                        if plain(field) && sep == ", " && plain(code) {
                            codes.insert(code.to_string());
                        }
                    }
                }
            }
        }
        assert!(codes.len() > 20, "found {codes:?}");
        let mut missing = Vec::new();
        for code in &codes {
            let f = FieldError::new("subject".to_string(), code.clone());
            for lang in [Lang::Es, Lang::En] {
                let m = field_message(&f, lang);
                let generic = m.contains("valor no válido") || m.contains("invalid value");
                if code != "invalid" && generic {
                    missing.push(format!("{code} ({lang:?}): {m}"));
                }
            }
        }
        assert!(missing.is_empty(), "codes without a sentence: {missing:#?}");
    }

    #[test]
    fn an_unknown_string_falls_back_to_spanish() {
        assert_eq!(Tr(Lang::En).s("Bandeja"), "Queue");
        assert_eq!(Tr(Lang::Es).s("Bandeja"), "Bandeja");
        assert_eq!(Tr(Lang::En).s("Texto sin traducir"), "Texto sin traducir");
    }
}
