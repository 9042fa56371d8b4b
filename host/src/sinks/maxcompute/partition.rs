//! Partition values: a time (the sink's clock at write time, or the record's timestamp)
//! in the configured zone, formatted as the connector does (`MM-dd-yyyy HH` or the new
//! `yyyy-MM-dd HH`), cut to the window (DAY, HOUR, MINUTE).

use chrono::{DateTime, FixedOffset, TimeZone, Utc};

/// `partition_window_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// One partition a day.
    Day,
    /// One partition an hour.
    Hour,
    /// One partition a minute.
    Minute,
}

impl Window {
    /// Characters kept of `MM-dd-yyyy HH:mm:ss` / `yyyy-MM-dd HH:mm:ss`.
    fn width(self) -> usize {
        match self {
            Window::Day => 10,
            Window::Hour => 13,
            Window::Minute => 16,
        }
    }
}

/// `time_zone`: a fixed offset (`GMT+08:00`) or an IANA zone (`Asia/Shanghai`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Zone {
    /// A fixed offset from UTC.
    Fixed(FixedOffset),
    /// A named zone with its daylight-saving rules.
    Named(chrono_tz::Tz),
}

impl Zone {
    /// Parses Java-style ids: `GMT`, `UTC`, `GMT+8`, `GMT+08:00`, `GMT+0800`, `UTC-03:30`,
    /// the console's `GMT 08:00`, or an IANA name. Anything else is an error (Java would
    /// silently use GMT).
    pub fn parse(id: &str) -> Result<Self, String> {
        let id = id.trim();
        let upper = id.to_ascii_uppercase();
        if matches!(upper.as_str(), "GMT" | "UTC" | "Z" | "UT") {
            return Ok(Zone::Fixed(FixedOffset::east_opt(0).expect("zero offset")));
        }
        for prefix in ["GMT", "UTC", "UT"] {
            if let Some(rest) = upper.strip_prefix(prefix) {
                if let Some(offset) = parse_offset(rest) {
                    return Ok(Zone::Fixed(offset));
                }
            }
        }
        id.parse::<chrono_tz::Tz>().map(Zone::Named).map_err(|_| {
            format!("`{id}` is not a time zone: use an offset like `GMT+08:00` or an IANA name like `Asia/Shanghai`")
        })
    }

    /// Milliseconds since the epoch of a local `yyyy-MM-dd HH:mm:ss` in this zone (the
    /// earlier instant when the local time is ambiguous); `None` if malformed or skipped.
    pub fn local_millis(&self, text: &str) -> Option<i64> {
        let naive = chrono::NaiveDateTime::parse_from_str(text.trim(), "%Y-%m-%d %H:%M:%S").ok()?;
        Some(match self {
            Zone::Fixed(offset) => offset.from_local_datetime(&naive).earliest()?.timestamp_millis(),
            Zone::Named(tz) => tz.from_local_datetime(&naive).earliest()?.timestamp_millis(),
        })
    }

    fn format(&self, epoch_ms: i64, pattern: &str) -> String {
        let utc = DateTime::<Utc>::from_timestamp_millis(epoch_ms).unwrap_or_default();
        match self {
            Zone::Fixed(offset) => offset.from_utc_datetime(&utc.naive_utc()).format(pattern).to_string(),
            Zone::Named(tz) => tz.from_utc_datetime(&utc.naive_utc()).format(pattern).to_string(),
        }
    }
}

/// `+8`, `+08`, `+08:00`, `+0800`, ` 08:00` (a space read as `+`).
fn parse_offset(text: &str) -> Option<FixedOffset> {
    let (sign, digits) = match text.chars().next()? {
        '+' | ' ' => (1, &text[1..]),
        '-' => (-1, &text[1..]),
        _ => return None,
    };
    let digits = digits.trim_start();
    let (hours, minutes) = match digits.split_once(':') {
        Some((h, m)) => (h, m),
        None if digits.len() == 4 => digits.split_at(2),
        None => (digits, "0"),
    };
    let valid = |s: &str, max: u32| {
        !s.is_empty()
            && s.len() <= 2
            && s.bytes().all(|b| b.is_ascii_digit())
            && s.parse::<u32>().is_ok_and(|v| v <= max)
    };
    if !valid(hours, 23) || !valid(minutes, 59) {
        return None;
    }
    let seconds = hours.parse::<i32>().ok()? * 3600 + minutes.parse::<i32>().ok()? * 60;
    FixedOffset::east_opt(sign * seconds)
}

/// How partition values are made.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PartitionFormat {
    /// `partition_window_type`.
    pub window: Window,
    /// `time_zone`.
    pub zone: Zone,
    /// `use_new_partition_format`: `yyyy-MM-dd…` instead of `MM-dd-yyyy…`.
    pub new_format: bool,
}

impl PartitionFormat {
    /// The partition value for an instant (milliseconds since the epoch).
    pub fn value_at(&self, epoch_ms: i64) -> String {
        let pattern = if self.new_format { "%Y-%m-%d %H:%M:%S" } else { "%m-%d-%Y %H:%M:%S" };
        let mut text = self.zone.format(epoch_ms, pattern);
        text.truncate(self.window.width());
        text
    }
}

/// A partition spec as the tunnel's `partition` parameter: `key=value`, several joined by
/// `,`, with quotes removed and spaces kept.
pub fn tunnel_spec(spec: &[(String, String)]) -> String {
    let items: Vec<String> = spec.iter().map(|(k, v)| format!("{k}={}", v.replace(['\'', '"'], ""))).collect();
    items.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: i64 = 1_605_596_400_000; // 2020-11-17 07:00:00 UTC

    fn format(window: Window, zone: &str, new_format: bool) -> PartitionFormat {
        PartitionFormat { window, zone: Zone::parse(zone).unwrap(), new_format }
    }

    #[test]
    fn windows_and_formats() {
        assert_eq!(format(Window::Day, "GMT+08:00", false).value_at(T), "11-17-2020");
        assert_eq!(format(Window::Hour, "GMT+08:00", false).value_at(T), "11-17-2020 15");
        assert_eq!(format(Window::Minute, "GMT+08:00", false).value_at(T + 4 * 60_000), "11-17-2020 15:04");
        assert_eq!(format(Window::Hour, "GMT+08:00", true).value_at(T), "2020-11-17 15");
        assert_eq!(format(Window::Day, "GMT-08:00", true).value_at(T), "2020-11-16");
    }

    #[test]
    fn zones() {
        assert_eq!(format(Window::Hour, "Asia/Shanghai", false).value_at(T), "11-17-2020 15");
        assert_eq!(format(Window::Hour, "America/New_York", false).value_at(T), "11-17-2020 02");
        assert_eq!(format(Window::Hour, "GMT 08:00", false).value_at(T), "11-17-2020 15");
        assert_eq!(format(Window::Hour, "GMT+8", false).value_at(T), "11-17-2020 15");
        assert_eq!(format(Window::Minute, "UTC+0530", false).value_at(T), "11-17-2020 12:30");
        assert_eq!(format(Window::Hour, "GMT", false).value_at(T), "11-17-2020 07");
        assert!(Zone::parse("Mars/Olympus").is_err());
        assert!(Zone::parse("GMT+25:00").is_err());
    }

    #[test]
    fn spec_keeps_spaces_and_drops_quotes() {
        assert_eq!(tunnel_spec(&[("pt".into(), "'11-17-2020 15'".into())]), "pt=11-17-2020 15");
    }
}
