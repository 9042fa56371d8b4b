//! Reading worker and connector files: Java properties, a flat JSON map, or the JSON body of
//! Kafka Connect's `POST /connectors` (`{"name", "config", "initial_state"}`).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context as _};
use serde_json::Value as Json;

use super::properties;
use super::ConfigMap;

/// Reads a worker file (properties; JSON is accepted too).
pub fn read_worker_file(path: &Path) -> anyhow::Result<ConfigMap> {
    read_file(path)
}

/// Reads a connector file in any of the accepted formats.
pub fn read_connector_file(path: &Path) -> anyhow::Result<ConfigMap> {
    read_file(path)
}

fn read_file(path: &Path) -> anyhow::Result<ConfigMap> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading config file {}", path.display()))?;
    let origin = path.display().to_string();
    parse_text(&origin, &text)
}

/// Parses config text; JSON when it starts with `{`, properties otherwise.
pub fn parse_text(origin: &str, text: &str) -> anyhow::Result<ConfigMap> {
    let entries = if text.trim_start().starts_with('{') {
        parse_json(text).with_context(|| format!("{origin} is not a valid JSON connector config"))?
    } else {
        properties::parse(text)
            .with_context(|| format!("{origin} is not a valid properties file"))?
            .into_iter()
            .collect()
    };
    Ok(ConfigMap::new(origin, entries))
}

fn parse_json(text: &str) -> anyhow::Result<BTreeMap<String, String>> {
    let json: Json = serde_json::from_str(text)?;
    let Json::Object(object) = json else { bail!("expected a JSON object") };
    // `{"name": "...", "config": {...}}` (Kafka Connect REST body) or a flat map.
    if let Some(Json::Object(config)) = object.get("config") {
        let mut map = flatten(config)?;
        if let Some(name) = object.get("name") {
            let name = scalar("name", name)?;
            if let Some(inner) = map.get("name") {
                if *inner != name {
                    bail!("`name` is `{name}` but `config.name` is `{inner}`; they must match");
                }
            }
            map.insert("name".into(), name);
        }
        for key in object.keys() {
            if !matches!(key.as_str(), "name" | "config" | "initial_state") {
                bail!("unexpected top-level key `{key}` (expected `name`, `config`, `initial_state`)");
            }
        }
        // The body's `initial_state` travels with the configuration (read when it starts).
        if let Some(state) = object.get("initial_state").filter(|s| !s.is_null()) {
            map.insert("initial_state".into(), scalar("initial_state", state)?);
        }
        return Ok(map);
    }
    flatten(&object)
}

fn flatten(object: &serde_json::Map<String, Json>) -> anyhow::Result<BTreeMap<String, String>> {
    object.iter().map(|(k, v)| Ok((k.clone(), scalar(k, v)?))).collect()
}

fn scalar(key: &str, value: &Json) -> anyhow::Result<String> {
    Ok(match value {
        Json::String(s) => s.clone(),
        Json::Number(n) => n.to_string(),
        Json::Bool(b) => b.to_string(),
        Json::Null => String::new(),
        Json::Array(_) | Json::Object(_) => {
            bail!("`{key}` must be a string, number or boolean, not {value}")
        }
    })
}

#[cfg(test)]
mod tests {
    use super::parse_text;

    #[test]
    fn rest_body_flat_json_and_properties_agree() {
        let rest = r#"{"name":"c1","config":{"connector.class":"FileStreamSink","tasks.max":2,"topics":"t"}}"#;
        let flat = r#"{"name":"c1","connector.class":"FileStreamSink","tasks.max":"2","topics":"t"}"#;
        let props = "name=c1\nconnector.class=FileStreamSink\ntasks.max=2\ntopics=t\n";
        let a = parse_text("a", rest).unwrap();
        let b = parse_text("b", flat).unwrap();
        let c = parse_text("c", props).unwrap();
        assert_eq!(a.entries(), b.entries());
        assert_eq!(b.entries(), c.entries());
    }

    #[test]
    fn the_top_level_initial_state_of_a_json_file_is_kept() {
        let rest =
            r#"{"name":"c1","config":{"connector.class":"FileStreamSink","topics":"t"},"initial_state":"STOPPED"}"#;
        assert_eq!(parse_text("a", rest).unwrap().get("initial_state"), Some("STOPPED"));
    }

    #[test]
    fn nested_values_are_rejected_with_the_key() {
        let error = parse_text("x", r#"{"topics":["a"]}"#).unwrap_err();
        assert!(format!("{error:#}").contains("`topics`"), "{error:#}");
    }
}
