-- What Slack shows is tracked by a counter instead of a time: two changes
-- within one tick of the clock (SQLite's has millisecond resolution) are two
-- versions all the same, and replicas' clocks never have to agree.
-- `version` counts the changes Slack's messages show; `published_version`
-- is the one they last showed (NULL: never shown, or not since this change).
ALTER TABLE incidents ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
ALTER TABLE incidents ADD COLUMN published_version INTEGER;
UPDATE incidents SET published_version = 0
    WHERE published_at IS NOT NULL AND published_at >= updated_at;
ALTER TABLE incidents DROP COLUMN published_at;
