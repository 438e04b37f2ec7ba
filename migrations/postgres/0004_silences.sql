-- Silences, shared by every alerts instance and gateway of a fleet: label
-- matchers and a time window in which matching alerts change state but are
-- not notified. The same tables as SQLite's alerts.db (migrations/alerts/).
-- Migrations are append-only: change the schema in a new file, never here.

-- Whether receivers heard that an alert fired: one that fired while
-- silenced is told when the silence ends, and a resolution reaches only
-- receivers that heard the firing. Earlier rows were notified.
ALTER TABLE alert_state ADD COLUMN notified boolean NOT NULL DEFAULT true;

-- One row per silence. Expiring one moves ends_at_ms to that moment; rows
-- that ended more than five days ago are deleted when a silence is added.
CREATE TABLE silences (
    id           text PRIMARY KEY,   -- random, UUID-shaped
    matchers     text NOT NULL,      -- JSON [{"label","op","value"}], op one of = != =~ !~
    starts_at_ms bigint NOT NULL,
    ends_at_ms   bigint NOT NULL,
    created_by   text NOT NULL,
    comment      text NOT NULL,
    updated_ms   bigint NOT NULL     -- created, or expired
);
CREATE INDEX silences_by_end ON silences (ends_at_ms);

-- The label names the current leader's rules give alerts, so a silence on a
-- label no alert carries (a typo) is refused; '*' when any label is possible.
CREATE TABLE alert_label_names (
    name text PRIMARY KEY
);
