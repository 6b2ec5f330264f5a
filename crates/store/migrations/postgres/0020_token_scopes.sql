-- API tokens carry scopes (what they may be used for, within their owner's role) and may
-- expire. Tokens made before keep doing what their owner's role allows.
ALTER TABLE api_tokens ADD COLUMN scopes TEXT NOT NULL DEFAULT 'admin';
ALTER TABLE api_tokens ADD COLUMN expires_at BIGINT;
