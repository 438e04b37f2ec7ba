//! Numbers as people read them in a narrow column: `4s`, `2m05s`, `1.5G`,
//! `12.3M/s`. Widths are bounded so the fleet table's columns never shift.

/// An elapsed time in milliseconds: `0s`, `45s`, `2m05s`, `3h12m`, `4d`.
pub fn age(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        3600..86_400 => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d", s / 86_400),
    }
}

/// An uptime in seconds: `5m`, `3h12m`, `12d4h`.
pub fn uptime(seconds: f64) -> String {
    let s = seconds.max(0.0) as i64;
    match s {
        0..3600 => format!("{}m", s / 60),
        3600..86_400 => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d{}h", s / 86_400, (s % 86_400) / 3600),
    }
}

/// A byte count with a binary prefix: `512B`, `1.5K`, `23.4G`.
pub fn bytes(v: f64) -> String {
    const UNITS: [&str; 6] = ["B", "K", "M", "G", "T", "P"];
    let mut v = v.max(0.0);
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{v:.0}B")
    } else if v < 10.0 {
        format!("{v:.1}{}", UNITS[unit])
    } else {
        format!("{v:.0}{}", UNITS[unit])
    }
}

/// Bytes per second.
pub fn rate(v: f64) -> String {
    format!("{}/s", bytes(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_stay_short() {
        for (ms, want) in [
            (0, "0s"),
            (59_999, "59s"),
            (125_000, "2m05s"),
            (3_600_000 * 3 + 60_000 * 12, "3h12m"),
            (86_400_000 * 4, "4d"),
            (-5, "0s"),
        ] {
            assert_eq!(age(ms), want);
        }
        for (b, want) in [
            (0.0, "0B"),
            (1023.0, "1023B"),
            (1536.0, "1.5K"),
            (25.0 * 1024.0 * 1024.0 * 1024.0, "25G"),
        ] {
            assert_eq!(bytes(b), want);
        }
        assert_eq!(uptime(90_000.0), "1d1h");
    }
}
