-- mon's warm store, version 6: reports land in a time-ordered inbox.
--
-- The head's `UNIQUE (host, ts)` index puts each report at the end of its
-- own host's range, so a batch of reports from N hosts changed N index
-- pages, each written whole to the WAL and again at the checkpoint: about
-- 9 KB written per report of 10 samples from a fleet of 4,000 hosts.
-- Reports now land here, keyed by time first, so a batch appends at the
-- right edge of one B-tree. When the inbox has grown (a few reports per
-- host), the writer moves all of it into metrics_raw_head in host order,
-- so each host's index page takes several rows in one write; compaction
-- moves what it needs first. A report is in the inbox or in the head,
-- never both, and reads take the two together.
CREATE TABLE metrics_raw_inbox (
    ts      INTEGER NOT NULL,
    host    TEXT NOT NULL,
    samples INTEGER NOT NULL,
    data    BLOB NOT NULL,
    PRIMARY KEY (ts, host)
) STRICT, WITHOUT ROWID;
