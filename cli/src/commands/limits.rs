//! The limit flags, in two groups: what an aggregator accepts from agents
//! (`IngestLimitArgs`: aggregator, serve) and what an HTTP role accepts from
//! browsers and API clients (`HttpLimitArgs`: gateway, edge, serve).
//!
//! The one thing to know: every limit has a default that suits an ordinary
//! fleet, and every server-side refusal names the flag that moves it, so an
//! operator who hits one learns here how to change it.

use std::time::Duration;

use clap::Args;
use server::aggregator::Limits;
use server::fanout::SessionLimits;
use server::http::HttpLimits;
use server::http::ws::WsLimits;

use super::parse_positive;
use crate::config;

/// Limits on what agents send an aggregator.
#[derive(Debug, Args)]
pub struct IngestLimitArgs {
    /// Most distinct series one host may create [default: 10000]
    #[arg(long, env = "MON_MAX_SERIES_PER_HOST", value_parser = parse_positive, value_name = "N")]
    pub max_series_per_host: Option<usize>,
    /// Most series one ingest stream may define once and then send by id
    /// (agents of protocol 2); bounds each stream's table [default: 100000]
    #[arg(long, env = "MON_MAX_SERIES_PER_STREAM", value_parser = parse_positive, value_name = "N")]
    pub max_series_per_stream: Option<usize>,
    /// Most samples stored from one report [default: 10000]
    #[arg(long, env = "MON_MAX_SAMPLES_PER_REPORT", value_parser = parse_positive, value_name = "N")]
    pub max_samples_per_report: Option<usize>,
    /// Largest gRPC message from an agent, in bytes (or KiB/MiB) [default: 4MiB]
    #[arg(long, env = "MON_MAX_MESSAGE_BYTES", value_parser = parse_message_bytes, value_name = "BYTES")]
    pub max_message_bytes: Option<usize>,
    /// Largest pushed body (Prometheus remote-write, OTLP), as sent and once
    /// decompressed, in bytes (or KiB/MiB) [default: 16MiB]
    #[arg(long, env = "MON_MAX_WRITE_BYTES", value_parser = parse_message_bytes, value_name = "BYTES")]
    pub max_write_bytes: Option<usize>,
    /// Reports per second one host may send on average, with bursts of two
    /// minutes' worth (an agent replaying its spool); 0 = unlimited [default: 20]
    #[arg(long, env = "MON_MAX_REPORTS_PER_SECOND", value_parser = parse_rate, value_name = "N")]
    pub max_reports_per_second: Option<u32>,
}

impl IngestLimitArgs {
    /// These flags over the config file over the defaults.
    pub fn resolve(&self, file: &config::LimitsSection) -> Limits {
        let mut limits = file.to_limits();
        if let Some(n) = self.max_series_per_host {
            limits.max_series_per_host = n;
        }
        if let Some(n) = self.max_series_per_stream {
            limits.max_series_per_stream = n;
        }
        if let Some(n) = self.max_samples_per_report {
            limits.max_samples_per_report = n;
        }
        if let Some(n) = self.max_message_bytes {
            limits.max_message_bytes = n;
        }
        if let Some(n) = self.max_write_bytes {
            limits.max_write_bytes = n;
        }
        if let Some(n) = self.max_reports_per_second {
            limits.max_reports_per_second = n;
            limits.report_burst = Limits::burst_for(n);
        }
        limits
    }
}

/// Limits on what HTTP and WebSocket clients may ask of a gateway or edge.
#[derive(Debug, Args)]
pub struct HttpLimitArgs {
    /// Most WebSocket clients this process serves at once; more get a 503
    #[arg(long, env = "MON_MAX_WS_CLIENTS", default_value = "10000", value_parser = parse_positive, value_name = "N")]
    pub max_ws_clients: usize,
    /// Largest message a WebSocket client may send, in bytes (or KiB/MiB);
    /// a bigger one closes it with 1009
    #[arg(long, env = "MON_MAX_WS_FRAME_BYTES", default_value = "64KiB", value_parser = parse_ws_frame_bytes, value_name = "BYTES")]
    pub max_ws_frame_bytes: usize,
    /// Largest HTTP request body, in bytes (or KiB/MiB); a bigger one gets a 413
    #[arg(long, env = "MON_MAX_BODY_BYTES", default_value = "1MiB", value_parser = parse_body_bytes, value_name = "BYTES")]
    pub max_body_bytes: usize,
    /// Longest an HTTP request may take before a 504, e.g. 30s, 2m (not /ws)
    #[arg(long, env = "MON_REQUEST_TIMEOUT", default_value = "30s", value_parser = parse_request_timeout, value_name = "DURATION")]
    pub request_timeout: Duration,
}

impl HttpLimitArgs {
    pub fn http(&self) -> HttpLimits {
        HttpLimits {
            max_body_bytes: self.max_body_bytes,
            request_timeout: self.request_timeout,
        }
    }

    pub fn ws(&self) -> WsLimits {
        WsLimits {
            session: SessionLimits {
                max_message_bytes: self.max_ws_frame_bytes,
                ..SessionLimits::default()
            },
            max_clients: self.max_ws_clients,
        }
    }
}

/// Parses a count of reports per second, where 0 means unlimited.
fn parse_rate(text: &str) -> Result<u32, String> {
    text.parse::<u32>().map_err(|_| {
        format!(
            "{text:?} is not accepted; give a whole number of reports per second, 0 for unlimited"
        )
    })
}

fn parse_message_bytes(text: &str) -> Result<usize, String> {
    parse_bytes(text, 1024, 256 * 1024 * 1024)
}

fn parse_ws_frame_bytes(text: &str) -> Result<usize, String> {
    parse_bytes(text, 1024, 64 * 1024 * 1024)
}

fn parse_body_bytes(text: &str) -> Result<usize, String> {
    parse_bytes(text, 1, 1024 * 1024 * 1024)
}

fn parse_request_timeout(text: &str) -> Result<Duration, String> {
    super::DurationFlag {
        what: "a timeout",
        min: Duration::from_secs(1),
        max: Some(Duration::from_secs(3600)),
        examples: "30s or 2m",
    }
    .parse(text)
}

/// Parses a size: a whole number of bytes, or one with a `KiB`, `MiB` or
/// `GiB` suffix, within `min..=max`. Three suffixes did not seem worth a
/// dependency.
fn parse_bytes(text: &str, min: usize, max: usize) -> Result<usize, String> {
    let accepted = || {
        format!(
            "a size from {min} to {max} bytes is accepted, as a number of bytes or with KiB, MiB or GiB, e.g. 65536 or 64KiB"
        )
    };
    let trimmed = text.trim();
    let (digits, unit) = [("KiB", 1 << 10), ("MiB", 1 << 20), ("GiB", 1 << 30)]
        .iter()
        .find_map(|&(suffix, unit)| trimmed.strip_suffix(suffix).map(|d| (d.trim(), unit)))
        .unwrap_or((trimmed, 1));
    let n = digits
        .parse::<usize>()
        .ok()
        .and_then(|n| n.checked_mul(unit))
        .ok_or_else(|| format!("{text:?} is not a size; {}", accepted()))?;
    if n < min || n > max {
        return Err(format!("{text} is out of range; {}", accepted()));
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_take_bytes_or_binary_units_within_their_range() {
        assert_eq!(parse_bytes("65536", 1, 1 << 20), Ok(65536));
        assert_eq!(parse_bytes("64KiB", 1, 1 << 20), Ok(65536));
        assert_eq!(parse_bytes("4MiB", 1, 8 << 20), Ok(4 << 20));
        assert!(
            parse_bytes("0", 1, 10)
                .unwrap_err()
                .contains("from 1 to 10 bytes")
        );
        assert!(
            parse_bytes("-5", 1, 10)
                .unwrap_err()
                .contains("is not a size")
        );
        assert!(
            parse_bytes("lots", 1, 10)
                .unwrap_err()
                .contains("e.g. 65536 or 64KiB")
        );
        assert!(
            parse_bytes("2GiB", 1, 1 << 30)
                .unwrap_err()
                .contains("out of range")
        );
    }

    #[test]
    fn a_rate_of_zero_is_unlimited_and_garbage_is_refused() {
        assert_eq!(parse_rate("0"), Ok(0));
        assert_eq!(parse_rate("50"), Ok(50));
        assert!(parse_rate("-1").unwrap_err().contains("0 for unlimited"));
        assert!(
            parse_request_timeout("0s")
                .unwrap_err()
                .contains("1s to 1h")
        );
        assert_eq!(parse_request_timeout("2m"), Ok(Duration::from_secs(120)));
    }
}
