//! Units (instancias, coordinaciones) that receive derivations, and the topic catalogue.

use serde::{Deserialize, Serialize};

use crate::classification::coded_enum;
use crate::error::Validator;
use crate::ids::{TopicId, UnitId};
use crate::{RuleError, contact::normalize_email};

coded_enum!(
    /// What a unit means to the procedure. The rules find the special units by kind, never by name.
    UnitKind {
        Promotion = "promotion", "Unidad de Promoción", "Promotion unit";
        TopManagement = "top_management", "Alta dirección", "Top management";
        Quality = "quality", "Responsable del SIGA", "Quality owner";
        Coordination = "coordination", "Coordinación", "Coordination";
    }
);

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Unit {
    pub id: UnitId,
    pub name: String,
    pub kind: UnitKind,
    pub responsible_name: String,
    pub email: String,
    pub phone: String,
    pub active: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UnitInput {
    pub name: Option<String>,
    pub kind: Option<UnitKind>,
    pub responsible_name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub active: Option<bool>,
}

impl UnitInput {
    /// Validates an input over an existing unit (edit) or nothing (create).
    pub fn apply(&self, current: Option<&Unit>) -> Result<Unit, RuleError> {
        let mut v = Validator::new();
        let mut unit = current.cloned().unwrap_or(Unit {
            id: UnitId(0),
            name: String::new(),
            kind: UnitKind::Coordination,
            responsible_name: String::new(),
            email: String::new(),
            phone: String::new(),
            active: true,
        });
        if let Some(n) = &self.name {
            unit.name = v.text("name", n, 200, true);
        } else if current.is_none() {
            v.push("name", "required");
        }
        if let Some(k) = self.kind {
            unit.kind = k;
        }
        if let Some(r) = &self.responsible_name {
            unit.responsible_name = v.text("responsible_name", r, 200, false);
        }
        if let Some(e) = &self.email {
            unit.email = if e.trim().is_empty() {
                String::new()
            } else {
                normalize_email(e).unwrap_or_else(|| {
                    v.push("email", "invalid_email");
                    String::new()
                })
            };
        }
        if let Some(p) = &self.phone {
            unit.phone = v.text("phone", p, 40, false);
        }
        if let Some(a) = self.active {
            unit.active = a;
        }
        v.finish()?;
        Ok(unit)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Topic {
    pub id: TopicId,
    pub name: String,
    pub active: bool,
}

/// The units a fresh instance starts with (procedure steps 2, 5 and 7, and usual coordinations).
pub fn seed_units() -> Vec<(UnitKind, &'static str, &'static str)> {
    vec![
        (
            UnitKind::Promotion,
            "Unidad de Promoción",
            "promocion@udgvirtual.udg.mx",
        ),
        (
            UnitKind::TopManagement,
            "Alta dirección (Rectoría del SUV)",
            "rectoria@udgvirtual.udg.mx",
        ),
        (
            UnitKind::Quality,
            "Responsable del SIGA",
            "siga@udgvirtual.udg.mx",
        ),
        (
            UnitKind::Coordination,
            "Coordinación de Control Escolar",
            "controlescolar@udgvirtual.udg.mx",
        ),
        (
            UnitKind::Coordination,
            "Coordinación de Tecnologías para el Aprendizaje",
            "soporte@udgvirtual.udg.mx",
        ),
        (
            UnitKind::Coordination,
            "Coordinación de Finanzas",
            "finanzas@udgvirtual.udg.mx",
        ),
        (
            UnitKind::Coordination,
            "Coordinación de Programas Educativos",
            "programas@udgvirtual.udg.mx",
        ),
    ]
}

/// The first topic catalogue: what users of the CAP ask about.
pub const SEED_TOPICS: &[&str] = &[
    "Oferta educativa",
    "Requisitos de ingreso",
    "Registro de solicitud y número de aspirante",
    "Pagos, aranceles y órdenes de pago",
    "Curso de selección / propedéutico",
    "Dictamen de admisión",
    "Inscripción y reinscripción",
    "Plataforma virtual y acceso a cursos",
    "Correo institucional y contraseñas",
    "Calendario escolar",
    "Calificaciones, kárdex y constancias",
    "Becas",
    "Servicio social y prácticas",
    "Titulación y título electrónico",
    "Cédula profesional",
    "Credencial",
    "Baja y licencia",
    "Equivalencias y revalidación",
    "Educación continua (cursos, diplomados)",
];
