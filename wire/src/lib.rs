//! The JSON contract between mon's parts, declared once: the events on the
//! bus, the WebSocket frames of `/ws`, the messages a client sends, and the
//! HTTP API bodies. The server's roles and `mon top` both use these
//! types, so a renamed field is a compile error on every side rather than
//! a failed integration test. `PROTOCOL.md` at this crate's root is the
//! contract in prose; the gRPC ingest half is `server/proto/mon.proto`.
//!
//! Writers and readers are separate on purpose. What the server produces
//! it serializes once from borrowed types (`…Event<'a>`, `…Frame<'a>`);
//! what anyone parses goes into owned types that default missing fields
//! and ignore unknown ones, so an older reader keeps working against a
//! newer server. Each writer has its reader beside it, and the tests here
//! round-trip one through the other.
//!
//! Every event and frame the server writes opens with its type,
//! `{"type":"…"`: [`frame_type`] reads it without parsing the rest, which
//! is how the hot paths pick a frame's reader.

pub mod activity;
pub mod alert;
pub mod api;
pub mod channel;
pub mod client;
pub mod frame;
pub mod host;
pub mod metrics;

/// Version of the event format, carried as `"v"` in every bus event.
pub const EVENT_VERSION: u32 = 1;

/// Version of the WebSocket protocol, carried as `"v"` in every frame the
/// server writes itself (`hello`, `snapshot`, `subscribed`, `status`,
/// `error`); the events it relays carry their own [`EVENT_VERSION`].
pub const PROTOCOL_VERSION: u32 = 1;

/// The name of the field that opens every event and frame.
pub const TYPE: &str = "type";
/// The name of the version field that follows it.
pub const VERSION: &str = "v";

/// The `type` of every event, frame and client message.
pub mod kind {
    /// One accepted report (bus event and frame).
    pub const METRICS: &str = "metrics";
    /// A host's `Hello` metadata (bus event and frame).
    pub const HOST: &str = "host";
    /// One alert transition (bus event and frame).
    pub const ALERT: &str = "alert";
    /// A host's top processes (bus event and frame).
    pub const PROCESSES: &str = "processes";
    /// A host's cgroups (bus event and frame).
    pub const CGROUPS: &str = "cgroups";
    /// A viewer watches a host (bus event; also a client message).
    pub const WATCH: &str = "watch";
    /// The first frame of a connection.
    pub const HELLO: &str = "hello";
    /// The whole live state, which replaces the client's.
    pub const SNAPSHOT: &str = "snapshot";
    /// The answer to a `subscribe`.
    pub const SUBSCRIBED: &str = "subscribed";
    /// The edge's upstream link.
    pub const STATUS: &str = "status";
    /// A client message the server could not take.
    pub const ERROR: &str = "error";
    /// A client's filter (client message).
    pub const SUBSCRIBE: &str = "subscribe";
}

/// The type of a frame as mon writes them, read from its prefix without
/// parsing it: every frame starts with `{"type":"..."`. `None` for
/// anything else (a frame with its type elsewhere is still JSON, for a
/// full parse to read).
pub fn frame_type(text: &str) -> Option<&str> {
    let rest = text.strip_prefix("{\"type\":\"")?;
    rest.split_once('"').map(|(kind, _)| kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_frame_type_is_read_from_the_prefix() {
        assert_eq!(frame_type(r#"{"type":"metrics","v":1}"#), Some("metrics"));
        assert_eq!(frame_type(r#"{"v":1,"type":"metrics"}"#), None);
        assert_eq!(frame_type(r#"{"type":"metrics"#), None);
        assert_eq!(frame_type(&format!("{{\"{TYPE}\":\"x\"")), Some("x"));
    }

    /// A newer server may add fields anywhere: every owned reader ignores
    /// them (the client messages and `NewSilence`, read strictly by the
    /// server, are the exceptions).
    #[test]
    fn the_owned_readers_tolerate_fields_they_do_not_know() {
        use serde::de::DeserializeOwned;
        fn reads<T: DeserializeOwned>(text: &str) -> T {
            match serde_json::from_str(text) {
                Ok(t) => t,
                Err(e) => panic!("{}: {e}: {text}", std::any::type_name::<T>()),
            }
        }
        let new = r#""added_later":{"x":[1,{"y":null}]}"#;
        let value = format!(r#"{{"name":"cpu","labels":{{}},"value":1,{new}}}"#);
        let meta = format!(r#"{{"os":"Debian","cores":2,{new}}}"#);
        let host =
            format!(r#"{{"host":"h","last_seen_ms":1,"meta":{meta},"values":[{value}],{new}}}"#);
        let alert = format!(
            r#"{{"type":"alert","v":1,"id":"a","host":"h","alert":"X","state":"firing","value":1,{new}}}"#
        );
        let process = format!(r#"{{"pid":1,"name":"init",{new}}}"#);
        let cgroup = format!(r#"{{"path":"x","kind":"service",{new}}}"#);

        let m: metrics::Metrics = reads(&format!(
            r#"{{"type":"metrics","v":1,"host":"h","ts":1,"seq":2,"values":[{value}],{new}}}"#
        ));
        assert_eq!(m.values[0].name, "cpu");
        let h: host::Host = reads(&format!(
            r#"{{"type":"host","v":1,"host":"h","meta":{meta},{new}}}"#
        ));
        assert_eq!(h.meta.cores, 2);
        let live: host::LiveHost = reads(&host);
        assert_eq!(live.values.len(), 1);
        let a: alert::Alert = reads(&alert);
        assert!(a.is_active());
        let p: activity::Processes = reads(&format!(
            r#"{{"type":"processes","v":1,"host":"h","ts":1,"total":1,"processes":[{process}],{new}}}"#
        ));
        assert_eq!(p.table.processes[0].name, "init");
        let c: activity::Cgroups = reads(&format!(
            r#"{{"type":"cgroups","v":1,"host":"h","ts":1,"cgroups":[{cgroup}],{new}}}"#
        ));
        assert_eq!(c.table.cgroups[0].kind, activity::CgroupKind::Service);
        let _: activity::TableHeader = reads(&format!(r#"{{"host":"h","ts":1,{new}}}"#));
        let watch = format!(r#"{{"type":"watch","v":1,"host":"h",{new}}}"#);
        let w: activity::WatchEvent = serde_json::from_str(&watch).unwrap();
        assert_eq!(w.host, "h");

        let _: frame::Hello = reads(&format!(
            r#"{{"type":"hello","v":1,"server":"mon","role":"edge",{new}}}"#
        ));
        let s: frame::Snapshot = reads(&format!(
            r#"{{"type":"snapshot","v":1,"ts":1,"hosts":[{host}],"alerts":[{alert}],{new}}}"#
        ));
        assert_eq!((s.hosts.len(), s.alerts.len()), (1, 1));
        let _: frame::Subscribed = reads(&format!(
            r#"{{"type":"subscribed","v":1,"hosts":[],{new}}}"#
        ));
        let st: frame::Status = reads(&format!(
            r#"{{"type":"status","upstream":"connected",{new}}}"#
        ));
        assert!(st.is_connected());
        let _: frame::ServerError = reads(&format!(r#"{{"type":"error","code":"x",{new}}}"#));
        let f: frame::Frame = reads(&format!(
            r#"{{"v":1,{new},"type":"host","host":"h","meta":{meta}}}"#
        ));
        assert!(matches!(f, frame::Frame::Host(_)));

        let _: api::HostList = reads(&format!(r#"{{"hosts":[{host}],{new}}}"#));
        let _: api::AlertList = reads(&format!(r#"{{"alerts":[{alert}],{new}}}"#));
        let series: api::SeriesAnswer = reads(&format!(
            r#"{{"host":"h","tier":"1m","points":[{{"ts":1,"value":2,{new}}}],{new}}}"#
        ));
        assert_eq!(series.points[0].value, 2.0);
        let _: api::ApiError = reads(&format!(r#"{{"error":"x",{new}}}"#));
        let _: api::SilenceJson = reads(&format!(
            r#"{{"id":"s","matchers":[],"starts_at_ms":1,"ends_at_ms":2,"state":"active","created_by":"","comment":"","updated_ms":1,{new}}}"#
        ));
    }
}
