//! The sections of the config file only the roles read (`[aggregator]`,
//! `[serve]`, `[limits]`, `[retention]`, `[alerts]`, `[remote_write]`, the
//! `redis` key): not in the agent-only build, which skips them.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use server::aggregator::Limits;
use server::bus::RedisUrl;
use server::store::Retention;

use super::duration;

/// `[remote_write]`: receivers every stored sample is forwarded to.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteWriteSection {
    /// `url = "URL[,URL...]"` or `url = ["URL", ...]`.
    #[serde(default, deserialize_with = "url_list")]
    pub url: Option<Vec<String>>,
    pub token: Option<String>,
    pub password_file: Option<PathBuf>,
    pub ca: Option<PathBuf>,
}

/// `[retention]`: how long each tier of the store keeps data.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionSection {
    #[serde(default, deserialize_with = "duration")]
    pub raw: Option<Duration>,
    #[serde(default, rename = "1m", deserialize_with = "duration")]
    pub one_minute: Option<Duration>,
    #[serde(default, rename = "1h", deserialize_with = "duration")]
    pub one_hour: Option<Duration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AggregatorSection {
    pub listen: Option<SocketAddr>,
    pub http_listen: Option<SocketAddr>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeSection {
    pub grpc_listen: Option<SocketAddr>,
    pub http_listen: Option<SocketAddr>,
    pub no_agent: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsSection {
    pub rules: Option<PathBuf>,
    #[serde(default)]
    pub webhooks: Vec<String>,
    pub alertmanager: Option<String>,
    pub external_url: Option<String>,
    /// `mon alerts`' leader lease TTL.
    #[serde(default, deserialize_with = "duration")]
    pub lease_ttl: Option<Duration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsSection {
    pub max_host_len: Option<usize>,
    pub max_name_len: Option<usize>,
    pub max_labels: Option<usize>,
    pub max_label_value_len: Option<usize>,
    pub max_samples_per_report: Option<usize>,
    pub max_series_per_host: Option<usize>,
    pub max_series_per_stream: Option<usize>,
    #[serde(default, deserialize_with = "duration")]
    pub max_age: Option<Duration>,
    #[serde(default, deserialize_with = "duration")]
    pub max_future: Option<Duration>,
    pub max_message_bytes: Option<usize>,
    pub max_write_bytes: Option<usize>,
    pub max_reports_per_second: Option<u32>,
}

impl LimitsSection {
    /// The configured limits over the defaults.
    pub fn to_limits(&self) -> Limits {
        let d = Limits::default();
        Limits {
            max_host_len: self.max_host_len.unwrap_or(d.max_host_len),
            max_name_len: self.max_name_len.unwrap_or(d.max_name_len),
            max_labels: self.max_labels.unwrap_or(d.max_labels),
            max_label_value_len: self.max_label_value_len.unwrap_or(d.max_label_value_len),
            max_samples_per_report: self
                .max_samples_per_report
                .unwrap_or(d.max_samples_per_report),
            max_series_per_host: self.max_series_per_host.unwrap_or(d.max_series_per_host),
            max_series_per_stream: self
                .max_series_per_stream
                .unwrap_or(d.max_series_per_stream),
            max_age: self.max_age.unwrap_or(d.max_age),
            max_future: self.max_future.unwrap_or(d.max_future),
            percent_tolerance: d.percent_tolerance,
            max_message_bytes: self.max_message_bytes.unwrap_or(d.max_message_bytes),
            max_write_bytes: self.max_write_bytes.unwrap_or(d.max_write_bytes),
            max_reports_per_second: self
                .max_reports_per_second
                .unwrap_or(d.max_reports_per_second),
            report_burst: self
                .max_reports_per_second
                .map_or(d.report_burst, Limits::burst_for),
        }
    }
}

impl RetentionSection {
    /// The configured retention over the defaults.
    pub fn to_retention(&self) -> Retention {
        let d = Retention::default();
        Retention {
            raw: self.raw.unwrap_or(d.raw),
            one_minute: self.one_minute.unwrap_or(d.one_minute),
            one_hour: self.one_hour.unwrap_or(d.one_hour),
        }
    }
}

pub(super) fn redis_url<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<RedisUrl>, D::Error> {
    let text = String::deserialize(d)?;
    RedisUrl::parse(&text)
        .map(Some)
        .map_err(serde::de::Error::custom)
}

/// `url = "URL[,URL...]"` or `url = ["URL", ...]`; each is checked when the
/// command resolves its flags.
fn url_list<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum List {
        One(String),
        Many(Vec<String>),
    }
    Ok(Some(match List::deserialize(d)? {
        List::One(text) => text.split(',').map(|p| p.trim().to_owned()).collect(),
        List::Many(list) => list,
    }))
}
