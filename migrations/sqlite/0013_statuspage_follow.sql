-- `statuspage.follow_incident`: the incident status the Statuspage incident
-- was last brought in line with (by following, or by a person's own create
-- or update), so a status change not yet followed is found after a crash,
-- and a person's own update is not undone; and whether the people who
-- published it chose to notify subscribers (followed updates do the same).
ALTER TABLE statuspage_incidents ADD COLUMN followed_status TEXT;
ALTER TABLE statuspage_incidents ADD COLUMN notify BOOLEAN NOT NULL DEFAULT 1;
-- Incidents linked before this version follow from their next change.
UPDATE statuspage_incidents SET followed_status =
    (SELECT status FROM incidents WHERE incidents.id = statuspage_incidents.incident_id)
    WHERE statuspage_id IS NOT NULL;
