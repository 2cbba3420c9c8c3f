-- Janus schema, first version. The database is the source of truth: every
-- Slack message the bot owns has its ts here, so any message can be rendered
-- again from these rows alone.

CREATE TABLE incidents (
    id              BIGSERIAL PRIMARY KEY,
    channel_id      TEXT UNIQUE,             -- set once conversations.create succeeded
    channel_name    TEXT UNIQUE,             -- likewise (name_taken may add -2, -3…)
    declared_in     TEXT,                    -- channel /incident was typed in
    description     TEXT NOT NULL,
    status          TEXT NOT NULL,
    severity        TEXT NOT NULL,
    created_by      TEXT NOT NULL,           -- Slack user id
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    resolved_at     TIMESTAMPTZ,
    control_ts      TEXT,                    -- pinned control message
    digest_ts       TEXT                     -- message in the digest channel
);

CREATE INDEX incidents_open ON incidents (created_at) WHERE resolved_at IS NULL;

CREATE TABLE role_assignments (
    incident_id     BIGINT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    role            TEXT NOT NULL,
    user_id         TEXT NOT NULL,
    assigned_by     TEXT NOT NULL,
    assigned_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (incident_id, role)
);

-- Every change, with who made it and when: the incident's history.
CREATE TABLE incident_events (
    id              BIGSERIAL PRIMARY KEY,
    incident_id     BIGINT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    actor           TEXT NOT NULL,           -- Slack user id, or 'janus'
    kind            TEXT NOT NULL,           -- e.g. declared, status, severity, role
    detail          JSONB NOT NULL DEFAULT '{}'::jsonb,
    at              TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX incident_events_by_incident ON incident_events (incident_id, at);

-- One row per delivery handled: events by event_id, everything else by
-- envelope_id. Shared by every replica, so a redelivery to another process is
-- still recognised.
CREATE TABLE processed_envelopes (
    dedupe_key      TEXT PRIMARY KEY,
    received_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);
