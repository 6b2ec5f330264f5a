//! Canned responses (*respuestas predefinidas*): the texts the CAP answers with again and again,
//! shared by the centre or an agent's own, for a topic or any, with variables filled from the
//! incident at hand (the person's name, the folio, the agent's name, the unit it was derived
//! to). The variables are a small template language (MiniJinja, `{{ nombre }}`), rendered as
//! plain text with a bounded amount of work, and checked when the text is saved, so a typo is
//! refused then rather than when an agent uses it.

use serde::{Deserialize, Serialize};

use crate::RuleError;
use crate::classification::Lang;
use crate::error::Validator;
use crate::ids::TopicId;
use crate::incident::MAX_ENTRY_CHARS;

/// What an agent writes to keep a canned response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct CannedResponseInput {
    pub title: String,
    /// The text, with `{{ variable }}` where the incident's values go.
    pub body: String,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<i64>))]
    pub topic_id: Option<TopicId>,
    /// The whole CAP's (only leads keep those) or the writer's own.
    pub shared: bool,
}

impl CannedResponseInput {
    pub fn check(&self) -> Result<(), RuleError> {
        let mut v = Validator::new();
        v.text("title", &self.title, 120, true);
        v.text("body", &self.body, MAX_ENTRY_CHARS, true);
        if !self.body.trim().is_empty() && fill(&self.body, &Variables::example()).is_err() {
            v.push("body", "unknown_variable");
        }
        v.finish()
    }
}

/// The values a canned response's variables take on one incident.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Variables {
    /// The person's name (empty when unknown or blocked).
    pub nombre: String,
    pub folio: String,
    /// The agent who answers.
    pub agente: String,
    /// The unit the incident was last derived to, and how to reach it.
    pub unidad: String,
    pub unidad_correo: String,
    pub unidad_telefono: String,
}

/// The variables a text may use, with what each holds (for the help beside the editor).
pub const VARIABLES: &[(&str, &str, &str)] = &[
    ("nombre", "Nombre de la persona", "The person's name"),
    ("folio", "Folio del incidente", "The incident's folio"),
    (
        "agente",
        "Nombre de quien responde",
        "The name of who answers",
    ),
    (
        "unidad",
        "Unidad a la que se derivó",
        "The unit it was derived to",
    ),
    ("unidad_correo", "Correo de esa unidad", "That unit's email"),
    (
        "unidad_telefono",
        "Teléfono de esa unidad",
        "That unit's phone",
    ),
];

/// A variable's description in a language.
pub fn describe(name: &str, lang: Lang) -> Option<&'static str> {
    VARIABLES
        .iter()
        .find(|(n, ..)| *n == name)
        .map(|(_, es, en)| match lang {
            Lang::Es => *es,
            Lang::En => *en,
        })
}

impl Variables {
    /// Values to try a text with when it is saved.
    pub fn example() -> Variables {
        Variables {
            nombre: "Ana López".into(),
            folio: "CAP-2026-000001".into(),
            agente: "María".into(),
            unidad: "Control Escolar".into(),
            unidad_correo: "control@example.mx".into(),
            unidad_telefono: "3312345678".into(),
        }
    }
}

/// How much a text may make the template engine work: plenty for a letter, too little for a
/// loop that would hold a request.
const FUEL: u64 = 20_000;

/// The text with its variables filled. An unknown variable, a syntax error or a text that
/// works too hard is refused (`body`).
pub fn fill(body: &str, values: &Variables) -> Result<String, RuleError> {
    let mut env = minijinja::Environment::empty();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env.set_fuel(Some(FUEL));
    env.set_keep_trailing_newline(true);
    env.render_str(body, values)
        .map_err(|_| RuleError::invalid("body", "unknown_variable"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_are_filled_from_the_incident() {
        let text = fill(
            "Hola, {{ nombre }}: su folio es {{ folio }}. Escriba a {{ unidad_correo }}.\n{{ agente }}\n",
            &Variables::example(),
        )
        .expect("filled");
        assert_eq!(
            text,
            "Hola, Ana López: su folio es CAP-2026-000001. Escriba a control@example.mx.\nMaría\n"
        );
    }

    #[test]
    fn a_text_is_plain_and_nothing_is_escaped_or_run() {
        let values = Variables {
            nombre: "<b>Ana</b> & Luis".into(),
            ..Variables::example()
        };
        assert_eq!(
            fill("{{ nombre }}", &values).expect("filled"),
            "<b>Ana</b> & Luis"
        );
    }

    #[test]
    fn an_unknown_variable_or_a_runaway_text_is_refused_when_saved() {
        let input = |body: &str| CannedResponseInput {
            title: "Constancia".into(),
            body: body.into(),
            ..Default::default()
        };
        assert!(input("Hola, {{ nombre }}").check().is_ok());
        let err = input("Hola, {{ nombr }}").check().expect_err("typo");
        assert_eq!(err.fields()[0].code, "unknown_variable");
        assert!(input("Hola, {{ nombre").check().is_err(), "syntax");
        assert!(
            input(&format!(
                "{}.{}",
                "{% for c in 'xxxxxxxxxx' %}".repeat(5),
                "{% endfor %}".repeat(5)
            ))
            .check()
            .is_err(),
            "bounded work"
        );
        assert_eq!(describe("folio", Lang::En), Some("The incident's folio"));
    }
}
