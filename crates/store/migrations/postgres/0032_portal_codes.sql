-- The portal's sign-in by a one-time code sent to the WhatsApp number on record: the same
-- sign-in rows as the emailed links, with the number the code went to and the wrong tries
-- counted (a code stops working after a few), so that guessing is bounded on every instance.
ALTER TABLE portal_sign_ins ADD COLUMN whatsapp TEXT;
ALTER TABLE portal_sign_ins ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
CREATE INDEX portal_sign_ins_whatsapp ON portal_sign_ins (whatsapp, id);
