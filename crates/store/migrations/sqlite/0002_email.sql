-- Email channel (SQLite). Keep in step with ../postgres/0002_email.sql.

-- Mailboxes polled over IMAP and used to send over SMTP. One instance at a time holds a
-- mailbox's lease while it polls, so several instances never fetch the same mailbox together.
CREATE TABLE mailboxes (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    address TEXT NOT NULL,
    channel TEXT NOT NULL DEFAULT 'email',
    imap_host TEXT NOT NULL DEFAULT '',
    imap_port INTEGER NOT NULL DEFAULT 993,
    imap_security TEXT NOT NULL DEFAULT 'tls',
    imap_user TEXT NOT NULL DEFAULT '',
    imap_password TEXT NOT NULL DEFAULT '',
    imap_folder TEXT NOT NULL DEFAULT 'INBOX',
    smtp_host TEXT NOT NULL DEFAULT '',
    smtp_port INTEGER NOT NULL DEFAULT 587,
    smtp_security TEXT NOT NULL DEFAULT 'starttls',
    smtp_user TEXT NOT NULL DEFAULT '',
    smtp_password TEXT NOT NULL DEFAULT '',
    acknowledge INTEGER NOT NULL DEFAULT 1,
    active INTEGER NOT NULL DEFAULT 1,
    uidvalidity INTEGER,
    last_uid INTEGER NOT NULL DEFAULT 0,
    lease_owner TEXT,
    lease_until INTEGER,
    last_polled_at INTEGER,
    last_error TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

-- Every message in or out. The Message-ID is unique: a retried delivery is recognised.
CREATE TABLE email_messages (
    id INTEGER PRIMARY KEY,
    message_id TEXT NOT NULL UNIQUE,
    direction TEXT NOT NULL,
    mailbox_id INTEGER REFERENCES mailboxes (id),
    incident_id INTEGER REFERENCES incidents (id),
    entry_id INTEGER REFERENCES timeline_entries (id),
    from_address TEXT NOT NULL DEFAULT '',
    to_addresses TEXT NOT NULL DEFAULT '',
    subject TEXT NOT NULL DEFAULT '',
    in_reply_to TEXT NOT NULL DEFAULT '',
    references_ids TEXT NOT NULL DEFAULT '',
    html TEXT,
    automatic INTEGER NOT NULL DEFAULT 0,
    malformed INTEGER NOT NULL DEFAULT 0,
    raw BLOB,
    created_at INTEGER NOT NULL
);
CREATE INDEX email_messages_incident ON email_messages (incident_id, id);

CREATE TABLE attachments (
    id INTEGER PRIMARY KEY,
    incident_id INTEGER REFERENCES incidents (id),
    entry_id INTEGER REFERENCES timeline_entries (id),
    email_message_id INTEGER REFERENCES email_messages (id),
    filename TEXT NOT NULL,
    content_type TEXT NOT NULL,
    content_id TEXT,
    inline INTEGER NOT NULL DEFAULT 0,
    size INTEGER NOT NULL,
    data BLOB NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX attachments_incident ON attachments (incident_id, id);
