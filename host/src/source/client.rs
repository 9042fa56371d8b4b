//! Building librdkafka clients from Kafka Connect (Java client) settings. Most Java client
//! keys mean the same in librdkafka; the few that are Java-only are translated or dropped
//! with a logged note, so existing worker files keep working.

use rdkafka::config::{ClientConfig, FromClientConfig, FromClientConfigAndContext};
use rdkafka::error::KafkaError;
use rdkafka::ClientContext;

/// Java client keys that librdkafka does not have and that sluice handles itself or that
/// have no meaning here.
const JAVA_ONLY_KEYS: &[&str] = &[
    "key.deserializer",
    "value.deserializer",
    "key.serializer",
    "value.serializer",
    "max.poll.records",
    "interceptor.classes",
    "default.api.timeout.ms",
    "sasl.jaas.config",
    "sasl.login.callback.handler.class",
    "sasl.client.callback.handler.class",
    "ssl.truststore.type",
    "ssl.keystore.type",
    "ssl.truststore.password",
    "ssl.truststore.location",
    "exclude.internal.topics",
];

/// Translates Java client settings into a librdkafka configuration.
pub fn client_config(bootstrap_servers: &str, settings: &[(String, String)]) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", bootstrap_servers);
    for (key, value) in settings {
        if let Some((name, translated)) = translate_size_key(key, value) {
            config.set(name, translated);
            continue;
        }
        match key.as_str() {
            "bootstrap.servers" => {
                config.set(key, value);
            }
            "partition.assignment.strategy" => {
                config.set(key, assignment_strategy(value));
            }
            "sasl.jaas.config" => {
                if let Some((user, password)) = jaas_credentials(value) {
                    config.set("sasl.username", user);
                    config.set("sasl.password", password);
                }
            }
            k if JAVA_ONLY_KEYS.contains(&k) => {
                tracing::debug!(key = k, "Java client setting has no librdkafka equivalent; ignored.");
            }
            _ => {
                config.set(key, value);
            }
        }
    }
    config
}

/// A Java client size key that librdkafka spells differently, as a translation of its value
/// into librdkafka's key and value: `max.request.size` → `message.max.bytes`,
/// `buffer.memory` → `queue.buffering.max.kbytes`, `send.buffer.bytes` /
/// `receive.buffer.bytes` → `socket.*.buffer.bytes` (Java's `-1`, the OS default, is
/// librdkafka's `0`). Keys spelled alike (`fetch.max.bytes`, `max.partition.fetch.bytes`,
/// `batch.size`, `message.max.bytes`) pass through unchanged.
fn translate_size_key(key: &str, value: &str) -> Option<(&'static str, String)> {
    let value = value.trim();
    let os_default = || if value == "-1" { "0".to_string() } else { value.to_string() };
    Some(match key {
        "max.request.size" => ("message.max.bytes", value.to_string()),
        "buffer.memory" => {
            let kbytes = value.parse::<u64>().map(|b| b.div_ceil(1024).to_string()).unwrap_or_else(|_| value.into());
            ("queue.buffering.max.kbytes", kbytes)
        }
        "send.buffer.bytes" => ("socket.send.buffer.bytes", os_default()),
        "receive.buffer.bytes" => ("socket.receive.buffer.bytes", os_default()),
        _ => return None,
    })
}

/// Creates a client; a property librdkafka does not know is dropped with a note and the
/// creation retried, so unfamiliar Java client keys never stop a connector.
pub fn create<C: FromClientConfig>(config: ClientConfig) -> Result<C, KafkaError> {
    create_dropping_unknown(config, |config| config.create::<C>())
}

/// Like [`create`] with a client context.
pub fn create_with_context<X: ClientContext + Clone, C: FromClientConfigAndContext<X>>(
    config: ClientConfig,
    context: X,
) -> Result<C, KafkaError> {
    create_dropping_unknown(config, |config| config.create_with_context::<X, C>(context.clone()))
}

fn create_dropping_unknown<C>(
    mut config: ClientConfig,
    create: impl Fn(&ClientConfig) -> Result<C, KafkaError>,
) -> Result<C, KafkaError> {
    loop {
        match create(&config) {
            Err(KafkaError::ClientConfig(_, ref description, ref key, _))
                if description.contains("No such configuration property") && config.get(key).is_some() =>
            {
                tracing::info!(key = %key, "Kafka client setting is unknown to librdkafka; ignored.");
                config.remove(key);
            }
            other => return other,
        }
    }
}

/// Java assignor class names → librdkafka strategy names.
fn assignment_strategy(value: &str) -> String {
    value
        .split(',')
        .map(str::trim)
        .filter_map(|class| {
            let short = class.rsplit('.').next().unwrap_or(class);
            match short {
                "RangeAssignor" | "range" => Some("range"),
                "RoundRobinAssignor" | "roundrobin" => Some("roundrobin"),
                "CooperativeStickyAssignor" | "cooperative-sticky" => Some("cooperative-sticky"),
                other => {
                    tracing::info!(assignor = other, "Partition assignor has no librdkafka equivalent; ignored.");
                    None
                }
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Extracts `username="..." password="..."` from a PLAIN or SCRAM JAAS line.
fn jaas_credentials(jaas: &str) -> Option<(String, String)> {
    let field = |name: &str| -> Option<String> {
        let start = jaas.find(&format!("{name}=\""))? + name.len() + 2;
        let end = jaas[start..].find('"')? + start;
        Some(jaas[start..end].to_string())
    };
    Some((field("username")?, field("password")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_keys_are_translated() {
        let settings = vec![
            ("max.poll.records".to_string(), "100".to_string()),
            (
                "partition.assignment.strategy".to_string(),
                "org.apache.kafka.clients.consumer.RoundRobinAssignor".to_string(),
            ),
            (
                "sasl.jaas.config".to_string(),
                "org.apache.kafka.common.security.plain.PlainLoginModule required username=\"u\" password=\"p\";"
                    .to_string(),
            ),
        ];
        let config = client_config("b:1", &settings);
        assert_eq!(config.get("max.poll.records"), None);
        assert_eq!(config.get("partition.assignment.strategy"), Some("roundrobin"));
        assert_eq!(config.get("sasl.username"), Some("u"));
        assert_eq!(config.get("sasl.password"), Some("p"));
    }

    #[test]
    fn java_size_keys_become_librdkafka_keys() {
        let settings: Vec<(String, String)> = [
            ("max.request.size", "5242880"),
            ("buffer.memory", "33554433"),
            ("send.buffer.bytes", "-1"),
            ("receive.buffer.bytes", "65536"),
            ("max.partition.fetch.bytes", "2097152"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let config = client_config("b:1", &settings);
        assert_eq!(config.get("message.max.bytes"), Some("5242880"));
        assert_eq!(config.get("max.request.size"), None);
        assert_eq!(config.get("queue.buffering.max.kbytes"), Some("32769"));
        assert_eq!(config.get("socket.send.buffer.bytes"), Some("0"));
        assert_eq!(config.get("socket.receive.buffer.bytes"), Some("65536"));
        assert_eq!(config.get("max.partition.fetch.bytes"), Some("2097152"));
        let producer: Result<rdkafka::producer::BaseProducer, _> = create(config);
        assert!(producer.is_ok(), "librdkafka accepts every translated key");
    }

    #[test]
    fn unknown_properties_are_dropped_on_create() {
        let mut config = client_config("127.0.0.1:1", &[("not.a.librdkafka.key".into(), "1".into())]);
        config.set("group.id", "g");
        let consumer: Result<rdkafka::consumer::BaseConsumer, _> = create(config);
        assert!(consumer.is_ok());
    }
}
