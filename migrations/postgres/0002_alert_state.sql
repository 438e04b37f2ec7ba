-- The alert state of `mon alerts`, shared by every alerts instance of a
-- fleet: the leader commits each transition here before it notifies, and a
-- standby that takes over reads exactly what the old leader committed.
-- The same tables as SQLite's alerts.db (migrations/alerts/).
-- Migrations are append-only: change the schema in a new file, never here.

-- One row per active (pending or firing) alert, rewritten on every
-- transition and deleted when the alert resolves.
CREATE TABLE alert_state (
    id              text PRIMARY KEY,       -- fingerprint of the labels
    rule_key        text NOT NULL,          -- which rule made it
    host            text NOT NULL,
    alert           text NOT NULL,          -- the rule's alert name
    state           text NOT NULL CHECK (state IN ('pending', 'firing')),
    severity        text NOT NULL,
    value           double precision NOT NULL,
    labels          text NOT NULL,          -- JSON object, keys sorted
    annotations     text NOT NULL,          -- JSON object, keys sorted
    active_since_ms bigint NOT NULL,
    fired_at_ms     bigint,
    updated_ms      bigint NOT NULL
);

-- Every host the alerts role has heard from, so a host that falls silent
-- while no leader runs still trips the no-data rules.
CREATE TABLE alert_hosts (
    host          text PRIMARY KEY,
    first_seen_ms bigint NOT NULL
);
