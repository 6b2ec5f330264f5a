-- Satisfaction surveys (SQLite). Keep in step with ../postgres/0004_surveys.sql.

-- Each edit of the questionnaire is a new version; answers keep the version they were given with.
CREATE TABLE questionnaires (
    version INTEGER PRIMARY KEY,
    questions TEXT NOT NULL,
    created_by INTEGER REFERENCES users (id),
    created_at INTEGER NOT NULL
);

-- One survey per incident (the unique key makes a repeated job harmless). Only the token's
-- hash is kept: the link in the person's mailbox is the only copy of the token.
CREATE TABLE surveys (
    id INTEGER PRIMARY KEY,
    incident_id INTEGER NOT NULL UNIQUE REFERENCES incidents (id),
    contact_id INTEGER REFERENCES contacts (id),
    status TEXT NOT NULL,
    skip_reason TEXT,
    invited_by TEXT,
    token_hash TEXT UNIQUE,
    questionnaire_version INTEGER REFERENCES questionnaires (version),
    agent_id INTEGER REFERENCES users (id),
    unit_id INTEGER REFERENCES units (id),
    channel TEXT NOT NULL,
    closed_at INTEGER NOT NULL,
    sent_at INTEGER,
    expires_at INTEGER,
    answered_at INTEGER,
    answers TEXT,
    overall INTEGER,
    resolved INTEGER,
    follow_up TEXT,
    follow_up_note TEXT,
    follow_up_by INTEGER REFERENCES users (id),
    follow_up_at INTEGER,
    created_at INTEGER NOT NULL
);
CREATE INDEX surveys_contact ON surveys (contact_id, sent_at);
CREATE INDEX surveys_sent ON surveys (sent_at);
CREATE INDEX surveys_follow_up ON surveys (follow_up, id);
