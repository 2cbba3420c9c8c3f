-- A private incident (declared from a private channel, a DM or a group DM,
-- or chosen in the declare form) has a private channel; the digest shows
-- it without its description and `@janus list` only to its members.
ALTER TABLE incidents ADD COLUMN private BOOLEAN NOT NULL DEFAULT false;
-- The per-user declaration limit counts a user's recent declarations.
CREATE INDEX incidents_by_declarer ON incidents (created_by, created_at);
