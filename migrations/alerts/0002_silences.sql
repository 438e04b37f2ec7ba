-- Silences, version 2 of alerts.db: label matchers and a time window in
-- which matching alerts change state but are not notified.
-- Migrations are append-only: change the schema in a new file, never here.

-- Whether receivers heard that an alert fired: one that fired while
-- silenced is told when the silence ends, and a resolution reaches only
-- receivers that heard the firing. Rows from version 1 were notified.
ALTER TABLE alert_state ADD COLUMN notified INTEGER NOT NULL DEFAULT 1;

-- One row per silence. Expiring one moves ends_at_ms to that moment; rows
-- that ended more than five days ago are deleted when a silence is added.
CREATE TABLE silences (
    id           TEXT PRIMARY KEY,   -- random, UUID-shaped
    matchers     TEXT NOT NULL,      -- JSON [{"label","op","value"}], op one of = != =~ !~
    starts_at_ms INTEGER NOT NULL,
    ends_at_ms   INTEGER NOT NULL,
    created_by   TEXT NOT NULL,
    comment      TEXT NOT NULL,
    updated_ms   INTEGER NOT NULL    -- created, or expired
) STRICT;
CREATE INDEX silences_by_end ON silences (ends_at_ms);

-- The label names the current leader's rules give alerts, so a silence on a
-- label no alert carries (a typo) is refused; '*' when any label is possible.
CREATE TABLE alert_label_names (
    name TEXT PRIMARY KEY
) STRICT;
