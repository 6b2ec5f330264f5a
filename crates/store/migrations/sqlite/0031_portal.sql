-- The person's portal (/mis-solicitudes): a one-time sign-in link sent to an address on record
-- (only its hash is kept, filled when the message leaves), and the sessions it opens — apart
-- from staff sessions, each bound to one person of the register.
CREATE TABLE portal_sign_ins (
    id INTEGER PRIMARY KEY,
    contact_id BIGINT NOT NULL REFERENCES contacts (id),
    token_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX portal_sign_ins_token ON portal_sign_ins (token_hash);

CREATE TABLE portal_sessions (
    id INTEGER PRIMARY KEY,
    contact_id BIGINT NOT NULL REFERENCES contacts (id),
    token_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    seen_at BIGINT NOT NULL
);
CREATE INDEX portal_sessions_contact ON portal_sessions (contact_id);
