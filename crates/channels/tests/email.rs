//! The email channel against a real mail server on loopback (OpenSMTPD + Dovecot, started by
//! `scripts/mail-server`), on both engines. Each test uses its own addresses, so each has its
//! own maildirs.

use std::time::Duration;

use atiende_channels::email::jobs as worker;
use atiende_channels::email::{imap, parse};
use atiende_channels::testing::{inbox_of, inbox_session};
use atiende_domain::classification::Channel;
use atiende_domain::incident::{EntryKind, Status};
use atiende_domain::mail_auth::MailAuth;
use atiende_store::email::{IngestOutcome, Mailbox, MailboxSettings};
use atiende_store::testing::TestDb;
use atiende_store::{Actor, Store};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

atiende_store::on_both_engines!(
    two_hundred_messages_are_ingested_exactly_once,
    a_fetch_cut_in_the_middle_loses_nothing_and_duplicates_nothing,
    a_reply_threads_into_its_incident_and_our_answer_arrives_threaded,
    an_answer_with_files_arrives_with_them_attached,
    a_forged_reference_never_attaches_mail_to_another_persons_incident,
    automatic_mail_never_opens_an_incident_nor_gets_an_answer,
    a_subject_with_line_breaks_cannot_add_a_header_to_our_answer,
    a_corpus_of_real_world_shapes_is_ingested_without_loss,
    a_derivation_by_email_sends_the_unit_a_summary_and_a_link,
    the_same_message_delivered_many_times_at_once_is_stored_once,
    one_time_links_are_made_as_they_leave_and_kept_nowhere_in_plain,
    mail_over_tls_is_read_and_sent_trusting_the_institutions_own_authority,
);

fn smtp_port() -> u16 {
    atiende_store::testing::require_mail_server().0
}

fn imap_port() -> i64 {
    i64::from(atiende_store::testing::require_mail_server().1)
}

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}-{}@test.local",
        std::process::id(),
        chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0) % 1_000_000_000
    )
}

/// Whether this run's mailboxes sign in by OAuth 2.0 token: the suite runs once with
/// passwords and once (`ATIENDE_TEST_MAIL_AUTH=oauth`, as `scripts/test` runs it again) with
/// mailboxes connected through the local OpenID provider, reading by XOAUTH2 over IMAP and
/// answering by XOAUTH2 on authenticated submission.
fn by_token() -> bool {
    std::env::var("ATIENDE_TEST_MAIL_AUTH").as_deref() == Ok("oauth")
}

async fn mailbox(db: &TestDb, address: &str, acknowledge: bool) -> Mailbox {
    if by_token() {
        let (m, _) = atiende_channels::testing::mailbox_by_token(
            db,
            address,
            MailAuth::Xoauth2,
            acknowledge,
        )
        .await;
        return m;
    }
    mailbox_by_password(db, address, acknowledge).await
}

async fn mailbox_by_password(db: &TestDb, address: &str, acknowledge: bool) -> Mailbox {
    let settings = MailboxSettings {
        name: address.into(),
        address: address.into(),
        channel: Channel::Email,
        imap_host: "127.0.0.1".into(),
        imap_port: imap_port(),
        imap_security: "plain".into(),
        imap_user: address.into(),
        imap_password: "secret".into(),
        imap_folder: "INBOX".into(),
        smtp_host: "127.0.0.1".into(),
        smtp_port: i64::from(smtp_port()),
        smtp_security: "plain".into(),
        smtp_user: String::new(),
        smtp_password: Default::default(),
        auth: MailAuth::Password,
        oauth: Default::default(),
        oauth_client_secret: Default::default(),
        acknowledge,
        active: true,
    };
    db.save_mailbox(Actor::System, &settings)
        .await
        .expect("mailbox")
}

async fn deliver(from: &str, to: &str, raw: String) {
    let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(smtp_port())
        .build();
    let envelope = lettre::address::Envelope::new(
        Some(from.parse().expect("from")),
        vec![to.parse().expect("to")],
    )
    .expect("envelope");
    transport
        .send_raw(&envelope, raw.as_bytes())
        .await
        .unwrap_or_else(|e| {
            panic!(
                "the test mail server on 127.0.0.1:{} failed: {e}",
                smtp_port()
            )
        });
}

/// Delivers many messages over one SMTP session (one connection per message is slow).
async fn deliver_many(to: &str, messages: &[(String, String)]) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", smtp_port()))
        .await
        .expect("smtp");
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    async fn reply(
        lines: &mut tokio::io::Lines<BufReader<tokio::net::tcp::OwnedReadHalf>>,
    ) -> String {
        loop {
            let line = lines.next_line().await.expect("smtp reply").expect("open");
            if line.as_bytes().get(3) != Some(&b'-') {
                return line;
            }
        }
    }
    assert!(reply(&mut lines).await.starts_with("220"));
    write.write_all(b"EHLO test.local\r\n").await.expect("ehlo");
    assert!(reply(&mut lines).await.starts_with("250"));
    for (from, raw) in messages {
        for cmd in [
            format!("MAIL FROM:<{from}>\r\n"),
            format!("RCPT TO:<{to}>\r\n"),
            "DATA\r\n".into(),
        ] {
            write.write_all(cmd.as_bytes()).await.expect("command");
            let r = reply(&mut lines).await;
            assert!(r.starts_with('2') || r.starts_with('3'), "{cmd}: {r}");
        }
        let body = raw.replace("\r\n.", "\r\n..");
        write
            .write_all(format!("{body}\r\n.\r\n").as_bytes())
            .await
            .expect("data");
        assert!(reply(&mut lines).await.starts_with("250"));
    }
    write.write_all(b"QUIT\r\n").await.expect("quit");
}

fn message(from: &str, to: &str, id: &str, subject: &str, extra: &str, body: &str) -> String {
    format!(
        "From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <{id}>\r\n{extra}Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    )
}

/// Polls until `total` messages were read (delivery is asynchronous).
async fn poll_until(store: &Store, mailbox_id: i64, total: usize) -> imap::PollReport {
    let mut sum = imap::PollReport::default();
    for _ in 0..150 {
        let m = store.mailbox(mailbox_id).await.expect("mailbox");
        let r = imap::poll(store, &m).await.expect("poll");
        sum.fetched += r.fetched;
        sum.created += r.created;
        sum.joined += r.joined;
        sum.duplicates += r.duplicates;
        sum.automatic += r.automatic;
        if sum.fetched >= total {
            return sum;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("only {} of {total} messages arrived", sum.fetched);
}

/// The incident the test's first message opened.
async fn only_incident(store: &Store) -> atiende_domain::incident::Incident {
    store
        .incidents(&atiende_domain::access::Scope::All, &Default::default())
        .await
        .expect("list")
        .first()
        .expect("incident")
        .incident
        .clone()
}

async fn agent(store: &Store) -> atiende_domain::user::StaffUser {
    store
        .create_user(
            Actor::System,
            &atiende_domain::user::UserInput {
                login: Some("agente".into()),
                role: Some(atiende_domain::user::Role::Agent),
                password: Some("clave-larga-123".into()),
                ..Default::default()
            },
        )
        .await
        .expect("agent")
        .user
}

async fn incident_count(store: &Store) -> i64 {
    store
        .counts()
        .await
        .expect("counts")
        .incidents_by_status
        .iter()
        .map(|(_, n)| n)
        .sum()
}

/// Everything delivered to `address`, raw, as the mail server holds it.
fn header<'a>(raw: &'a str, name: &str) -> Option<&'a str> {
    raw.split("\r\n\r\n").next()?.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

async fn two_hundred_messages_are_ingested_exactly_once(db: TestDb) {
    let cap = unique("cap");
    let m = mailbox(&db, &cap, false).await;
    let messages: Vec<(String, String)> = (0..200)
        .map(|n| {
            let from = format!("aspirante{n}@gmail.com");
            let raw = message(
                &from,
                &cap,
                &format!("m{n}.{cap}"),
                &format!("Consulta {n}"),
                "",
                "¿Cuándo sale el dictamen?",
            );
            (from, raw)
        })
        .collect();
    // The server takes at most 100 messages per session.
    for chunk in messages.chunks(50) {
        deliver_many(&cap, chunk).await;
    }
    let report = poll_until(&db, m.id, 200).await;
    assert_eq!((report.created, report.duplicates), (200, 0), "{report:?}");
    assert_eq!(incident_count(&db).await, 200);
    let again = imap::poll(&db, &db.mailbox(m.id).await.expect("mailbox"))
        .await
        .expect("poll");
    assert_eq!(again.fetched, 0, "nothing is read twice");
}

/// A proxy that forwards to the IMAP server and cuts the connection after `limit` bytes from it.
async fn cutting_proxy(limit: usize) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            tokio::spawn(async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let Ok(mut server) =
                    tokio::net::TcpStream::connect(("127.0.0.1", imap_port() as u16)).await
                else {
                    return;
                };
                let (mut cr, mut cw) = client.split();
                let (mut sr, mut sw) = server.split();
                let up = async { tokio::io::copy(&mut cr, &mut sw).await.ok() };
                let down = async {
                    let mut sent = 0;
                    let mut buf = [0u8; 4096];
                    while sent < limit {
                        let Ok(n) = sr.read(&mut buf).await else {
                            break;
                        };
                        if n == 0 {
                            break;
                        }
                        let n = n.min(limit - sent);
                        if cw.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                        sent += n;
                    }
                };
                tokio::select! { _ = up => {}, () = down => {} }
            });
        }
    });
    port
}

async fn a_fetch_cut_in_the_middle_loses_nothing_and_duplicates_nothing(db: TestDb) {
    let cap = unique("corte");
    let m = mailbox(&db, &cap, false).await;
    let big = "Texto largo de la consulta. ".repeat(200);
    for n in 0..30 {
        let from = format!("alumno{n}@gmail.com");
        deliver(
            &from,
            &cap,
            message(
                &from,
                &cap,
                &format!("c{n}.{cap}"),
                &format!("Corte {n}"),
                "",
                &big,
            ),
        )
        .await;
    }
    inbox_of(&cap, 30).await;
    // The connection dies partway through the fetch.
    let mut cut = db.mailbox(m.id).await.expect("mailbox");
    cut.imap_port = i64::from(cutting_proxy(60_000).await);
    assert!(imap::poll(&db, &cut).await.is_err(), "the cut fetch fails");
    let partial = incident_count(&db).await;
    assert!(partial < 30, "the cut happened before the end ({partial})");
    // Resumed: everything arrives once.
    let report = poll_until(&db, m.id, 30 - partial as usize).await;
    assert_eq!(incident_count(&db).await, 30, "{report:?}");
    // Even reading the whole folder again (as after a lost flag) duplicates nothing.
    let position = db.mailbox(m.id).await.expect("mailbox");
    db.set_imap_position(m.id, position.uidvalidity.unwrap_or(0), 0, None)
        .await
        .expect("rewind");
    let again = poll_until(&db, m.id, 30).await;
    assert_eq!((again.duplicates, again.created), (30, 0));
    assert_eq!(incident_count(&db).await, 30);
}

async fn a_reply_threads_into_its_incident_and_our_answer_arrives_threaded(db: TestDb) {
    let cap = unique("cap");
    let ana = unique("ana");
    let m = mailbox(&db, &cap, true).await;
    deliver(
        &ana,
        &cap,
        message(
            &ana,
            &cap,
            &format!("first.{ana}"),
            "Pago de inscripción",
            "",
            "No encuentro mi orden de pago.",
        ),
    )
    .await;
    poll_until(&db, m.id, 1).await;
    let incident = only_incident(&db).await;
    assert_eq!(incident.channel, Channel::Email);
    let folio = incident.folio.to_string();

    // An agent answers from the console; the worker sends it.
    let agent = agent(&db).await;
    db.add_entry(
        Actor::Staff(&agent),
        incident.id,
        EntryKind::OutboundMessage,
        "Su orden de pago está en el portal.",
    )
    .await
    .expect("answer");
    assert_eq!(
        worker::send_due(&db, "http://atiende.test").await,
        2,
        "acknowledgement and answer"
    );

    let received = inbox_of(&ana, 2).await;
    let texts: Vec<String> = received
        .iter()
        .map(|r| String::from_utf8_lossy(r).into_owned())
        .collect();
    let ack = texts
        .iter()
        .find(|t| header(t, "Auto-Submitted").is_some())
        .expect("acknowledgement");
    assert!(
        header(ack, "Subject").is_some_and(|s| s.contains(&folio)),
        "{ack}"
    );
    let answer = texts
        .iter()
        .find(|t| t.contains("Su orden de pago"))
        .expect("answer");
    assert_eq!(
        header(answer, "In-Reply-To"),
        Some(format!("<first.{ana}>").as_str()),
        "{answer}"
    );
    assert!(
        header(answer, "Subject").is_some_and(|s| s.contains(&format!("[{folio}]"))),
        "{answer}"
    );
    let our_id = header(answer, "Message-ID")
        .expect("message id")
        .trim_matches(['<', '>'])
        .to_string();

    // Ana answers our message: it joins the incident.
    let reply = message(
        &ana,
        &cap,
        &format!("second.{ana}"),
        &format!("Re: [{folio}] Pago de inscripción"),
        &format!("In-Reply-To: <{our_id}>\r\nReferences: <first.{ana}> <{our_id}>\r\n"),
        "Gracias, ya la encontré.",
    );
    deliver(&ana, &cap, reply).await;
    let report = poll_until(&db, m.id, 1).await;
    assert_eq!(report.joined, 1, "{report:?}");
    let timeline = db.timeline(incident.id).await.expect("timeline");
    assert_eq!(
        timeline
            .iter()
            .filter(|e| e.kind == EntryKind::InboundMessage)
            .count(),
        2
    );
    assert_eq!(incident_count(&db).await, 1);
}

async fn an_answer_with_files_arrives_with_them_attached(db: TestDb) {
    let cap = unique("cap");
    let ana = unique("ana");
    let m = mailbox(&db, &cap, false).await;
    deliver(
        &ana,
        &cap,
        message(
            &ana,
            &cap,
            &format!("files.{ana}"),
            "Constancia de estudios",
            "",
            "¿Me pueden enviar mi constancia?",
        ),
    )
    .await;
    poll_until(&db, m.id, 1).await;
    let incident = only_incident(&db).await;
    let agent = agent(&db).await;
    let pdf = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n".to_vec();
    let png = vec![
        0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 0x0D, 0xFF, 0,
    ];
    db.add_entry_with_files(
        Actor::Staff(&agent),
        incident.id,
        EntryKind::OutboundMessage,
        "Le enviamos su constancia y su horario.",
        &[
            atiende_store::attachments::Upload {
                filename: "Constancia de estudios.pdf".into(),
                data: pdf.clone(),
            },
            atiende_store::attachments::Upload {
                filename: "horario.png".into(),
                data: png.clone(),
            },
        ],
    )
    .await
    .expect("answer with files");
    assert_eq!(worker::send_due(&db, "http://atiende.test").await, 1);

    // What Ana's mailbox holds, read back by the same parser that reads inbound mail.
    let received = inbox_of(&ana, 1).await;
    let answer = parse::parse(&received[0]);
    assert!(
        answer.text.contains("Le enviamos su constancia"),
        "{}",
        answer.text
    );
    let files: Vec<_> = answer
        .attachments
        .iter()
        .map(|a| (a.filename.as_str(), a.content_type.as_str(), a.data.clone()))
        .collect();
    assert_eq!(
        files,
        [
            ("Constancia de estudios.pdf", "application/pdf", pdf),
            ("horario.png", "image/png", png),
        ]
    );
    // The console finds them on the answer's entry.
    let answer_entry = db
        .timeline(incident.id)
        .await
        .expect("timeline")
        .into_iter()
        .find(|e| e.kind == EntryKind::OutboundMessage)
        .expect("answer entry");
    let kept = db.attachments(incident.id).await.expect("attachments");
    assert_eq!(kept.len(), 2);
    assert!(kept.iter().all(|a| a.entry_id == Some(answer_entry.id.0)));
}

async fn a_forged_reference_never_attaches_mail_to_another_persons_incident(db: TestDb) {
    let cap = unique("cap");
    let ana = unique("ana");
    let mallory = unique("mallory");
    let m = mailbox(&db, &cap, true).await;
    deliver(
        &ana,
        &cap,
        message(
            &ana,
            &cap,
            &format!("a1.{ana}"),
            "Beca",
            "",
            "Solicito información de becas.",
        ),
    )
    .await;
    poll_until(&db, m.id, 1).await;
    assert_eq!(worker::send_due(&db, "http://x").await, 1);
    let ack = String::from_utf8_lossy(&inbox_of(&ana, 1).await[0]).into_owned();
    let our_id = header(&ack, "Message-ID")
        .expect("id")
        .trim_matches(['<', '>'])
        .to_string();
    let folio = header(&ack, "Subject")
        .and_then(atiende_domain::email::folio_in_subject)
        .expect("folio")
        .to_string();
    let forged = message(
        &mallory,
        &cap,
        &format!("f1.{mallory}"),
        &format!("Re: [{folio}] Beca"),
        &format!("In-Reply-To: <{our_id}>\r\n"),
        "Cambien el correo de la beca a este.",
    );
    deliver(&mallory, &cap, forged).await;
    let report = poll_until(&db, m.id, 1).await;
    assert_eq!((report.created, report.joined), (1, 0), "{report:?}");
    assert_eq!(incident_count(&db).await, 2);
}

async fn automatic_mail_never_opens_an_incident_nor_gets_an_answer(db: TestDb) {
    let cap = unique("cap");
    let m = mailbox(&db, &cap, true).await;
    let robot = unique("robot");
    deliver(
        &robot,
        &cap,
        message(
            &robot,
            &cap,
            &format!("ooo.{robot}"),
            "Fuera de la oficina",
            "Auto-Submitted: auto-replied\r\n",
            "Regreso el lunes.",
        ),
    )
    .await;
    deliver(
        &robot,
        &cap,
        message(
            &robot,
            &cap,
            &format!("list.{robot}"),
            "Boletín",
            "List-Id: <boletin.udg.mx>\r\nPrecedence: list\r\n",
            "Noticias",
        ),
    )
    .await;
    deliver(
        &cap,
        &cap,
        message(
            &cap,
            &cap,
            &format!("own.{cap}"),
            "Nuestro propio correo",
            "",
            "eco",
        ),
    )
    .await;
    let report = poll_until(&db, m.id, 3).await;
    assert_eq!(report.automatic, 3, "{report:?}");
    assert_eq!(incident_count(&db).await, 0);
    assert_eq!(
        worker::send_due(&db, "http://x").await,
        0,
        "no acknowledgement to robots"
    );
}

async fn a_subject_with_line_breaks_cannot_add_a_header_to_our_answer(db: TestDb) {
    let cap = unique("cap");
    let ana = unique("ana");
    let intruder = unique("intruso");
    let m = mailbox(&db, &cap, true).await;
    // "Pago\r\nBcc: intruso@…" hidden in an encoded word.
    let evil = format!("Pago\r\nBcc: {intruder}");
    let encoded = format!("=?utf-8?B?{}?=", base64_encode(evil.as_bytes()));
    deliver(
        &ana,
        &cap,
        message(&ana, &cap, &format!("e1.{ana}"), &encoded, "", "hola"),
    )
    .await;
    poll_until(&db, m.id, 1).await;
    assert_eq!(worker::send_due(&db, "http://x").await, 1);
    let ack = String::from_utf8_lossy(&inbox_of(&ana, 1).await[0]).into_owned();
    let head = ack.split("\r\n\r\n").next().unwrap_or("");
    assert!(
        !head
            .lines()
            .any(|l| l.to_ascii_lowercase().starts_with("bcc:")),
        "{head}"
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut session = inbox_session(&intruder).await;
    let received = session.search("ALL").await.expect("search");
    assert!(received.is_empty(), "the intruder received nothing");
}

fn base64_encode(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

async fn a_corpus_of_real_world_shapes_is_ingested_without_loss(db: TestDb) {
    let corpus: Vec<Vec<u8>> = vec![
        b"From: =?ISO-8859-1?Q?Jos=E9?= <jose@gmail.com>\r\nSubject: =?ISO-8859-1?Q?Inscripci=F3n?=\r\nMessage-ID: <l1@x>\r\nContent-Type: text/plain; charset=ISO-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n=BFCu=E1ndo?\r\n".to_vec(),
        b"From: a@b.mx\r\nSubject: Solo HTML\r\nMessage-ID: <h1@x>\r\nContent-Type: text/html\r\n\r\n<p>Hola <img src=\"https://t.example/x.gif\"></p>\r\n".to_vec(),
        b"From: c@d.mx\r\nSubject: Adjunto\r\nMessage-ID: <a1@x>\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nVer adjunto\r\n--b\r\nContent-Type: image/png; name=x.png\r\nContent-Disposition: attachment; filename=x.png\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n--b--\r\n".to_vec(),
        b"this is not an email at all \xff\xfe".to_vec(),
        b"From: <<>>\r\nSubject: =?bogus?X?zzz?=\r\n\r\nroto".to_vec(),
        [b"From: e@f.mx\r\nSubject: Enorme\r\nMessage-ID: <big@x>\r\n\r\n".to_vec(), vec![b'x'; 3_000_000]].concat(),
    ];
    let mut outcomes = Vec::new();
    for raw in &corpus {
        let email = parse(raw);
        outcomes.push(db.ingest_email(None, &email, raw).await.expect("ingested"));
    }
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, IngestOutcome::Created(_))),
        "{outcomes:?}"
    );
    let IngestOutcome::Created(with_attachment) = outcomes[2] else {
        unreachable!()
    };
    let attachments = db.attachments(with_attachment).await.expect("attachments");
    assert_eq!(attachments.len(), 1);
    assert_eq!(attachments[0].filename, "x.png");
    let IngestOutcome::Created(broken) = outcomes[3] else {
        unreachable!()
    };
    let messages = db.email_messages(broken).await.expect("messages");
    assert!(messages[0].malformed);
    assert!(
        db.email_raw(&messages[0].message_id)
            .await
            .expect("raw")
            .is_some_and(|r| r == corpus[3]),
        "kept raw"
    );
    let incident = db.incident(broken).await.expect("incident");
    assert_eq!(incident.status, Status::Open);
    // The same bytes again are recognised.
    for raw in &corpus {
        assert!(matches!(
            db.ingest_email(None, &parse(raw), raw)
                .await
                .expect("again"),
            IngestOutcome::Duplicate(_)
        ));
    }
}

async fn a_derivation_by_email_sends_the_unit_a_summary_and_a_link(db: TestDb) {
    db.first_run(Some("clave-admin-segura"))
        .await
        .expect("first run");
    let cap = unique("cap");
    let ana = unique("ana");
    let escolar = unique("escolar");
    let m = mailbox(&db, &cap, false).await;
    let unit = db
        .units()
        .await
        .expect("units")
        .into_iter()
        .find(|u| u.kind == atiende_domain::unit::UnitKind::Coordination)
        .expect("unit");
    let input = atiende_domain::unit::UnitInput {
        email: Some(escolar.clone()),
        ..Default::default()
    };
    db.update_unit(Actor::System, unit.id, &input)
        .await
        .expect("unit email");
    deliver(
        &ana,
        &cap,
        message(
            &ana,
            &cap,
            &format!("d1.{ana}"),
            "Kárdex incompleto",
            "",
            "Falta una materia en mi kárdex.",
        ),
    )
    .await;
    poll_until(&db, m.id, 1).await;
    let incident = only_incident(&db).await;
    let agent = agent(&db).await;
    let derive = atiende_domain::derivation::DeriveInput {
        unit_id: unit.id,
        medium: atiende_domain::classification::Medium::Email,
        reason: "Revisión del kárdex".into(),
        user_told: None,
        told_address: None,
        close: false,
        notes: None,
    };
    db.derive_incident(Actor::Staff(&agent), incident.id, &derive)
        .await
        .expect("derived");
    assert_eq!(
        worker::send_due(&db, "https://atiende.udgvirtual.udg.mx").await,
        1
    );
    let notice = String::from_utf8_lossy(&inbox_of(&escolar, 1).await[0]).into_owned();
    let folio = incident.folio.to_string();
    assert!(
        header(&notice, "Subject").is_some_and(|s| s.contains(&folio)),
        "{notice}"
    );
    let text = parse(notice.as_bytes()).text;
    assert!(
        text.contains("Revisión del kárdex")
            && text.contains(&format!(
                "https://atiende.udgvirtual.udg.mx/incidentes/{folio}"
            )),
        "{text}"
    );
}

async fn the_same_message_delivered_many_times_at_once_is_stored_once(db: TestDb) {
    let raw = b"From: Ana <ana@gmail.com>\r\nSubject: Doble\r\nMessage-ID: <same@gmail.com>\r\n\r\nHola\r\n".to_vec();
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let store = db.store.clone();
        let raw = raw.clone();
        tasks.push(tokio::spawn(async move {
            let email = parse(&raw);
            store
                .ingest_email(None, &email, &raw)
                .await
                .expect("ingested")
        }));
    }
    let mut created = 0;
    for t in tasks {
        if matches!(t.await.expect("task"), IngestOutcome::Created(_)) {
            created += 1;
        }
    }
    assert_eq!(created, 1);
    assert_eq!(incident_count(&db).await, 1);
}

/// The token of the one-time link to `path` in a message as it arrived.
fn token_in(raw: &[u8], path: &str) -> String {
    let text = parse(raw).text;
    let marker = format!("/{path}/");
    text.split_whitespace()
        .find_map(|w| w.split_once(&marker).map(|(_, token)| token.to_string()))
        .unwrap_or_else(|| panic!("no link to {marker} in {text}"))
}

async fn one_time_links_are_made_as_they_leave_and_kept_nowhere_in_plain(db: TestDb) {
    db.first_run(Some("clave-admin-segura"))
        .await
        .expect("first run");
    let admin = db.user_by_login("admin").await.expect("admin");
    let cap = unique("cap");
    let ana = unique("ana");
    mailbox(&db, &cap, false).await;
    let person = db
        .create_contact(
            Actor::System,
            &atiende_domain::contact::ContactInput {
                name: Some("Ana Solís".into()),
                emails: Some(vec![ana.clone()]),
                ..Default::default()
            },
        )
        .await
        .expect("contact");
    let base = "https://atiende.udgvirtual.udg.mx";

    // The person asks for their file; a closed incident of theirs invites them to the survey.
    db.request_personal_file(&ana, base).await.expect("request");
    let incident = db.closed_phone_incident(&admin, Some(person.id)).await;
    let now = atiende_domain::survey::SurveyPolicy {
        delay_hours: 0,
        ..Default::default()
    };
    db.process_survey_due(incident, &now, base, None)
        .await
        .expect("survey");

    // Queued, the messages hold a slot where the token goes.
    for item in db.outbox(None, 20).await.expect("outbox") {
        let text = item.payload["text"].as_str().unwrap_or_default();
        assert!(
            !text.contains("/encuesta/") && !text.contains("/mis-datos/")
                || text.contains(atiende_store::links::TOKEN_SLOT),
            "{text}"
        );
    }
    assert_eq!(worker::send_due(&db, base).await, 2);
    let arrived = inbox_of(&ana, 2).await;
    let file = arrived
        .iter()
        .find(|raw| String::from_utf8_lossy(raw).contains("/mis-datos/"))
        .expect("the file's link arrived");
    let survey = arrived
        .iter()
        .find(|raw| String::from_utf8_lossy(raw).contains("/encuesta/"))
        .expect("the survey's link arrived");
    let (file, survey) = (token_in(file, "mis-datos"), token_in(survey, "encuesta"));

    // Sent, each token works and is stored nowhere: not in the outbox, not in the copy of
    // the sent message, not in any column of any table.
    for token in [&file, &survey] {
        assert_eq!(db.columns_containing(token).await, Vec::<String>::new());
    }
    assert!(
        db.personal_file_by_link(&file, "html")
            .await
            .expect("file")
            .is_some()
    );
    assert!(matches!(
        db.survey_link(&survey).await.expect("survey"),
        atiende_store::surveys::SurveyLink::Open { .. }
    ));
}

/// A university's mail servers may carry certificates of its own authority: with that
/// authority trusted (`mail_ca_file`), a mailbox reads over IMAP on TLS and answers through
/// authenticated submission with STARTTLS — the local mail server's TLS ports, signed by a CA
/// made for it.
async fn mail_over_tls_is_read_and_sent_trusting_the_institutions_own_authority(db: TestDb) {
    let (imaps, smtp_tls, ca) = atiende_store::testing::mail_tls();
    let pem = std::fs::read(&ca).expect("the local authority's certificate");
    atiende_channels::email::trust::trust_pem(&pem).expect("trusted");
    let cap = unique("cap-tls");
    let ana = unique("ana-tls");
    let settings = MailboxSettings {
        name: cap.clone(),
        address: cap.clone(),
        channel: Channel::Email,
        imap_host: "localhost".into(),
        imap_port: i64::from(imaps),
        imap_security: "tls".into(),
        imap_user: cap.clone(),
        imap_password: "secret".into(),
        imap_folder: "INBOX".into(),
        smtp_host: "localhost".into(),
        smtp_port: i64::from(smtp_tls),
        smtp_security: "starttls".into(),
        smtp_user: cap.clone(),
        smtp_password: "secret".into(),
        auth: MailAuth::Password,
        oauth: Default::default(),
        oauth_client_secret: Default::default(),
        acknowledge: true,
        active: true,
    };
    let m = db
        .save_mailbox(Actor::System, &settings)
        .await
        .expect("mailbox");
    deliver(
        &ana,
        &cap,
        message(
            &ana,
            &cap,
            &format!("tls.{ana}"),
            "Constancia",
            "",
            "¿Me la envían?",
        ),
    )
    .await;
    poll_until(&db, m.id, 1).await;
    assert_eq!(
        worker::send_due(&db, "http://atiende.test").await,
        1,
        "the acknowledgement leaves over STARTTLS"
    );
    let received = inbox_of(&ana, 1).await;
    assert!(String::from_utf8_lossy(&received[0]).contains("Constancia"));
}

/// How many messages in `address`'s inbox the server holds as read (`\Seen`) and unread.
async fn seen_and_unseen(address: &str) -> (usize, usize) {
    let mut session = inbox_session(address).await;
    let seen = session.search("SEEN").await.expect("search").len();
    let unseen = session.search("UNSEEN").await.expect("search").len();
    let _ = session.logout().await;
    (seen, unseen)
}

#[tokio::test]
async fn mail_read_while_the_disk_is_full_stays_unread_on_the_server_and_arrives_once_freed() {
    let parent = tempfile::tempdir().expect("dir");
    let disk = atiende_store::testing::SmallDisk::mount(parent.path().join("disco"), 48);
    let db = TestDb::sqlite_in(&disk.dir).await;
    let cap = unique("lleno");
    // Password sign-in in either run of the suite: the fault is the disk's, not the login's.
    let m = mailbox_by_password(&db, &cap, false).await;
    let words = "Adjunto mi comprobante de pago de la inscripción.\r\n".repeat(4_000);
    let messages: Vec<(String, String)> = (0..8)
        .map(|n| {
            let from = format!("aspirante{n}@gmail.com");
            let id = format!("lleno{n}.{cap}");
            let raw = message(&from, &cap, &id, &format!("Pago {n}"), "", &words);
            (from, raw)
        })
        .collect();
    deliver_many(&cap, &messages).await;
    inbox_of(&cap, messages.len()).await;
    let filler = disk.fill(0);

    // Each message is about 200 KB: the disk cannot take them all, and the read fails with
    // the database's full disk.
    let failure = imap::poll(&db, &m).await.expect_err("the disk is full");
    assert!(
        matches!(&failure, imap::PollError::Store(e) if e.is_unavailable()),
        "{failure}"
    );
    let stored = incident_count(&db).await as usize;
    assert!(stored < messages.len(), "{stored} stored on a full disk");
    // What was not stored is still unread on the server, so it is read again later; what
    // was stored is marked read.
    assert_eq!(
        seen_and_unseen(&cap).await,
        (stored, messages.len() - stored)
    );

    // Space freed: the next reading takes the rest, each message once, without a restart.
    std::fs::remove_file(filler).expect("free the space");
    poll_until(&db, m.id, messages.len() - stored).await;
    assert_eq!(incident_count(&db).await as usize, messages.len());
    assert_eq!(seen_and_unseen(&cap).await, (messages.len(), 0));
    assert_eq!(db.integrity_check().await.expect("check"), ["ok"]);
    eprintln!(
        "full disk while reading mail: {stored} of {} stored before the read failed (\
         {failure}), the rest left unread on the server and stored once after freeing",
        messages.len()
    );
}

/// A port on this machine where nothing listens: a mail server that is stopped.
fn stopped_server_port() -> i64 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("port");
    i64::from(listener.local_addr().expect("address").port())
}

/// The health of one of the mailbox's services, as Administración shows it.
async fn mailbox_health(
    db: &TestDb,
    service: &str,
) -> atiende_store::external_services::ExternalServiceHealth {
    db.external_services()
        .await
        .expect("services")
        .into_iter()
        .find(|s| s.service == service)
        .expect("the service is known")
}

#[tokio::test]
async fn a_stopped_mail_server_shows_the_mailbox_failing_and_loses_nothing() {
    let db = TestDb::new(atiende_store::Engine::Sqlite).await;
    let cap = unique("caido");
    let m = mailbox_by_password(&db, &cap, false).await;
    // The person's own address too: the answer is counted in their inbox, which the suite's
    // second run (by token) must not share.
    let from = unique("aspirante");
    deliver(
        &from,
        &cap,
        message(
            &from,
            &cap,
            &format!("caido.{cap}"),
            "Mi pago",
            "",
            "¿Llegó mi pago?",
        ),
    )
    .await;
    inbox_of(&cap, 1).await;
    let read = format!("mailbox_read:{}", m.id);
    let send = format!("mailbox_send:{}", m.id);

    // The IMAP server is stopped: the reading fails, the mailbox shows it, the message waits.
    db.execute(&format!(
        "UPDATE mailboxes SET imap_port = {} WHERE id = {}",
        stopped_server_port(),
        m.id
    ))
    .await;
    assert_eq!(worker::poll_mailboxes(&db, "prueba").await, 0);
    let health = mailbox_health(&db, &read).await;
    assert!(!health.working(), "{health:?}");
    assert!(health.last_error.is_some());
    assert_eq!(
        seen_and_unseen(&cap).await,
        (0, 1),
        "still unread on the server"
    );

    // Back: the message is read once, and the mailbox works.
    db.execute(&format!(
        "UPDATE mailboxes SET imap_port = {} WHERE id = {}",
        imap_port(),
        m.id
    ))
    .await;
    assert_eq!(worker::poll_mailboxes(&db, "prueba").await, 1);
    assert!(mailbox_health(&db, &read).await.working());
    let incident = only_incident(&db).await;

    // The SMTP server is stopped: the answer waits in the queue, the mailbox shows it.
    db.execute(&format!(
        "UPDATE mailboxes SET smtp_port = {} WHERE id = {}",
        stopped_server_port(),
        m.id
    ))
    .await;
    let agent = agent(&db).await;
    db.add_entry(
        Actor::Staff(&agent),
        incident.id,
        EntryKind::OutboundMessage,
        "Sí, ya está registrado.",
    )
    .await
    .expect("answer");
    assert_eq!(worker::send_due(&db, "http://x").await, 0);
    assert!(!mailbox_health(&db, &send).await.working());
    let queued = db.outbox(Some(incident.id), 10).await.expect("outbox");
    assert!(queued.iter().all(|j| j.status == "pending"), "{queued:?}");

    // Back: it leaves (once the retry is due), and the mailbox works.
    db.execute(&format!(
        "UPDATE mailboxes SET smtp_port = {} WHERE id = {}",
        smtp_port(),
        m.id
    ))
    .await;
    db.execute("UPDATE outbox SET run_after = 0 WHERE status = 'pending'")
        .await;
    assert_eq!(worker::send_due(&db, "http://x").await, 1);
    assert!(mailbox_health(&db, &send).await.working());
    assert_eq!(inbox_of(&from, 1).await.len(), 1, "the answer arrived once");
}

#[tokio::test]
async fn a_mail_server_that_accepts_and_then_says_nothing_is_given_up() {
    let db = TestDb::new(atiende_store::Engine::Sqlite).await;
    let m = mailbox_by_password(&db, &unique("mudo"), false).await;
    // Accepts connections and never greets.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = silent.local_addr().expect("address").port();
    let _held = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = silent.accept().await {
            held.push(stream);
        }
    });
    let mut stalled = db.mailbox(m.id).await.expect("mailbox");
    stalled.imap_port = i64::from(port);
    let began = std::time::Instant::now();
    let failed = imap::poll_within(&db, &stalled, Duration::from_secs(1)).await;
    assert!(failed.is_err(), "a silent server is given up");
    assert!(
        began.elapsed() < Duration::from_secs(10),
        "{:?}",
        began.elapsed()
    );
}
