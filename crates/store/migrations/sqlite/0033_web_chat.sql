-- The web chat on the university's sites: each conversation is an incident on channel
-- chat_web, reached by the widget with a bearer token (only its hash kept). When the person
-- was last connected and last typing are marks every instance reads, so an answer written on
-- any instance knows whether the person is there to read it (else it goes by email), and the
-- console shows them typing.
CREATE TABLE web_chats (
    id INTEGER PRIMARY KEY,
    incident_id BIGINT NOT NULL UNIQUE REFERENCES incidents (id),
    token_hash TEXT NOT NULL UNIQUE,
    origin TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    seen_at BIGINT NOT NULL,
    typing_at BIGINT,
    ended_at BIGINT
);
