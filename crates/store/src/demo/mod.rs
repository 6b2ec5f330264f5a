//! Demo data, so that a newcomer's first look shows what every page is for: the CAP's staff,
//! a year of history (`history`: working hours, admission and enrolment peaks, real response
//! and closing times, surveys, the buzón's entries attended by the SIGA), knowledge-base
//! articles, example targets with their responsibles, the nonconformities the scheduled check
//! finds with their treatment, and the last few days' work loaded through the same operations
//! the console uses (so every rule applies and the queue has work in it).
//! `atiende demo` loads it once; the benchmarks' generator is `history` too.

pub mod history;

use atiende_domain::classification::{Channel, IncidentType, Medium, ProgrammeLine, UserType};
use atiende_domain::contact::ContactInput;
use atiende_domain::derivation::DeriveInput;
use atiende_domain::incident::{ClassifyInput, EntryKind, NewIncidentInput};
use atiende_domain::indicators::{IndicatorKind, Target, Targets};
use atiende_domain::nonconformity::{Criteria, NcStatus};
use atiende_domain::period::{Periodicity, month_key};
use atiende_domain::unit::UnitKind;
use atiende_domain::user::{Role, UserInput};
use chrono::{DateTime, Duration, Utc};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use sqlx::Row;

use crate::db::{from_ms, ms};
use crate::error::Result;
use crate::settings::key;
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

/// How people open a message, and the subjects that say nothing of the matter (many emails'
/// do): the generated history's messages vary as real ones do, so that the suggestions
/// learned from it are measured on words that are not always the same.
const OPENINGS: &[&str] = &["", "Buenas tardes. ", "Hola, ", "Buen día, ", "Saludos. "];
const VAGUE_SUBJECTS: &[&str] = &[
    "Duda",
    "Consulta",
    "Información",
    "Ayuda por favor",
    "Urgente",
];

/// Sentences that say what kind of incident a message is; a quarter of messages have none.
fn kind_sentences(kind: IncidentType) -> &'static [&'static str] {
    match kind {
        IncidentType::Question => &["¿Me pueden orientar?", "¿Qué debo hacer?", "¿Me ayudan?"],
        IncidentType::Complaint => &[
            "Es la tercera vez que lo reporto y nadie me responde.",
            "Estoy muy molesto con el servicio, es inaceptable.",
            "Quiero presentar una queja formal.",
        ],
        IncidentType::Suggestion => &[
            "Sugiero que lo publiquen en el portal.",
            "Sería bueno que mejoraran este proceso.",
            "Propongo que avisen con más tiempo.",
        ],
        IncidentType::Compliment => &[
            "Muchas gracias por la atención, fue excelente.",
            "Felicito al personal por su amabilidad.",
            "Quiero reconocer la ayuda que recibí.",
        ],
    }
}

/// A person's subject and words about question `question` (an index of [`QUESTIONS`]): its
/// words with some left out, now and then a second matter, and how they feel about it.
pub fn message(rng: &mut impl Rng, question: usize, kind: IncidentType) -> (String, String) {
    let (_, subject, words, _) = QUESTIONS[question % QUESTIONS.len()];
    let subject = if rng.gen_bool(0.35) {
        VAGUE_SUBJECTS[rng.gen_range(0..VAGUE_SUBJECTS.len())].to_string()
    } else {
        subject.to_string()
    };
    let mut text = OPENINGS[rng.gen_range(0..OPENINGS.len())].to_string();
    let kept: Vec<&str> = words.split(' ').filter(|_| rng.gen_bool(0.85)).collect();
    text.push_str(&kept.join(" "));
    if rng.gen_bool(0.15) {
        let (_, _, other, _) = QUESTIONS[rng.gen_range(0..QUESTIONS.len())];
        text.push_str(" También: ");
        text.push_str(other);
    }
    if rng.gen_bool(0.75) {
        let said = kind_sentences(kind);
        text.push(' ');
        text.push_str(said[rng.gen_range(0..said.len())]);
    }
    (subject, text)
}

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

/// How many of the last days' incidents go through the console's operations.
const RECENT_INCIDENTS: usize = 30;
/// They arrived within this many days; the history ends before them.
const RECENT_DAYS: i64 = 3;

#[derive(Debug, Default)]
pub struct DemoSummary {
    /// The demo had been loaded before: nothing was changed.
    pub already_loaded: bool,
    /// The year of history written in bulk.
    pub history: history::Generated,
    /// The last days' incidents, through the console's operations.
    pub contacts: usize,
    pub incidents: usize,
    pub closed: usize,
    pub derived: usize,
    pub nonconformities: usize,
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
    /// Loads the demo (see the module's documentation): `history` incidents over the year
    /// before the last few days, and the last days' work. Deterministic for a given `seed`.
    /// Without `password`, each staff account gets its own one-time one. A second call
    /// changes nothing.
    pub async fn load_demo(
        &self,
        history: usize,
        seed: u64,
        password: Option<&str>,
    ) -> Result<DemoSummary> {
        let mut summary = DemoSummary::default();
        if self
            .setting::<Option<String>>(key::DEMO_LOADED)
            .await?
            .is_some()
        {
            summary.already_loaded = true;
            return Ok(summary);
        }
        let mut rng = StdRng::seed_from_u64(seed);
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
            ("diana.agente", "Diana Morales", Role::Agent, None),
            ("emilio.agente", "Emilio Vázquez", Role::Agent, None),
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
        let mut quality_owner = None;
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
                    Role::QualityOwner => quality_owner = Some(user.id.0),
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
        let now = crate::db::now();

        // A year of history, ending where the last days begin.
        let mut attending: Vec<i64> = agents.iter().map(|a| a.id.0).collect();
        attending.push(lead.id.0);
        let spec = history::Spec {
            incidents: history,
            contacts: (history * 2 / 5).max(1),
            years: 1,
            articles: QUESTIONS.len(),
            seed,
            end: now - Duration::days(RECENT_DAYS),
        };
        let staff = history::Staff {
            agents: attending,
            quality_owner,
        };
        summary.history = history::write(self, &spec, &staff, |_, _, _| {}).await?;
        self.save_setting(Actor::System, key::INDICATOR_TARGETS, &example_targets())
            .await?;
        summary.nonconformities = self.treat_demo_nonconformities(now).await?;

        let incidents = RECENT_INCIDENTS;
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
        // Within the last days (after the history), oldest first, so that folios follow the
        // order in which people wrote.
        let mut minutes_ago: Vec<i64> = (0..incidents)
            .map(|_| rng.gen_range(0..(RECENT_DAYS * 24 * 60)))
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
        self.buzon_entries_for_the_siga(&mut rng).await?;
        self.save_setting(Actor::System, key::DEMO_LOADED, &Some(now.to_rfc3339()))
            .await?;
        Ok(summary)
    }

    /// Two entries of today's buzón, routed to the SIGA as they arrive.
    async fn buzon_entries_for_the_siga(&self, rng: &mut StdRng) -> Result<()> {
        let entries = [
            (
                IncidentType::Suggestion,
                "Sería útil que la plataforma avisara por WhatsApp cuando se publica una calificación.",
            ),
            (
                IncidentType::Compliment,
                "Quiero felicitar a la asesora que me ayudó con mi reinscripción, fue muy amable.",
            ),
        ];
        for (kind, body) in entries {
            let input = NewIncidentInput {
                channel: Channel::SuggestionBox,
                contact_id: None,
                subject: String::new(),
                body: body.into(),
                user_type: None,
                incident_type: Some(kind),
                topic_id: None,
                critical: false,
                assigned_to: None,
                received_at: Some(crate::db::now() - Duration::minutes(rng.gen_range(30..600))),
            };
            self.create_incident(Actor::System, input).await?;
        }
        Ok(())
    }

    /// What the scheduled check finds in the history, dated when it would have found it, with
    /// the treatment a quality office would have given it by now: the older ones closed, the
    /// last weeks' in treatment, the newest still open.
    async fn treat_demo_nonconformities(&self, now: DateTime<Utc>) -> Result<usize> {
        let found = self.detect_nonconformities(&Criteria::default()).await?;
        let rows = sqlx::query(
            "SELECT n.id, i.received_at, n.criterion FROM nonconformities n \
             JOIN incidents i ON i.id = n.incident_id ORDER BY n.id",
        )
        .fetch_all(self.reader())
        .await?;
        let mut tx = self.begin().await?;
        for r in rows {
            let id: i64 = r.try_get("id")?;
            let detected = (from_ms(r.try_get("received_at")?)? + Duration::days(7)).min(now);
            let age = now - detected;
            let (status, disposition, action, effectiveness) = if age > Duration::days(45) {
                (
                    NcStatus::Closed,
                    "Se atendió de nuevo a la persona y se le dio respuesta.",
                    "Se reforzó con el equipo el seguimiento de casos derivados.",
                    "En el mes siguiente no se repitió en el mismo tema.",
                )
            } else if age > Duration::days(10) {
                (
                    NcStatus::InTreatment,
                    "Se contactó a la persona para dar seguimiento.",
                    "Revisión semanal de pendientes con las coordinaciones.",
                    "",
                )
            } else {
                (NcStatus::Open, "", "", "")
            };
            let due = (status != NcStatus::Open).then(|| {
                (detected + Duration::days(30))
                    .with_timezone(&self.tz)
                    .date_naive()
                    .to_string()
            });
            sqlx::query(
                "UPDATE nonconformities SET detected_at = $1, detected_month = $2, status = $3, \
                 disposition = $4, corrective_action = $5, effectiveness = $6, due_date = $7, \
                 responsible = $8, updated_at = $1 WHERE id = $9",
            )
            .bind(ms(detected))
            .bind(month_key(detected, self.tz))
            .bind(status.code())
            .bind(disposition)
            .bind(action)
            .bind(effectiveness)
            .bind(due)
            .bind(if status == NcStatus::Open {
                ""
            } else {
                "Responsable del CAP"
            })
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(found)
    }
}

/// Targets such as a quality office sets, some met and some not by the demo's history.
fn example_targets() -> Targets {
    let t = |indicator, target, periodicity, responsible: &str| Target {
        indicator,
        target,
        periodicity,
        responsible: responsible.into(),
    };
    Targets {
        targets: vec![
            t(
                IndicatorKind::SatisfactionIndex,
                80.0,
                Periodicity::Semester,
                "Responsable del SIGA",
            ),
            t(
                IndicatorKind::SurveyResponseRate,
                30.0,
                Periodicity::Quarterly,
                "Responsable del SIGA",
            ),
            t(
                IndicatorKind::FirstContactResolution,
                75.0,
                Periodicity::Monthly,
                "Responsable del CAP",
            ),
            t(
                IndicatorKind::WithinServiceLevel,
                85.0,
                Periodicity::Monthly,
                "Responsable del CAP",
            ),
            t(
                IndicatorKind::FirstResponseMedian,
                8.0,
                Periodicity::Monthly,
                "Responsable del CAP",
            ),
            t(
                IndicatorKind::CloseMedian,
                48.0,
                Periodicity::Monthly,
                "Responsable del CAP",
            ),
            t(
                IndicatorKind::Complaints,
                60.0,
                Periodicity::Monthly,
                "Responsable del CAP",
            ),
        ],
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
