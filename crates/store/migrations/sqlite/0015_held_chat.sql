-- Messages Meta delivered (signed) for a WhatsApp number or page not configured here: kept,
-- since Meta will not deliver them again, until the account is configured.
CREATE TABLE held_chat_messages (
    id INTEGER PRIMARY KEY,
    provider TEXT NOT NULL,
    account_id TEXT NOT NULL,
    external_id TEXT NOT NULL,
    -- The sender, so that suppressing a person's data reaches what is held for them too.
    peer_id TEXT NOT NULL,
    payload TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    UNIQUE (provider, external_id)
);
