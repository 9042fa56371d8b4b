//! The status page and `sluice top`: the sampled history as JSON, the page rendered by
//! headless Chromium (its DOM after the script ran, and a screenshot), `sluice top --once`,
//! and the live view redrawing under tmux.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value as Json;
use sluice::api::RestServer;

use crate::util::*;

/// A tool the test needs: found on the PATH, or `None` after a loud message. CI sets
/// `SLUICE_REQUIRE_UI_TOOLS` (its script installs them), and there a missing tool fails.
fn tool(names: &[&str]) -> Option<PathBuf> {
    let found = names.iter().find_map(|name| {
        std::env::var_os("PATH")
            .into_iter()
            .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
            .map(|dir| dir.join(name))
            .find(|candidate| candidate.is_file())
    });
    if found.is_none() {
        let message = format!(
            "\n\n!!!!!!!!\n!!! SKIPPED: none of {names:?} is installed (apt-get install -y chromium tmux); the status \
             page / sluice top checks did NOT run\n!!!!!!!!\n"
        );
        assert!(std::env::var_os("SLUICE_REQUIRE_UI_TOOLS").is_none(), "{message}");
        eprintln!("{message}");
    }
    found
}

/// Runs a command to completion (at most a minute) off the async runtime; returns its stdout.
async fn output(mut command: Command, what: &'static str) -> String {
    tokio::task::spawn_blocking(move || {
        let mut child = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect(what);
        let mut stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut stdout, &mut text).unwrap();
            text
        });
        let status = wait_exit(&mut child, Duration::from_secs(60), what);
        let text = reader.join().unwrap();
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
        assert!(status.success(), "{what} failed ({status}): {stderr}");
        text
    })
    .await
    .unwrap()
}

fn chromium_command(chromium: &Path, profile: &Path) -> Command {
    let mut command = Command::new(chromium);
    command.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
    ]);
    command.arg(format!("--user-data-dir={}", profile.display()));
    command
}

/// Reads the data the page and `sluice top` read until `ready` holds.
async fn data_until(url: &str, what: &str, ready: impl Fn(&Json) -> bool) -> Json {
    let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let body = http.get(format!("{url}/ui/data")).send().await.unwrap().text().await.unwrap();
        let data: Json = serde_json::from_str(&body).unwrap();
        if ready(&data) {
            return data;
        }
        assert!(Instant::now() < deadline, "never {what}: {data:#}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_status_page_and_sluice_top_show_each_connector_live() {
    let h = Harness::new();
    h.topic("events", 1);
    let out = h.path("out.jsonl");
    let connector = h.connector(&format!(
        "name=events\nconnector.class=FileStreamSink\ntopics=events\nfile={}\nparser.plugin={}\nerrors.tolerance=all\n",
        out.display(),
        guest("sluice_test_hostile").display()
    ));
    let worker = h.worker("listeners=http://127.0.0.1:0\nsluice.status.sample.interval.ms=100\n");
    let running = h.start(worker, vec![connector]).await.unwrap();
    let server = RestServer::start(running.worker()).await.unwrap();
    let url = server.url();

    // 20 good records and one the parser refuses (skipped under errors.tolerance=all).
    let mut values: Vec<String> = (0..20).map(|n| format!("r{n}")).collect();
    values.push("error".to_string());
    h.produce("events", Some(0), &values).await;
    let data = data_until(&url, "wrote 20 records and sampled a rate", |d| {
        let c = &d["connectors"][0];
        c["totals"]["records_out"] == 20
            && c["samples"].as_array().is_some_and(|s| s.iter().any(|s| s["in_per_s"].as_f64() > Some(0.0)))
    })
    .await;
    let c = &data["connectors"][0];
    assert_eq!((c["name"].as_str(), c["state"].as_str()), (Some("events"), Some("RUNNING")), "{c:#}");
    assert_eq!(c["totals"]["records_in"], 21, "{c:#}");
    assert_eq!(c["totals"]["records_failed"], 1, "{c:#}");
    assert_eq!(c["totals"]["skipped"], 1, "{c:#}");
    assert!(c["totals"]["plugin_us_per_record"].as_f64().unwrap() > 0.0, "{c:#}");
    assert_eq!(data["interval_ms"], 100);
    let failure = &c["recent_failures"][0];
    assert_eq!(failure["handling"], "skipped", "{c:#}");
    let reason = failure["reason"].as_str().unwrap();
    assert!(reason.contains("events-0@20") && reason.contains("hostile-error"), "{reason}");

    // The page, rendered by Chromium: the DOM after its script ran, then a screenshot.
    if let Some(chromium) = tool(&["chromium", "chromium-browser"]) {
        let profile = tempfile::tempdir().unwrap();
        let mut dump = chromium_command(&chromium, profile.path());
        dump.args(["--virtual-time-budget=3000", "--dump-dom", &format!("{url}/ui")]);
        let dom = output(dump, "chromium --dump-dom").await;
        assert!(dom.contains(r#"<section class="connector" data-name="events" data-state="RUNNING">"#), "{dom}");
        assert!(dom.contains(r#"<td class="value" data-key="records-in">21</td>"#), "{dom}");
        assert!(dom.contains(r#"<td class="value" data-key="records-out">20</td>"#), "{dom}");
        assert!(dom.contains(r#"<td class="value" data-key="failed">1</td>"#), "{dom}");
        assert!(dom.contains("skipped: events-0@20"), "the recent failure is listed: {dom}");
        assert!(dom.contains(r#"class="series-in""#) && dom.contains(r#"class="series-lag""#), "{dom}");
        assert!(dom.contains("sampled every 0.1 s"), "{dom}");

        let png = h.path("status.png");
        let mut shot = chromium_command(&chromium, profile.path());
        shot.args([
            "--virtual-time-budget=3000",
            "--hide-scrollbars",
            "--window-size=1000,700",
            &format!("--screenshot={}", png.display()),
            &format!("{url}/ui"),
        ]);
        output(shot, "chromium --screenshot").await;
        let image = std::fs::read(&png).expect("chromium wrote the screenshot");
        assert_eq!(&image[..8], b"\x89PNG\r\n\x1a\n", "a PNG file");
        assert_eq!(&image[12..16], b"IHDR");
        let width = u32::from_be_bytes(image[16..20].try_into().unwrap());
        let height = u32::from_be_bytes(image[20..24].try_into().unwrap());
        assert_eq!((width, height), (1000, 700));
        // A blank 1000x700 page compresses to a few kilobytes; text and charts do not.
        assert!(image.len() > 15_000, "the screenshot looks empty ({} bytes)", image.len());
        // The page itself, not an error page: the RUNNING badge's green (#2a8a3e) is painted.
        let badge = pixels(&image)
            .iter()
            .filter(|p| [(p[0], 0x2a), (p[1], 0x8a), (p[2], 0x3e)].iter().all(|(have, want)| have.abs_diff(*want) < 6))
            .count();
        assert!(badge > 500, "the screenshot shows no RUNNING badge ({badge} pixels of its green)");
    }

    // `sluice top --once`: one frame with the connector's row.
    let mut once = Command::new(env!("CARGO_BIN_EXE_sluice"));
    once.args(["top", "--once", "--url", &url]);
    let frame = output(once, "sluice top --once").await;
    let row: Vec<&str> = frame
        .lines()
        .find(|l| l.starts_with("events "))
        .unwrap_or_else(|| panic!("{frame}"))
        .split_whitespace()
        .collect();
    // CONNECTOR STATE IN/S OUT/S LAG ERRORS DLQ RETRIES PLUGIN IN OUT
    assert_eq!(
        (row[0], row[1], row[5], row[6], row[9], row[10]),
        ("events", "RUNNING", "1", "0", "21", "20"),
        "{frame}"
    );
    assert!(frame.contains("events last failed record (skipped): events-0@20"), "{frame}");

    // The live view under tmux redraws as records arrive.
    if let Some(tmux) = tool(&["tmux"]) {
        let socket = format!("sluice-test-{}", std::process::id());
        let tmux_command = |args: &[&str]| {
            let mut command = Command::new(&tmux);
            command.args(["-L", &socket]).args(args);
            command
        };
        let view = format!("{} top --url {url} --interval 0.1", env!("CARGO_BIN_EXE_sluice"));
        output(tmux_command(&["new-session", "-d", "-s", "top", "-x", "150", "-y", "20", &view]), "tmux new-session")
            .await;
        let pane = || {
            let output = tmux_command(&["capture-pane", "-p", "-t", "top"]).output().unwrap();
            String::from_utf8_lossy(&output.stdout).to_string()
        };
        let row_of = |pane: &str| -> Vec<String> {
            pane.lines()
                .find(|l| l.starts_with("events "))
                .map(|l| l.split_whitespace().map(String::from).collect())
                .unwrap_or_default()
        };
        let shows = |totals: [&str; 2]| {
            let pane = pane();
            let row = row_of(&pane);
            row.len() == 11 && row[9] == totals[0] && row[10] == totals[1]
        };
        assert!(wait_until(Duration::from_secs(30), || shows(["21", "20"])).await, "{}", pane());
        let more: Vec<String> = (20..25).map(|n| format!("r{n}")).collect();
        h.produce("events", Some(0), &more).await;
        assert!(wait_until(Duration::from_secs(30), || shows(["26", "25"])).await, "{}", pane());
        assert!(pane().starts_with("sluice top - http://127.0.0.1:"), "{}", pane());
        let _ = tmux_command(&["kill-server"]).status();
    }

    server.stop();
    running.shutdown();
    running.wait().await;
}

/// The RGB pixels of an 8-bit, non-interlaced RGB or RGBA PNG (what Chromium writes).
fn pixels(png: &[u8]) -> Vec<[u8; 3]> {
    let (mut at, mut data, mut width, mut channels) = (8, Vec::new(), 0usize, 0usize);
    while at + 8 <= png.len() {
        let length = u32::from_be_bytes(png[at..at + 4].try_into().unwrap()) as usize;
        let (kind, body) = (&png[at + 4..at + 8], &png[at + 8..at + 8 + length]);
        match kind {
            b"IHDR" => {
                width = u32::from_be_bytes(body[0..4].try_into().unwrap()) as usize;
                assert_eq!((body[8], body[12]), (8, 0), "8-bit, not interlaced");
                channels = match body[9] {
                    2 => 3,
                    6 => 4,
                    other => panic!("PNG colour type {other}"),
                };
            }
            b"IDAT" => data.extend_from_slice(body),
            _ => {}
        }
        at += 12 + length;
    }
    let mut raw = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::ZlibDecoder::new(&data[..]), &mut raw).unwrap();
    let stride = width * channels;
    let mut previous = vec![0u8; stride];
    let mut out = Vec::new();
    for line in raw.chunks(stride + 1) {
        let (filter, mut row) = (line[0], line[1..].to_vec());
        for i in 0..stride {
            let left = if i >= channels { row[i - channels] } else { 0 };
            let (up, corner) = (previous[i], if i >= channels { previous[i - channels] } else { 0 });
            let predictor = match filter {
                0 => 0,
                1 => left,
                2 => up,
                3 => ((left as u16 + up as u16) / 2) as u8,
                4 => {
                    let estimate = left as i16 + up as i16 - corner as i16;
                    let distance = |x: u8| (estimate - x as i16).abs();
                    if distance(left) <= distance(up) && distance(left) <= distance(corner) {
                        left
                    } else if distance(up) <= distance(corner) {
                        up
                    } else {
                        corner
                    }
                }
                other => panic!("PNG filter {other}"),
            };
            row[i] = row[i].wrapping_add(predictor);
        }
        out.extend(row.chunks(channels).map(|p| [p[0], p[1], p[2]]));
        previous = row;
    }
    out
}
