-- Identity providers an administrator added in the console, beside those of the configuration
-- file: the provider as JSON, its client secret apart and sealed.
CREATE TABLE identity_providers (
    id TEXT PRIMARY KEY,
    settings TEXT NOT NULL,
    client_secret TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
