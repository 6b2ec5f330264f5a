-- Personal data (SQLite): ARCO rights, the access log, privacy notices. Keep in step with
-- ../postgres/0009_personal_data.sql.

-- Cancellation in two stages: blocked (kept, hidden from normal use) and anonymised
-- (suppressed: the person's data removed, statistics kept). Opposition: no marketing.
ALTER TABLE contacts ADD COLUMN blocked_at INTEGER;
ALTER TABLE contacts ADD COLUMN anonymised_at INTEGER;
ALTER TABLE contacts ADD COLUMN opt_out_marketing INTEGER NOT NULL DEFAULT 0;

-- Who viewed, exported or changed a person's data. Append-only for every role: the database
-- itself refuses to change or remove a row. It names the person by id only, so it holds no
-- personal data of its own and survives the person's suppression.
CREATE TABLE personal_data_access (
    id INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
    actor_id INTEGER REFERENCES users (id),
    actor TEXT NOT NULL,
    contact_id INTEGER NOT NULL,
    action TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX personal_data_access_contact ON personal_data_access (contact_id, id);
CREATE TRIGGER personal_data_access_no_update BEFORE UPDATE ON personal_data_access -- engine's append-only guard
BEGIN
    SELECT RAISE(ABORT, 'personal_data_access is append-only');
END;
CREATE TRIGGER personal_data_access_no_delete BEFORE DELETE ON personal_data_access -- engine's append-only guard
BEGIN
    SELECT RAISE(ABORT, 'personal_data_access is append-only');
END;

-- Privacy notices (avisos de privacidad), integral and simplified, each text a new version.
CREATE TABLE privacy_notices (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    version INTEGER NOT NULL,
    body TEXT NOT NULL,
    published_at INTEGER NOT NULL,
    published_by INTEGER REFERENCES users (id),
    UNIQUE (kind, version)
);
-- The simplified notice a person was shown when they wrote through the buzón or answered a
-- survey.
ALTER TABLE incidents ADD COLUMN privacy_notice_id INTEGER REFERENCES privacy_notices (id);
ALTER TABLE surveys ADD COLUMN privacy_notice_id INTEGER REFERENCES privacy_notices (id);

-- Retention: when an incident's free text, or a survey's written answers, were anonymised
-- once their period ran out (the person may still have recent incidents).
ALTER TABLE incidents ADD COLUMN text_suppressed_at INTEGER;
ALTER TABLE surveys ADD COLUMN comments_suppressed_at INTEGER;

-- A person asking for their own file: a link sent to an address on record proves who asks.
-- Only the token's hash is kept; it expires.
CREATE TABLE personal_data_requests (
    id INTEGER PRIMARY KEY,
    contact_id INTEGER NOT NULL REFERENCES contacts (id),
    token_hash TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
