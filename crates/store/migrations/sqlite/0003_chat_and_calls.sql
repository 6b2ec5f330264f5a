-- Chat channels and phone calls (SQLite). Keep in step with ../postgres/0003_chat_and_calls.sql.

-- Every WhatsApp, Messenger and Instagram message in or out. The provider's message id is
-- unique per provider, so a retried webhook delivery is recognised; a message we send gets
-- its id when the provider accepts it.
CREATE TABLE chat_messages (
    id INTEGER PRIMARY KEY,
    provider TEXT NOT NULL,
    external_id TEXT,
    direction TEXT NOT NULL,
    account_id TEXT NOT NULL,
    peer_id TEXT NOT NULL,
    incident_id INTEGER REFERENCES incidents (id),
    entry_id INTEGER REFERENCES timeline_entries (id),
    body TEXT NOT NULL DEFAULT '',
    content TEXT NOT NULL DEFAULT '[]',
    status TEXT NOT NULL,
    error TEXT,
    sent_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (provider, external_id)
);
CREATE INDEX chat_messages_incident ON chat_messages (incident_id, id);
CREATE INDEX chat_messages_peer ON chat_messages (provider, account_id, peer_id, direction, sent_at);

ALTER TABLE attachments ADD COLUMN chat_message_id INTEGER REFERENCES chat_messages (id);

-- Calls reported by the telephone system. The call id is unique: events of one call update
-- one row whichever instance receives them.
CREATE TABLE calls (
    id INTEGER PRIMARY KEY,
    call_id TEXT NOT NULL UNIQUE,
    direction TEXT NOT NULL,
    from_number TEXT NOT NULL DEFAULT '',
    to_number TEXT NOT NULL DEFAULT '',
    contact_id INTEGER REFERENCES contacts (id),
    state TEXT NOT NULL,
    cause TEXT,
    user_id INTEGER REFERENCES users (id),
    agent TEXT NOT NULL DEFAULT '',
    started_at INTEGER NOT NULL,
    answered_at INTEGER,
    ended_at INTEGER,
    missed INTEGER NOT NULL DEFAULT 0,
    incident_id INTEGER REFERENCES incidents (id),
    called_back_at INTEGER,
    called_back_by INTEGER REFERENCES users (id)
);
CREATE INDEX calls_user ON calls (user_id, id);
CREATE INDEX calls_missed ON calls (missed, called_back_at, id);

-- The extension or number the telephone system reports when this agent answers.
ALTER TABLE users ADD COLUMN phone_extension TEXT NOT NULL DEFAULT '';
