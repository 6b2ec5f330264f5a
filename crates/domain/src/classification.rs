//! The procedure's classifications. Codes (stored and used in the API) are English; labels are the
//! procedure's Spanish words, with English available.

use serde::{Deserialize, Serialize};

/// Interface language of a person using atiende.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Lang {
    #[default]
    #[serde(rename = "es-MX", alias = "es")]
    Es,
    #[serde(rename = "en")]
    En,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::Es => "es-MX",
            Lang::En => "en",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        match code {
            "es-MX" | "es" => Some(Lang::Es),
            "en" | "en-US" | "en-GB" => Some(Lang::En),
            _ => None,
        }
    }
}

/// Declares an enum stored and exchanged as a short code, labelled in Spanish and English.
macro_rules! coded_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $code:literal, $es:literal, $en:literal;)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $(#[serde(rename = $code)] $variant,)* }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];

            pub fn code(self) -> &'static str {
                match self { $($name::$variant => $code,)* }
            }

            pub fn from_code(code: &str) -> Option<Self> {
                match code { $($code => Some($name::$variant),)* _ => None }
            }

            /// Templates pass arguments by reference, hence `Borrow`.
            pub fn label(self, lang: impl core::borrow::Borrow<$crate::classification::Lang>) -> &'static str {
                match (self, *lang.borrow()) {
                    $(($name::$variant, $crate::classification::Lang::Es) => $es, ($name::$variant, $crate::classification::Lang::En) => $en,)*
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.code())
            }
        }
    };
}
pub(crate) use coded_enum;

coded_enum!(
    /// Medio de contacto.
    Channel {
        Email = "email", "Correo", "Email";
        Phone = "phone", "Teléfono", "Phone";
        Whatsapp = "whatsapp", "WhatsApp", "WhatsApp";
        InPerson = "in_person", "Persona", "In person";
        Social = "social", "Redes sociales", "Social networks";
        SuggestionBox = "suggestion_box", "Buzón", "Suggestion box";
        Portal = "portal", "Portal", "Portal";
        ChatWeb = "chat_web", "Chat web", "Web chat";
    }
);

impl Channel {
    /// Channels on which the CAP itself derives (phone or email); on the others the agent also
    /// suggests the user write to the unit (procedure step 6a).
    pub fn derives_directly(self) -> bool {
        matches!(self, Channel::Email | Channel::Phone)
    }
}

coded_enum!(
    /// Tipo de usuario.
    UserType {
        Prospect = "prospect", "Interesado", "Prospect";
        Applicant = "applicant", "Aspirante", "Applicant";
        Student = "student", "Estudiante", "Student";
        Alumnus = "alumnus", "Egresado", "Alumnus";
        // "No identificado": only where there is nobody to ask (an anonymous buzón entry, a
        // message whose sender cannot be read), counted apart in every breakdown.
        Unidentified = "unidentified", "No identificado", "Unidentified";
    }
);

impl UserType {
    /// The types a person can be asked about: all but "no identificado".
    pub fn of_people() -> impl Iterator<Item = UserType> {
        Self::ALL
            .iter()
            .copied()
            .filter(|t| *t != UserType::Unidentified)
    }
}

coded_enum!(
    /// Tipo de incidencia.
    IncidentType {
        Question = "question", "Duda", "Question";
        Complaint = "complaint", "Queja", "Complaint";
        Suggestion = "suggestion", "Sugerencia", "Suggestion";
        Compliment = "compliment", "Felicitación", "Compliment";
    }
);

coded_enum!(
    /// Programme line of a contact. Continuing education is handed to the Unidad de Promoción.
    ProgrammeLine {
        HighSchool = "high_school", "Bachillerato", "High school";
        Undergraduate = "undergraduate", "Licenciatura", "Undergraduate";
        Postgraduate = "postgraduate", "Posgrado", "Postgraduate";
        ContinuingEducation = "continuing_education", "Educación continua", "Continuing education";
    }
);

coded_enum!(
    /// How a derivation was made (procedure step 6a: by phone or by email).
    Medium {
        Phone = "phone", "Teléfono", "Phone";
        Email = "email", "Correo", "Email";
    }
);
