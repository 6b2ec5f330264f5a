-- When a session was last used: it ends after the configured idle time as well as at its
-- absolute expiry.
ALTER TABLE sessions ADD COLUMN last_seen_at BIGINT;
