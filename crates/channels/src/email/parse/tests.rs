//! A corpus of real-world shaped messages: every one parses without panic and keeps its words.

use super::*;

const LATIN1: &[u8] = b"From: =?ISO-8859-1?Q?Jos=E9_P=E9rez?= <jose.perez@gmail.com>\r\n\
To: cap@udgvirtual.udg.mx\r\n\
Subject: =?ISO-8859-1?Q?Inscripci=F3n_y_pago?=\r\n\
Message-ID: <abc123@gmail.com>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: text/plain; charset=ISO-8859-1\r\n\
Content-Transfer-Encoding: quoted-printable\r\n\
\r\n\
=BFCu=E1ndo es la inscripci=F3n? Gracias.\r\n";

const HTML_ONLY: &[u8] = b"From: Ana <ana@hotmail.com>\r\n\
Subject: Solo HTML\r\n\
Message-ID: <html1@hotmail.com>\r\n\
Content-Type: text/html; charset=utf-8\r\n\
\r\n\
<html><body><p>Hola, <b>no puedo</b> entrar a la plataforma.</p><img src=\"https://tracker.example/p.gif\"><script>alert(1)</script></body></html>\r\n";

const ALTERNATIVE_WITH_ATTACHMENT: &[u8] = b"From: Luis <luis@alumnos.udg.mx>\r\n\
Subject: Comprobante de pago\r\n\
Message-ID: <multi1@alumnos.udg.mx>\r\n\
In-Reply-To: <prev@udgvirtual.udg.mx>\r\n\
References: <first@udgvirtual.udg.mx> <prev@udgvirtual.udg.mx>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"XX\"\r\n\
\r\n\
--XX\r\n\
Content-Type: multipart/alternative; boundary=\"YY\"\r\n\
\r\n\
--YY\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
\r\n\
Adjunto mi comprobante.\r\n\
--YY\r\n\
Content-Type: text/html; charset=utf-8\r\n\
\r\n\
<p>Adjunto mi <i>comprobante</i>.</p>\r\n\
--YY--\r\n\
--XX\r\n\
Content-Type: application/pdf; name=\"comprobante.pdf\"\r\n\
Content-Disposition: attachment; filename=\"comprobante.pdf\"\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
JVBERi0xLjQKJcfsj6IKNSAwIG9iago=\r\n\
--XX--\r\n";

const AUTO_REPLY: &[u8] = b"From: ana@gmail.com\r\n\
Subject: Fuera de la oficina\r\n\
Message-ID: <ooo@gmail.com>\r\n\
Auto-Submitted: auto-replied\r\n\
\r\n\
Estoy de vacaciones.\r\n";

#[test]
fn latin1_bodies_and_encoded_words_become_readable_spanish() {
    let m = parse(LATIN1);
    assert_eq!(m.subject, "Inscripción y pago");
    assert_eq!(m.from_name, "José Pérez");
    assert_eq!(m.from_address.as_deref(), Some("jose.perez@gmail.com"));
    assert_eq!(m.message_id, "abc123@gmail.com");
    assert!(m.text.contains("¿Cuándo es la inscripción?"), "{}", m.text);
    assert!(!m.malformed);
}

#[test]
fn an_html_only_message_gets_a_text_version_and_keeps_its_html() {
    let m = parse(HTML_ONLY);
    assert!(m.text.contains("no puedo"), "{}", m.text);
    assert!(
        m.html
            .as_deref()
            .is_some_and(|h| h.contains("<b>no puedo</b>"))
    );
}

#[test]
fn alternatives_attachments_and_threading_headers_are_read() {
    let m = parse(ALTERNATIVE_WITH_ATTACHMENT);
    assert_eq!(m.text.trim(), "Adjunto mi comprobante.");
    assert_eq!(m.in_reply_to, ["prev@udgvirtual.udg.mx"]);
    assert_eq!(
        m.references,
        ["first@udgvirtual.udg.mx", "prev@udgvirtual.udg.mx"]
    );
    assert_eq!(m.attachments.len(), 1);
    assert_eq!(m.attachments[0].filename, "comprobante.pdf");
    assert_eq!(m.attachments[0].content_type, "application/pdf");
    assert!(m.attachments[0].data.starts_with(b"%PDF"));
}

#[test]
fn an_auto_reply_is_marked_automatic() {
    let m = parse(AUTO_REPLY);
    assert!(m.is_automatic(&[]));
    assert!(!parse(LATIN1).is_automatic(&[]));
}

#[test]
fn a_message_without_message_id_gets_a_stable_one() {
    let raw = b"From: a@b.mx\r\nSubject: x\r\n\r\nhola\r\n";
    assert_eq!(parse(raw).message_id, parse(raw).message_id);
    assert_ne!(
        parse(raw).message_id,
        parse(b"From: a@b.mx\r\nSubject: y\r\n\r\nhola\r\n").message_id
    );
}

#[test]
fn malformed_and_hostile_input_never_panics_and_is_kept() {
    let cases: Vec<Vec<u8>> = vec![
        Vec::new(),
        b"\r\n\r\n".to_vec(),
        b"no headers at all, just text".to_vec(),
        b"From: <<<>>>\r\nSubject: =?utf-8?B?####?=\r\nContent-Type: multipart/mixed; boundary=\r\n\r\n--\r\n--\r\n".to_vec(),
        b"Subject: \xff\xfe\xfd\r\n\r\n\xc3\x28 invalid utf8".to_vec(),
        [b"Subject: huge\r\n\r\n".to_vec(), vec![b'a'; 5_000_000]].concat(),
        b"Content-Type: multipart/mixed; boundary=\"a\"\r\n\r\n--a\r\nContent-Type: multipart/mixed; boundary=\"a\"\r\n\r\n--a\r\n".repeat(200),
    ];
    for raw in cases {
        let m = parse(&raw);
        assert!(!m.message_id.is_empty());
    }
}
