//! Whatever an article's author writes in Markdown, and whatever HTML an email brings, comes
//! out with nothing active in it: no script, no event handler, no `javascript:` link, no frame,
//! and (for articles) no image from another site.
#![no_main]

#[path = "../../crates/web/src/html.rs"]
mod html;

use libfuzzer_sys::fuzz_target;

/// The output's tags, each as its name and attributes. Text is escaped (`&lt;`), so every `<`
/// left opens a real tag, and the serialiser writes every value in double quotes (a `"` inside
/// is `&quot;`), which makes this small reading exact.
fn tags(html: &str) -> Vec<(String, Vec<(String, String)>)> {
    let mut found = Vec::new();
    for raw in html.split('<').skip(1) {
        let mut rest = raw.trim_start_matches('/');
        let end = rest
            .find(|c: char| c.is_ascii_whitespace() || c == '>' || c == '/')
            .unwrap_or(rest.len());
        let name = rest[..end].to_ascii_lowercase();
        rest = &rest[end..];
        let mut attributes = Vec::new();
        loop {
            rest = rest.trim_start_matches(|c: char| c.is_ascii_whitespace() || c == '/');
            if rest.is_empty() || rest.starts_with('>') {
                break;
            }
            let end = rest
                .find(|c: char| c.is_ascii_whitespace() || c == '=' || c == '>')
                .unwrap_or(rest.len());
            let key = rest[..end].to_ascii_lowercase();
            rest = &rest[end..];
            let mut value = String::new();
            if let Some(after) = rest.strip_prefix("=\"") {
                let close = after.find('"').expect("a closing quote");
                value = after[..close].to_string();
                rest = &after[close + 1..];
            }
            attributes.push((key, value));
        }
        found.push((name, attributes));
    }
    found
}

/// The attributes a browser follows as an address.
const URL_ATTRIBUTES: [&str; 10] = [
    "href",
    "src",
    "srcset",
    "action",
    "formaction",
    "poster",
    "background",
    "cite",
    "xlink:href",
    "longdesc",
];

/// Nothing that runs code or loads another document survives the sanitiser.
fn assert_inert(out: &str) {
    let active = [
        "script", "iframe", "object", "embed", "form", "style", "base", "meta",
    ];
    for (name, attributes) in tags(out) {
        assert!(!active.contains(&name.as_str()), "<{name}> survived: {out}");
        for (key, value) in attributes {
            assert!(!key.starts_with("on"), "an event handler survived: {out}");
            // Only addresses are followed; an image's alt text or a title may say anything.
            if !URL_ATTRIBUTES.contains(&key.as_str()) {
                continue;
            }
            let value = value.trim_start().to_ascii_lowercase();
            for scheme in ["javascript:", "vbscript:", "data:"] {
                assert!(!value.starts_with(scheme), "{scheme} survived: {out}");
            }
        }
    }
}

/// The sources of the output's images.
fn image_sources(out: &str) -> Vec<String> {
    tags(out)
        .into_iter()
        .filter(|(name, _)| name == "img")
        .flat_map(|(_, attributes)| attributes)
        .filter(|(key, _)| key == "src")
        .map(|(_, value)| value)
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let article = html::markdown(text);
    assert_inert(&article);
    for src in image_sources(&article) {
        let src = src.replace("&amp;", "&");
        assert!(
            html::is_own_path(&src),
            "a remote image in an article: {article}"
        );
    }
    let email = html::sanitize(text, false);
    assert_inert(&email);
    assert!(
        image_sources(&email).is_empty(),
        "an image before it is allowed: {email}"
    );
});
