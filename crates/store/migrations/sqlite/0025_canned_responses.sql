-- Canned responses (respuestas predefinidas): the CAP's shared texts (no owner) and each
-- agent's own, for a topic or any.
CREATE TABLE canned_responses (
    id INTEGER PRIMARY KEY,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    topic_id BIGINT REFERENCES topics (id),
    owner_id BIGINT REFERENCES users (id),
    archived INTEGER NOT NULL DEFAULT 0,
    created_by BIGINT REFERENCES users (id),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX canned_responses_owner ON canned_responses (owner_id, archived);
-- Each answer sent from one, in the answer's transaction: what the quality office counts
-- (how often, and how many of those incidents closed at first contact).
CREATE TABLE canned_response_uses (
    id INTEGER PRIMARY KEY,
    canned_response_id BIGINT NOT NULL REFERENCES canned_responses (id),
    incident_id BIGINT NOT NULL REFERENCES incidents (id),
    entry_id BIGINT NOT NULL REFERENCES timeline_entries (id),
    user_id BIGINT REFERENCES users (id),
    used_at BIGINT NOT NULL
);
CREATE INDEX canned_response_uses_response ON canned_response_uses (canned_response_id, used_at);
CREATE INDEX canned_response_uses_incident ON canned_response_uses (incident_id);
