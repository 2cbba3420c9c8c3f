-- Messages people marked for an incident's timeline (the timeline emoji on
-- a message in its channel): who wrote it and when, its text and link, who
-- marked it. One entry per message however many mark it.
CREATE TABLE timeline_marks (
    incident_id     BIGINT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    message_ts      TEXT NOT NULL,
    author          TEXT,
    text            TEXT NOT NULL,
    permalink       TEXT,
    marked_by       TEXT NOT NULL,
    marked_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (incident_id, message_ts)
);
-- The newest message of the incident channel Janus looked at for marks
-- made while it was away (no socket open): the next look starts there.
ALTER TABLE incidents ADD COLUMN timeline_seen_ts TEXT;
