-- Reminders (an update is overdue, nobody holds the commander role). When one
-- is due follows from what is stored already — the declaration's completion,
-- the last `update` in incident_events, a reopening, the last reminder — and
-- the interval configured for the incident's severity. A row here is a
-- reminder claimed by one replica before it posts: the primary key makes the
-- claim once per quiet period (`since_micros`, the period's start in
-- microseconds since the Unix epoch, read from the same rows by every
-- replica), so two replicas, or a restart, never post it twice.
CREATE TABLE reminders (
    incident_id     BIGINT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    kind            TEXT NOT NULL,               -- 'update' or 'commander'
    since_micros    BIGINT NOT NULL,
    due_at          TIMESTAMPTZ NOT NULL,
    fired_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    posted          BOOLEAN NOT NULL,            -- false: settled without a message
    PRIMARY KEY (incident_id, kind, since_micros)
);

-- Incidents already open when this arrives start their first quiet period
-- now, and already had their commander check: an upgrade reminds nobody at
-- once.
INSERT INTO reminders (incident_id, kind, since_micros, due_at, fired_at, posted)
    SELECT id, 'update', 0, now(), now(), false FROM incidents WHERE resolved_at IS NULL;
INSERT INTO reminders (incident_id, kind, since_micros, due_at, fired_at, posted)
    SELECT id, 'commander', 0, now(), now(), false FROM incidents;
