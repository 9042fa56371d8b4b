//! Starts the local service stand-ins under `tests/standins/` as child processes, for the
//! integration tests and the benchmarks alike: one place that knows how each stand-in is
//! launched, how it reports its port, and that it is killed when the handle is dropped.
//!
//! Every stand-in listens on an ephemeral loopback port and prints one readiness line on
//! stdout once it accepts connections (`PORT <n>`, or a JSON object of ports for MaxCompute),
//! so starting one waits for that event instead of sleeping.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// The services that have a stand-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// Tablestore data and time-series tables (`tablestore/server.py`, PyPI `tablestore`).
    Tablestore,
    /// TDengine's taosAdapter REST interface (`tdengine/taosadapter.py`).
    Tdengine,
    /// MaxCompute's service and tunnel endpoints (`maxcompute/server.py`, PyPI `pyodps`).
    MaxCompute,
    /// Confluent Schema Registry's REST API (`schema_registry/server.py`).
    SchemaRegistry,
}

impl Service {
    /// The stand-in's script.
    pub fn script(self) -> PathBuf {
        let relative = match self {
            Service::Tablestore => "tablestore/server.py",
            Service::Tdengine => "tdengine/taosadapter.py",
            Service::MaxCompute => "maxcompute/server.py",
            Service::SchemaRegistry => "schema_registry/server.py",
        };
        Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
    }
}

/// How a stand-in's own diagnostics are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stderr {
    /// Passed through to the caller's stderr (tests: shown when a test fails).
    Inherit,
    /// Discarded (benchmarks: keep the figures readable).
    Quiet,
}

/// A running stand-in; the process is killed when this is dropped.
pub struct Standin {
    child: Child,
    ready: String,
}

impl Standin {
    /// Starts `service` with `args` and waits for its readiness line.
    ///
    /// Panics with the fix when python3 or the stand-ins' packages are missing: these
    /// handles are only used by tests and benchmarks.
    pub fn start(service: Service, args: &[&str], stderr: Stderr) -> Self {
        let mut child = Command::new("python3")
            .arg(service.script())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(match stderr {
                Stderr::Inherit => Stdio::inherit(),
                Stderr::Quiet => Stdio::null(),
            })
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "starting the {service:?} stand-in needs python3 ({e}); its packages are installed by \
                     `python3 -m pip install -r tests/standins/requirements.txt`"
                )
            });
        let mut ready = String::new();
        let read = BufReader::new(child.stdout.take().expect("piped stdout")).read_line(&mut ready);
        if read.is_err() || ready.trim().is_empty() {
            let _ = child.kill();
            let status = child.wait().ok();
            panic!(
                "the {service:?} stand-in exited before it was ready ({status:?}); see its stderr above. Its \
                 packages are installed by `python3 -m pip install -r tests/standins/requirements.txt`"
            );
        }
        Self { child, ready: ready.trim().to_string() }
    }

    /// The port of a stand-in that reports `PORT <n>` (Tablestore, TDengine).
    pub fn port(&self) -> u16 {
        self.ready
            .strip_prefix("PORT ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("the stand-in's readiness line is not `PORT <n>`: {:?}", self.ready))
    }

    /// A named port of a stand-in that reports a JSON object of ports (MaxCompute:
    /// `service`, `tunnel`).
    pub fn named_port(&self, name: &str) -> u16 {
        let ports: serde_json::Value = serde_json::from_str(&self.ready)
            .unwrap_or_else(|e| panic!("the stand-in's readiness line is not JSON ({e}): {:?}", self.ready));
        ports[name]
            .as_u64()
            .and_then(|p| u16::try_from(p).ok())
            .unwrap_or_else(|| panic!("no port `{name}` in {ports}"))
    }

    /// `http://127.0.0.1:<port>` for a stand-in that reports `PORT <n>`.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port())
    }

    /// The stand-in's process id (for tests that stop or signal it).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Standin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Serializes records with Confluent's official serializers (PyPI `confluent-kafka`'s
/// `AvroSerializer` / `JSONSerializer`, run by `schema_registry/serialize.py`), which register
/// their schemas in the registry at `job["url"]`. `job` is the script's input (see its
/// docstring): `{"url", "user_info"?, "records": [{"format", "topic", "part", "schema",
/// "value"}]}`. Returns the serialized bytes, in order.
///
/// Panics with the script's stderr when it fails (tests only).
pub fn confluent_serialize(job: &serde_json::Value) -> Vec<Vec<u8>> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("schema_registry/serialize.py");
    let mut child = Command::new("python3")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("running the official serializer needs python3 ({e})"));
    child.stdin.take().expect("piped stdin").write_all(job.to_string().as_bytes()).expect("writing the job");
    let output = child.wait_with_output().expect("waiting for the serializer");
    assert!(
        output.status.success(),
        "the official serializer failed ({}); its packages are installed by `python3 -m pip install -r \
         tests/standins/requirements.txt`:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let hex: Vec<String> = serde_json::from_slice(&output.stdout).expect("the serializer prints a JSON list");
    hex.iter()
        .map(|h| (0..h.len()).step_by(2).map(|i| u8::from_str_radix(&h[i..i + 2], 16).expect("hex")).collect())
        .collect()
}
