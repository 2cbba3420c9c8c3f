-- Crash-safe declarations: every step's result is recorded before the next,
-- so a declaration interrupted by a crash is completed on the next start
-- without repeating what was done. published_at lets a restart bring the
-- control and digest messages of changed incidents up to date.
ALTER TABLE incidents
    ADD COLUMN intended_name TEXT,                        -- asked of conversations.create, recorded before the call
    ADD COLUMN steps JSONB NOT NULL DEFAULT '[]'::jsonb,  -- names of the steps done
    ADD COLUMN declaration JSONB,                         -- how to finish it: reply, slug, origin
    ADD COLUMN completed_at TIMESTAMPTZ,
    ADD COLUMN published_at TIMESTAMPTZ;                  -- the updated_at last shown in Slack

CREATE INDEX incidents_incomplete ON incidents (created_at) WHERE completed_at IS NULL;
