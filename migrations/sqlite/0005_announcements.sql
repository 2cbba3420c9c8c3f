-- A change's line in the incident channel (and a new role holder's DM) is
-- posted after the change commits; `announced_at` records that it went out.
-- A change left unannounced by a crash is announced after the restart.
ALTER TABLE incident_events ADD COLUMN announced_at TEXT;
UPDATE incident_events SET announced_at = at;
CREATE INDEX incident_events_unannounced ON incident_events (id) WHERE announced_at IS NULL;
