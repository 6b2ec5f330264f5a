-- Core schema (SQLite). Keep in step with ../postgres/0001_core.sql.
-- Timestamps are milliseconds since the Unix epoch (UTC); flags are 0/1 integers.

CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    login TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    email TEXT NOT NULL DEFAULT '',
    role TEXT NOT NULL,
    language TEXT NOT NULL DEFAULT 'es-MX',
    password_hash TEXT NOT NULL,
    disabled INTEGER NOT NULL DEFAULT 0,
    must_change_password INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE units (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    responsible_name TEXT NOT NULL DEFAULT '',
    email TEXT NOT NULL DEFAULT '',
    phone TEXT NOT NULL DEFAULT '',
    active INTEGER NOT NULL DEFAULT 1,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE user_units (
    user_id INTEGER NOT NULL REFERENCES users (id),
    unit_id INTEGER NOT NULL REFERENCES units (id),
    PRIMARY KEY (user_id, unit_id)
);

CREATE TABLE topics (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    active INTEGER NOT NULL DEFAULT 1
);

CREATE TABLE contacts (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL DEFAULT '',
    user_type TEXT,
    programme_line TEXT,
    opt_out_surveys INTEGER NOT NULL DEFAULT 0,
    notes TEXT NOT NULL DEFAULT '',
    merged_into INTEGER REFERENCES contacts (id),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

-- One row per identifier: the primary key is what forbids two contacts with one email.
CREATE TABLE contact_identifiers (
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    contact_id INTEGER NOT NULL REFERENCES contacts (id),
    PRIMARY KEY (kind, value)
);
CREATE INDEX contact_identifiers_contact ON contact_identifiers (contact_id);

CREATE TABLE folio_counters (
    year INTEGER PRIMARY KEY,
    last_seq INTEGER NOT NULL
);

CREATE TABLE incidents (
    id INTEGER PRIMARY KEY,
    folio TEXT NOT NULL UNIQUE,
    channel TEXT NOT NULL,
    contact_id INTEGER REFERENCES contacts (id),
    subject TEXT NOT NULL DEFAULT '',
    user_type TEXT,
    incident_type TEXT,
    topic_id INTEGER REFERENCES topics (id),
    critical INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL,
    assigned_to INTEGER REFERENCES users (id),
    received_at INTEGER NOT NULL,
    first_response_at INTEGER,
    closed_at INTEGER,
    reopened_count INTEGER NOT NULL DEFAULT 0,
    created_by INTEGER REFERENCES users (id),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX incidents_status ON incidents (status, id);
CREATE INDEX incidents_contact ON incidents (contact_id, id);
CREATE INDEX incidents_assigned ON incidents (assigned_to, status, id);
CREATE INDEX incidents_received ON incidents (received_at);

CREATE TABLE timeline_entries (
    id INTEGER PRIMARY KEY,
    incident_id INTEGER NOT NULL REFERENCES incidents (id),
    kind TEXT NOT NULL,
    at INTEGER NOT NULL,
    author_id INTEGER REFERENCES users (id),
    body TEXT NOT NULL DEFAULT '',
    data TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX timeline_entries_incident ON timeline_entries (incident_id, id);

CREATE TABLE derivations (
    id INTEGER PRIMARY KEY,
    incident_id INTEGER NOT NULL REFERENCES incidents (id),
    unit_id INTEGER NOT NULL REFERENCES units (id),
    medium TEXT NOT NULL,
    reason TEXT NOT NULL,
    derived_by INTEGER REFERENCES users (id),
    derived_at INTEGER NOT NULL,
    user_told INTEGER NOT NULL DEFAULT 0,
    told_address TEXT,
    closed_incident INTEGER NOT NULL DEFAULT 0,
    answer TEXT,
    answered_by INTEGER REFERENCES users (id),
    answered_at INTEGER
);
CREATE INDEX derivations_incident ON derivations (incident_id);
CREATE INDEX derivations_unit ON derivations (unit_id, incident_id);

CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
    actor_id INTEGER REFERENCES users (id),
    entity TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    action TEXT NOT NULL,
    before_json TEXT,
    after_json TEXT
);
CREATE INDEX audit_log_entity ON audit_log (entity, entity_id, id);

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users (id),
    csrf_token TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE api_tokens (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users (id),
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at INTEGER
);

-- Work for background jobs, written in the same transaction as the change that causes it.
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    incident_id INTEGER REFERENCES incidents (id),
    payload TEXT NOT NULL DEFAULT '{}',
    status TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    run_after INTEGER NOT NULL,
    locked_until INTEGER,
    last_error TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX outbox_due ON outbox (status, run_after);

CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
