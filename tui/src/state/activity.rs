//! What is running on the watched host: its latest process table and
//! cgroup table, each with the time the agent read it.
//!
//! Only the host the host view shows is watched, and only its tables are
//! kept: the server sends them to a session that watches that host and to
//! no other, so the fleet view holds nothing here and costs nothing more.
//! A table of another host (one still in flight when the watch moved on)
//! is dropped.

// The rows are the wire's (`wire::activity`): the same fields as sent. The
// text is untrusted: the view strips control characters again before
// showing it.
pub use wire::activity::{CgroupKind, CgroupRow, ProcessRow};

/// A host's top processes at one instant.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessTable {
    pub host: String,
    pub ts_ms: i64,
    /// Every process the agent saw, listed or not.
    pub total: u32,
    pub rows: Vec<ProcessRow>,
}

/// A host's cgroups at one instant, or why it has none to show.
#[derive(Debug, Clone, PartialEq)]
pub struct CgroupTable {
    pub host: String,
    pub ts_ms: i64,
    pub total: u32,
    pub rows: Vec<CgroupRow>,
    /// Set when the host has no cgroup v2 hierarchy: why.
    pub unavailable: Option<String>,
}

/// The watched host and its latest tables.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Activity {
    watched: Option<String>,
    pub processes: Option<ProcessTable>,
    pub cgroups: Option<CgroupTable>,
}

impl Activity {
    /// The host whose tables are kept, if any.
    pub fn watched(&self) -> Option<&str> {
        self.watched.as_deref()
    }

    /// Watches `host` (or nothing). Another host than before starts with
    /// no tables: the previous host's must not show under this one's name.
    pub fn watch(&mut self, host: Option<&str>) {
        if self.watched.as_deref() == host {
            return;
        }
        self.watched = host.map(str::to_owned);
        self.processes = None;
        self.cgroups = None;
    }

    pub(super) fn apply_processes(&mut self, table: ProcessTable) {
        if self.takes(
            &table.host,
            table.ts_ms,
            self.processes.as_ref().map(|t| t.ts_ms),
        ) {
            self.processes = Some(table);
        }
    }

    pub(super) fn apply_cgroups(&mut self, table: CgroupTable) {
        if self.takes(
            &table.host,
            table.ts_ms,
            self.cgroups.as_ref().map(|t| t.ts_ms),
        ) {
            self.cgroups = Some(table);
        }
    }

    /// A table is kept when it is the watched host's and not older than
    /// the one shown (a resend after a reconnect repeats the same one).
    fn takes(&self, host: &str, ts_ms: i64, shown_ms: Option<i64>) -> bool {
        self.watched.as_deref() == Some(host) && shown_ms.is_none_or(|shown| ts_ms >= shown)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(host: &str, ts_ms: i64) -> ProcessTable {
        ProcessTable {
            host: host.into(),
            ts_ms,
            total: 1,
            rows: vec![],
        }
    }

    #[test]
    fn only_the_watched_hosts_newest_table_is_kept() {
        let mut a = Activity::default();
        a.apply_processes(table("web-1", 10));
        assert!(a.processes.is_none(), "nothing is watched");
        a.watch(Some("web-1"));
        a.apply_processes(table("web-1", 10));
        a.apply_processes(table("web-2", 20));
        a.apply_processes(table("web-1", 5));
        assert_eq!(a.processes.as_ref().map(|t| t.ts_ms), Some(10));
        a.watch(Some("web-1"));
        assert!(a.processes.is_some(), "the same watch keeps the table");
        a.watch(Some("web-2"));
        assert!(a.processes.is_none(), "another host starts empty");
        a.watch(None);
        assert_eq!(a.watched(), None);
    }
}
