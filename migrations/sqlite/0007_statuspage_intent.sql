-- Creating a Statuspage incident is idempotent: before the POST, the intent
-- is stored — a key, also sent in the POST's metadata, and who asked. An
-- attempt after a lost answer or a failed write finds the incident Statuspage
-- already has by that key and adopts it instead of publishing a second one.
ALTER TABLE statuspage_incidents ADD COLUMN create_key TEXT;
ALTER TABLE statuspage_incidents ADD COLUMN create_requested_by TEXT;
