-- Janus schema, first version, for SQLite: the same tables as
-- migrations/postgres, version for version, so `janus doctor` reads alike on
-- both. Timestamps are TEXT in one fixed-width UTC form,
-- 2026-01-31T12:34:56.123456Z, so comparing them as text compares them in
-- time (the store always writes them in that form; the defaults below match
-- it). JSON is TEXT.

CREATE TABLE incidents (
    id              INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused, like a Postgres sequence
    channel_id      TEXT UNIQUE,             -- set once conversations.create succeeded
    channel_name    TEXT UNIQUE,             -- likewise (name_taken may add -2, -3…)
    declared_in     TEXT,                    -- channel /incident was typed in
    description     TEXT NOT NULL,
    status          TEXT NOT NULL,
    severity        TEXT NOT NULL,
    created_by      TEXT NOT NULL,           -- Slack user id
    created_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')),
    updated_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')),
    resolved_at     TEXT,
    control_ts      TEXT,                    -- pinned control message
    digest_ts       TEXT                     -- message in the digest channel
);

CREATE INDEX incidents_open ON incidents (created_at) WHERE resolved_at IS NULL;

CREATE TABLE role_assignments (
    incident_id     INTEGER NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    role            TEXT NOT NULL,
    user_id         TEXT NOT NULL,
    assigned_by     TEXT NOT NULL,
    assigned_at     TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')),
    PRIMARY KEY (incident_id, role)
);

-- Every change, with who made it and when: the incident's history.
CREATE TABLE incident_events (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id     INTEGER NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    actor           TEXT NOT NULL,           -- Slack user id, or 'janus'
    kind            TEXT NOT NULL,           -- e.g. declared, status, severity, role
    detail          TEXT NOT NULL DEFAULT '{}', -- JSON object
    at              TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now'))
);

CREATE INDEX incident_events_by_incident ON incident_events (incident_id, at);

-- One row per delivery handled: events by event_id, everything else by
-- envelope_id.
CREATE TABLE processed_envelopes (
    dedupe_key      TEXT PRIMARY KEY,
    received_at     TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now'))
);
