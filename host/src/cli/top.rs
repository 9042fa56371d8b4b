//! `sluice top`: a live terminal view of a worker's connectors (records/s in and out, lag,
//! errors, dead-lettered records, retries, plugin cost per record), read from the worker's
//! REST API (`GET /ui/data`) and redrawn with plain ANSI escapes. `--once` prints one frame.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde_json::Value;

/// `sluice top` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The worker's REST API.
    #[arg(long, default_value = "http://localhost:8083")]
    url: String,
    /// Print one frame and exit (rates are those of the worker's last sample interval).
    #[arg(long)]
    once: bool,
    /// Seconds between refreshes of the live view.
    #[arg(long, default_value_t = 2.0)]
    interval: f64,
}

/// Runs the view until Ctrl-C (or prints one frame with `--once`).
pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let url = format!("{}/ui/data", args.url.trim_end_matches('/'));
    let http =
        reqwest::Client::builder().timeout(Duration::from_secs(10)).build().context("building the HTTP client")?;
    if args.once {
        let data = fetch(&http, &url).await?;
        print!("{}", frame(&args.url, &data, None));
        return Ok(ExitCode::SUCCESS);
    }
    if !(args.interval > 0.0 && args.interval.is_finite()) {
        anyhow::bail!("--interval must be a positive number of seconds, got {}", args.interval);
    }
    let interval = Duration::from_secs_f64(args.interval);
    let mut stdout = std::io::stdout();
    // Hide the cursor while redrawing; show it again on the way out.
    write!(stdout, "\x1b[?25l")?;
    let mut previous: Option<(Instant, Value)> = None;
    let result = loop {
        let text = match fetch(&http, &url).await {
            Ok(data) => {
                let now = Instant::now();
                let rates = previous.as_ref().map(|(at, before)| measured_rates(before, &data, now - *at));
                let text = frame(&args.url, &data, rates.as_ref());
                previous = Some((now, data));
                text
            }
            Err(error) => format!("sluice top - {}\n\ncannot reach the worker: {error:#}\n(retrying)\n", args.url),
        };
        // Home, the frame with each line cleared to its end, then clear below it.
        let body = text.replace('\n', "\x1b[K\n");
        write!(stdout, "\x1b[H{body}\x1b[J")?;
        stdout.flush()?;
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = tokio::signal::ctrl_c() => break Ok(ExitCode::SUCCESS),
        }
    };
    writeln!(stdout, "\x1b[?25h")?;
    stdout.flush()?;
    result
}

async fn fetch(http: &reqwest::Client, url: &str) -> anyhow::Result<Value> {
    let response = http.get(url).send().await.with_context(|| {
        format!("cannot reach {url}; is a sluice worker listening there (its `listeners` setting)? Pass --url")
    })?;
    let status = response.status();
    if !status.is_success() {
        anyhow::bail!("{url} answered {status}; is it a sluice worker of this version?");
    }
    let body = response.text().await.with_context(|| format!("reading the answer of {url}"))?;
    serde_json::from_str(&body).with_context(|| format!("{url} did not answer JSON"))
}

/// Records/s in and out per connector, measured between two fetches of the totals.
fn measured_rates(before: &Value, after: &Value, elapsed: Duration) -> BTreeMap<String, (f64, f64)> {
    let seconds = elapsed.as_secs_f64().max(1e-3);
    let totals = |data: &Value| -> BTreeMap<String, (u64, u64)> {
        connectors(data)
            .iter()
            .map(|c| {
                let t = &c["totals"];
                (text(&c["name"]), (t["records_in"].as_u64().unwrap_or(0), t["records_out"].as_u64().unwrap_or(0)))
            })
            .collect()
    };
    let (before, after) = (totals(before), totals(after));
    after
        .into_iter()
        .map(|(name, (i, o))| {
            let (bi, bo) = before.get(&name).copied().unwrap_or((i, o));
            let rate = |now: u64, then: u64| if now >= then { (now - then) as f64 / seconds } else { 0.0 };
            (name, (rate(i, bi), rate(o, bo)))
        })
        .collect()
}

fn connectors(data: &Value) -> &[Value] {
    data["connectors"].as_array().map_or(&[], Vec::as_slice)
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn number(value: &Value) -> String {
    match value.as_f64() {
        Some(n) if n.fract() == 0.0 && n.abs() < 1e15 => format!("{n:.0}"),
        Some(n) => format!("{n:.1}"),
        None => "-".to_string(),
    }
}

/// One frame: a header, a row per connector, then the reason of each failed connector and
/// each connector's last failed record. `rates` (measured by the view) replace the worker's
/// sampled rates when given.
pub fn frame(url: &str, data: &Value, rates: Option<&BTreeMap<String, (f64, f64)>>) -> String {
    let mut out = String::new();
    let list = connectors(data);
    let _ = writeln!(out, "sluice top - {url} - {} connector(s) - Ctrl-C quits", list.len());
    let _ = writeln!(out);
    let headers =
        ["CONNECTOR", "STATE", "IN/S", "OUT/S", "LAG", "ERRORS", "DLQ", "RETRIES", "PLUGIN-us/rec", "IN", "OUT"];
    let mut rows: Vec<Vec<String>> = vec![headers.iter().map(|h| h.to_string()).collect()];
    for c in list {
        let name = text(&c["name"]);
        let t = &c["totals"];
        let (rate_in, rate_out) = match rates.and_then(|r| r.get(&name)) {
            Some((i, o)) => (number(&Value::from(*i)), number(&Value::from(*o))),
            None => (number(&c["rates"]["in_per_s"]), number(&c["rates"]["out_per_s"])),
        };
        rows.push(vec![
            name,
            text(&c["state"]),
            rate_in,
            rate_out,
            number(&t["lag"]),
            number(&t["records_failed"]),
            number(&t["dead_lettered"]),
            number(&t["retries"]),
            number(&t["plugin_us_per_record"]),
            number(&t["records_in"]),
            number(&t["records_out"]),
        ]);
    }
    let widths: Vec<usize> =
        (0..headers.len()).map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0)).collect();
    for row in &rows {
        let cells: Vec<String> = row
            .iter()
            .enumerate()
            .map(
                |(i, cell)| {
                    if i < 2 {
                        format!("{cell:<w$}", w = widths[i])
                    } else {
                        format!("{cell:>w$}", w = widths[i])
                    }
                },
            )
            .collect();
        let _ = writeln!(out, "{}", cells.join("  ").trim_end());
    }
    if list.is_empty() {
        let _ = writeln!(out, "(no connectors)");
    }
    let mut notes = Vec::new();
    for c in list {
        let name = text(&c["name"]);
        if let Some(reason) = c["failure"].as_str() {
            notes.push(format!("{name} FAILED: {reason}"));
        }
        if let Some(last) = c["recent_failures"].as_array().and_then(|f| f.first()) {
            notes.push(format!("{name} last failed record ({}): {}", text(&last["handling"]), text(&last["reason"])));
        }
    }
    if !notes.is_empty() {
        let _ = writeln!(out);
        for note in notes {
            let _ = writeln!(out, "{note}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn a_frame_has_a_row_per_connector_and_its_failures() {
        let data = json!({"connectors": [{
            "name": "orders", "state": "RUNNING", "failure": null,
            "totals": {"records_in": 120, "records_out": 118, "records_failed": 2, "dead_lettered": 2,
                       "retries": 3, "lag": 7, "plugin_us_per_record": 4.25},
            "rates": {"in_per_s": 12.5, "out_per_s": 12.0},
            "recent_failures": [{"handling": "dead-lettered", "reason": "orders-0@5: parser failed"}],
        }]});
        let frame = super::frame("http://w:8083", &data, None);
        let lines: Vec<&str> = frame.lines().collect();
        assert!(lines[2].starts_with("CONNECTOR"), "{frame}");
        let cells: Vec<&str> = lines[3].split_whitespace().collect();
        assert_eq!(cells, ["orders", "RUNNING", "12.5", "12", "7", "2", "2", "3", "4.2", "120", "118"], "{frame}");
        assert!(frame.contains("orders last failed record (dead-lettered): orders-0@5: parser failed"), "{frame}");
        let measured = [("orders".to_string(), (100.0, 50.0))].into_iter().collect();
        let frame = super::frame("http://w:8083", &data, Some(&measured));
        let cells: Vec<&str> = frame.lines().nth(3).unwrap().split_whitespace().collect();
        assert_eq!(cells[..4], ["orders", "RUNNING", "100", "50"], "{frame}");
    }
}
