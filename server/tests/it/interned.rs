//! Interned series (ingest protocol 2) over real gRPC: definitions then
//! references, a replay on a new stream, old-protocol and new-protocol
//! agents on one aggregator, and every bad reference answered with its
//! reason while the good samples of the same report are stored.

use server::model::SeriesKey;
use server::proto::{Label, Report, Sample, SeriesDef};
use server::store::Reader;
use server::testkit::Pipeline;
use server::time::now_ms;

use crate::harness::RawAgent;

fn def(id: u32, name: &str, labels: &[(&str, &str)]) -> SeriesDef {
    SeriesDef {
        id,
        name: name.into(),
        labels: labels
            .iter()
            .map(|(k, v)| Label {
                name: (*k).into(),
                value: (*v).into(),
            })
            .collect(),
    }
}

fn interned(host: &str, seq: u64, ts: i64, defs: Vec<SeriesDef>, refs: &[(u32, f64)]) -> Report {
    Report {
        host: host.into(),
        seq,
        timestamp_ms: ts,
        defs,
        ids: refs.iter().map(|r| r.0).collect(),
        values: refs.iter().map(|r| r.1).collect(),
        ..Default::default()
    }
}

fn values(dir: &std::path::Path, host: &str, key: &SeriesKey) -> Vec<f64> {
    Reader::open(dir)
        .unwrap()
        .raw(host, key, 0, i64::MAX)
        .unwrap()
        .into_iter()
        .map(|p| p.value)
        .collect()
}

#[tokio::test]
async fn series_defined_once_are_stored_from_their_ids_and_the_ack_says_protocol_2() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = Pipeline::builder().data_dir(dir.path()).start().await;
    let agg = pipeline.aggregator();
    let mut agent = RawAgent::connect(&agg.url(), "web-1").await;
    let now = now_ms();
    let defs = vec![
        def(0, "cpu_usage_percent", &[]),
        def(
            1,
            "filesystem_used_percent",
            &[("mount", "/"), ("fstype", "ext4")],
        ),
    ];
    let ack = agent
        .send(interned("web-1", 1, now, defs, &[(0, 12.5), (1, 40.0)]))
        .await;
    assert_eq!((ack.accepted, ack.rejected), (2, 0), "{:?}", ack.reasons);
    assert_eq!(ack.protocol, 2);
    // Later reports carry ids and values only.
    for seq in 2..=4 {
        let ack = agent
            .send(interned(
                "web-1",
                seq,
                now + seq as i64 * 1000,
                vec![],
                &[(1, seq as f64), (0, 1.0)],
            ))
            .await;
        assert_eq!((ack.accepted, ack.rejected), (2, 0), "{:?}", ack.reasons);
    }
    pipeline.stop().await;
    let fs = SeriesKey::with_labels(
        "filesystem_used_percent",
        [("fstype", "ext4"), ("mount", "/")],
    );
    assert_eq!(values(dir.path(), "web-1", &fs), vec![40.0, 2.0, 3.0, 4.0]);
    assert_eq!(
        values(dir.path(), "web-1", &SeriesKey::new("cpu_usage_percent")),
        vec![12.5, 1.0, 1.0, 1.0]
    );
}

#[tokio::test]
async fn a_replay_on_a_new_stream_defines_again_and_stores_each_sample_once() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = Pipeline::builder().data_dir(dir.path()).start().await;
    let agg = pipeline.aggregator();
    let now = now_ms();
    let mut first = RawAgent::connect(&agg.url(), "web-1").await;
    let ack = first
        .send(interned(
            "web-1",
            1,
            now,
            vec![def(0, "load1", &[])],
            &[(0, 0.5)],
        ))
        .await;
    assert_eq!(ack.accepted, 1);
    drop(first);

    // A new stream knows nothing of the old one's ids.
    let mut second = RawAgent::connect(&agg.url(), "web-1").await;
    let ack = second
        .send(interned("web-1", 2, now + 1000, vec![], &[(0, 0.7)]))
        .await;
    assert_eq!((ack.accepted, ack.rejected), (0, 1));
    assert!(
        ack.reasons[0].reason.contains("not defined on this stream"),
        "{:?}",
        ack.reasons
    );
    // The agent replays with definitions: the first report again (a
    // duplicate, absorbed) and the second.
    let ack = second
        .send(interned(
            "web-1",
            1,
            now,
            vec![def(3, "load1", &[])],
            &[(3, 0.5)],
        ))
        .await;
    assert_eq!(ack.accepted, 1);
    let ack = second
        .send(interned("web-1", 2, now + 1000, vec![], &[(3, 0.7)]))
        .await;
    assert_eq!(ack.accepted, 1);
    pipeline.stop().await;
    assert_eq!(
        values(dir.path(), "web-1", &SeriesKey::new("load1")),
        vec![0.5, 0.7]
    );
}

#[tokio::test]
async fn plain_and_interned_agents_share_one_aggregator_and_one_report_may_mix_both() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = Pipeline::builder().data_dir(dir.path()).start().await;
    let agg = pipeline.aggregator();
    let now = now_ms();
    let mut old = RawAgent::connect(&agg.url(), "old-1").await;
    let mut new = RawAgent::connect(&agg.url(), "new-1").await;
    let plain = Report {
        host: "old-1".into(),
        seq: 1,
        timestamp_ms: now,
        samples: vec![Sample {
            name: "load1".into(),
            labels: vec![],
            value: 1.5,
        }],
        ..Default::default()
    };
    assert_eq!(old.send(plain).await.accepted, 1);
    let mut mixed = interned("new-1", 1, now, vec![def(0, "load1", &[])], &[(0, 2.5)]);
    mixed.samples.push(Sample {
        name: "load5".into(),
        labels: vec![],
        value: 3.5,
    });
    let ack = new.send(mixed).await;
    assert_eq!((ack.accepted, ack.rejected), (2, 0), "{:?}", ack.reasons);
    // The same series twice in one report, once plain and once by id.
    let mut twice = interned("new-1", 2, now + 1000, vec![], &[(0, 9.0)]);
    twice.samples.push(Sample {
        name: "load1".into(),
        labels: vec![],
        value: 8.0,
    });
    let ack = new.send(twice).await;
    assert_eq!((ack.accepted, ack.rejected), (1, 1));
    assert_eq!(
        ack.reasons[0].index, 1,
        "interned samples count after the plain ones"
    );
    assert!(ack.reasons[0].reason.contains("appears twice"));
    pipeline.stop().await;
    assert_eq!(
        values(dir.path(), "old-1", &SeriesKey::new("load1")),
        vec![1.5]
    );
    assert_eq!(
        values(dir.path(), "new-1", &SeriesKey::new("load1")),
        vec![2.5, 8.0]
    );
    assert_eq!(
        values(dir.path(), "new-1", &SeriesKey::new("load5")),
        vec![3.5]
    );
}

#[tokio::test]
async fn every_bad_reference_is_rejected_with_its_reason_and_the_good_samples_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let limits = server::aggregator::Limits {
        max_series_per_stream: 10,
        max_reports_per_second: 0,
        ..Default::default()
    };
    let pipeline = Pipeline::builder()
        .data_dir(dir.path())
        .aggregator(|c| c.limits = limits)
        .start()
        .await;
    let agg = pipeline.aggregator();
    let mut agent = RawAgent::connect(&agg.url(), "web-1").await;
    let now = now_ms();
    let defs = vec![
        def(0, "load1", &[]),
        def(1, "Bad-Name", &[]),
        def(2, "memory_used_bytes", &[]),
        def(11, "load5", &[]),
    ];
    let ack = agent
        .send(interned(
            "web-1",
            1,
            now,
            defs,
            &[(0, 1.0), (1, 1.0), (7, 1.0), (11, 1.0), (2, -5.0)],
        ))
        .await;
    assert_eq!((ack.accepted, ack.rejected), (1, 4), "{:?}", ack.reasons);
    let reasons: Vec<(i32, &str)> = ack
        .reasons
        .iter()
        .map(|r| (r.index, r.reason.as_str()))
        .collect();
    let expect = [
        (1, "was refused: metric name \"Bad-Name\""),
        (2, "series id 7 is not defined"),
        (
            3,
            "past this stream's table of 10 series (--max-series-per-stream",
        ),
        (4, "negative for a _bytes metric"),
    ];
    for ((index, reason), (want_index, want)) in reasons.iter().zip(expect) {
        assert_eq!(*index, want_index);
        assert!(reason.contains(want), "{reason:?} should say {want:?}");
    }
    // Redefining an id refuses it from then on; the other ids stay good.
    let ack = agent
        .send(interned(
            "web-1",
            2,
            now + 1000,
            vec![def(0, "load15", &[])],
            &[(0, 2.0), (2, 7.0)],
        ))
        .await;
    assert_eq!((ack.accepted, ack.rejected), (1, 1));
    assert!(
        ack.reasons[0].reason.contains("defined twice"),
        "{:?}",
        ack.reasons
    );
    // Ids without values are refused as a whole, plainly.
    let mut uneven = interned("web-1", 3, now + 2000, vec![], &[(2, 1.0)]);
    uneven.values.clear();
    let ack = agent.send(uneven).await;
    assert_eq!((ack.accepted, ack.rejected), (0, 1));
    assert!(ack.reasons[0].reason.contains("1 series ids and 0 values"));
    pipeline.stop().await;
    assert_eq!(
        values(dir.path(), "web-1", &SeriesKey::new("load1")),
        vec![1.0]
    );
    assert_eq!(
        values(dir.path(), "web-1", &SeriesKey::new("memory_used_bytes")),
        vec![7.0]
    );
}

mod interleavings {
    use proptest::prelude::*;
    use server::aggregator::{Limits, SeriesIndex, StreamTable, check_report, check_stream_report};
    use server::proto::{Label, Report, Sample, SeriesDef};

    const NOW: i64 = 1_800_000_000_000;

    /// How one sample of one report is sent.
    #[derive(Clone, Debug)]
    enum Form {
        Plain,
        /// By id; if the series is not defined yet, its definition goes into
        /// the report this many reports back (clamped to the first).
        Interned {
            define_back: usize,
        },
    }

    fn series(i: usize) -> (String, Vec<Label>) {
        (
            format!("m{}", i % 3),
            vec![Label {
                name: "k".into(),
                value: format!("v{i}"),
            }],
        )
    }

    /// One report's samples: (series index, value, form).
    type Plan = Vec<Vec<(usize, f64, Form)>>;

    /// Distinct ids for the series, and the reports.
    fn reports() -> impl Strategy<Value = (Vec<u32>, Plan)> {
        let pool = 6usize;
        let form = prop_oneof![
            Just(Form::Plain),
            (0usize..3).prop_map(|define_back| Form::Interned { define_back })
        ];
        let report = proptest::collection::btree_map(0..pool, (-50.0f64..50.0, form), 0..pool)
            .prop_map(|m| {
                m.into_iter()
                    .map(|(s, (v, f))| (s, v, f))
                    .collect::<Vec<_>>()
            });
        (
            // Any distinct ids, not only dense ones from 0.
            Just((0..64u32).collect::<Vec<_>>()).prop_shuffle(),
            proptest::collection::vec(report, 1..6),
        )
    }

    fn points(c: &server::aggregator::Checked) -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = c
            .accepted
            .points
            .iter()
            .map(|p| (p.key.to_string(), p.value.to_string()))
            .collect();
        v.sort();
        v
    }

    proptest! {
        /// Any interleaving of definitions and references stores the same
        /// samples as the plain form of the same reports.
        #[test]
        fn interned_reports_decode_to_the_samples_of_their_plain_form((ids, plan) in reports()) {
            let limits = Limits::default();
            let mut wire: Vec<Report> = Vec::new();
            let mut defined = [false; 6];
            for (n, samples) in plan.iter().enumerate() {
                wire.push(Report { host: "h".into(), seq: n as u64, timestamp_ms: NOW + n as i64, ..Default::default() });
                for (s, value, form) in samples {
                    let (name, labels) = series(*s);
                    match form {
                        Form::Plain => wire[n].samples.push(Sample { name, labels, value: *value }),
                        Form::Interned { define_back } => {
                            if !defined[*s] {
                                defined[*s] = true;
                                let at = n.saturating_sub(*define_back);
                                wire[at].defs.push(SeriesDef { id: ids[*s], name, labels });
                            }
                            wire[n].ids.push(ids[*s]);
                            wire[n].values.push(*value);
                        }
                    }
                }
            }
            let (plain_index, interned_index) = (SeriesIndex::default(), SeriesIndex::default());
            let mut table = StreamTable::new(limits.max_series_per_stream);
            for (n, (samples, sent)) in plan.iter().zip(wire).enumerate() {
                let plain = Report {
                    host: "h".into(),
                    seq: n as u64,
                    timestamp_ms: NOW + n as i64,
                    samples: samples
                        .iter()
                        .map(|(s, value, _)| {
                            let (name, labels) = series(*s);
                            Sample { name, labels, value: *value }
                        })
                        .collect(),
                    ..Default::default()
                };
                let want = check_report(plain, &limits, NOW, &plain_index);
                let got = check_stream_report(sent, &limits, NOW, &interned_index, &mut table);
                prop_assert_eq!(got.rejected, 0, "{:?}", got.rejections);
                prop_assert_eq!(points(&got), points(&want));
            }
        }
    }
}
