//! Any file given to `atiende import` (a roster or a SugarCRM export's CSV, in any encoding)
//! is read into rows or refused: never a panic, every skipped or read row numbered by a line
//! the file has, and every value through the same translations the import applies.
#![no_main]

#[allow(dead_code)]
#[path = "../../crates/atiende/src/import/table.rs"]
mod table;

#[allow(dead_code)]
#[path = "../../crates/atiende/src/import/sugarcrm/mapping.rs"]
mod mapping;

use atiende_domain::import::{RosterField, programme_line_of, user_type_of};
use libfuzzer_sys::fuzz_target;
use mapping::{Mapping, Module};

const MODULES: [Module; 5] = [
    Module::Contacts,
    Module::Cases,
    Module::Notes,
    Module::Calls,
    Module::ContactsCases,
];

fuzz_target!(|data: &[u8]| {
    let text = table::decode(data);
    let Ok((read, skipped)) = table::read_table(&text) else {
        return;
    };
    let lines = text.bytes().filter(|b| *b == b'\n').count() + 1;
    for line in read
        .rows
        .iter()
        .map(|(l, _)| l)
        .chain(skipped.iter().map(|(l, _)| l))
    {
        assert!((1..=lines).contains(line), "line {line} of {lines}");
    }
    for header in &read.headers {
        let _ = RosterField::of_header(header);
        for module in MODULES {
            let _ = mapping::field_of(module, header);
        }
    }
    let sugar = Mapping::default();
    let tz = chrono_tz::America::Mexico_City;
    for value in read.rows.iter().flat_map(|(_, values)| values) {
        let _ = (user_type_of(value), programme_line_of(value));
        let _ = (sugar.datetime(value, tz), sugar.incident_type(value));
        let _ = (sugar.case_status(value, value), sugar.channel(value));
        let _ = (sugar.user_type(value), sugar.programme_line(value));
        let _ = (
            mapping::call_outcome_of(value),
            mapping::call_direction_of(value),
        );
        let _ = mapping::is_deleted(value);
    }
});
