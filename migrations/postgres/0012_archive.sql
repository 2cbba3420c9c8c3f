-- When the incident channel was archived (`incident.archive_after` after the
-- resolution): the digest says so, and nothing archives it twice.
ALTER TABLE incidents ADD COLUMN archived_at TIMESTAMPTZ;
