//! Parses web server access-log lines in the combined format
//! (`127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /a.gif HTTP/1.0" 200 2326 "ref" "agent"`)
//! into rows keyed by client address and request time.
//!
//! Settings: `accesslog.table` (destination table; default: the connector's naming rule).

use sluice_plugin_sdk::{export_parser, row, KafkaRecord, Output, Parser, PluginError, Settings, Value};

/// The access-log parser.
pub struct AccessLog {
    table: Option<String>,
}

impl Parser for AccessLog {
    fn configure(settings: Settings) -> Result<Self, PluginError> {
        Ok(AccessLog { table: settings.get("accesslog.table").map(str::to_string) })
    }

    fn parse_one(&mut self, record: &KafkaRecord) -> Result<Vec<Output>, PluginError> {
        let Some(value) = record.value.as_deref() else { return Ok(vec![]) };
        let line = std::str::from_utf8(value)
            .map_err(|_| PluginError::new("invalid-utf8", "the log line is not UTF-8").with_field("value"))?;
        let entry = parse_line(line.trim_end())?;
        let mut builder = row()
            .key("client", entry.client)
            .key("time", Value::TimestampUs(entry.time_us))
            .column("user", entry.user)
            .column("method", entry.method)
            .column("path", entry.path)
            .column("protocol", entry.protocol)
            .column("status", entry.status)
            .column("bytes", entry.bytes)
            .column("referer", entry.referer)
            .column("user_agent", entry.user_agent);
        if let Some(table) = &self.table {
            builder = builder.table(table.as_str());
        }
        Ok(vec![builder.build().into()])
    }
}

export_parser!(AccessLog);

/// One parsed access-log line.
#[derive(Debug, PartialEq)]
pub struct Entry<'a> {
    client: &'a str,
    user: Option<&'a str>,
    time_us: i64,
    method: &'a str,
    path: &'a str,
    protocol: &'a str,
    status: i32,
    bytes: Option<i64>,
    referer: Option<&'a str>,
    user_agent: Option<&'a str>,
}

fn malformed(field: &str, message: impl Into<String>) -> PluginError {
    PluginError::new("malformed-line", message).with_field(field)
}

/// Parses one line of the combined (or common) log format.
pub fn parse_line(line: &str) -> Result<Entry<'_>, PluginError> {
    let (client, rest) = line
        .split_once(' ')
        .ok_or_else(|| malformed("client", "expected `client ident user [time] \"request\" status bytes`"))?;
    let (_ident, rest) = rest.split_once(' ').ok_or_else(|| malformed("ident", "missing ident"))?;
    let (user, rest) = rest.split_once(' ').ok_or_else(|| malformed("user", "missing user"))?;
    let rest = rest.strip_prefix('[').ok_or_else(|| malformed("time", "expected `[` before the time"))?;
    let (time, rest) = rest.split_once("] ").ok_or_else(|| malformed("time", "expected `]` after the time"))?;
    let time_us = parse_time(time)?;
    let (request, rest) = quoted(rest).ok_or_else(|| malformed("request", "expected a quoted request"))?;
    let mut parts = request.splitn(3, ' ');
    let (method, path, protocol) = match (parts.next(), parts.next(), parts.next()) {
        (Some(m), Some(p), Some(v)) => (m, p, v),
        _ => return Err(malformed("request", format!("request `{request}` is not `METHOD PATH PROTOCOL`"))),
    };
    let mut fields = rest.trim_start().splitn(3, ' ');
    let status =
        fields.next().and_then(|s| s.parse().ok()).ok_or_else(|| malformed("status", "status is not a number"))?;
    let bytes = match fields.next() {
        Some("-") | None => None,
        Some(b) => Some(b.parse().map_err(|_| malformed("bytes", format!("bytes `{b}` is not a number")))?),
    };
    let (referer, user_agent) = match fields.next() {
        Some(rest) => {
            let (referer, rest) =
                quoted(rest.trim_start()).ok_or_else(|| malformed("referer", "expected a quoted referer"))?;
            let (agent, _) =
                quoted(rest.trim_start()).ok_or_else(|| malformed("user_agent", "expected a quoted user agent"))?;
            (dash_to_none(referer), dash_to_none(agent))
        }
        None => (None, None),
    };
    Ok(Entry { client, user: dash_to_none(user), time_us, method, path, protocol, status, bytes, referer, user_agent })
}

fn dash_to_none(text: &str) -> Option<&str> {
    (text != "-").then_some(text)
}

/// Splits `"quoted" rest` into the quoted text and what follows.
fn quoted(text: &str) -> Option<(&str, &str)> {
    let inner = text.strip_prefix('"')?;
    let end = inner.find('"')?;
    Some((&inner[..end], &inner[end + 1..]))
}

/// `10/Oct/2000:13:55:36 -0700` → microseconds since the epoch (UTC).
fn parse_time(text: &str) -> Result<i64, PluginError> {
    let bad = || malformed("time", format!("time `{text}` is not `dd/Mon/yyyy:HH:MM:SS +zzzz`"));
    let (date_time, zone) = text.split_once(' ').ok_or_else(bad)?;
    let mut parts = date_time.split([':', '/']);
    let mut number = |max: i64| -> Option<i64> { parts.next()?.parse().ok().filter(|n| (0..=max).contains(n)) };
    let day = number(31).ok_or_else(bad)?;
    let month = {
        const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
        let name = date_time.split('/').nth(1).ok_or_else(bad)?;
        MONTHS.iter().position(|m| *m == name).ok_or_else(bad)? as i64 + 1
    };
    let mut parts = date_time.splitn(2, ':').nth(1).ok_or_else(bad)?.split(':');
    let mut clock = |max: i64| -> Option<i64> { parts.next()?.parse().ok().filter(|n| (0..=max).contains(n)) };
    let (hour, minute, second) = (clock(23).ok_or_else(bad)?, clock(59).ok_or_else(bad)?, clock(60).ok_or_else(bad)?);
    let year: i64 =
        date_time.split('/').nth(2).and_then(|y| y.split(':').next()).and_then(|y| y.parse().ok()).ok_or_else(bad)?;
    let sign = match zone.as_bytes().first() {
        Some(b'+') => 1,
        Some(b'-') => -1,
        _ => return Err(bad()),
    };
    let zone: i64 = zone[1..].parse().map_err(|_| bad())?;
    let offset_seconds = sign * ((zone / 100) * 3600 + (zone % 100) * 60);
    let seconds = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offset_seconds;
    Ok(seconds * 1_000_000)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = (month + 9) % 12;
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn combined_line() {
        let entry = parse_line(r#"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326 "http://www.example.com/start.html" "Mozilla/4.08""#).unwrap();
        assert_eq!(entry.client, "127.0.0.1");
        assert_eq!(entry.user, Some("frank"));
        assert_eq!(entry.time_us, 971_211_336_000_000);
        assert_eq!((entry.method, entry.path, entry.status, entry.bytes), ("GET", "/apache_pb.gif", 200, Some(2326)));
        assert_eq!(entry.user_agent, Some("Mozilla/4.08"));
    }

    #[test]
    fn common_line_with_dashes() {
        let entry = parse_line(r#"10.0.0.2 - - [01/Jan/2024:00:00:00 +0000] "POST /api HTTP/1.1" 204 -"#).unwrap();
        assert_eq!((entry.user, entry.bytes, entry.time_us), (None, None, 1_704_067_200_000_000));
    }

    #[test]
    fn malformed_time_names_the_field() {
        let error = parse_line(r#"1.2.3.4 - - [99/Foo/2024:00:00:00 +0000] "GET / HTTP/1.1" 200 1"#).unwrap_err();
        assert_eq!((error.code.as_str(), error.field.as_deref()), ("malformed-line", Some("time")));
    }
}
