-- React-to-create: one message gives at most one incident, whoever reacts,
-- however often. The row is claimed before anything is created and released
-- if the declaration fails.
CREATE TABLE react_triggers (
    source_channel  TEXT NOT NULL,
    source_ts       TEXT NOT NULL,
    reacted_by      TEXT NOT NULL,
    incident_id     INTEGER REFERENCES incidents (id) ON DELETE SET NULL,
    created_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')),
    PRIMARY KEY (source_channel, source_ts)
);
