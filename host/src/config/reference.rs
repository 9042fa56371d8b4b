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
    /// The worker file of `sluice distributed`.
    Distributed,
    /// Connectors using the file sink.
    FileSink,
    /// Connectors using the built-in `json` parser.
    JsonParser,
    /// Connectors using the TDengine sink.
    TdengineSink,
    /// Connectors using the built-in `tdengine` parser.
    TdengineParser,
    /// Connectors using the MaxCompute sink.
    MaxComputeSink,
    /// Connectors using the built-in `maxcompute` parser.
    MaxComputeParser,
    /// Connectors using the Tablestore sink.
    TablestoreSink,
    /// Kafka Connect keys sluice accepts without applying them, and why that changes nothing.
    NotApplied,
}

impl Scope {
    fn title(self) -> &'static str {
        match self {
            Scope::Worker => "Worker file (`connect-standalone.properties`)",
            Scope::Distributed => "Distributed worker file (`connect-distributed.properties`, `sluice distributed`)",
            Scope::Connector => "Every connector",
            Scope::FileSink => "File sink (`connector.class=FileStreamSink`)",
            Scope::JsonParser => "Built-in `json` parser",
            Scope::TdengineSink => {
                "TDengine sink (`connector.class=com.taosdata.kafka.connect.sink.TDengineSinkConnector`)"
            }
            Scope::TdengineParser => "Built-in `tdengine` parser (the TDengine sink's default)",
            Scope::MaxComputeSink => {
                "MaxCompute sink (`connector.class=com.aliyun.odps.kafka.connect.MaxComputeSinkConnector`)"
            }
            Scope::MaxComputeParser => "Built-in `maxcompute` parser (the MaxCompute sink's default)",
            Scope::TablestoreSink => {
                "Tablestore sink (`connector.class=TableStoreSinkConnector`, see docs/sinks/tablestore.md)"
            }
            Scope::NotApplied => "Kafka Connect keys accepted but not applied, and why",
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
    key(Worker, "key.converter*, value.converter*, header.converter*", "(none)", "Kafka Connect converter settings; passed to parsers (the `json` parser honours `JsonConverter` with `schemas.enable`, `StringConverter`, `ByteArrayConverter` and the number and boolean converters `Short/Integer/Long/Float/Double/BooleanConverter`), and read by the transforms for the parts they change. `header.converter` (default `org.apache.kafka.connect.storage.SimpleHeaderConverter`; also `StringConverter`, `JsonConverter` with `header.converter.schemas.enable`, default true, and `ByteArrayConverter`; another class is refused at load) reads the headers for the transforms and predicates as in Kafka Connect: `SimpleHeaderConverter` types text as `Values.parseString` does (`42` an INT8, `true` a BOOLEAN, `{\"a\":1}` a map, `[1,2]` an array, `2019-03-01` a Date, anything else a string); a header it cannot read fails the record at stage `HEADER_CONVERTER`. Headers a transform adds or changes reach the parser written by it (`Values.convertToString` for `SimpleHeaderConverter`); headers left as read keep their original bytes, and a connector without transforms or registry converters hands parsers the header bytes as produced. Confluent's `io.confluent.connect.avro.AvroConverter`, `io.confluent.connect.json.JsonSchemaConverter` and `io.confluent.connect.protobuf.ProtobufConverter` (with `*.converter.schema.registry.url`, `basic.auth.credentials.source`, `basic.auth.user.info`) are read in the host: schemas are fetched from the Schema Registry by id and cached, the data is mapped as Confluent's AvroData/JsonSchemaData/ProtobufData do with the converters' defaults (logical types included; Protobuf: the record's message indexes pick the message, `.proto` text or a base64 descriptor is compiled in-process, `google.protobuf.Timestamp`, `google.type.Date` and `google.type.TimeOfDay` become Timestamp, Date and Time, other imports are resolved through the schema's registry references; other `google/type/*` files and `confluent/type/decimal.proto` are refused naming the schema id; a non-default mapping setting such as `int.for.enums=true` is refused at load) and handed to the parser as a JsonConverter envelope (the parser's setting says `JsonConverter`, `schemas.enable=true`). A registry that cannot be reached fails the connector transiently (restart with backoff; nothing committed past the records)."),
    key(Worker, "consumer.*", "(none)", "Consumer settings for every connector (Java client names; Java-only keys are translated or ignored with a note)."),
    key(Worker, "producer.*", "(none)", "Settings of dead-letter producers."),
    key(Worker, "admin.*", "(none)", "Settings of the admin client that creates dead-letter topics."),
    key(Worker, "security.protocol, sasl.*, ssl.*", "(none)", "Applied to every Kafka client, as in Kafka Connect. Translated: `sasl.jaas.config` with PLAIN/SCRAM credentials, PEM trust stores (`ssl.truststore.type=PEM` → `ssl.ca.location`, `ssl.truststore.certificates` → `ssl.ca.pem`), PKCS12 or PEM key stores, `ssl.endpoint.identification.algorithm=` (empty → `none`). Refused at load with the fix: JKS/PKCS12 trust stores and JKS key stores (convert to PEM/PKCS12), Kerberos and OAuth bearer JAAS logins (use librdkafka's `sasl.kerberos.*` / `sasl.oauthbearer.*`), Java callback handler and interceptor classes."),
    key(Worker, "listeners", "http://:8083", "Where the Kafka Connect REST API, `/metrics` and `/health` are served: one `http://host:port` (empty host: every interface; port 0: a free port). https listeners are refused; put a TLS proxy in front."),
    key(Worker, "rest.host.name, rest.port", "(none), 8083", "The old form of `listeners`, used only when `listeners` is absent."),
    key(Worker, "rest.advertised.host.name, rest.advertised.port", "(bound host and port)", "The address the worker reports as `worker_id` in connector and task status."),
    key(Worker, "config.providers, config.providers.*", "(none)", "Config providers, as in Kafka Connect: `config.providers=env,file` with `config.providers.env.class=org.apache.kafka.common.config.provider.EnvVarConfigProvider` (`${env:VAR}`), `...FileConfigProvider` (`${file:/path.properties:key}`) or `...DirectoryConfigProvider` (`${dir:/path:file}`). Connector values keep the placeholder (the REST API returns it); it is resolved when the connector starts."),
    key(Worker, "sluice.plugin.cache.dir", "$SLUICE_CACHE_DIR or ~/.cache/sluice/components", "Where compiled plugins are cached so restarts do not recompile."),
    key(Worker, "sluice.state.dir", "(the folder of offset.storage.file.filename, else of the worker file)", "Folder of `sluice-connectors.json`, where connectors created through the REST API (their configuration and target state) are kept so they survive a restart."),
    key(Worker, "sluice.max.inflight.records", "5000", "Default cap on records read but not yet written or dead-lettered, per connector; reading waits at the cap."),
    key(Worker, "sluice.max.inflight.bytes", "33554432", "Default cap on the key, value and header bytes of those records, per connector; reading waits at the cap."),
    key(Distributed, "group.id", "(required)", "The cluster's name: workers with the same `group.id` and topics share their connectors. Not a consumer group of sluice's (each connector's group is `connect-<name>`)."),
    key(Distributed, "config.storage.topic", "(required)", "Compacted topic (one partition) holding connector configurations and target states in Kafka Connect's record format (`connector-<name>`, `target-state-<name>`); created when missing. Ignored by `sluice standalone`."),
    key(Distributed, "status.storage.topic", "(required)", "Compacted topic holding every worker's connector and task states (`status-connector-<name>`, `status-task-<name>-<worker>`) and membership; created when missing."),
    key(Distributed, "offset.storage.topic", "(required)", "Required as in Kafka Connect, and not written: a sink connector's offsets are its consumer group's committed offsets."),
    key(Distributed, "config.storage.replication.factor, status.storage.replication.factor, offset.storage.replication.factor", "3", "Replication factor of the internal topics sluice creates (-1: the broker's default)."),
    key(Distributed, "status.storage.partitions, offset.storage.partitions", "5, 25", "Partitions of the status topic when sluice creates it (`offset.storage.partitions` is accepted and unused)."),
    key(Distributed, "rest.advertised.host.name", "(this machine's name when listening on every interface)", "The host part of the worker's `worker_id`, which keys its status records: it must differ between the workers of a cluster."),
    key(Distributed, "heartbeat.interval.ms", "3000", "How often each worker writes its connector states and membership to the status topic again."),
    key(Distributed, "session.timeout.ms", "10000", "A worker that has written nothing to the status topic for this long is no longer shown in status and `GET /` (a worker that exits cleanly is removed at once)."),
    key(Distributed, "worker.sync.timeout.ms", "3000 (at least 10000 here)", "How long a REST call waits for its change to be read back from the config topic before answering 500."),
    key(Worker, "sluice.status.sample.interval.ms", "5000", "How often the REST server samples each connector's counters for the status page (`GET /ui`) and `sluice top`; the last 120 samples are kept."),
    key(Connector, "sluice.restart.backoff.max.ms", "300000", "A connector that cannot start (sink, broker or plugin not reachable yet) is FAILED and restarted automatically after 1 s, then twice as long each time, up to this; `0` turns automatic restarts off. A connector failed by a data error (`errors.tolerance=none`) stays FAILED until restarted through the REST API."),
    key(Connector, "name", "(required)", "Connector name; the consumer group is `connect-<name>`."),
    key(Connector, "connector.class", "(required)", "Which sink: `org.apache.kafka.connect.file.FileStreamSinkConnector` (`FileStreamSink`), `stdout`, `com.taosdata.kafka.connect.sink.TDengineSinkConnector` (`TDengineSinkConnector`) `com.aliyun.odps.kafka.connect.MaxComputeSinkConnector` (`MaxComputeSinkConnector`) or `TableStoreSinkConnector` (`com.aliyun.tablestore.kafka.connect.TableStoreSinkConnector`)."),
    key(Connector, "initial_state", "RUNNING", "State the connector starts in: `RUNNING`, `PAUSED` (partitions assigned, nothing read) or `STOPPED` (no consumer; offsets can be changed). Also the top-level `initial_state` of a JSON connector file or `POST /connectors` body."),
    key(Connector, "tasks.max", "1", "Tasks running in parallel, each a sink lane fed by `sluice.parser.threads` parser threads; each partition always goes to the same task, so order per partition is kept."),
    key(Connector, "topics", "(one of topics, topics.regex)", "Comma-separated topics to read."),
    key(Connector, "topics.regex", "(one of topics, topics.regex)", "Regular expression of topics to read."),
    key(Connector, "parser", "(the sink's)", "Built-in parser to use: `json` (default of the file sinks), `tdengine` (default of the TDengine sink) or `maxcompute` (default of the MaxCompute sink)."),
    key(Connector, "parser.plugin", "(none)", "Path of a parser component (`.wasm`) to use instead of a built-in parser; relative to the connector file."),
    key(Connector, "parser.timeout.ms", "5000", "Deadline of one parser call; a record that makes the parser run past it is dead-lettered with reason `timeout`."),
    key(Connector, "parser.memory.max.bytes", "268435456", "Memory cap of a parser instance; a record that makes it grow past the cap is dead-lettered with reason `memory`."),
    key(Connector, "parser.stdio.max.bytes", "65536", "How much of a parser's stdout/stderr per call is kept for the log."),
    key(Connector, "sluice.parser.threads", "(cores / tasks.max, at least 1)", "Parser threads per task, each with its own sandboxed instance. Batches are parsed in parallel and reach the task's sink in the order they were read, so order per partition is kept."),
    key(Connector, "sluice.batch.linger.ms", "20", "How long a partial batch waits for more records before it is parsed."),
    key(Connector, "sluice.schema.check", "true", "At start and at each parser swap, parse the 8 newest records of the topics (spread over their partitions) and check the outputs against the target's schema (Tablestore primary key names and types, MaxCompute columns and types); a parser none of whose outputs fit is refused, naming the column. `false` skips the check."),
    key(Connector, "sluice.max.inflight.records", "(worker's value)", "Per-connector override of the in-flight cap."),
    key(Connector, "sluice.max.inflight.bytes", "(worker's value)", "Per-connector override of the in-flight byte cap."),
    key(Connector, "consumer.override.*", "(none)", "Consumer settings for this connector; `max.poll.records` (default 500) is the batch size."),
    key(Connector, "producer.override.*, admin.override.*", "(none)", "Dead-letter producer and admin settings for this connector."),
    key(Connector, "transforms, predicates", "(none)", "Kafka Connect 3.9's single message transforms and predicates with their keys (`transforms.<alias>.type`, `.predicate`, `.negate`, `predicates.<alias>.type`...), applied to each record after the key/value converters and before the parser, for every parser and sink; a router's topic names the target. Implemented: InsertField, ReplaceField, MaskField, Cast, TimestampConverter, ExtractField, HoistField, ValueToKey, Flatten, RegexRouter, TimestampRouter, Filter, InsertHeader, DropHeaders, HeaderFrom, SetSchemaMetadata; predicates TopicNameMatches, HasHeaderKey, RecordIsTombstone. Any other class, an unknown setting or a missing one is an error at load naming the key. Field transforms need `JsonConverter` for the part they change."),
    key(Connector, "errors.tolerance", "none", "`none`: the first bad record fails the connector and nothing past it is committed. `all`: bad records go to the error path."),
    key(Connector, "errors.retry.timeout", "300000", "How long (ms) a transient sink failure (throttling, 5xx, timeouts, connection errors) is retried, from its first failure until something is written again; then the connector goes FAILED and nothing past the batch is committed. `-1` retries without end, `0` not at all. Kafka Connect's default is 0; sluice retries for 5 minutes (see the README's \"Retries\")."),
    key(Connector, "errors.retry.delay.max.ms", "5000", "Longest wait between two retries (exponential backoff from 100 ms with jitter; a service's `Retry-After` is honoured up to this). Kafka Connect's default is 60000; sluice waits at most 5 s so a recovered service is written to again within seconds."),
    key(Connector, "errors.deadletterqueue.topic.name", "(none)", "Topic receiving bad records (original key, value, headers and timestamp). With `errors.tolerance=all` the connector goes on; with `none` the record is reported here first and then the connector fails, as in Kafka Connect. Created if missing."),
    key(Connector, "errors.deadletterqueue.context.headers.enable", "false", "`true` adds Kafka Connect's `__connect.errors.*` context headers (topic, partition, offset, connector, task, stage, class, exception) and sluice's one-line `ErrorInfo` reason to each dead-letter record."),
    key(Connector, "errors.log.enable", "false", "`true` logs each failed record at ERROR in Kafka Connect's words (task, stage, class, record coordinates, reason); otherwise one WARN line each."),
    key(Connector, "errors.log.include.messages", "false", "With `errors.log.enable`: the log line also shows the record's key, value and headers (text as text, other bytes as base64, 1 KiB each at most)."),
    key(Connector, "errors.deadletterqueue.topic.replication.factor", "3", "Replication factor used when creating the dead-letter topic."),
    key(Connector, "runtime.error.tolerance", "none", "The Tablestore connector's name for `errors.tolerance`."),
    key(Connector, "runtime.error.mode", "ignore", "With tolerance `all` and no dead-letter topic: `ignore` (log and skip), `kafka` (produce to `runtime.error.topic.name`) or `tablestore` (write to the Tablestore table `runtime.error.table.name`)."),
    key(Connector, "runtime.error.table.name", "(none)", "Error table for `runtime.error.mode=tablestore`: primary key `topic_partition` (string), `offset` (integer); columns `error_info`, `key`, `value`. Created when missing."),
    key(Connector, "runtime.error.topic.name", "(none)", "Error topic for `runtime.error.mode=kafka`. With the MaxCompute sink and no tolerance key set, naming it is enough: bad records go there, as in the MaxCompute connector."),
    key(Connector, "runtime.error.bootstrap.servers", "(worker's bootstrap.servers)", "Brokers of the error topic."),
    key(FileSink, "file", "(stdout)", "File receiving one JSON line per parser output with the record's topic, partition and offset; standard output when unset, as in Kafka Connect."),
    key(FileSink, "sluice.file.fsync", "true", "Sync every write to disk before its records are acknowledged. `false` is faster, but a power failure can lose lines whose offsets were already committed. A line torn by a crash is cut off when the file is opened again."),
    key(JsonParser, "primarykey.mode", "kafka", "Primary key of emitted rows: `kafka` (`topic_partition`, `offset`), `record_key` (fields of the record key) or `none`."),
    key(JsonParser, "json.integers", "int64", "How schemaless JSON integers are typed: `int64`, or `text` (the Tablestore Java connector's all-strings behaviour)."),
    key(TdengineSink, "connection.url", "(required)", "taosAdapter's address: `http(s)://host:6041` or `jdbc:TAOS-RS://host:6041`; a native `jdbc:TAOS://host:6030` is written through the adapter on the same host at port 6041 (logged)."),
    key(TdengineSink, "connection.user", "root", "TDengine user (Basic auth on every request)."),
    key(TdengineSink, "connection.password", "taosdata", "TDengine password."),
    key(TdengineSink, "connection.database", "(none)", "Database for every topic; created with `CREATE DATABASE IF NOT EXISTS` when missing."),
    key(TdengineSink, "connection.database.prefix", "(empty)", "Without `connection.database`: database = prefix + topic, or the prefix with `${topic}` replaced; characters other than letters, digits and `_` become `_`, and the name is lower-cased."),
    key(TdengineSink, "connection.attempts", "3", "Tries to reach taosAdapter when the connector starts."),
    key(TdengineSink, "connection.backoff.ms", "5000", "Pause between those tries."),
    key(TdengineSink, "batch.size", "3000", "Records per request at most (0 = no limit); requests are also capped by `tdengine.batch.max.bytes` and grouped per database."),
    key(TdengineSink, "max.retries", "3", "At most this many retries in one stretch of transient failures (503/502/timeouts/connection errors/unknown TDengine codes), as the Java connector; then the connector goes FAILED and nothing past the batch is committed. `errors.retry.timeout` applies too: the first limit reached ends the retries."),
    key(TdengineSink, "retry.backoff.ms", "3000", "First retry delay; doubles per retry up to `errors.retry.delay.max.ms`, with jitter. A `Retry-After` from the server replaces it."),
    key(TdengineSink, "db.schemaless", "(required)", "Format of the record values: `line` (InfluxDB line protocol), `telnet` (OpenTSDB telnet) or `json` (OpenTSDB JSON)."),
    key(TdengineSink, "data.precision", "ns", "`ms`, `us` or `ns`: precision of line-protocol timestamps and of the databases sluice creates (`us` is sent as `u`)."),
    key(TdengineSink, "connection.timezone, db.charset", "(none)", "Accepted for compatibility with the Java connector; not used (REST is UTF-8 and timestamps are epoch numbers)."),
    key(TdengineSink, "tdengine.batch.max.bytes", "4194304", "Uncompressed bytes per request at most."),
    key(TdengineSink, "tdengine.ttl", "(none)", "Child-table TTL in days, sent as the `ttl` request parameter (applies when a table is created)."),
    key(TdengineSink, "tdengine.table.name.key", "(none)", "Tag whose value names the child table, sent as `table_name_key`; a point's `table` is sent as this tag."),
    key(TdengineSink, "tdengine.request.timeout.ms", "30000", "Timeout of one HTTP request (timeouts are retried)."),
    key(TdengineSink, "tdengine.gzip", "true", "Gzip request bodies of 1 KiB and more."),
    key(TdengineParser, "tdengine.mapping.measurement", "(none)", "Turns on the JSON-to-point mapping: the measurement (super table) of every record; `${topic}` is replaced by the topic."),
    key(TdengineParser, "tdengine.mapping.measurement.field", "(none)", "Instead of a fixed measurement: the JSON field holding it."),
    key(TdengineParser, "tdengine.mapping.tags", "(none)", "Comma-separated JSON fields (or dotted paths) that become tags."),
    key(TdengineParser, "tdengine.mapping.fields", "(every other top-level field)", "Comma-separated `field:type` with type `i8`…`i64`, `u8`…`u64`, `f32`, `f64`, `bool`, `binary`, `nchar`; without a type numbers are `f64`, booleans `bool`, strings `binary`."),
    key(TdengineParser, "tdengine.mapping.timestamp.field", "(the record timestamp)", "JSON field holding the point's time."),
    key(TdengineParser, "tdengine.mapping.timestamp.unit", "ms", "Unit of that field: `s`, `ms`, `us` or `ns`."),
    key(TdengineParser, "tdengine.mapping.table.field", "(none)", "JSON field naming the child table (written through `tdengine.table.name.key`)."),
    key(MaxComputeSink, "endpoint", "(required)", "Service endpoint, e.g. `http://service.cn-hangzhou.maxcompute.aliyun.com/api`; requests are signed relative to it."),
    key(MaxComputeSink, "tunnel_endpoint", "(discovered)", "Tunnel endpoint; when unset it is discovered with `GET /projects/<project>/tunnel?service` and the endpoint's scheme."),
    key(MaxComputeSink, "project, table", "(required)", "Destination project and table; the table has one STRING partition key (`pt`) or none."),
    key(MaxComputeSink, "access_id, access_key", "(required)", "AccessKey pair (for STS: the temporary pair); requests carry `Authorization: ODPS <id>:<signature>`."),
    key(MaxComputeSink, "account_type", "ALIYUN", "`ALIYUN` (AccessKey) or `STS` (temporary credentials plus `sts_token`)."),
    key(MaxComputeSink, "sts_token", "(none)", "Security token of STS credentials, sent as `authorization-sts-token`; required with `account_type=STS` (sluice does not call AssumeRole)."),
    key(MaxComputeSink, "account_id, region_id, role_name, sts.endpoint, client_timeout_ms, sink_pool_size", "(none)", "The Java connector's AssumeRole and thread-pool keys; accepted and not used."),
    key(MaxComputeSink, "mode", "DEFAULT", "`DEFAULT` (key and value), `KEY` or `VALUE`: which of the record's key and value are written (read by the `maxcompute` parser)."),
    key(MaxComputeSink, "format", "TEXT", "`TEXT` (UTF-8 text), `BINARY` (raw bytes) or `CSV` (KEY or VALUE mode only; DEFAULT+CSV is a configuration error)."),
    key(MaxComputeSink, "partition_window_type", "HOUR", "`DAY`, `HOUR` or `MINUTE`: the partition value is the time cut to this window (`MM-dd-yyyy`, `MM-dd-yyyy HH`, `MM-dd-yyyy HH:mm`)."),
    key(MaxComputeSink, "time_zone", "GMT+08:00", "Zone of the partition time: an offset (`GMT+08:00`, `UTC-3`) or an IANA name (`Asia/Shanghai`); an unknown id is a configuration error. Also the zone of CSV DATETIME fields."),
    key(MaxComputeSink, "use_new_partition_format", "false", "`true`: partition values as `yyyy-MM-dd[ HH[:mm]]`."),
    key(MaxComputeSink, "sluice.maxcompute.partition.time", "sink", "`sink`: the sink's clock when the batch is written (the connector's behaviour); `record`: the Kafka record timestamp."),
    key(MaxComputeSink, "record_batch_size", "8000", "Records per write, i.e. per upload session and commit (replaces `max.poll.records` for this sink)."),
    key(MaxComputeSink, "buffer_size_kb", "65536", "Uncompressed bytes per uploaded block; a write with more data uploads several blocks of one session."),
    key(MaxComputeSink, "retry_times", "3", "Tries of one upload session (a retry re-sends only the blocks not yet uploaded, under the same ids, and commits) before a new session is opened. All retries together are bounded by `errors.retry.timeout`."),
    key(MaxComputeSink, "sluice.maxcompute.request.timeout.ms", "60000", "Timeout of one request to the service or tunnel."),
    key(MaxComputeSink, "runtime.error.topic.bootstrap.servers", "(worker's bootstrap.servers)", "Brokers of `runtime.error.topic.name`."),
    key(MaxComputeSink, "skip_error", "false", "Without an error topic: `true` drops records that cannot be written (logged and counted); `false` fails the connector."),
    key(MaxComputeSink, "use_streaming", "false", "Only `false` is accepted: sluice writes through the batch tunnel."),
    key(MaxComputeParser, "csv_delimiter", ",", "Field delimiter of `format=CSV` (one character; `\"` quotes fields)."),
    key(TablestoreSink, "tablestore.endpoint", "(required)", "Instance endpoint, `https://<instance>.<region>.ots.aliyuncs.com` (`http://` works too)."),
    key(TablestoreSink, "tablestore.instance.name", "(required)", "Instance name."),
    key(TablestoreSink, "tablestore.mode", "normal", "`normal` (data tables) or `timeseries` (time-series tables, `PutTimeseriesData`; see the time-series section of docs/sinks/tablestore.md)."),
    key(TablestoreSink, "tablestore.auth.mode", "sts", "`aksk` (AccessKey) or `sts` (AccessKey plus `tablestore.security.token`). When unset and no token is configured, the AccessKey is used as with `aksk`. The managed-service STS role flow (`account.id`, `role.name`, `sts.endpoint`) is not supported."),
    key(TablestoreSink, "tablestore.access.key.id, tablestore.access.key.secret", "(required)", "The AccessKey (never passed to parsers)."),
    key(TablestoreSink, "tablestore.security.token", "(none)", "sluice: the STS security token for `tablestore.auth.mode=sts`, sent as `x-ots-ststoken`."),
    key(TablestoreSink, "tablestore.region", "(none)", "sluice: the instance's region (`cn-hangzhou`); when set, requests use the v4 (HMAC-SHA256) signature instead of v2."),
    key(TablestoreSink, "tablestore.write.api", "batchwriterow", "sluice: `batchwriterow` (several tables per request) or `bulkimport` (the Java connector's API, one table per request)."),
    key(TablestoreSink, "tablestore.request.timeout.ms", "30000", "sluice: timeout of one HTTP request."),
    key(TablestoreSink, "tablestore.retry.timeout.ms", "60000", "sluice: retry budget of table checks and error-table writes; when set, it also replaces `errors.retry.timeout` for data writes (the Java connector's 60 s)."),
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
    key(TablestoreSink, "auto.create", "false", "Create missing tables (TTL -1, one version, no reserved throughput) with the configured primary key; in `timeseries` mode, missing time-series tables (TTL -1)."),
    key(TablestoreSink, "tablestore.timeseries.*.measurement", "(required per table)", "`timeseries` mode, per table (`tablestore.timeseries.<table>.measurement`): the field holding the measurement, or `<topic>` for the topic name. At most 128 bytes, no `#`."),
    key(TablestoreSink, "tablestore.timeseries.*.dataSource", "(none)", "Per table: the field holding the data source (must be present when set; null means none)."),
    key(TablestoreSink, "tablestore.timeseries.*.tags", "(none)", "Per table: comma list of fields that become tags (absent or null ones are skipped; values without `\"` or `=`)."),
    key(TablestoreSink, "tablestore.timeseries.*.time", "(Kafka timestamp)", "Per table: the field holding the time (an integer of any width or a numeric string). sluice: when unset, the record's Kafka timestamp."),
    key(TablestoreSink, "tablestore.timeseries.*.time.unit", "MILLISECONDS", "Per table: unit of the time field, `SECONDS`, `MILLISECONDS`, `MICROSECONDS` or `NANOSECONDS` (also `MINUTES`, `HOURS`, `DAYS`); stored in microseconds."),
    key(TablestoreSink, "tablestore.timeseries.*.field.name, tablestore.timeseries.*.field.type", "(none)", "Per table: fields converted to a type (`double`, `integer`, `string`, `binary`, `boolean`), matched by lower-cased name."),
    key(TablestoreSink, "tablestore.timeseries.mapAll", "true", "Also write fields without a configured type, typed by their JSON type (works without any `field.name`, unlike the Java connector). With `false`, `field.name`/`field.type` are required."),
    key(TablestoreSink, "tablestore.timeseries.toLowerCase", "true", "Lower-case field names (time-series field names may not contain upper case)."),
    key(TablestoreSink, "tablestore.timeseries.integers", "double", "sluice: type of integer fields written by `mapAll`: `double` (the Java connector) or `integer` (kept exact)."),
    key(TablestoreSink, "tablestore.timeseries.rowsPerBatch", "200", "Rows per `PutTimeseriesData` (1 to 200, the service's limit); requests also stay under 4 MB."),
    key(TablestoreSink, "max.concurrency", "10", "Requests in flight per connector."),
    key(TablestoreSink, "buffer.size, max.thread.count, bucket.count, flush.Interval", "1024, cores + 1, 3, 10000", "Accepted and validated as in the Java connector (power of two; at least 1; `bucket.count` at most `max.concurrency`); sluice needs no ring buffers or callback threads and flushes every batch."),
    key(TablestoreSink, "event.parse.class", "(DefaultEventParser)", "`DefaultEventParser` is what the built-in `json` parser does; any other (custom Java) class is refused at load: port it to a parser plugin (`parser.plugin`)."),
    key(TablestoreSink, "region, account.id, role.name, sts.endpoint, client.time.out.ms", "(none)", "The managed-service STS role flow's keys: accepted, not used."),
    key(NotApplied, "plugin.path, plugin.discovery", "(none)", "Not needed: the connectors are built in, and parsers are WebAssembly components named by `parser.plugin`."),
    key(NotApplied, "offset.storage.file.filename", "(none)", "Not needed for offsets: a sink connector's offsets are its consumer group's committed offsets, in Kafka Connect as here. Its folder holds `sluice-connectors.json` unless `sluice.state.dir` is set."),
    key(NotApplied, "rebalance.timeout.ms, scheduled.rebalance.max.delay.ms, connect.protocol, worker.unsync.backoff.ms, config.storage.partitions", "(none)", "Kafka Connect's worker-group settings: sluice's distributed workers have no worker group and no leader (each connector's consumer group spreads its partitions), and the config topic always has one partition."),
    key(NotApplied, "connector.client.config.override.policy", "All", "Not needed: `consumer.override.*`, `producer.override.*` and `admin.override.*` are always applied (Kafka Connect's default policy `All`)."),
    key(NotApplied, "metric.reporters, metrics.recording.level, metrics.*", "(none)", "Not needed: metrics are served in Prometheus format at `/metrics` (see docs/operations.md)."),
    key(NotApplied, "rest.extension.classes", "(none)", "Refused when set: Java REST extensions (often authentication) cannot run, and serving the API without them would open it; put an authenticating proxy in front."),
    key(NotApplied, "key.deserializer, value.deserializer, interceptor.classes", "(none)", "Deserializers are not needed (records are read as bytes and converted by the connector's converters); `interceptor.classes` is refused, as a Java consumer interceptor could change records."),

];

/// Renders the reference as Markdown tables, one per scope.
pub fn markdown() -> String {
    let mut out = String::new();
    for scope in [
        Worker,
        Distributed,
        Connector,
        FileSink,
        JsonParser,
        TablestoreSink,
        TdengineSink,
        TdengineParser,
        MaxComputeSink,
        MaxComputeParser,
        NotApplied,
    ] {
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
