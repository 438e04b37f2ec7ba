-- The alert state of `mon alerts`, version 1, in its own file (alerts.db):
-- the alerts role may run on another machine than the aggregator.
-- Migrations are append-only: change the schema in a new file, never here.

-- One row per active (pending or firing) alert, rewritten on every
-- transition and deleted when the alert resolves. Read back at start-up, so
-- a restart neither forgets a firing alert nor notifies it again.
CREATE TABLE alert_state (
    id              TEXT PRIMARY KEY,       -- fingerprint of the labels
    rule_key        TEXT NOT NULL,          -- which rule made it
    host            TEXT NOT NULL,
    alert           TEXT NOT NULL,          -- the rule's alert name
    state           TEXT NOT NULL CHECK (state IN ('pending', 'firing')),
    severity        TEXT NOT NULL,
    value           REAL NOT NULL,
    labels          TEXT NOT NULL,          -- JSON object, keys sorted
    annotations     TEXT NOT NULL,          -- JSON object, keys sorted
    active_since_ms INTEGER NOT NULL,
    fired_at_ms     INTEGER,
    updated_ms      INTEGER NOT NULL
) STRICT;

-- Every host the alerts role has heard from, so a host that falls silent
-- while the role is down still trips the no-data rules after a restart.
CREATE TABLE alert_hosts (
    host          TEXT PRIMARY KEY,
    first_seen_ms INTEGER NOT NULL
) STRICT;
