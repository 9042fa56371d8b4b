//! Throughput of the built-in JSON parser inside wasmtime versus the same code compiled
//! natively, i.e. what the WebAssembly sandbox costs on the hot path.
//!
//! Two sets of 10,000 generated order events (deterministic; 370–480 bytes of JSON each;
//! ~1% tombstones or malformed JSON) are parsed in batches of 500, the production batch size:
//!
//! - `plain`: schemaless JSON (`value.converter.schemas.enable=false`);
//! - `envelope`: Kafka Connect `JsonConverter` envelopes with a struct schema
//!   (`schemas.enable=true`).
//!
//! `wasm` goes through the production path (`PluginRuntime` → `PluginInstance::parse`),
//! including the canonical-ABI copies of records in and outputs out. `native` calls
//! `sluice_parser_json::JsonParser::parse_compact` directly (the same code the host calls in
//! the sandbox) and reads its buffer with the host's decoder, so the difference is what
//! the sandbox costs. Two probes (`ByteArrayConverter`, which copies each value into one
//! column without parsing, and tombstones, which carry no value at all) show how much of the
//! difference is the boundary rather than the parsing. Before timing, the two paths' results
//! are compared record by record with each other and with the parser's general path
//! (`parse_batch`); each figure is the median of several passes over the whole set after a
//! warm-up.
//! A last line puts the native parser beside serde_json's own parse of the same plain values
//! (to a `Value`, and skipping with `IgnoredAny`).
//!
//! The native build uses the host's release profile (no LTO), the guest its own (LTO, one
//! codegen unit), so the comparison slightly favours wasm. Run with:
//!
//! ```text
//! cargo bench -p sluice --bench parser
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value as Json};
use sluice::plugin::{self as host, ComponentCache, PluginInstance, PluginLimits, PluginRuntime, PluginSource};
use sluice_parser_json::JsonParser;
use sluice_plugin_sdk::{self as sdk, Parser as _, Settings};

/// Records per set.
const RECORDS: usize = 10_000;
/// Records per `parse` call, as in production.
const BATCH: usize = 500;
/// Untimed passes before measuring.
const WARMUP_PASSES: usize = 2;
/// Timed passes; the median is reported.
const PASSES: usize = 9;
const TOPIC: &str = "orders";
const JSON_CONVERTER: &str = "org.apache.kafka.connect.json.JsonConverter";
const BYTE_ARRAY_CONVERTER: &str = "org.apache.kafka.connect.converters.ByteArrayConverter";

fn main() -> anyhow::Result<()> {
    let plain = RecordSet::generate("plain", Encoding::Plain);
    let envelope = RecordSet::generate("envelope", Encoding::Envelope);
    let tombstones = plain.without_values("tombstones");

    let runtime = PluginRuntime::new(ComponentCache::new(None))?;
    let plugin = runtime.load(&PluginSource::Builtin("json".into()))?;
    println!(
        "compiled {} ({} KiB) in {:.0?}; {RECORDS} records per set, batches of {BATCH}, \
         median of {PASSES} passes",
        plugin.name,
        plugin.size_bytes / 1024,
        plugin.load_time
    );
    let bench = |set: &RecordSet, converter: &str, schemas: bool| -> anyhow::Result<Row> {
        let settings = settings(converter, schemas);
        let mut instance = PluginInstance::new(plugin.clone(), &settings, PluginLimits::default(), Arc::from("bench"))?;
        let mut native = JsonParser::configure(Settings::new(settings)).map_err(|e| anyhow::anyhow!("{e:?}"))?;
        Ok(compare(set, &mut instance, &mut native))
    };

    let rows = [bench(&plain, JSON_CONVERTER, false)?, bench(&envelope, JSON_CONVERTER, true)?];
    let probes = [
        bench(&plain.with_name("plain as bytes"), BYTE_ARRAY_CONVERTER, false)?,
        bench(&tombstones, JSON_CONVERTER, false)?,
    ];
    print_table("JSON parsing", &rows);
    print_table("probes: boundary cost without JSON parsing", &probes);
    print_serde_baseline(&plain, rows[0].native);
    Ok(())
}

/// The native parser against serde_json's own parse of the same values: to a `Value`, and
/// skipping everything (`IgnoredAny`, the floor of any serde_json-based parser).
fn print_serde_baseline(set: &RecordSet, native: Duration) {
    let values: Vec<&[u8]> = set.native.iter().filter_map(|r| r.value.as_deref()).collect();
    let time = |parse: &dyn Fn(&[u8]) -> bool| {
        let mut pass = || {
            let ok = values.iter().filter(|v| parse(v)).count();
            Counts { ok, ..Counts::default() }
        };
        median_time(&mut pass).0
    };
    let to_value = time(&|v| serde_json::from_slice::<serde_json::Value>(v).is_ok());
    let skipping = time(&|v| serde_json::from_slice::<serde::de::IgnoredAny>(v).is_ok());
    let per_record = |d: Duration| d.as_nanos() as f64 / set.native.len() as f64;
    println!("\nthe native parser against serde_json alone ({}, ns per record)", set.name);
    println!(
        "  native parser {:.0}; serde_json to Value {:.0} (parser {:.2}x of it); serde_json skipping {:.0} ({:.2}x)",
        per_record(native),
        per_record(to_value),
        native.as_secs_f64() / to_value.as_secs_f64(),
        per_record(skipping),
        native.as_secs_f64() / skipping.as_secs_f64()
    );
}

// ---------------------------------------------------------------------------------------
// Measuring

/// One record set's figures on both paths.
struct Row {
    set: String,
    records: usize,
    value_bytes: usize,
    wasm: Duration,
    native: Duration,
    counts: Counts,
}

/// Parses `set` on both paths, checks they agree, and times them.
fn compare(set: &RecordSet, wasm: &mut PluginInstance, native: &mut JsonParser) -> Row {
    assert_same_outputs(set, wasm, native);
    let mut wasm_pass = || {
        let mut counts = Counts::default();
        for chunk in set.host.chunks(BATCH) {
            let results = wasm.parse(chunk).expect("the sandboxed parser failed");
            counts.add_host(&results);
        }
        counts
    };
    let mut native_pass = || {
        let mut counts = Counts::default();
        for chunk in set.native.chunks(BATCH) {
            counts.add_host(&native_compact(native, chunk));
        }
        counts
    };
    let (wasm_time, wasm_counts) = median_time(&mut wasm_pass);
    let (native_time, native_counts) = median_time(&mut native_pass);
    assert_eq!(wasm_counts, native_counts, "{}: wasm and native disagree", set.name);
    Row {
        set: set.name.clone(),
        records: set.host.len(),
        value_bytes: set.value_bytes,
        wasm: wasm_time,
        native: native_time,
        counts: wasm_counts,
    }
}

/// What the host does with the parser in the sandbox, done natively: the parser's
/// `parse_compact` (the export the host calls) into a buffer, read by the host's decoder.
fn native_compact(native: &mut JsonParser, chunk: &[sdk::KafkaRecord]) -> Vec<host::RecordResult> {
    let mut buffer = Vec::new();
    native.parse_compact(chunk, &mut buffer);
    host::decode_compact(buffer.into(), chunk.len()).expect("the native parser's compact output reads back")
}

/// Checks record by record that both paths produce the same outputs and errors, and that
/// they are what the parser's general path (`parse_batch`, its SDK values written by the
/// SDK's reference encoder and read by the host's decoder) gives.
fn assert_same_outputs(set: &RecordSet, wasm: &mut PluginInstance, native: &mut JsonParser) {
    for (host_chunk, native_chunk) in set.host.chunks(BATCH).zip(set.native.chunks(BATCH)) {
        let wasm_results = wasm.parse(host_chunk).expect("the sandboxed parser failed");
        let compact_results = native_compact(native, native_chunk);
        let general = sdk::compact::encode(&native.parse_batch(native_chunk));
        let general_results =
            host::decode_compact(general.into(), native_chunk.len()).expect("the SDK's encoding reads back");
        for (((record, w), c), g) in host_chunk.iter().zip(&wasm_results).zip(&compact_results).zip(&general_results) {
            assert_eq!(w, g, "{}: wasm and the general path differ at offset {}", set.name, record.offset);
            assert_eq!(c, g, "{}: native and the general path differ at offset {}", set.name, record.offset);
        }
    }
}

/// Runs `pass` for warm-up, then times it; returns the median time and the last counts.
fn median_time(pass: &mut impl FnMut() -> Counts) -> (Duration, Counts) {
    for _ in 0..WARMUP_PASSES {
        std::hint::black_box(pass());
    }
    let mut counts = Counts::default();
    let mut times: Vec<Duration> = (0..PASSES)
        .map(|_| {
            let started = Instant::now();
            counts = std::hint::black_box(pass());
            started.elapsed()
        })
        .collect();
    times.sort();
    (times[PASSES / 2], counts)
}

/// What a pass produced: enough to check that both paths did the same work.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Counts {
    /// Records parsed successfully.
    ok: usize,
    /// Records rejected with a plugin error.
    errors: usize,
    /// Outputs over all records (tombstones give none).
    outputs: usize,
    /// Primary-key and data columns over all rows.
    columns: usize,
}

impl Counts {
    fn add_host(&mut self, results: &[host::RecordResult]) {
        for result in results {
            match result {
                Ok(outputs) => {
                    self.ok += 1;
                    self.outputs += outputs.len();
                    self.columns += outputs
                        .iter()
                        .map(|o| match o {
                            sluice::model::Output::Row(row) => row.primary_key.len() + row.columns.len(),
                            _ => 0,
                        })
                        .sum::<usize>();
                }
                Err(_) => self.errors += 1,
            }
        }
    }
}

fn settings(converter: &str, schemas: bool) -> Vec<(String, String)> {
    vec![("value.converter".into(), converter.into()), ("value.converter.schemas.enable".into(), schemas.to_string())]
}

// ---------------------------------------------------------------------------------------
// Reporting

fn print_table(title: &str, rows: &[Row]) {
    println!("\n{title}");
    println!(
        "{:<16} {:>7} {:>9} {:<6} {:>9} {:>10} {:>12} {:>8} {:>11}",
        "set", "records", "MB", "path", "ms/pass", "ns/record", "records/s", "MB/s", "wasm/native"
    );
    for row in rows {
        let mb = row.value_bytes as f64 / 1e6;
        for (path, time) in [("wasm", row.wasm), ("native", row.native)] {
            let secs = time.as_secs_f64();
            let ratio = if path == "wasm" { format!("{:.2}x", secs / row.native.as_secs_f64()) } else { String::new() };
            let (set, records, size) = if path == "wasm" {
                (row.set.as_str(), row.records.to_string(), format!("{mb:.2}"))
            } else {
                ("", String::new(), String::new())
            };
            println!(
                "{:<16} {:>7} {:>9} {:<6} {:>9.2} {:>10.0} {:>12.0} {:>8.1} {:>11}",
                set,
                records,
                size,
                path,
                secs * 1e3,
                secs * 1e9 / row.records as f64,
                row.records as f64 / secs,
                mb / secs,
                ratio
            );
        }
        let c = row.counts;
        println!(
            "{:<16} both paths: {} ok, {} errors, {} outputs, {} columns",
            "", c.ok, c.errors, c.outputs, c.columns
        );
    }
}

// ---------------------------------------------------------------------------------------
// Records

/// How a record value is written.
#[derive(Clone, Copy)]
enum Encoding {
    /// Schemaless JSON.
    Plain,
    /// `{"schema": ..., "payload": ...}` with a struct schema.
    Envelope,
}

/// The same records in the host's and the guest SDK's `KafkaRecord` types.
struct RecordSet {
    name: String,
    host: Vec<sluice::model::KafkaRecord>,
    native: Vec<sdk::KafkaRecord>,
    /// Total size of the record values.
    value_bytes: usize,
}

impl RecordSet {
    fn generate(name: &str, encoding: Encoding) -> Self {
        let mut rng = XorShift(0x5eed_1234_abcd_ef01);
        let schema = order_schema();
        let values = (0..RECORDS).map(|i| {
            // About 1% of records are tombstones or malformed, as in real topics.
            match rng.below(200) {
                0 => return None,
                1 => return Some(b"{\"order_id\": \"ORD-trunc".to_vec()),
                _ => {}
            }
            let order = order_event(&mut rng, i);
            let json = match encoding {
                Encoding::Plain => order,
                Encoding::Envelope => json!({"schema": schema, "payload": order}),
            };
            Some(serde_json::to_vec(&json).expect("serialising a JSON value"))
        });
        Self::from_values(name, values.collect())
    }

    fn from_values(name: &str, values: Vec<Option<Vec<u8>>>) -> Self {
        let base_ms = 1_718_000_000_000_i64;
        let (mut host, mut native) = (Vec::new(), Vec::new());
        for (i, value) in values.iter().enumerate() {
            let offset = 1_000_000 + i as i64;
            let key = Some(format!("ORD-{:08}", i).into_bytes());
            let header = ("source".to_string(), Some(b"checkout-service".to_vec()));
            host.push(sluice::model::KafkaRecord {
                topic: TOPIC.into(),
                partition: (i % 6) as i32,
                offset,
                timestamp_ms: Some(base_ms + i as i64 * 37),
                key: key.clone(),
                value: value.clone(),
                headers: vec![sluice::model::Header { key: header.0.clone(), value: header.1.clone() }],
            });
            native.push(sdk::KafkaRecord {
                topic: TOPIC.into(),
                partition: (i % 6) as i32,
                offset,
                timestamp_ms: Some(base_ms + i as i64 * 37),
                key,
                value: value.clone(),
                headers: vec![sdk::Header { key: header.0, value: header.1 }],
            });
        }
        let value_bytes = values.iter().flatten().map(Vec::len).sum();
        Self { name: name.into(), host, native, value_bytes }
    }

    /// The same records (keys, headers, offsets) with every value null.
    fn without_values(&self, name: &str) -> Self {
        Self::from_values(name, vec![None; self.host.len()])
    }

    fn with_name(&self, name: &str) -> Self {
        Self::from_values(name, self.host.iter().map(|r| r.value.clone()).collect())
    }
}

/// One order event, 370–480 bytes of JSON (1.8–1.9 KB as an envelope): nested objects,
/// text, integers, floats, booleans, a timestamp, an array and an optional field.
fn order_event(rng: &mut XorShift, i: usize) -> Json {
    const NAMES: [&str; 8] = [
        "Ada Lovelace",
        "Grace Hopper",
        "Zoë Müller",
        "Li Wei",
        "Ana Souza",
        "Ola Nordmann",
        "Juan Pérez",
        "Amara Okafor",
    ];
    const CITIES: [(&str, &str); 6] =
        [("DE", "Berlin"), ("FR", "Lyon"), ("US", "Portland"), ("JP", "Osaka"), ("BR", "Recife"), ("NO", "Bergen")];
    const STATUS: [&str; 4] = ["created", "paid", "shipped", "delivered"];
    const TAGS: [&str; 6] = ["promo", "repeat", "mobile", "b2b", "gift-wrap", "priority"];

    let name = *rng.pick(&NAMES);
    let (country, city) = *rng.pick(&CITIES);
    let quantity = 1 + rng.below(12) as i64;
    let unit_price = (100 + rng.below(99_900)) as f64 / 100.0;
    let discount = rng.below(4) == 0;
    let tags: Vec<&str> = (0..rng.below(4)).map(|_| *rng.pick(&TAGS)).collect();
    json!({
        "order_id": format!("ORD-{:08}", i),
        "customer_id": 10_000 + rng.below(90_000) as i64,
        "customer": {
            "name": name,
            "email": format!("{}@example.com", name.to_lowercase().replace(' ', ".")),
            "tier": *rng.pick(&["basic", "silver", "gold"]),
            "since": 2010 + rng.below(15) as i64,
        },
        "status": *rng.pick(&STATUS),
        "quantity": quantity,
        "unit_price": unit_price,
        "total": (unit_price * quantity as f64 * 100.0).round() / 100.0,
        "discount": if discount { json!(0.1) } else { Json::Null },
        "currency": "EUR",
        "paid": rng.below(10) != 0,
        "gift": rng.below(20) == 0,
        "created_at": 1_718_000_000_000_i64 + rng.below(86_400_000) as i64,
        "shipping": {
            "country": country,
            "city": city,
            "zip": format!("{:05}", rng.below(100_000)),
            "express": rng.below(3) == 0,
        },
        "tags": tags,
        "note": if rng.below(3) == 0 { json!("Please leave the parcel with the neighbour.") } else { Json::Null },
    })
}

/// The Kafka Connect struct schema of [`order_event`], as `JsonConverter` writes it.
fn order_schema() -> Json {
    let field = |name: &str, ty: &str, optional: bool| json!({"type": ty, "optional": optional, "field": name});
    let strukt =
        |name: &str, fields: Vec<Json>| json!({"type": "struct", "fields": fields, "optional": false, "field": name});
    json!({
        "type": "struct",
        "name": "com.example.shop.Order",
        "optional": false,
        "fields": [
            field("order_id", "string", false),
            field("customer_id", "int64", false),
            strukt("customer", vec![
                field("name", "string", false),
                field("email", "string", true),
                field("tier", "string", false),
                field("since", "int32", false),
            ]),
            field("status", "string", false),
            field("quantity", "int32", false),
            field("unit_price", "double", false),
            field("total", "double", false),
            field("discount", "float", true),
            field("currency", "string", false),
            field("paid", "boolean", false),
            field("gift", "boolean", false),
            {"type": "int64", "optional": false, "name": "org.apache.kafka.connect.data.Timestamp",
             "version": 1, "field": "created_at"},
            strukt("shipping", vec![
                field("country", "string", false),
                field("city", "string", false),
                field("zip", "string", false),
                field("express", "boolean", false),
            ]),
            {"type": "array", "items": {"type": "string", "optional": false}, "optional": false, "field": "tags"},
            field("note", "string", true),
        ],
    })
}

/// A tiny deterministic PRNG (xorshift64), so every run parses the same records.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// Uniform-ish in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}
