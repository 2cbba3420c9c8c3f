-- Reminders (an update is overdue, nobody holds the commander role). When one
-- is due follows from what is stored already — the declaration's completion,
-- the last `update` in incident_events, a reopening, the last reminder — and
-- the interval configured for the incident's severity. A row here is a
-- reminder claimed before it posts: the primary key makes the claim once per
-- quiet period (`since_micros`, the period's start in microseconds since the
-- Unix epoch), so a restart never posts it twice.
CREATE TABLE reminders (
    incident_id     INTEGER NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    kind            TEXT NOT NULL,               -- 'update' or 'commander'
    since_micros    INTEGER NOT NULL,
    due_at          TEXT NOT NULL,
    fired_at        TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')),
    posted          BOOLEAN NOT NULL,            -- false: settled without a message
    PRIMARY KEY (incident_id, kind, since_micros)
);

-- Incidents already open when this arrives start their first quiet period
-- now, and already had their commander check: an upgrade reminds nobody at
-- once.
INSERT INTO reminders (incident_id, kind, since_micros, due_at, fired_at, posted)
    SELECT id, 'update', 0, strftime('%Y-%m-%dT%H:%M:%f000Z', 'now'),
           strftime('%Y-%m-%dT%H:%M:%f000Z', 'now'), 0
    FROM incidents WHERE resolved_at IS NULL;
INSERT INTO reminders (incident_id, kind, since_micros, due_at, fired_at, posted)
    SELECT id, 'commander', 0, strftime('%Y-%m-%dT%H:%M:%f000Z', 'now'),
           strftime('%Y-%m-%dT%H:%M:%f000Z', 'now'), 0
    FROM incidents;
