-- Signed outbound events (Standard Webhooks): the endpoints integrators subscribed and each
-- delivery to them, with its attempts (the job queue's outbox carries the work itself).
CREATE TABLE webhook_subscriptions (
    id INTEGER PRIMARY KEY,
    url TEXT NOT NULL,
    -- The event types, space-separated.
    events TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    -- Sealed like every secret the database keeps.
    secret TEXT NOT NULL,
    active INTEGER NOT NULL DEFAULT 1,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    disabled_at BIGINT,
    created_by INTEGER REFERENCES users (id),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE TABLE webhook_deliveries (
    id INTEGER PRIMARY KEY,
    subscription_id INTEGER NOT NULL REFERENCES webhook_subscriptions (id) ON DELETE CASCADE,
    -- The `webhook-id` header: the same for every attempt (and a replay), so that the
    -- receiver can drop what it already has.
    message_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    payload TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    last_status INTEGER,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    last_attempt_at BIGINT,
    delivered_at BIGINT
);
CREATE INDEX webhook_deliveries_subscription ON webhook_deliveries (subscription_id, id);
