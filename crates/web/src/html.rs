//! What HTML from outside becomes before a page shows it: an email's HTML and an article's
//! Markdown, both through one sanitiser (ammonia). No I/O, so the fuzz target `markdown`
//! compiles this file on its own and checks that nothing active survives.

/// Sanitises an email's HTML: no scripts, styles that load, forms or event handlers; links
/// open outside; remote images only when `allow_images`.
pub fn sanitize(html: &str, allow_images: bool) -> String {
    let mut b = ammonia::Builder::default();
    b.link_rel(Some("noopener noreferrer nofollow"))
        .url_schemes(["http", "https", "mailto"].into_iter().collect())
        .attribute_filter(move |element, attribute, value| {
            if element == "img" && attribute == "src" && !allow_images {
                None
            } else {
                Some(value.into())
            }
        });
    b.clean(html).to_string()
}

/// Markdown to HTML, then sanitised: an article can never carry a script or a foreign frame,
/// and its images come from the service itself — a remote image would tell another site who
/// read the article and when (the rule email follows until an agent allows them).
pub fn markdown(body: &str) -> String {
    let mut html = String::new();
    let parser = pulldown_cmark::Parser::new_ext(body, pulldown_cmark::Options::ENABLE_TABLES);
    pulldown_cmark::html::push_html(&mut html, parser);
    ammonia::Builder::default()
        .link_rel(Some("noopener noreferrer nofollow"))
        .attribute_filter(|element, attribute, value| {
            if element == "img" && attribute == "src" && !is_own_path(value) {
                None
            } else {
                Some(value.into())
            }
        })
        .clean(&html)
        .to_string()
}

/// A path on this service, never another site. Browsers drop tabs and line breaks inside a URL
/// and read `\\` as `/`, so `/\t/evil.example` or `/\\evil.example` would become
/// `//evil.example`: only visible ASCII is accepted, and never a second slash or backslash up
/// front. Used for where to go after signing in and for an article's images.
pub fn is_own_path(value: &str) -> bool {
    value.starts_with('/')
        && !value.starts_with("//")
        && !value.contains('\\')
        && value.bytes().all(|b| b.is_ascii_graphic())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_handlers_and_forms_are_removed_and_remote_images_wait_for_permission() {
        let html = r#"<p onclick="steal()">Hola<script>alert(1)</script></p><img src="https://t.example/p.gif"><form action="x"><input></form><a href="javascript:alert(1)">x</a>"#;
        let clean = sanitize(html, false);
        assert!(
            !clean.contains("script")
                && !clean.contains("onclick")
                && !clean.contains("<form")
                && !clean.contains("javascript:"),
            "{clean}"
        );
        assert!(
            !clean.contains("t.example"),
            "remote image blocked: {clean}"
        );
        assert!(sanitize(html, true).contains("https://t.example/p.gif"));
        assert!(clean.contains("Hola"));
    }

    #[test]
    fn an_article_shows_its_own_images_and_never_a_remote_one() {
        let html = markdown(
            "![logo](/static/logo.png) ![pixel](https://tracker.example/p.gif) \
             ![proto](//tracker.example/p.gif) <script>alert(1)</script>",
        );
        assert!(html.contains("src=\"/static/logo.png\""), "{html}");
        assert!(!html.contains("tracker.example"), "{html}");
        assert!(!html.contains("<script"), "{html}");
        let sneaky = markdown(
            "<img src=\"/\\tracker.example/p.gif\"> <img src=\"/&#9;/tracker.example/q.gif\">",
        );
        assert!(!sneaky.contains("tracker.example"), "{sneaky}");
    }

    /// Found by the fuzzer: an image's alt text reading "javascript:" is text, kept as such,
    /// while the same words as an address are dropped.
    #[test]
    fn a_scheme_in_alt_text_is_words_and_in_an_address_is_removed() {
        let html = markdown("![javascript:logo](/static/logo.png) [x](javascript:alert(1))");
        assert!(html.contains("alt=\"javascript:logo\""), "{html}");
        assert!(html.contains("src=\"/static/logo.png\""), "{html}");
        assert!(!html.contains("href=\"javascript:"), "{html}");
    }
}
