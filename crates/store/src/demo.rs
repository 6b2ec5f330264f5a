//! Demo data: realistic Spanish names, questions and answers across every channel and a few
//! months, loaded through the same operations the console uses (so every rule applies).
//! `atiende demo` loads it; the benchmark's generator can share the pools.

use atiende_domain::classification::{Channel, IncidentType, Medium, ProgrammeLine, UserType};
use atiende_domain::contact::ContactInput;
use atiende_domain::derivation::DeriveInput;
use atiende_domain::incident::{ClassifyInput, EntryKind, MAX_RECEIVED_DAYS_AGO, NewIncidentInput};
use atiende_domain::unit::UnitKind;
use atiende_domain::user::{Role, UserInput};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use sqlx::Row;

use crate::error::Result;
use crate::{Actor, Store, StoreError};

pub const FIRST_NAMES: &[&str] = &[
    "María",
    "José",
    "Guadalupe",
    "Juan",
    "Fernanda",
    "Luis",
    "Ana",
    "Carlos",
    "Sofía",
    "Miguel",
    "Valeria",
    "Jorge",
    "Daniela",
    "Alejandro",
    "Ximena",
    "Diego",
    "Paola",
    "Ricardo",
    "Andrea",
    "Fernando",
    "Karla",
    "Eduardo",
];
pub const SURNAMES: &[&str] = &[
    "Hernández",
    "García",
    "Martínez",
    "López",
    "González",
    "Pérez",
    "Rodríguez",
    "Sánchez",
    "Ramírez",
    "Cruz",
    "Flores",
    "Gómez",
    "Morales",
    "Vázquez",
    "Reyes",
    "Jiménez",
    "Torres",
    "Díaz",
    "Gutiérrez",
    "Ruiz",
    "Navarro",
];

/// What people ask the CAP: topic (as in the seeded catalogue), subject, the user's words, and
/// the answer that closes it.
pub const QUESTIONS: &[(&str, &str, &str, &str)] = &[
    (
        "Registro de solicitud y número de aspirante",
        "No recibí mi número de aspirante",
        "Hice mi registro de solicitud ayer y no me llegó el número de registro al correo.",
        "Se verificó el registro y se reenvió el número de aspirante; se recomendó revisar la carpeta de correo no deseado.",
    ),
    (
        "Pagos, aranceles y órdenes de pago",
        "Orden de pago vencida",
        "Mi orden de pago venció y no alcancé a pagar, ¿cómo genero otra?",
        "Se explicó cómo generar una nueva orden de pago desde el portal y los bancos donde puede pagarse.",
    ),
    (
        "Plataforma virtual y acceso a cursos",
        "No puedo entrar a mis cursos",
        "La plataforma me dice que mi usuario no tiene cursos asignados.",
        "Se verificó la inscripción y se solicitó la asignación de cursos; el acceso quedó habilitado.",
    ),
    (
        "Correo institucional y contraseñas",
        "Olvidé la contraseña del correo institucional",
        "No recuerdo la contraseña de mi correo @alumnos.udg.mx.",
        "Se guió al usuario en el restablecimiento de contraseña con su código de alumno.",
    ),
    (
        "Calendario escolar",
        "Fechas del próximo ciclo",
        "¿Cuándo inicia el próximo ciclo escolar y cuándo son las inscripciones?",
        "Se compartió el calendario escolar vigente con las fechas de inscripción e inicio de clases.",
    ),
    (
        "Calificaciones, kárdex y constancias",
        "Calificación que no aparece en el kárdex",
        "Aprobé una materia pero en mi kárdex aparece sin calificación.",
        "Se explicó el periodo de captura de calificaciones y se indicó a quién dirigirse si no aparece.",
    ),
    (
        "Becas",
        "Requisitos para la beca de excelencia",
        "Quisiera saber qué necesito para solicitar una beca.",
        "Se enviaron los requisitos y fechas de la convocatoria vigente de becas.",
    ),
    (
        "Titulación y título electrónico",
        "Trámite del título electrónico",
        "Ya terminé mis créditos, ¿cómo tramito mi título electrónico?",
        "Se explicaron las modalidades de titulación y los pasos del trámite del título electrónico.",
    ),
    (
        "Inscripción y reinscripción",
        "No aparezco como inscrito",
        "Pagué mi reinscripción pero el sistema dice que no estoy inscrito.",
        "Se verificó el pago y se explicó que la actualización tarda hasta 72 horas.",
    ),
    (
        "Oferta educativa",
        "Licenciaturas en línea disponibles",
        "¿Qué licenciaturas se pueden estudiar en línea?",
        "Se compartió la oferta educativa de licenciaturas y el enlace a los planes de estudio.",
    ),
    (
        "Requisitos de ingreso",
        "Documentos para el registro",
        "¿Qué documentos necesito para registrarme como aspirante?",
        "Se enviaron la lista de documentos y el formato de digitalización requerido.",
    ),
    (
        "Dictamen de admisión",
        "¿Cuándo sale el dictamen?",
        "Quiero saber en qué fecha se publica el dictamen de admisión.",
        "Se informó la fecha de publicación del dictamen y dónde consultarlo.",
    ),
    (
        "Servicio social y prácticas",
        "Registro de servicio social",
        "¿Cuándo puedo registrar mi servicio social?",
        "Se explicaron los requisitos de créditos y el periodo de registro del servicio social.",
    ),
    (
        "Educación continua (cursos, diplomados)",
        "Costo del diplomado en línea",
        "Me interesa el diplomado en docencia, ¿cuánto cuesta?",
        "Se canalizó a la Unidad de Promoción, que da seguimiento a educación continua.",
    ),
];

#[derive(Debug, Default)]
pub struct DemoSummary {
    pub contacts: usize,
    pub incidents: usize,
    pub closed: usize,
    pub derived: usize,
    /// Each staff account created: login (role), and its one-time password when none was
    /// given (shown once; asked to be changed at first login).
    pub staff: Vec<(String, Option<String>)>,
}

async fn staff(
    store: &Store,
    login: &str,
    name: &str,
    role: Role,
    unit: Option<atiende_domain::ids::UnitId>,
    password: Option<&str>,
) -> Result<Option<crate::users::CreatedUser>> {
    let input = UserInput {
        login: Some(login.into()),
        name: Some(name.into()),
        role: Some(role),
        unit_ids: Some(unit.into_iter().collect()),
        password: password.map(str::to_string),
        ..Default::default()
    };
    match store.create_user(Actor::System, &input).await {
        Ok(c) => Ok(Some(c)),
        Err(StoreError::Conflict { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

impl Store {
    /// Loads `incidents` demo incidents (and the staff and contacts they need). Deterministic
    /// for a given `seed`. Without `password`, each staff account gets its own one-time one.
    pub async fn load_demo(
        &self,
        incidents: usize,
        seed: u64,
        password: Option<&str>,
    ) -> Result<DemoSummary> {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut summary = DemoSummary::default();
        let units = self.units().await?;
        let coordination = units
            .iter()
            .find(|u| u.kind == UnitKind::Coordination)
            .map(|u| u.id);
        let promotion = units
            .iter()
            .find(|u| u.kind == UnitKind::Promotion)
            .map(|u| u.id);
        let top = units
            .iter()
            .find(|u| u.kind == UnitKind::TopManagement)
            .map(|u| u.id);
        let accounts = [
            ("ana.agente", "Ana Torres", Role::Agent, None),
            ("beto.agente", "Roberto Díaz", Role::Agent, None),
            ("carmen.lider", "Carmen Navarro", Role::CapLead, None),
            (
                "escolar",
                "Mtra. Laura Reyes",
                Role::UnitResponsible,
                coordination,
            ),
            ("siga", "Responsable del SIGA", Role::QualityOwner, None),
            ("rectoria", "Rectoría del SUV", Role::Management, None),
        ];
        let mut agents = Vec::new();
        let mut lead = None;
        for (login, name, role, unit) in accounts {
            if let Some(created) = staff(self, login, name, role, unit, password).await? {
                let user = created.user;
                summary.staff.push((
                    format!("{login} ({})", role.code()),
                    created.generated_password,
                ));
                match role {
                    Role::Agent => agents.push(user),
                    Role::CapLead => lead = Some(user),
                    _ => {}
                }
            }
        }
        if agents.is_empty() {
            agents = self
                .users()
                .await?
                .into_iter()
                .filter(|u| u.role == Role::Agent && !u.disabled)
                .collect();
        }
        let Some(agent0) = agents.first().cloned() else {
            return Ok(summary);
        };
        let lead = lead.unwrap_or_else(|| agent0.clone());
        let topics = self.topics().await?;
        let now = crate::db::now();
        let mut contacts = Vec::new();
        for n in 0..(incidents / 2).max(1) {
            let first = FIRST_NAMES.choose(&mut rng).copied().unwrap_or("Ana");
            let last = SURNAMES.choose(&mut rng).copied().unwrap_or("López");
            let last2 = SURNAMES.choose(&mut rng).copied().unwrap_or("García");
            // People of the demo are asked their type; "no identificado" is for nobody.
            let people: Vec<UserType> = UserType::of_people().collect();
            let user_type = *people.choose(&mut rng).unwrap_or(&UserType::Student);
            let line = if rng.gen_bool(0.08) {
                ProgrammeLine::ContinuingEducation
            } else {
                *[
                    ProgrammeLine::HighSchool,
                    ProgrammeLine::Undergraduate,
                    ProgrammeLine::Postgraduate,
                ]
                .choose(&mut rng)
                .unwrap_or(&ProgrammeLine::Undergraduate)
            };
            let slug = format!("{}.{}{n}", ascii(first), ascii(last));
            let input = ContactInput {
                name: Some(format!("{first} {last} {last2}")),
                // A reserved domain (RFC 2606): demo data on an instance with a real mailbox never mails anyone.
                emails: Some(vec![format!("{slug}@alumnos.udg.example")]),
                phones: Some(vec![format!(
                    "33{:08}",
                    rng.gen_range(10_000_000..99_999_999)
                )]),
                user_type: Some(user_type),
                programme_line: Some(line),
                ..Default::default()
            };
            match self.create_contact(Actor::Staff(&agent0), &input).await {
                Ok(c) => contacts.push(c),
                Err(StoreError::Conflict { .. }) => continue,
                Err(e) => return Err(e),
            }
        }
        summary.contacts = contacts.len();
        // Within the last month (a registration dates no further back), oldest first, so
        // that folios follow the order in which people wrote.
        let mut minutes_ago: Vec<i64> = (0..incidents)
            .map(|_| rng.gen_range(0..((MAX_RECEIVED_DAYS_AGO - 1) * 24 * 60)))
            .collect();
        minutes_ago.sort_unstable_by(|a, b| b.cmp(a));
        for (n, minutes_ago) in minutes_ago.into_iter().enumerate() {
            let Some(contact) = contacts.choose(&mut rng).cloned() else {
                break;
            };
            let agent = agents
                .choose(&mut rng)
                .cloned()
                .unwrap_or_else(|| agent0.clone());
            let actor = Actor::Staff(&agent);
            let continuing = contact.is_continuing_education();
            let (topic, subject, body, answer) = if continuing {
                QUESTIONS[QUESTIONS.len() - 1]
            } else {
                *QUESTIONS[..QUESTIONS.len() - 1]
                    .choose(&mut rng)
                    .unwrap_or(&QUESTIONS[0])
            };
            let channel = *[
                Channel::Email,
                Channel::Email,
                Channel::Phone,
                Channel::Whatsapp,
                Channel::Whatsapp,
                Channel::InPerson,
                Channel::Social,
            ]
            .choose(&mut rng)
            .unwrap_or(&Channel::Email);
            let input = NewIncidentInput {
                channel,
                contact_id: Some(contact.id),
                subject: subject.into(),
                body: body.into(),
                user_type: None,
                incident_type: None,
                topic_id: topics.iter().find(|t| t.name == topic).map(|t| t.id),
                critical: false,
                assigned_to: Some(agent.id),
                received_at: Some(now - chrono::Duration::minutes(minutes_ago)),
            };
            let incident = self.create_incident(actor, input).await?;
            summary.incidents += 1;
            let complaint = rng.gen_bool(0.12);
            let kind = if complaint {
                IncidentType::Complaint
            } else {
                IncidentType::Question
            };
            let critical = complaint && !continuing && rng.gen_bool(0.15);
            let classify = ClassifyInput {
                incident_type: Some(kind),
                critical: Some(critical),
                ..Default::default()
            };
            self.classify_incident(actor, incident.id, &classify)
                .await?;
            // Leave the newest few open so the queue has work in it.
            if n + 12 >= incidents {
                continue;
            }
            self.add_entry(actor, incident.id, EntryKind::OutboundMessage, answer)
                .await?;
            let derive = |unit_id, close: bool, reason: &str, notes: Option<&str>| DeriveInput {
                unit_id,
                medium: Medium::Email,
                reason: reason.into(),
                user_told: None,
                told_address: None,
                close,
                notes: notes.map(str::to_string),
            };
            if continuing {
                if let Some(p) = promotion {
                    let d = derive(
                        p,
                        true,
                        atiende_domain::incident::PROMOTION_REASON,
                        Some(answer),
                    );
                    self.derive_incident(actor, incident.id, &d).await?;
                    summary.derived += 1;
                    summary.closed += 1;
                }
            } else if critical {
                if let Some(t) = top {
                    let d = derive(
                        t,
                        false,
                        "Queja crítica que requiere la atención de la Rectoría.",
                        None,
                    );
                    self.derive_incident(Actor::Staff(&lead), incident.id, &d)
                        .await?;
                    summary.derived += 1;
                }
            } else if rng.gen_bool(0.18) {
                if let Some(c) = coordination {
                    let d = derive(
                        c,
                        false,
                        "Requiere revisión de la coordinación responsable.",
                        None,
                    );
                    self.derive_incident(actor, incident.id, &d).await?;
                    summary.derived += 1;
                }
            } else {
                self.close_incident(actor, incident.id, Some(answer))
                    .await?;
                summary.closed += 1;
            }
        }
        Ok(summary)
    }
}

/// `María` → `maria`, for demo email addresses.
fn ascii(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            'á' | 'Á' => 'a',
            'é' | 'É' => 'e',
            'í' | 'Í' => 'i',
            'ó' | 'Ó' => 'o',
            'ú' | 'Ú' | 'ü' => 'u',
            'ñ' | 'Ñ' => 'n',
            c => c.to_ascii_lowercase(),
        })
        .filter(char::is_ascii_alphanumeric)
        .collect()
}

impl Store {
    /// Whether the database already holds people or incidents: demo data is not mixed into
    /// an institution's records unless asked for in so many words.
    pub async fn holds_records(&self) -> Result<bool> {
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM (SELECT 1 FROM contacts LIMIT 1) c) \
             + (SELECT COUNT(*) FROM (SELECT 1 FROM incidents LIMIT 1) i) AS n",
        )
        .fetch_one(self.reader())
        .await?;
        Ok(row.try_get::<i64, _>("n")? > 0)
    }
}
