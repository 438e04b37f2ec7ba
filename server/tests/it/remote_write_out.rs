//! `--remote-write` against a small receiver in the test that answers as
//! told: 5xx and 429 are retried (after `Retry-After`) until the same
//! request is accepted, a 400 drops its request and the next one goes on,
//! and what happened shows in the aggregator's `/metrics`. The real
//! receiver (VictoriaMetrics, with an outage) is in the cli crate's tests.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use server::forward::{ErrorKind, RemoteWrite, RemoteWriteTarget, SendPolicy};
use server::interop::remote_write::{WriteRequest, decode};
use server::proto::{Label, Report, Sample};
use server::testkit::Pipeline;
use server::tls::ClientTls;

use crate::harness::{RawAgent, eventually, http_get};

/// A status to answer, and its `Retry-After`.
type Answer = (u16, Option<&'static str>);

/// One request as the receiver saw it.
#[derive(Clone)]
struct Seen {
    at: Instant,
    headers: HeaderMap,
    body: Bytes,
    answered: u16,
}

/// Answers each request with the next scripted status (204 once the script
/// is used up) and remembers every request.
#[derive(Clone, Default)]
struct Receiver {
    script: Arc<Mutex<VecDeque<Answer>>>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Receiver {
    async fn start(script: &[Answer]) -> (Self, SocketAddr) {
        let receiver = Receiver {
            script: Arc::new(Mutex::new(script.iter().copied().collect())),
            ..Receiver::default()
        };
        let state = receiver.clone();
        let app = axum::Router::new().route(
            "/api/v1/write",
            axum::routing::post(move |headers: HeaderMap, body: Bytes| {
                let state = state.clone();
                async move {
                    let (status, retry_after) = state
                        .script
                        .lock()
                        .unwrap()
                        .pop_front()
                        .unwrap_or((204, None));
                    state.seen.lock().unwrap().push(Seen {
                        at: Instant::now(),
                        headers,
                        body,
                        answered: status,
                    });
                    let mut response =
                        (StatusCode::from_u16(status).unwrap(), "told to").into_response();
                    if let Some(after) = retry_after {
                        response
                            .headers_mut()
                            .insert("retry-after", after.parse().unwrap());
                    }
                    response
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (receiver, addr)
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    fn accepted(&self) -> Vec<WriteRequest> {
        self.seen()
            .iter()
            .filter(|s| s.answered < 300)
            .map(|s| decode(&s.body, 1 << 24).unwrap())
            .collect()
    }
}

/// An aggregator on port 0 forwarding to `receiver`, with an HTTP listener
/// for its `/metrics`.
struct Forwarding {
    pipeline: Pipeline,
    grpc: String,
}

impl Forwarding {
    async fn start(receiver: SocketAddr) -> Self {
        let target = RemoteWriteTarget::parse(
            &format!("http://{receiver}/api/v1/write"),
            Some("rw-token"),
            None,
            ClientTls::default(),
        )
        .unwrap();
        let pipeline = Pipeline::builder()
            .aggregator(|c| {
                c.remote_write = RemoteWrite {
                    targets: vec![target],
                    policy: SendPolicy {
                        min_backoff: Duration::from_millis(50),
                        max_backoff: Duration::from_secs(2),
                        poll: Duration::from_millis(50),
                        ..SendPolicy::default()
                    },
                }
            })
            .push_listener()
            .start()
            .await;
        let stats = &pipeline.aggregator().stats;
        let up = eventually(Duration::from_secs(10), || stats.forward.get().is_some()).await;
        assert!(up, "the aggregator starts its forwarder");
        let grpc = pipeline.aggregator().url();
        Self { pipeline, grpc }
    }

    fn sent(&self) -> u64 {
        self.destination()
            .samples_sent
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    fn destination(&self) -> Arc<server::forward::DestinationStats> {
        self.pipeline
            .aggregator()
            .stats
            .forward
            .get()
            .unwrap()
            .destinations[0]
            .clone()
    }

    async fn metrics(&self) -> String {
        let http = self.pipeline.aggregator().http_addr.unwrap();
        let (status, body) = http_get(http, "/metrics", &[]).await;
        assert_eq!(status, 200, "{body}");
        body
    }

    async fn stop(self) {
        self.pipeline.stop().await;
    }
}

fn report(host: &str, ts: i64, values: &[(&str, f64)]) -> Report {
    Report {
        host: host.into(),
        seq: 0,
        timestamp_ms: ts,
        samples: values
            .iter()
            .map(|(name, value)| Sample {
                name: (*name).into(),
                labels: vec![Label {
                    name: "mount".into(),
                    value: "/".into(),
                }],
                value: *value,
            })
            .collect(),
        ..Default::default()
    }
}

/// `(labels, [(ts, value)])` of every series in the requests, merged
/// across requests (the reports may go in one request or several).
fn series(requests: &[WriteRequest]) -> Vec<(String, Vec<(i64, f64)>)> {
    let mut out: std::collections::BTreeMap<String, Vec<(i64, f64)>> = Default::default();
    for t in requests.iter().flat_map(|r| r.timeseries.iter()) {
        let labels: Vec<String> = t
            .labels
            .iter()
            .map(|l| format!("{}={}", l.name, l.value))
            .collect();
        out.entry(labels.join(","))
            .or_default()
            .extend(t.samples.iter().map(|s| (s.timestamp, s.value)));
    }
    out.into_iter()
        .map(|(l, mut s)| {
            s.sort_by_key(|p| p.0);
            (l, s)
        })
        .collect()
}

#[tokio::test]
async fn a_receiver_failing_with_5xx_and_429_gets_the_same_request_again_until_it_takes_it() {
    let (receiver, addr) = Receiver::start(&[(503, None), (500, None), (429, Some("1"))]).await;
    let agg = Forwarding::start(addr).await;
    let now = server::time::now_ms();
    let mut agent = RawAgent::connect(&agg.grpc, "web-1").await;
    agent
        .send(report(
            "web-1",
            now - 2_000,
            &[("disk_used_percent", 40.0), ("load1", 0.5)],
        ))
        .await;
    agent
        .send(report("web-1", now - 1_000, &[("load1", 0.75)]))
        .await;

    let took = eventually(Duration::from_secs(15), || !receiver.accepted().is_empty()).await;
    assert!(took, "the receiver takes the request in the end");
    let seen = receiver.seen();
    let statuses: Vec<u16> = seen.iter().map(|s| s.answered).collect();
    assert_eq!(&statuses[..4], [503, 500, 429, 204], "{statuses:?}");
    // Every attempt is the same request, with the headers the spec wants.
    for s in &seen[..4] {
        assert_eq!(
            s.body, seen[0].body,
            "a retry resends the request as it was"
        );
        let h = |name: &str| s.headers.get(name).map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(h("content-encoding").as_deref(), Some("snappy"));
        assert_eq!(h("content-type").as_deref(), Some("application/x-protobuf"));
        assert_eq!(
            h("x-prometheus-remote-write-version").as_deref(),
            Some("0.1.0")
        );
        assert_eq!(h("authorization").as_deref(), Some("Bearer rw-token"));
        assert!(h("user-agent").unwrap().starts_with("mon/"));
    }
    // Retry-After: 1 is honoured.
    let waited = seen[3].at - seen[2].at;
    assert!(waited >= Duration::from_millis(950), "{waited:?}");

    // Whichever reports the first request held, every sample arrives once.
    let all = eventually(Duration::from_secs(10), || agg.sent() == 3).await;
    assert!(all, "3 samples sent, not {}", agg.sent());
    let host = |name: &str| format!("__name__={name},host=web-1,mount=/");
    assert_eq!(
        series(&receiver.accepted()),
        [
            (host("disk_used_percent"), vec![(now - 2_000, 40.0)]),
            (host("load1"), vec![(now - 2_000, 0.5), (now - 1_000, 0.75)]),
        ]
    );
    let d = agg.destination();
    assert_eq!(d.errors(ErrorKind::Server), 2);
    assert_eq!(d.errors(ErrorKind::Throttled), 1);
    assert_eq!(d.errors(ErrorKind::Refused), 0);

    let text = agg.metrics().await;
    let dest = format!("destination=\"http://{addr}/api/v1/write\"");
    for line in [
        format!("mon_remote_write_samples_sent_total{{{dest}}} 3"),
        format!("mon_remote_write_errors_total{{{dest},kind=\"server_error\"}} 2"),
        format!("mon_remote_write_errors_total{{{dest},kind=\"throttled\"}} 1"),
        format!("mon_remote_write_up{{{dest}}} 1"),
        "# TYPE mon_remote_write_lag_seconds gauge".to_owned(),
        "mon_push_requests_total{protocol=\"remote_write\"} 0".to_owned(),
    ] {
        assert!(text.contains(&line), "{line} in:\n{text}");
    }
    agg.stop().await;
}

#[tokio::test]
async fn a_request_the_receiver_refuses_with_400_is_dropped_and_counted_and_the_next_goes_on() {
    let (receiver, addr) = Receiver::start(&[(400, None)]).await;
    let agg = Forwarding::start(addr).await;
    let now = server::time::now_ms();
    let mut agent = RawAgent::connect(&agg.grpc, "db-1").await;
    agent
        .send(report(
            "db-1",
            now - 5_000,
            &[("refused_one", 1.0), ("refused_two", 2.0)],
        ))
        .await;
    let dropped = eventually(Duration::from_secs(10), || {
        agg.destination()
            .samples_dropped
            .load(std::sync::atomic::Ordering::Relaxed)
            == 2
    })
    .await;
    assert!(
        dropped,
        "the refused request's 2 samples are counted as dropped"
    );
    agent
        .send(report("db-1", now - 4_000, &[("accepted", 3.0)]))
        .await;
    let sent = eventually(Duration::from_secs(10), || agg.sent() == 1).await;
    assert!(sent, "the next request goes on");
    let statuses: Vec<u16> = receiver.seen().iter().map(|s| s.answered).collect();
    assert_eq!(
        statuses,
        [400, 204],
        "the refused request is not sent again"
    );
    assert_eq!(
        series(&receiver.accepted()),
        [(
            "__name__=accepted,host=db-1,mount=/".to_owned(),
            vec![(now - 4_000, 3.0)]
        )]
    );
    assert_eq!(agg.destination().errors(ErrorKind::Refused), 1);
    let text = agg.metrics().await;
    let dest = format!("destination=\"http://{addr}/api/v1/write\"");
    for line in [
        format!("mon_remote_write_samples_dropped_total{{{dest}}} 2"),
        format!("mon_remote_write_errors_total{{{dest},kind=\"refused\"}} 1"),
        format!("mon_remote_write_pending_samples{{{dest}}} 0"),
    ] {
        assert!(text.contains(&line), "{line} in:\n{text}");
    }
    agg.stop().await;
}
