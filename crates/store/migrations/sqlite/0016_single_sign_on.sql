-- Sessions opened through an identity provider name it (its configured id), so that logging
-- out can end the provider's session too. NULL: signed in with a password.
ALTER TABLE sessions ADD COLUMN signed_in_with TEXT;
