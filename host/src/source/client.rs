//! Building librdkafka clients from Kafka Connect (Java client) settings. Most Java client
//! keys mean the same in librdkafka; the few that are Java-only are translated or dropped
//! with a logged note, so existing worker files keep working.

use rdkafka::config::{ClientConfig, FromClientConfig, FromClientConfigAndContext};
use rdkafka::error::KafkaError;
use rdkafka::ClientContext;

/// Java client keys that librdkafka does not have and that change nothing here: sluice reads
/// and writes bytes itself (no deserializers), sets its own batch size, and handles the store
/// types and passwords with the store keys below.
const JAVA_ONLY_KEYS: &[&str] = &[
    "key.deserializer",
    "value.deserializer",
    "key.serializer",
    "value.serializer",
    "max.poll.records",
    "default.api.timeout.ms",
    "ssl.truststore.type",
    "ssl.keystore.type",
    "ssl.truststore.password",
    "exclude.internal.topics",
];

/// What one Java client setting becomes in librdkafka.
#[derive(Debug, PartialEq, Eq)]
enum Translation {
    /// These librdkafka settings.
    Set(Vec<(&'static str, String)>),
    /// Passed through under the same name.
    Same,
    /// Nothing: the key has no effect here.
    Drop,
}

/// Checks every Java client setting a connector's clients will be built from: a setting
/// librdkafka cannot honour and that would change what is read or how the connection is
/// secured (a JKS store, a Kerberos or OAuth login, a Java class) is an error naming the key
/// and the fix, never a silent fallback.
pub fn check_settings(settings: &[(String, String)], origin: &str) -> anyhow::Result<()> {
    for (key, value) in settings {
        translate(key, value, settings).map_err(|reason| anyhow::anyhow!("`{key}` in {origin}: {reason}"))?;
    }
    Ok(())
}

/// Translates Java client settings into a librdkafka configuration. Settings refused by
/// [`check_settings`] (which runs when the connector is loaded) are left out here.
pub fn client_config(bootstrap_servers: &str, settings: &[(String, String)]) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", bootstrap_servers);
    for (key, value) in settings {
        match translate(key, value, settings) {
            Ok(Translation::Same) => {
                config.set(key, value);
            }
            Ok(Translation::Set(pairs)) => {
                for (name, value) in pairs {
                    config.set(name, value);
                }
            }
            Ok(Translation::Drop) => {
                tracing::debug!(key = %key, "Java client setting has no effect in sluice; ignored.");
            }
            Err(reason) => tracing::error!(key = %key, "Kafka client setting left out: {reason}"),
        }
    }
    config
}

/// The librdkafka form of one Java client setting (`settings` for the keys it depends on),
/// or why it cannot be honoured.
fn translate(key: &str, value: &str, settings: &[(String, String)]) -> Result<Translation, String> {
    let other = |name: &str| settings.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.trim());
    if let Some((name, translated)) = translate_size_key(key, value) {
        return Ok(Translation::Set(vec![(name, translated)]));
    }
    let store_type = |name: &str| other(name).unwrap_or("JKS").to_ascii_uppercase();
    Ok(match key {
        "partition.assignment.strategy" => {
            Translation::Set(vec![("partition.assignment.strategy", assignment_strategy(value))])
        }
        "sasl.jaas.config" => Translation::Set(jaas(value)?),
        "sasl.login.callback.handler.class" | "sasl.client.callback.handler.class" | "interceptor.classes" => {
            return Err(format!(
                "`{value}` is a Java class, which cannot run in sluice; remove the setting (sluice's own \
                 metrics replace monitoring interceptors; for SASL use PLAIN or SCRAM credentials in \
                 `sasl.jaas.config`)"
            ))
        }
        "ssl.truststore.location" => match store_type("ssl.truststore.type").as_str() {
            "PEM" => Translation::Set(vec![("ssl.ca.location", value.to_string())]),
            kind => {
                return Err(format!(
                    "a {kind} trust store cannot be read by librdkafka, and falling back to the system CAs \
                     would change whom the connector trusts; export the CA certificates to PEM (`keytool \
                     -exportcert -rfc -keystore {value} -alias <ca> > ca.pem`, or `openssl pkcs12 -in {value} \
                     -nokeys -out ca.pem` for PKCS12) and set `ssl.truststore.type=PEM` with \
                     `ssl.truststore.location=ca.pem` (or librdkafka's `ssl.ca.location=ca.pem`)"
                ))
            }
        },
        "ssl.truststore.certificates" => Translation::Set(vec![("ssl.ca.pem", value.to_string())]),
        "ssl.keystore.location" => match store_type("ssl.keystore.type").as_str() {
            "PKCS12" => Translation::Same,
            "PEM" => Translation::Set(vec![
                ("ssl.certificate.location", value.to_string()),
                ("ssl.key.location", value.to_string()),
            ]),
            kind => {
                return Err(format!(
                    "a {kind} key store cannot be read by librdkafka; convert it to PKCS12 (`keytool \
                     -importkeystore -srckeystore {value} -destkeystore client.p12 -deststoretype PKCS12`) and \
                     set `ssl.keystore.type=PKCS12` with `ssl.keystore.location=client.p12`"
                ))
            }
        },
        "ssl.keystore.password" => match store_type("ssl.keystore.type").as_str() {
            "PKCS12" => Translation::Same,
            _ => Translation::Drop,
        },
        "ssl.keystore.key" => Translation::Set(vec![("ssl.key.pem", value.to_string())]),
        "ssl.keystore.certificate.chain" => Translation::Set(vec![("ssl.certificate.pem", value.to_string())]),
        "ssl.endpoint.identification.algorithm" => Translation::Set(vec![(
            "ssl.endpoint.identification.algorithm",
            if value.trim().is_empty() { "none".to_string() } else { value.trim().to_ascii_lowercase() },
        )]),
        k if JAVA_ONLY_KEYS.contains(&k) => Translation::Drop,
        _ => Translation::Same,
    })
}

/// `sasl.jaas.config` with PLAIN or SCRAM credentials → `sasl.username`/`sasl.password`.
/// Other login modules (Kerberos, OAuth bearer) would change how the connector logs in and
/// are refused with the librdkafka settings to use instead.
fn jaas(value: &str) -> Result<Vec<(&'static str, String)>, String> {
    let module = value.split_whitespace().next().unwrap_or("");
    let short = module.rsplit('.').next().unwrap_or(module);
    match short {
        "PlainLoginModule" | "ScramLoginModule" => match jaas_credentials(value) {
            Some((user, password)) => Ok(vec![("sasl.username", user), ("sasl.password", password)]),
            None => Err(format!("the {short} line has no `username=\"...\" password=\"...\"` pair")),
        },
        "Krb5LoginModule" => Err("Kerberos (GSSAPI) JAAS logins are not translated; set librdkafka's \
             `sasl.kerberos.keytab` and `sasl.kerberos.principal` (with `sasl.mechanism=GSSAPI`) instead"
            .to_string()),
        "OAuthBearerLoginModule" => Err("OAuth bearer JAAS logins are not translated; set librdkafka's \
             `sasl.oauthbearer.method=oidc` with `sasl.oauthbearer.client.id`, \
             `sasl.oauthbearer.client.secret` and `sasl.oauthbearer.token.endpoint.url` instead"
            .to_string()),
        other => Err(format!(
            "the login module `{other}` is not supported; use PLAIN or SCRAM credentials \
             (`...PlainLoginModule required username=\"u\" password=\"p\";`)"
        )),
    }
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

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn java_stores_in_pem_or_pkcs12_are_translated() {
        let settings = pairs(&[
            ("ssl.truststore.type", "PEM"),
            ("ssl.truststore.location", "/etc/ca.pem"),
            ("ssl.truststore.password", "x"),
            ("ssl.keystore.type", "PKCS12"),
            ("ssl.keystore.location", "/etc/client.p12"),
            ("ssl.keystore.password", "pw"),
            ("ssl.endpoint.identification.algorithm", ""),
        ]);
        check_settings(&settings, "w.properties").unwrap();
        let config = client_config("b:1", &settings);
        assert_eq!(config.get("ssl.ca.location"), Some("/etc/ca.pem"));
        assert_eq!(config.get("ssl.truststore.location"), None);
        assert_eq!(config.get("ssl.truststore.password"), None);
        assert_eq!(config.get("ssl.keystore.location"), Some("/etc/client.p12"));
        assert_eq!(config.get("ssl.keystore.password"), Some("pw"));
        assert_eq!(config.get("ssl.endpoint.identification.algorithm"), Some("none"));
    }

    #[test]
    fn settings_that_would_change_trust_or_login_are_refused_with_the_fix() {
        let cases = [
            (pairs(&[("ssl.truststore.location", "/etc/truststore.jks")]), "ssl.truststore.location", "PEM"),
            (
                pairs(&[("ssl.keystore.type", "JKS"), ("ssl.keystore.location", "/k.jks")]),
                "ssl.keystore.location",
                "PKCS12",
            ),
            (
                pairs(&[(
                    "sasl.jaas.config",
                    "com.sun.security.auth.module.Krb5LoginModule required useKeyTab=true keyTab=\"/k\";",
                )]),
                "sasl.jaas.config",
                "sasl.kerberos.keytab",
            ),
            (
                pairs(&[(
                    "sasl.jaas.config",
                    "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required;",
                )]),
                "sasl.jaas.config",
                "oidc",
            ),
            (pairs(&[("sasl.login.callback.handler.class", "com.x.Handler")]), "sasl.login.callback", "Java class"),
            (pairs(&[("interceptor.classes", "io.confluent.Monitoring")]), "interceptor.classes", "Java class"),
        ];
        for (settings, key, fix) in cases {
            let error = check_settings(&settings, "c.properties").unwrap_err().to_string();
            assert!(error.contains(key) && error.contains(fix) && error.contains("c.properties"), "{error}");
        }
    }

    #[test]
    fn unknown_properties_are_dropped_on_create() {
        let mut config = client_config("127.0.0.1:1", &[("not.a.librdkafka.key".into(), "1".into())]);
        config.set("group.id", "g");
        let consumer: Result<rdkafka::consumer::BaseConsumer, _> = create(config);
        assert!(consumer.is_ok());
    }
}
