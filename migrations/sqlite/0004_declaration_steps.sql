-- Crash-safe declarations: every step's result is recorded before the next,
-- so a declaration interrupted by a crash is completed on the next start
-- without repeating what was done. published_at lets a restart bring the
-- control and digest messages of changed incidents up to date.
ALTER TABLE incidents ADD COLUMN intended_name TEXT;                -- asked of conversations.create, recorded before the call
ALTER TABLE incidents ADD COLUMN steps TEXT NOT NULL DEFAULT '[]';  -- JSON array: names of the steps done
ALTER TABLE incidents ADD COLUMN declaration TEXT;                  -- JSON: how to finish it: reply, slug, origin
ALTER TABLE incidents ADD COLUMN completed_at TEXT;
ALTER TABLE incidents ADD COLUMN published_at TEXT;                 -- the updated_at last shown in Slack

CREATE INDEX incidents_incomplete ON incidents (created_at) WHERE completed_at IS NULL;
