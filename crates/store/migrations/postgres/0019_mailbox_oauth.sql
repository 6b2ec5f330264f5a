-- Mailboxes that sign in with an OAuth 2.0 access token (XOAUTH2 or OAUTHBEARER) instead of a
-- password: the application they were connected through (as JSON), its client secret and the
-- tokens the provider gave, each sealed like the passwords, and what became of the grant.
ALTER TABLE mailboxes ADD COLUMN auth TEXT NOT NULL DEFAULT 'password';
ALTER TABLE mailboxes ADD COLUMN oauth_app TEXT NOT NULL DEFAULT '';
ALTER TABLE mailboxes ADD COLUMN oauth_client_secret TEXT NOT NULL DEFAULT '';
ALTER TABLE mailboxes ADD COLUMN oauth_refresh_token TEXT NOT NULL DEFAULT '';
ALTER TABLE mailboxes ADD COLUMN oauth_access_token TEXT NOT NULL DEFAULT '';
ALTER TABLE mailboxes ADD COLUMN oauth_expires_at BIGINT;
ALTER TABLE mailboxes ADD COLUMN oauth_connected_at BIGINT;
ALTER TABLE mailboxes ADD COLUMN oauth_connected_by TEXT NOT NULL DEFAULT '';
ALTER TABLE mailboxes ADD COLUMN oauth_revoked_at BIGINT;
