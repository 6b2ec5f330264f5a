//! Whatever a person types in a search box becomes a query: never a panic.
#![no_main]

use atiende_domain::knowledge::SearchQuery;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = SearchQuery::parse(text);
    }
});
