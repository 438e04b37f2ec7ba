//! A receiver's `Retry-After`: how long it asks a client to wait before the
//! next attempt, for the notifiers and the remote-write forwarders alike.

use std::time::{Duration, SystemTime};

use axum::http::{HeaderMap, header};

/// The wait a response's `Retry-After` asks for, if it sent one that reads.
pub fn from_headers(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(header::RETRY_AFTER)?.to_str().ok()?;
    parse(value, SystemTime::now())
}

/// `Retry-After` as delay-seconds or an HTTP date (a date past is no wait).
pub fn parse(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_takes_seconds_or_a_date() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480);
        assert_eq!(parse("120", now), Some(Duration::from_secs(120)));
        assert_eq!(parse(" 7 ", now), Some(Duration::from_secs(7)));
        assert_eq!(
            parse("Wed, 21 Oct 2015 07:28:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse("Wed, 21 Oct 2015 07:27:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse("soon", now), None);
    }

    #[test]
    fn a_response_without_a_readable_one_asks_for_nothing() {
        let mut headers = HeaderMap::new();
        assert_eq!(from_headers(&headers), None);
        headers.insert(header::RETRY_AFTER, "3".parse().unwrap());
        assert_eq!(from_headers(&headers), Some(Duration::from_secs(3)));
        headers.insert(header::RETRY_AFTER, "later".parse().unwrap());
        assert_eq!(from_headers(&headers), None);
    }
}
