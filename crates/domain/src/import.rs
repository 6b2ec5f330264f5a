//! Bringing the past along: how a roster's columns and values map to contacts. Spreadsheets
//! say the same thing many ways (`Correo`, `email`, `Correo electrónico`; `Estudiante`,
//! `alumno`), so names are compared without accents or case.

use serde::{Deserialize, Serialize};

use crate::classification::{ProgrammeLine, UserType};

/// A roster column atiende understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RosterField {
    Name,
    Email,
    Phone,
    StudentCode,
    UserType,
    ProgrammeLine,
}

/// Lower-case, accents off, spaces and punctuation as `_`.
pub fn simplify(raw: &str) -> String {
    let mut out = String::new();
    for c in raw.trim().to_lowercase().chars() {
        let c = match c {
            'á' | 'à' | 'ä' => 'a',
            'é' | 'è' | 'ë' => 'e',
            'í' | 'ì' | 'ï' => 'i',
            'ó' | 'ò' | 'ö' => 'o',
            'ú' | 'ù' | 'ü' => 'u',
            'ñ' => 'n',
            c if c.is_alphanumeric() => c,
            _ => '_',
        };
        out.push(c);
    }
    out.trim_matches('_').to_string()
}

impl RosterField {
    /// The field a header names, if any.
    pub fn of_header(header: &str) -> Option<RosterField> {
        Some(match simplify(header).as_str() {
            "nombre" | "name" | "nombre_completo" | "full_name" => RosterField::Name,
            "correo" | "email" | "e_mail" | "correo_electronico" | "mail" => RosterField::Email,
            "telefono" | "phone" | "celular" | "movil" | "tel" => RosterField::Phone,
            "codigo" | "codigo_de_alumno" | "student_code" | "codigo_alumno"
            | "numero_de_registro" | "registro" => RosterField::StudentCode,
            "tipo" | "tipo_de_usuario" | "user_type" => RosterField::UserType,
            "nivel" | "programa" | "nivel_o_programa" | "programme_line" | "linea" => {
                RosterField::ProgrammeLine
            }
            _ => return None,
        })
    }
}

/// A user type written as a code or in the CAP's words.
pub fn user_type_of(raw: &str) -> Option<UserType> {
    let s = simplify(raw);
    if let Some(t) = UserType::from_code(&s) {
        return Some(t);
    }
    Some(match s.as_str() {
        "interesado" | "prospecto" => UserType::Prospect,
        "aspirante" => UserType::Applicant,
        "estudiante" | "alumno" | "alumna" => UserType::Student,
        "egresado" | "egresada" => UserType::Alumnus,
        _ => return None,
    })
}

/// A programme line written as a code or in the CAP's words.
pub fn programme_line_of(raw: &str) -> Option<ProgrammeLine> {
    let s = simplify(raw);
    if let Some(l) = ProgrammeLine::from_code(&s) {
        return Some(l);
    }
    Some(match s.as_str() {
        "bachillerato" | "preparatoria" => ProgrammeLine::HighSchool,
        "licenciatura" | "pregrado" => ProgrammeLine::Undergraduate,
        "posgrado" | "maestria" | "doctorado" | "especialidad" => ProgrammeLine::Postgraduate,
        "educacion_continua" | "diplomado" | "curso" => ProgrammeLine::ContinuingEducation,
        _ => return None,
    })
}

/// What an import did, as the summary prints it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ImportReport {
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    /// Rows left out, with their line in the file and why.
    pub skipped: Vec<(usize, String)>,
    /// Rows brought in with something left behind (a value no mapping names, an invalid
    /// phone), with their line and what.
    pub warnings: Vec<(usize, String)>,
    /// What the import did to the whole file that the reader should know (no line).
    pub remarks: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_recognised_however_they_are_written() {
        assert_eq!(
            RosterField::of_header("Correo electrónico"),
            Some(RosterField::Email)
        );
        assert_eq!(
            RosterField::of_header(" TELÉFONO "),
            Some(RosterField::Phone)
        );
        assert_eq!(
            RosterField::of_header("Código de alumno"),
            Some(RosterField::StudentCode)
        );
        assert_eq!(
            RosterField::of_header("Nivel"),
            Some(RosterField::ProgrammeLine)
        );
        assert_eq!(RosterField::of_header("Color favorito"), None);
    }

    #[test]
    fn values_are_read_in_the_cap_s_words_or_as_codes() {
        assert_eq!(user_type_of("Alumna"), Some(UserType::Student));
        assert_eq!(user_type_of("applicant"), Some(UserType::Applicant));
        assert_eq!(user_type_of("otro"), None);
        assert_eq!(
            programme_line_of("Maestría"),
            Some(ProgrammeLine::Postgraduate)
        );
        assert_eq!(
            programme_line_of("Educación continua"),
            Some(ProgrammeLine::ContinuingEducation)
        );
    }
}
