//! The configuration reference: every key sluice reads, its default and meaning. The README's
//! reference table is generated from this list (`sluice config-reference`), and a test fails
//! when the two drift apart or when a key is read but not documented here.

/// Where a key is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The worker file.
    Worker,
    /// Any connector file.
    Connector,
    /// Connectors using the file sink.
    FileSink,
    /// Connectors using the built-in `json` parser.
    JsonParser,
    /// Connectors using the Tablestore sink.
    TablestoreSink,
}

impl Scope {
    fn title(self) -> &'static str {
        match self {
            Scope::Worker => "Worker file (`connect-standalone.properties`)",
            Scope::Connector => "Every connector",
            Scope::FileSink => "File sink (`connector.class=FileStreamSink`)",
            Scope::JsonParser => "Built-in `json` parser",
            Scope::TablestoreSink => "Tablestore sink (`connector.class=TableStoreSinkConnector`, see docs/sinks/tablestore.md)",
        }
    }
}

/// One documented key.
#[derive(Debug, Clone, Copy)]
pub struct KeyDoc {
    /// Where it is set.
    pub scope: Scope,
    /// The key (a trailing `*` means a prefix).
    pub key: &'static str,
    /// Default value, as text.
    pub default: &'static str,
    /// What it does.
    pub doc: &'static str,
}

const fn key(scope: Scope, key: &'static str, default: &'static str, doc: &'static str) -> KeyDoc {
    KeyDoc { scope, key, default, doc }
}

use Scope::*;

/// Every key sluice reads.
pub const KEYS: &[KeyDoc] = &[
    key(Worker, "bootstrap.servers", "localhost:9092", "Kafka brokers to consume from (and to dead-letter to, unless a connector names other brokers)."),
    key(Worker, "offset.flush.interval.ms", "60000", "How often positions of written records are committed, as in Kafka Connect."),
    key(Worker, "offset.flush.timeout.ms", "5000", "Accepted for compatibility; commits are synchronous."),
    key(Worker, "task.shutdown.graceful.timeout.ms", "5000", "On shutdown or revocation, how long in-flight records may take to finish; unfinished ones are not committed and are re-read."),
    key(Worker, "key.converter*, value.converter*, header.converter*", "(none)", "Kafka Connect converter settings; passed to parsers (the `json` parser honours `JsonConverter`, `StringConverter`, `ByteArrayConverter` and `schemas.enable`)."),
    key(Worker, "consumer.*", "(none)", "Consumer settings for every connector (Java client names; Java-only keys are translated or ignored with a note)."),
    key(Worker, "producer.*", "(none)", "Settings of dead-letter producers."),
    key(Worker, "admin.*", "(none)", "Settings of the admin client that creates dead-letter topics."),
    key(Worker, "security.protocol, sasl.*, ssl.*", "(none)", "Applied to every Kafka client, as in Kafka Connect; `sasl.jaas.config` with PLAIN/SCRAM credentials is translated."),
    key(Worker, "sluice.plugin.cache.dir", "$SLUICE_CACHE_DIR or ~/.cache/sluice/components", "Where compiled plugins are cached so restarts do not recompile."),
    key(Worker, "sluice.max.inflight.records", "10000", "Default cap on records read but not yet written or dead-lettered, per connector; partitions pause at the cap."),
    key(Connector, "name", "(required)", "Connector name; the consumer group is `connect-<name>`."),
    key(Connector, "connector.class", "(required)", "Which sink: `org.apache.kafka.connect.file.FileStreamSinkConnector` (`FileStreamSink`), `stdout`, or `com.aliyun.tablestore.kafka.connect.TableStoreSinkConnector` (`TableStoreSinkConnector`)."),
    key(Connector, "tasks.max", "1", "Parser workers (and sink lanes) running in parallel; each partition always goes to the same task, so order per partition is kept."),
    key(Connector, "topics", "(one of topics, topics.regex)", "Comma-separated topics to read."),
    key(Connector, "topics.regex", "(one of topics, topics.regex)", "Regular expression of topics to read."),
    key(Connector, "parser", "json", "Built-in parser to use (`json`)."),
    key(Connector, "parser.plugin", "(none)", "Path of a parser component (`.wasm`) to use instead of a built-in parser; relative to the connector file."),
    key(Connector, "parser.timeout.ms", "5000", "Deadline of one parser call; a record that makes the parser run past it is dead-lettered with reason `timeout`."),
    key(Connector, "parser.memory.max.bytes", "268435456", "Memory cap of a parser instance; a record that makes it grow past the cap is dead-lettered with reason `memory`."),
    key(Connector, "parser.stdio.max.bytes", "65536", "How much of a parser's stdout/stderr per call is kept for the log."),
    key(Connector, "sluice.batch.linger.ms", "20", "How long a partial batch waits for more records before it is parsed."),
    key(Connector, "sluice.max.inflight.records", "(worker's value)", "Per-connector override of the in-flight cap."),
    key(Connector, "consumer.override.*", "(none)", "Consumer settings for this connector; `max.poll.records` (default 500) is the batch size."),
    key(Connector, "producer.override.*, admin.override.*", "(none)", "Dead-letter producer and admin settings for this connector."),
    key(Connector, "errors.tolerance", "none", "`none`: the first bad record fails the connector and nothing past it is committed. `all`: bad records go to the error path."),
    key(Connector, "errors.deadletterqueue.topic.name", "(none)", "With `errors.tolerance=all`: topic receiving bad records (original key, value, headers, timestamp, plus `ErrorInfo` and `__connect.errors.*` headers). Created if missing."),
    key(Connector, "errors.deadletterqueue.topic.replication.factor", "3", "Replication factor used when creating the dead-letter topic."),
    key(Connector, "runtime.error.tolerance", "none", "The Tablestore connector's name for `errors.tolerance`."),
    key(Connector, "runtime.error.mode", "ignore", "With tolerance `all` and no dead-letter topic: `ignore` (log and skip), `kafka` (produce to `runtime.error.topic.name`) or `tablestore` (write to the Tablestore table `runtime.error.table.name`)."),
    key(Connector, "runtime.error.table.name", "(none)", "Error table for `runtime.error.mode=tablestore`: primary key `topic_partition` (string), `offset` (integer); columns `error_info`, `key`, `value`. Created when missing."),
    key(Connector, "runtime.error.topic.name", "(none)", "Error topic for `runtime.error.mode=kafka`."),
    key(Connector, "runtime.error.bootstrap.servers", "(worker's bootstrap.servers)", "Brokers of the error topic."),
    key(FileSink, "file", "(stdout)", "File receiving one JSON line per parser output with the record's topic, partition and offset; standard output when unset, as in Kafka Connect."),
    key(JsonParser, "primarykey.mode", "kafka", "Primary key of emitted rows: `kafka` (`topic_partition`, `offset`), `record_key` (fields of the record key) or `none`."),
    key(JsonParser, "json.integers", "int64", "How schemaless JSON integers are typed: `int64`, or `text` (the Tablestore Java connector's all-strings behaviour)."),
    key(TablestoreSink, "tablestore.endpoint", "(required)", "Instance endpoint, `https://<instance>.<region>.ots.aliyuncs.com` (`http://` works too)."),
    key(TablestoreSink, "tablestore.instance.name", "(required)", "Instance name."),
    key(TablestoreSink, "tablestore.mode", "normal", "`normal` (data tables). `timeseries` is not in this build yet."),
    key(TablestoreSink, "tablestore.auth.mode", "sts", "`aksk` (AccessKey) or `sts` (AccessKey plus `tablestore.security.token`). When unset and no token is configured, the AccessKey is used as with `aksk`. The managed-service STS role flow (`account.id`, `role.name`, `sts.endpoint`) is not supported."),
    key(TablestoreSink, "tablestore.access.key.id, tablestore.access.key.secret", "(required)", "The AccessKey (never passed to parsers)."),
    key(TablestoreSink, "tablestore.security.token", "(none)", "sluice: the STS security token for `tablestore.auth.mode=sts`, sent as `x-ots-ststoken`."),
    key(TablestoreSink, "tablestore.region", "(none)", "sluice: the instance's region (`cn-hangzhou`); when set, requests use the v4 (HMAC-SHA256) signature instead of v2."),
    key(TablestoreSink, "tablestore.write.api", "batchwriterow", "sluice: `batchwriterow` (several tables per request) or `bulkimport` (the Java connector's API, one table per request)."),
    key(TablestoreSink, "tablestore.request.timeout.ms", "30000", "sluice: timeout of one HTTP request."),
    key(TablestoreSink, "tablestore.retry.timeout.ms", "60000", "sluice: how long retryable failures (throttling, partition errors, timeouts, 5xx, failed rows) are retried inside one write before the pipeline's own backoff takes over (the Java connector's 60 s)."),
    key(TablestoreSink, "tablestore.verify.response", "true", "sluice: check the MD5 and signature of every response."),
    key(TablestoreSink, "table.name.format", "<topic>", "Destination table; `<topic>` is replaced by the topic."),
    key(TablestoreSink, "topics.assign.tables", "(none)", "`topic:table` pairs; take priority over `table.name.format`."),
    key(TablestoreSink, "tablestore.*.primarykey.name, tablestore.*.primarykey.type", "(none)", "Per table (`tablestore.<table>.primarykey.name`): key columns and types (`string`, `integer`, `binary`, `auto_increment`) for `primarykey.mode=record_key` or `record_value`."),
    key(TablestoreSink, "tablestore.*.columns.whitelist.name, tablestore.*.columns.whitelist.type", "(none)", "Per table: the only attribute columns written, with types (`string`, `integer`, `double`, `boolean`, `binary`)."),
    key(TablestoreSink, "tablestore.*.search.timestamp.type", "kafka", "Per table, `primarykey.mode=search`: only `kafka` (the record timestamp) is supported."),
    key(TablestoreSink, "primarykey.mode", "kafka", "`kafka` (`topic_partition`, `offset`), `record_key`, `record_value` or `search` (`md5`, `topic`, `partition`, `offset`)."),
    key(TablestoreSink, "insert.mode", "put", "`put` (replace the row) or `update` (change the given columns)."),
    key(TablestoreSink, "delete.mode", "none", "`none`, `row`, `column` or `row_and_column`: what null values delete (the connector's \"Delete syntax\" table); anything but `none` needs `primarykey.mode=record_key`."),
    key(TablestoreSink, "insert.order.enable", "true", "`true`: two writes of the same primary key are never in flight at once; `false`: requests run fully parallel."),
    key(TablestoreSink, "auto.create", "false", "Create missing tables (TTL -1, one version, no reserved throughput) with the configured primary key."),
    key(TablestoreSink, "max.concurrency", "10", "Requests in flight per connector."),
    key(TablestoreSink, "buffer.size, max.thread.count, bucket.count, flush.Interval", "1024, cores + 1, 3, 10000", "Accepted and validated as in the Java connector (power of two; at least 1; `bucket.count` at most `max.concurrency`); sluice needs no ring buffers or callback threads and flushes every batch."),
    key(TablestoreSink, "event.parse.class", "(DefaultEventParser)", "Accepted; the mapping is done by the parser (`parser`, `parser.plugin`)."),
    key(TablestoreSink, "region, account.id, role.name, sts.endpoint, client.time.out.ms", "(none)", "The managed-service STS role flow's keys: accepted, not used."),
];

/// Renders the reference as Markdown tables, one per scope.
pub fn markdown() -> String {
    let mut out = String::new();
    for scope in [Worker, Connector, FileSink, JsonParser, TablestoreSink] {
        out.push_str(&format!("### {}\n\n| key | default | meaning |\n|---|---|---|\n", scope.title()));
        for doc in KEYS.iter().filter(|k| k.scope == scope) {
            let keys: Vec<String> = doc.key.split(", ").map(|k| format!("`{k}`")).collect();
            out.push_str(&format!("| {} | {} | {} |\n", keys.join(", "), doc.default, doc.doc));
        }
        out.push('\n');
    }
    out
}

/// Whether `key` (an exact key or a prefix ending in `.`) is documented.
pub fn documents(key: &str) -> bool {
    KEYS.iter().any(|doc| {
        doc.key.split(", ").any(|entry| match entry.strip_suffix('*') {
            Some(prefix) => key.starts_with(prefix) || prefix.starts_with(key),
            None => entry == key,
        })
    })
}
