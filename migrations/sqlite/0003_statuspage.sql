-- The Statuspage incident an incident drives, and the Slack message that
-- manages it (edited in place; found by its ts, never by searching text).
CREATE TABLE statuspage_incidents (
    incident_id         INTEGER PRIMARY KEY REFERENCES incidents (id) ON DELETE CASCADE,
    message_ts          TEXT,                 -- prompt, then management message
    statuspage_id       TEXT UNIQUE,          -- set once created on Statuspage
    status              TEXT,                 -- its Statuspage status, as last set
    touched_components  TEXT NOT NULL DEFAULT '[]', -- JSON array of component ids
    updated_at          TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now'))
);
