//! The `processes` and `cgroups` frames, which the server sends only to a
//! session watching that host, turned into the store's tables. The
//! `wire` readers default every field but the host and the time and
//! ignore fields this version does not know, so a newer server's tables
//! stay readable; the text is kept as sent and cleaned again by the view
//! before it reaches the terminal.

use wire::activity::{Cgroups, Processes};

use crate::state::{CgroupTable, ProcessTable, Update};

pub(super) fn processes(p: Processes) -> Update {
    Update::Processes(ProcessTable {
        host: p.host,
        ts_ms: p.ts,
        total: p.table.total,
        rows: p.table.processes,
    })
}

pub(super) fn cgroups(c: Cgroups) -> Update {
    Update::Cgroups(CgroupTable {
        host: c.host,
        ts_ms: c.ts,
        total: c.table.total,
        rows: c.table.cgroups,
        unavailable: c.table.unavailable.filter(|why| !why.is_empty()),
    })
}

#[cfg(test)]
mod tests {
    use super::super::parse;
    use super::*;
    use crate::state::CgroupKind;

    #[test]
    fn the_contracts_frames_become_tables_and_new_fields_are_ignored() {
        let p = r#"{"type":"processes","v":1,"host":"web-1","ts":1764180000000,"total":312,
          "processes":[{"pid":4242,"name":"spin","command":"spin --hard","user":"root","cpu_percent":99.5,
                        "memory_bytes":1234567,"read_bytes_per_second":0.0,"write_bytes_per_second":4096.0,
                        "threads":4}],"cores":8}"#;
        let Some(Update::Processes(t)) = parse(p).unwrap() else {
            panic!("a process table")
        };
        assert_eq!(
            (t.host.as_str(), t.ts_ms, t.total),
            ("web-1", 1764180000000, 312)
        );
        assert_eq!(t.rows[0].pid, 4242);
        assert_eq!(t.rows[0].write_bytes_per_second, 4096.0);

        let c = r#"{"type":"cgroups","v":1,"host":"web-1","ts":1764180000000,"total":12,
          "cgroups":[{"path":"system.slice/nginx.service","name":"nginx.service","kind":"service",
                      "cpu_percent":1.5,"memory_bytes":52428800,"memory_peak_bytes":null,
                      "read_bytes_per_second":0.0,"write_bytes_per_second":0.0,"pids":3},
                     {"path":"x","name":"x","kind":"vm"}]}"#;
        let Some(Update::Cgroups(t)) = parse(c).unwrap() else {
            panic!("a cgroup table")
        };
        assert_eq!(t.rows[0].kind, CgroupKind::Service);
        assert_eq!(t.rows[0].memory_peak_bytes, None);
        assert_eq!(t.rows[1].kind, CgroupKind::Other, "an unknown kind");
        assert_eq!(t.unavailable, None);

        let v1 = r#"{"type":"cgroups","v":1,"host":"old-1","ts":1,"total":0,"cgroups":[],
          "unavailable":"cgroup v1 host: /sys/fs/cgroup is not a cgroup2 mount"}"#;
        let Some(Update::Cgroups(t)) = parse(v1).unwrap() else {
            panic!("a cgroup table")
        };
        assert!(t.unavailable.unwrap().starts_with("cgroup v1 host"));

        let bad = r#"{"type":"processes","v":1,"host":"web-1","processes":[]}"#;
        assert!(
            parse(bad).unwrap_err().contains("unreadable frame"),
            "no ts"
        );
    }
}
