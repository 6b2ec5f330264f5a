//! The incident view and every step on one incident: classify, answer, notes, derive, close,
//! reopen, assign, and a unit's answer. Each form posts here and comes back to the view.

use std::collections::HashMap;

use atiende_domain::access::Action;
use atiende_domain::audit::EntityKind;
use atiende_domain::classification::{Channel, IncidentType, Lang, Medium, UserType};
use atiende_domain::contact::Contact;
use atiende_domain::derivation::{DeriveInput, UnitAnswer};
use atiende_domain::ids::{DerivationId, IncidentId, TopicId, UnitId, UserId};
use atiende_domain::incident::{ClassifyInput, EntryKind, Incident};
use atiende_domain::unit::{Unit, UnitKind};
use atiende_domain::user::Role;
use atiende_store::Actor;
use atiende_store::audit::AuditQuery;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::queue::age;
use super::{Ctx, PageError, PageUser, Posted, PostedWithFiles, local, non_empty, render};
use crate::AppState;
use crate::error::AppError;
use crate::extract::ENTRY_BODY_LIMIT;
use crate::i18n::{Tr, describe_error};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/incidentes/{folio}", get(view))
        .route(
            "/incidentes/{folio}/{action}",
            post(act).layer(DefaultBodyLimit::max(ENTRY_BODY_LIMIT)),
        )
        .route(
            "/incidentes/{folio}/derivaciones/{id}/responder",
            post(answer),
        )
        .route(
            "/incidentes/{folio}/articulos/{id}/resolvio",
            post(resolved_by_article),
        )
}

pub struct EntryView {
    /// For an email with HTML or an unreadable one: the message to open formatted or raw.
    pub email: Option<String>,
    /// For a chat message we sent: where it stands (code, label, provider's error).
    pub delivery: Option<(&'static str, &'static str, String)>,
    pub kind: &'static str,
    pub label: &'static str,
    pub at: String,
    pub author: String,
    pub body: String,
    pub detail: String,
}

pub struct DerivationView {
    pub id: i64,
    pub unit: String,
    pub medium: &'static str,
    pub reason: String,
    pub at: String,
    pub by: String,
    pub told: Option<String>,
    pub answer: Option<String>,
    pub can_answer: bool,
    /// The quality owner may close a buzón entry with their answer (procedure step 4).
    pub can_close: bool,
}

/// How an answer reaches the person on a chat channel, and what the window allows.
pub struct ChatReply {
    pub provider: &'static str,
    pub allows_text: bool,
    /// Why free text cannot go, or until when it can.
    pub notice: String,
    /// Approved templates (WhatsApp only): name and text.
    pub templates: Vec<(String, String)>,
}

pub struct AuditView {
    pub at: String,
    pub who: String,
    pub action: String,
}

#[derive(askama::Template)]
#[template(path = "incident.html")]
struct IncidentPage {
    ctx: Ctx,
    i: Incident,
    folio: String,
    contact: Option<Contact>,
    contact_blocked: bool,
    topic: String,
    assigned: String,
    received: String,
    age: String,
    first_response: String,
    closed: String,
    entries: Vec<EntryView>,
    attachments: Vec<atiende_store::attachments::Attachment>,
    derivations: Vec<DerivationView>,
    audit: Vec<AuditView>,
    units: Vec<Unit>,
    agents: Vec<(String, String)>,
    topics: Vec<(String, String)>,
    channels: Vec<(&'static str, &'static str)>,
    user_types: Vec<(&'static str, &'static str)>,
    incident_types: Vec<(&'static str, &'static str)>,
    in_leads_queue: bool,
    first_contact_resolution: bool,
    /// The version of the privacy notice shown to the person (buzón entries).
    notice_version: Option<i64>,
    suggest_promotion: bool,
    has_notes: bool,
    tell_by_default: bool,
    open_derive: bool,
    notice: Option<String>,
    error: Option<String>,
    chat: Option<ChatReply>,
    reply_hint: &'static str,
    /// Its service-level clocks.
    clocks: Vec<super::queue::ClockCell>,
    /// Articles that match the incident's words, best first.
    suggestions: Vec<atiende_store::search::ArticleHit>,
    /// Articles marked as what resolved it.
    resolved_by: Vec<(i64, String)>,
    /// Text for the answer box (an article or a canned response chosen to answer with).
    reply_text: String,
    /// The canned response the answer box was filled from.
    canned_id: Option<i64>,
    /// The canned responses the person may answer with (the incident's topic first).
    canned: Vec<(i64, String)>,
    /// The macros the person may apply.
    macros: Vec<(i64, String)>,
    /// What the CAP's history suggests for an incident not yet classified.
    suggested: Option<SuggestedView>,
    /// The newest timeline entry when the page was made: the live stream tells what others add
    /// after it, and an answer sent from this page is checked against it.
    newest_entry: i64,
    /// The answer box holds an answer held back because the incident changed: sending it again
    /// sends it.
    stale: bool,
    /// Incidents merged into this one: folio and timeline.
    merged: Vec<(String, Vec<EntryView>)>,
    /// The incident this one was closed as a duplicate of, and whether merged into it.
    duplicate_of: Option<(String, bool)>,
}

/// A suggestion as the classification form shows it: value, label and percent of each guess.
struct SuggestedView {
    topic: Option<(String, String, i64)>,
    incident_type: Option<(&'static str, &'static str, i64)>,
    critical: bool,
}

impl SuggestedView {
    fn of(
        s: atiende_store::suggestions::IncidentSuggestion,
        topics: &[atiende_domain::unit::Topic],
        lang: Lang,
    ) -> Option<Self> {
        let topic = s.topic_id.and_then(|t| {
            let name = topics.iter().find(|x| x.id == t && x.active)?.name.clone();
            Some((t.to_string(), name, s.topic_percent.unwrap_or_default()))
        });
        let incident_type = s
            .incident_type
            .map(|k| (k.code(), k.label(lang), s.type_percent.unwrap_or_default()));
        (topic.is_some() || incident_type.is_some() || s.looks_critical).then_some(SuggestedView {
            topic,
            incident_type,
            critical: s.looks_critical,
        })
    }
}

impl IncidentPage {
    /// The file inputs' `accept`: the extensions the answer takes.
    fn files_accept(&self) -> String {
        atiende_domain::attachment::accepted_extensions()
            .map(|e| format!(".{e}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Whether the answer box was filled from this canned response.
    fn is_canned(&self, id: &i64) -> bool {
        self.canned_id == Some(*id)
    }

    /// Free text can be answered unless a chat provider's window is closed.
    fn may_write_freely(&self) -> bool {
        self.chat.as_ref().is_none_or(|c| c.allows_text)
    }

    fn selected_unit_kind(&self, unit: &Unit) -> bool {
        self.suggest_promotion && unit.kind == UnitKind::Promotion
    }
}

#[derive(Deserialize, Default)]
struct ViewParams {
    ok: Option<String>,
    blocked: Option<String>,
    open: Option<String>,
    /// An article whose text goes into the answer box.
    usar: Option<i64>,
    /// A canned response filled into the answer box (its use is counted when sent).
    respuesta: Option<i64>,
}

/// What goes into the answer box when the page opens.
#[derive(Debug, Clone)]
enum Prefill {
    Article(i64),
    Canned(i64),
    /// An answer not sent because others added to the incident since its page was made: kept
    /// for its writer to read what is new and send it again.
    Stale {
        body: String,
        canned: Option<i64>,
    },
}

fn notice(code: &str, t: Tr) -> String {
    t.s(match code {
        "closed" => "Incidente cerrado. La encuesta de satisfacción queda programada.",
        "derived_closed" => "Incidente derivado y cerrado.",
        "derived" => "Incidente derivado.",
        "registered" => "Incidente registrado.",
        "classified" => "Clasificación guardada.",
        "duplicate" => "Cerrado como duplicado; no se envía encuesta.",
        "merged" => "Fusionado: su historial se muestra en el incidente original.",
        "answer" => "Respuesta registrada.",
        "note" => "Nota guardada.",
        "intervention" => "Pormenores registrados.",
        "waiting_on_person" => "En espera del usuario: el tiempo de resolución se detiene hasta que escriba.",
        "reopened" => "Incidente reabierto.",
        "assigned" => "Asignación guardada.",
        "unit_answer" => "Respuesta de la unidad registrada.",
        "unit_answer_closed" => "Respuesta registrada e incidente cerrado. La encuesta de satisfacción queda programada.",
        "resolved_by_article" => "Se registró el artículo que resolvió el incidente.",
        "macro" => "Macro aplicada.",
        _ => "Listo.",
    })
    .to_string()
}

async fn visible(state: &AppState, page: &PageUser, folio: &str) -> Result<IncidentId, PageError> {
    let id = state.store.incident_id(folio).await?;
    let scope = page.user.incident_scope();
    if !state.store.incident_visible(&scope, id).await? {
        return Err(PageError::from(AppError::NotFound("incident")));
    }
    Ok(id)
}

async fn view(
    State(state): State<AppState>,
    page: PageUser,
    Path(folio): Path<String>,
    Query(p): Query<ViewParams>,
) -> Result<Response, PageError> {
    page.require(Action::IncidentRead)?;
    let id = visible(&state, &page, &folio).await?;
    let t = Tr(page.user.language);
    let notice = p.ok.as_deref().map(|c| notice(c, t));
    let blocked = p.blocked.as_deref().map(|code| {
        format!(
            "{} {}",
            t.s("El incidente quedó registrado, pero no se pudo completar el paso:"),
            crate::i18n::error_message(code, &[], None, None, page.user.language)
        )
    });
    let open_derive = p.open.as_deref() == Some("derive");
    let prefill = match (p.respuesta, p.usar) {
        (Some(c), _) => Some(Prefill::Canned(c)),
        (None, Some(a)) => Some(Prefill::Article(a)),
        (None, None) => None,
    };
    page_of(&state, page, id, notice, blocked, open_derive, prefill).await
}

async fn page_of(
    state: &AppState,
    page: PageUser,
    id: IncidentId,
    notice: Option<String>,
    error: Option<String>,
    open_derive: bool,
    prefill: Option<Prefill>,
) -> Result<Response, PageError> {
    let lang = page.user.language;
    let tz = state.store.time_zone();
    let store = &state.store;
    // The page's reads are independent of each other except through the incident itself:
    // two rounds of concurrent reads on separate connections instead of a dozen in a row.
    let (detail, users, topics, units, emails, attachments, chats, resolutions) = tokio::try_join!(
        store.incident_detail(id, state.config.reopen_window_days),
        store.users(),
        store.topics(),
        store.units(),
        store.email_messages(id),
        store.attachments(id),
        store.chat_messages(id),
        store.resolutions_of(id),
    )?;
    let now = chrono::Utc::now();
    let clocks = detail
        .clocks
        .iter()
        .map(|c| {
            let mut cell = super::queue::ClockCell::describe(c, now, lang, tz);
            // A unit's clock says which unit owes the answer.
            if let Some(d) = c
                .unit_id
                .and_then(|u| detail.derivations.iter().find(|d| d.unit_id == u))
            {
                cell.detail = format!("{} · {}", d.unit_name, cell.detail);
            }
            cell
        })
        .collect();
    let i = detail.incident.clone();
    let words = format!(
        "{} {}",
        i.subject,
        detail
            .timeline
            .iter()
            .find(|e| e.kind == EntryKind::InboundMessage)
            .map_or("", |e| e.body.as_str())
    );
    let contact_viewed = async {
        let Some(c) = i.contact_id else {
            return Ok(None);
        };
        // The access is recorded beside the read, not after it: one round of waiting.
        let (contact, ()) = tokio::try_join!(store.contact(c), async {
            store
                .log_personal_access(
                    atiende_store::Actor::Staff(&page.user),
                    c,
                    atiende_domain::privacy::DataAction::View,
                    &i.folio.to_string(),
                )
                .await
        })?;
        Ok::<_, AppError>(Some(contact))
    };
    let audit = async {
        if !page.user.may(Action::AuditRead) {
            return Ok(vec![]);
        }
        let q = AuditQuery {
            entity: Some(EntityKind::Incident),
            entity_id: Some(i.folio.to_string()),
            limit: 100,
            ..Default::default()
        };
        Ok::<_, AppError>(store.audit(&q).await?)
    };
    let suggestions = async {
        Ok::<_, AppError>(
            store
                .search_articles(
                    &atiende_domain::knowledge::SearchQuery::suggestion(&words),
                    atiende_store::search::Match::Any,
                    false,
                    3,
                )
                .await?,
        )
    };
    let resolved_by = async {
        let mut titles = Vec::new();
        for article in resolutions {
            let a = store.article(article).await?;
            titles.push((a.id, a.title));
        }
        Ok::<_, AppError>(titles)
    };
    let (contact, chat, audit, suggestions, resolved_by) = tokio::try_join!(
        contact_viewed,
        chat_reply(state, &i, lang),
        audit,
        suggestions,
        resolved_by,
    )?;
    // Whose data is blocked stays on the record, but not in front of everyone.
    let contact_blocked = contact.as_ref().is_some_and(|c| c.blocked_at.is_some())
        && !page.user.may(Action::PersonalData);
    let contact = contact.filter(|_| !contact_blocked);
    let names: HashMap<UserId, String> = users.iter().map(|u| (u.id, u.name.clone())).collect();
    let name_of = |u: Option<UserId>| {
        u.and_then(|u| names.get(&u).cloned())
            .unwrap_or_else(|| "atiende".into())
    };
    let units_by_id: HashMap<UnitId, &Unit> = units.iter().map(|u| (u.id, u)).collect();
    let email_of = |entry: atiende_domain::ids::EntryId| {
        emails
            .iter()
            .find(|m| m.entry_id == Some(entry.0) && (m.html.is_some() || m.malformed))
            .map(|m| m.message_id.clone())
    };
    let delivery_of = |entry: atiende_domain::ids::EntryId| {
        chats
            .iter()
            .find(|m| m.entry_id == Some(entry.0) && m.direction == "out")
            .and_then(|m| {
                m.delivery()
                    .map(|d| (d.code(), d.label(lang), m.error.clone().unwrap_or_default()))
            })
    };
    // (A merged incident's entries are none of this one's emails or chat messages: those
    // lookups find nothing for them.)
    let entry_view = |e: &atiende_domain::incident::TimelineEntry| EntryView {
        email: email_of(e.id),
        delivery: delivery_of(e.id),
        kind: e.kind.code(),
        label: e.kind.label(lang),
        at: local(&e.at, tz),
        author: if e.kind == EntryKind::InboundMessage {
            contact.as_ref().map(|c| c.name.clone()).unwrap_or_default()
        } else {
            name_of(e.author_id)
        },
        body: e.body.clone(),
        detail: entry_detail(e, lang, &names),
    };
    let entries = detail.timeline.iter().map(entry_view).collect();
    // The same person's incidents merged into this one keep their own timelines, shown here.
    let merged = store
        .merged_into(id)
        .await?
        .into_iter()
        .map(|m| {
            let entries = m.timeline.iter().map(entry_view).collect();
            (m.folio.to_string(), entries)
        })
        .collect();
    let duplicate_of = store
        .duplicate_of(id)
        .await?
        .map(|(f, merged)| (f.to_string(), merged));
    let derivations = detail
        .derivations
        .iter()
        .map(|d| DerivationView {
            id: d.id.0,
            unit: d.unit_name.clone(),
            medium: d.medium.label(lang),
            reason: d.reason.clone(),
            at: local(&d.derived_at, tz),
            by: name_of(d.derived_by),
            told: d.told_address.clone().filter(|_| d.user_told),
            answer: d.answer.clone(),
            can_answer: !d.is_answered()
                && units_by_id
                    .get(&d.unit_id)
                    .is_some_and(|u| page.user.may_answer_for(u)),
            can_close: !d.is_answered()
                && !i.is_closed()
                && units_by_id
                    .get(&d.unit_id)
                    .is_some_and(|u| page.user.may_answer_for(u) && i.closes_on_unit_answer(u)),
        })
        .collect();
    let audit = audit
        .iter()
        .map(|a| AuditView {
            at: local(&a.at, tz),
            who: name_of(a.actor_id),
            action: atiende_domain::audit::action_label(&a.action, page.user.language).to_string(),
        })
        .collect();
    let is_lead = page.user.role == Role::CapLead;
    let derive_units = units
        .iter()
        .filter(|u| u.active && (is_lead || u.kind != UnitKind::TopManagement))
        .cloned()
        .collect();
    let agents = users
        .iter()
        .filter(|u| !u.disabled && matches!(u.role, Role::Agent | Role::CapLead))
        .map(|u| (u.id.to_string(), u.name.clone()))
        .collect();
    let suggest_promotion = contact
        .as_ref()
        .is_some_and(Contact::is_continuing_education)
        && !detail
            .derivations
            .iter()
            .any(|d| d.unit_kind == UnitKind::Promotion);
    let has_notes = detail
        .timeline
        .iter()
        .any(|e| e.kind == EntryKind::Intervention);
    let status = if error.is_some() && notice.is_none() && !open_derive {
        axum::http::StatusCode::UNPROCESSABLE_ENTITY
    } else {
        axum::http::StatusCode::OK
    };
    let mut canned_id = None;
    let stale = matches!(prefill, Some(Prefill::Stale { .. }));
    let reply_text = match prefill {
        Some(Prefill::Stale { body, canned }) => {
            canned_id = canned;
            body
        }
        Some(Prefill::Canned(c)) => {
            match state.store.fill_canned_response(&page.user, c, id).await {
                Ok(text) => {
                    canned_id = Some(c);
                    text
                }
                Err(_) => String::new(),
            }
        }
        Some(Prefill::Article(article)) => match state.store.article(article).await {
            Ok(a) if !a.archived => {
                let mut text = a.body.clone();
                if a.public {
                    text.push_str(&format!(
                        "\n\n{}/ayuda/{}",
                        state.config.base_url.trim_end_matches('/'),
                        a.id
                    ));
                }
                text
            }
            _ => String::new(),
        },
        None => String::new(),
    };
    let canned = state
        .store
        .canned_responses(page.user.id, None, i.topic_id)
        .await?
        .into_iter()
        .map(|c| (c.id, c.title))
        .collect();
    let macros = super::macros::choices(state, &page).await?;
    // Asked once the agent may classify and nobody has: the store keeps what was shown, to
    // count whether the agent confirmed or corrected it. A failure only hides it.
    let suggested = if page.user.may(Action::IncidentWork) && i.incident_type.is_none() {
        match state.store.suggestion_for(&i).await {
            Ok(s) => s.and_then(|s| SuggestedView::of(s, &topics, lang)),
            Err(e) => {
                tracing::warn!(error = %e, "incident page: cannot suggest");
                None
            }
        }
    } else {
        None
    };
    let newest_entry = detail.timeline.iter().map(|e| e.id.0).max().unwrap_or(0);
    let page = IncidentPage {
        merged,
        duplicate_of,
        suggested,
        newest_entry,
        stale,
        suggestions,
        resolved_by,
        reply_text,
        canned_id,
        canned,
        macros,
        reply_hint: reply_hint(&i, chat.as_ref()),
        folio: i.folio.to_string(),
        topic: i
            .topic_id
            .and_then(|t| topics.iter().find(|x| x.id == t))
            .map(|t| t.name.clone())
            .unwrap_or_else(|| "—".into()),
        assigned: i
            .assigned_to
            .and_then(|a| names.get(&a).cloned())
            .unwrap_or_default(),
        received: local(&i.received_at, tz),
        age: age(i.received_at, lang),
        first_response: i
            .first_response_at
            .map(|t| local(&t, tz))
            .unwrap_or_else(|| "—".into()),
        closed: i
            .closed_at
            .map(|t| local(&t, tz))
            .unwrap_or_else(|| "—".into()),
        topics: topics
            .iter()
            .filter(|t| t.active)
            .map(|t| (t.id.to_string(), t.name.clone()))
            .collect(),
        channels: Channel::ALL
            .iter()
            .map(|c| (c.code(), c.label(lang)))
            .collect(),
        user_types: UserType::ALL
            .iter()
            .map(|c| (c.code(), c.label(lang)))
            .collect(),
        incident_types: IncidentType::ALL
            .iter()
            .map(|c| (c.code(), c.label(lang)))
            .collect(),
        in_leads_queue: detail.in_leads_queue,
        clocks,
        first_contact_resolution: detail.first_contact_resolution,
        notice_version: state.store.notice_of_incident(id).await?.map(|n| n.version),
        tell_by_default: !i.channel.derives_directly(),
        i,
        contact,
        contact_blocked,
        entries,
        attachments,
        derivations,
        audit,
        units: derive_units,
        agents,
        suggest_promotion,
        has_notes,
        open_derive: open_derive || suggest_promotion,
        notice,
        error,
        chat,
        ctx: page.ctx("queue"),
    };
    Ok((status, render(&page)).into_response())
}

async fn chat_reply(
    state: &AppState,
    i: &Incident,
    lang: Lang,
) -> Result<Option<ChatReply>, AppError> {
    use atiende_domain::chat::{Provider, ReplyWindow};
    let Some((provider, window)) = state.store.reply_window(i).await? else {
        return Ok(None);
    };
    let t = Tr(lang);
    let tz = state.store.time_zone();
    let notice = match window {
        ReplyWindow::Open { closes_at } => format!(
            "{} {}",
            t.s("Puede escribir libremente hasta"),
            local(&closes_at, tz)
        ),
        ReplyWindow::HumanAgent { closes_at } => format!(
            "{} {}",
            t.s("Pasaron más de 24 horas: se envía como respuesta de un agente (etiqueta HUMAN_AGENT) hasta"),
            local(&closes_at, tz)
        ),
        ReplyWindow::TemplatesOnly => t
            .s("Pasaron más de 24 horas desde el último mensaje del usuario: WhatsApp solo admite plantillas aprobadas. Cuando el usuario responda podrá escribir libremente.")
            .to_string(),
        ReplyWindow::Closed => t
            .s("Pasaron más de 7 días desde el último mensaje del usuario: la red social ya no admite respuestas. Contáctelo por otro medio.")
            .to_string(),
    };
    let templates = if provider == Provider::Whatsapp {
        state
            .config
            .meta
            .templates
            .iter()
            .map(|tpl| (tpl.name.clone(), tpl.render(&[i.folio.to_string()])))
            .collect()
    } else {
        vec![]
    };
    Ok(Some(ChatReply {
        provider: provider.label(lang),
        allows_text: window.allows_text(),
        notice,
        templates,
    }))
}

/// Where an answer goes, said before the agent writes it.
fn reply_hint(i: &Incident, chat: Option<&ChatReply>) -> &'static str {
    match (i.channel, chat) {
        (_, Some(_)) => "Se envía al usuario por el mismo medio en que escribió.",
        (Channel::Email | Channel::SuggestionBox, _) => {
            "Se envía por correo al usuario, con el folio en el asunto, cuando tiene dirección registrada."
        }
        _ => {
            "Se registra en el historial; este medio no envía mensajes: comuníquela al usuario por teléfono o en persona."
        }
    }
}

fn entry_detail(
    e: &atiende_domain::incident::TimelineEntry,
    lang: Lang,
    names: &HashMap<UserId, String>,
) -> String {
    let t = Tr(lang);
    match e.kind {
        EntryKind::StatusChange => e
            .status_change()
            .map(|(from, to)| format!("{} → {}", from.label(lang), to.label(lang)))
            .unwrap_or_default(),
        EntryKind::Derivation => {
            let unit = e.data["unit_name"].as_str().unwrap_or("");
            let mut s = format!("{} {unit}", t.s("Derivado a"));
            if let Some(addr) = e.data["told_address"].as_str() {
                s.push_str(&format!(
                    " · {} {addr}",
                    t.s("se sugirió al usuario escribir a")
                ));
            }
            s
        }
        EntryKind::DerivationAnswer => format!(
            "{} {}",
            t.s("Respuesta de"),
            e.data["unit_name"].as_str().unwrap_or("")
        ),
        EntryKind::Assignment => match e.data["to"].as_i64() {
            Some(id) => format!(
                "{} {}",
                t.s("Asignado a"),
                names.get(&UserId(id)).cloned().unwrap_or_default()
            ),
            None => t.s("Sin asignar").to_string(),
        },
        EntryKind::Classification => {
            let mut parts = Vec::new();
            if let Some(u) = e.data["user_type"].as_str().and_then(UserType::from_code) {
                parts.push(u.label(lang).to_string());
            }
            if let Some(i) = e.data["incident_type"]
                .as_str()
                .and_then(IncidentType::from_code)
            {
                parts.push(i.label(lang).to_string());
            }
            if e.data["critical"].as_bool() == Some(true) {
                parts.push(t.s("Crítico").to_string());
            }
            parts.join(" · ")
        }
        EntryKind::ServiceLevel => {
            let measure = e.data["measure"]
                .as_str()
                .and_then(atiende_domain::service_level::Measure::from_code)
                .map_or("", |m| m.label(lang));
            format!("{measure}: {}", t.s("venció el tiempo comprometido"))
        }
        _ => String::new(),
    }
}

/// Every field any incident form may post; each action reads its own.
#[derive(Deserialize, Default)]
struct ActionForm {
    body: Option<String>,
    template: Option<String>,
    notes: Option<String>,
    reason: Option<String>,
    channel: Option<String>,
    user_type: Option<String>,
    incident_type: Option<String>,
    topic_id: Option<String>,
    critical: Option<String>,
    unit_id: Option<String>,
    medium: Option<String>,
    user_told: Option<String>,
    told_address: Option<String>,
    close: Option<String>,
    user_id: Option<String>,
    /// The canned response an answer was written from (its use is counted).
    canned_response_id: Option<String>,
    macro_id: Option<String>,
    /// The newest entry the answer's writer had seen (`IncidentPage::newest_entry`).
    visto: Option<String>,
    /// The writer saw what was added meanwhile and sends the answer anyway.
    confirm_stale: Option<String>,
    /// The folio an incident is a duplicate of, and whether it is merged into it.
    original: Option<String>,
    merge: Option<String>,
}

async fn act(
    State(state): State<AppState>,
    Path((folio, action)): Path<(String, String)>,
    posted: PostedWithFiles<ActionForm>,
) -> Result<Response, PageError> {
    let PostedWithFiles { page, form, files } = posted;
    let id = visible(&state, &page, &folio).await?;
    let user = page.user.clone();
    let actor = Actor::Staff(&user);
    if action == "escribiendo" {
        // A keystroke in an answer or a note: the others on the incident see who is writing.
        page.require(Action::IncidentNote)?;
        state
            .store
            .mark_present(id, user.id, true, chrono::Utc::now())
            .await?;
        return Ok(axum::http::StatusCode::NO_CONTENT.into_response());
    }
    if action == "responder"
        && form.confirm_stale.is_none()
        && let Some(seen) = non_empty(&form.visto).and_then(|v| v.parse::<i64>().ok())
    {
        let added = state.store.added_since(id, seen, user.id).await?;
        if !added.is_empty() {
            return held_back(&state, page, id, &added, form).await;
        }
    }
    let required = match action.as_str() {
        "clasificar" | "responder" | "pormenores" | "cerrar" | "reabrir" | "esperar" | "macro"
        | "duplicado" => Action::IncidentWork,
        "nota" => Action::IncidentNote,
        "derivar" => Action::IncidentDerive,
        "asignar" => Action::IncidentAssign,
        _ => {
            return Err(PageError::from(AppError::NotFound("action")));
        }
    };
    page.require(required)?;
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    let result: Result<&str, AppError> = match action.as_str() {
        "clasificar" => {
            let input = ClassifyInput {
                channel: non_empty(&form.channel).and_then(Channel::from_code),
                user_type: non_empty(&form.user_type).and_then(UserType::from_code),
                incident_type: non_empty(&form.incident_type).and_then(IncidentType::from_code),
                topic_id: non_empty(&form.topic_id)
                    .and_then(|t| t.parse().ok())
                    .map(TopicId),
                critical: Some(form.critical.is_some()),
                subject: None,
            };
            state
                .store
                .classify_incident(actor, id, &input)
                .await
                .map(|_| "classified")
                .map_err(Into::into)
        }
        "responder" => match non_empty(&form.template) {
            Some(name) => match state.config.meta.template(name) {
                Some(template) => state
                    .store
                    .answer_with_template(actor, id, template)
                    .await
                    .map(|_| "answer")
                    .map_err(Into::into),
                None => Err(AppError::Rule(atiende_domain::RuleError::invalid(
                    "template",
                    "unknown_template",
                ))),
            },
            None => match non_empty(&form.canned_response_id).and_then(|c| c.parse().ok()) {
                Some(canned) => state
                    .store
                    .add_entry_from_canned(
                        actor,
                        id,
                        EntryKind::OutboundMessage,
                        &text(&form.body),
                        &files,
                        canned,
                    )
                    .await
                    .map(|_| "answer")
                    .map_err(Into::into),
                None => state
                    .store
                    .add_entry_with_files(
                        actor,
                        id,
                        EntryKind::OutboundMessage,
                        &text(&form.body),
                        &files,
                    )
                    .await
                    .map(|_| "answer")
                    .map_err(Into::into),
            },
        },
        "nota" => state
            .store
            .add_entry_with_files(actor, id, EntryKind::Note, &text(&form.body), &files)
            .await
            .map(|_| "note")
            .map_err(Into::into),
        "esperar" => state
            .store
            .wait_on_person(actor, id, &text(&form.body))
            .await
            .map(|_| "waiting_on_person")
            .map_err(Into::into),
        "pormenores" => state
            .store
            .add_entry(actor, id, EntryKind::Intervention, &text(&form.body))
            .await
            .map(|_| "intervention")
            .map_err(Into::into),
        "cerrar" => state
            .store
            .close_incident(actor, id, non_empty(&form.notes))
            .await
            .map(|_| "closed")
            .map_err(Into::into),
        "reabrir" => state
            .store
            .reopen_incident(actor, id, &text(&form.reason))
            .await
            .map(|_| "reopened")
            .map_err(Into::into),
        "asignar" => {
            let target = match non_empty(&form.user_id) {
                None => None,
                Some("me") => Some(user.id),
                Some(v) => v.parse().ok().map(UserId),
            };
            if user.may_assign_to(target) {
                state
                    .store
                    .assign_incident(actor, id, target)
                    .await
                    .map(|_| "assigned")
                    .map_err(Into::into)
            } else {
                Err(AppError::Forbidden)
            }
        }
        "derivar" => match non_empty(&form.unit_id).and_then(|u| u.parse().ok()) {
            None => Err(AppError::Rule(atiende_domain::RuleError::invalid(
                "unit_id", "required",
            ))),
            Some(unit) => {
                let close = form.close.is_some();
                let input = DeriveInput {
                    unit_id: UnitId(unit),
                    medium: non_empty(&form.medium)
                        .and_then(Medium::from_code)
                        .unwrap_or(Medium::Email),
                    reason: text(&form.reason),
                    user_told: Some(form.user_told.is_some()),
                    told_address: non_empty(&form.told_address).map(str::to_string),
                    close,
                    notes: non_empty(&form.notes).map(str::to_string),
                };
                let code = if close { "derived_closed" } else { "derived" };
                state
                    .store
                    .derive_incident(actor, id, &input)
                    .await
                    .map(|_| code)
                    .map_err(Into::into)
            }
        },
        "duplicado" => match non_empty(&form.original) {
            None => Err(AppError::Rule(atiende_domain::RuleError::invalid(
                "original", "required",
            ))),
            Some(original) => match visible(&state, &page, original).await {
                Ok(original) => state
                    .store
                    .close_as_duplicate(actor, id, original, form.merge.is_some())
                    .await
                    .map(|_| {
                        if form.merge.is_some() {
                            "merged"
                        } else {
                            "duplicate"
                        }
                    })
                    .map_err(Into::into),
                Err(_) => Err(AppError::Rule(atiende_domain::RuleError::invalid(
                    "original",
                    "unknown_incident",
                ))),
            },
        },
        "macro" => match super::macros::chosen(&form.macro_id) {
            None => Err(AppError::Rule(atiende_domain::RuleError::invalid(
                "macro_id", "required",
            ))),
            Some(m) => state
                .store
                .apply_macro(&user, m, id)
                .await
                .map(|_| "macro")
                .map_err(Into::into),
        },
        _ => Err(AppError::NotFound("action")),
    };
    finish(&state, page, &folio, id, result).await
}

/// After a step: back to the view with a notice, or the view again with the reason it failed.
async fn finish(
    state: &AppState,
    page: PageUser,
    folio: &str,
    id: IncidentId,
    result: Result<&str, AppError>,
) -> Result<Response, PageError> {
    match result {
        Ok(code) => Ok(Redirect::to(&format!("/incidentes/{folio}?ok={code}")).into_response()),
        Err(AppError::Internal) => Err(PageError::from(AppError::Internal)),
        Err(e) => {
            let message = describe_error(&e, page.user.language);
            let status = e.status();
            let mut r = page_of(state, page, id, None, Some(message), false, None).await?;
            *r.status_mut() = status;
            Ok(r)
        }
    }
}

/// An answer written on a stale view: not sent; the page again, with what others added since,
/// the answer kept in the box, and sending it again sends it.
async fn held_back(
    state: &AppState,
    page: PageUser,
    id: IncidentId,
    added: &[atiende_store::presence::Added],
    form: ActionForm,
) -> Result<Response, PageError> {
    let t = Tr(page.user.language);
    let lang = page.user.language;
    let what: Vec<String> = added
        .iter()
        .map(|a| match &a.author {
            Some(who) => format!("{} ({who})", a.kind.label(lang)),
            None => a.kind.label(lang).to_string(),
        })
        .collect();
    let message = format!(
        "{} {}. {}",
        t.s("Mientras escribía se agregó al incidente:"),
        what.join(", "),
        t.s("Revise el historial; su respuesta no se envió y sigue en el cuadro. Envíela de nuevo si sigue siendo válida.")
    );
    let prefill = Prefill::Stale {
        body: form.body.unwrap_or_default(),
        canned: non_empty(&form.canned_response_id).and_then(|c| c.parse().ok()),
    };
    let mut r = page_of(state, page, id, None, Some(message), false, Some(prefill)).await?;
    *r.status_mut() = axum::http::StatusCode::CONFLICT;
    Ok(r)
}

#[derive(Deserialize)]
struct Nothing {}

/// "This article resolved it": recorded on the incident and counted for the article.
async fn resolved_by_article(
    State(state): State<AppState>,
    Path((folio, article)): Path<(String, i64)>,
    posted: Posted<Nothing>,
) -> Result<Response, PageError> {
    let Posted { page, form: _ } = posted;
    page.require(Action::IncidentWork)?;
    let id = visible(&state, &page, &folio).await?;
    let user = page.user.clone();
    let result = state
        .store
        .mark_resolved_by_article(Actor::Staff(&user), id, article)
        .await
        .map(|_| "resolved_by_article")
        .map_err(AppError::from);
    finish(&state, page, &folio, id, result).await
}

#[derive(Deserialize)]
struct AnswerForm {
    answer: String,
    /// Set by the "answer and close" button.
    #[serde(default)]
    close: Option<String>,
    #[serde(default)]
    user_type: Option<String>,
}

async fn answer(
    State(state): State<AppState>,
    Path((folio, derivation)): Path<(String, i64)>,
    posted: Posted<AnswerForm>,
) -> Result<Response, PageError> {
    let Posted { page, form } = posted;
    page.require(Action::DerivationAnswer)?;
    let id = visible(&state, &page, &folio).await?;
    let user = page.user.clone();
    let close = form.close.is_some();
    let input = UnitAnswer {
        answer: form.answer,
        close,
        user_type: non_empty(&form.user_type).and_then(UserType::from_code),
    };
    let result = state
        .store
        .answer_derivation(Actor::Staff(&user), id, DerivationId(derivation), &input)
        .await
        .map(|_| {
            if close {
                "unit_answer_closed"
            } else {
                "unit_answer"
            }
        })
        .map_err(AppError::from);
    finish(&state, page, &folio, id, result).await
}
