//! Config providers, as in Kafka Connect: the worker's `config.providers=env,file` (with
//! `config.providers.<name>.class`) lets connector configs hold placeholders such as
//! `${env:TS_SECRET}` or `${file:/etc/sluice/secrets.properties:ts.secret}` instead of
//! secrets. The placeholder is what is stored and what `GET …/config` returns; it is resolved
//! only when the connector's configuration is checked and started.

use std::collections::BTreeMap;

use anyhow::{bail, Context as _};

use super::ConfigMap;

/// One configured provider.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Provider {
    /// `EnvVarConfigProvider`: `${name:VARIABLE}`.
    Env,
    /// `FileConfigProvider`: `${name:/path/file.properties:key}`.
    File,
    /// `DirectoryConfigProvider`: `${name:/path/dir:file}` (the file's content).
    Directory,
}

/// The worker's config providers by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigProviders {
    providers: BTreeMap<String, Provider>,
}

impl ConfigProviders {
    /// Reads `config.providers` and `config.providers.<name>.class` from the worker file.
    pub fn from_map(map: &ConfigMap) -> anyhow::Result<Self> {
        let mut providers = BTreeMap::new();
        let Some(names) = map.get("config.providers") else { return Ok(Self::default()) };
        for name in names.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let key = format!("config.providers.{name}.class");
            let class = map.get(&key).with_context(|| {
                format!("`config.providers` in {} names `{name}` but `{key}` is not set", map.origin())
            })?;
            let provider = match class.rsplit('.').next().unwrap_or(class) {
                "EnvVarConfigProvider" => Provider::Env,
                "FileConfigProvider" => Provider::File,
                "DirectoryConfigProvider" => Provider::Directory,
                other => bail!(
                    "`{key}` in {} is `{other}`; sluice provides EnvVarConfigProvider, FileConfigProvider \
                     and DirectoryConfigProvider (org.apache.kafka.common.config.provider.*)",
                    map.origin()
                ),
            };
            providers.insert(name.to_string(), provider);
        }
        Ok(Self { providers })
    }

    /// `map` with every `${provider:[path:]key}` placeholder replaced by its value. A
    /// placeholder naming an unknown provider, or a value that cannot be found, is an error
    /// naming the connector key (never the value).
    pub fn resolve(&self, map: &ConfigMap) -> anyhow::Result<ConfigMap> {
        if !map.entries().values().any(|v| v.contains("${")) {
            return Ok(map.clone());
        }
        let mut resolved = map.clone();
        for (key, value) in map.entries() {
            if value.contains("${") {
                let new = self.resolve_value(value).with_context(|| format!("`{key}` in {}", map.origin()))?;
                resolved.set(key, new);
            }
        }
        Ok(resolved)
    }

    fn resolve_value(&self, value: &str) -> anyhow::Result<String> {
        let mut out = String::with_capacity(value.len());
        let mut rest = value;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else {
                out.push_str(&rest[start..]);
                return Ok(out);
            };
            let placeholder = &after[..end];
            let Some((name, reference)) = placeholder.split_once(':') else {
                // Not a provider reference (`${…}` without `:`): kept as written.
                out.push_str(&rest[start..start + 3 + end]);
                rest = &after[end + 1..];
                continue;
            };
            let provider = self.providers.get(name).with_context(|| {
                format!(
                    "refers to config provider `{name}`, which the worker does not define; add it to \
                     `config.providers` with `config.providers.{name}.class`"
                )
            })?;
            out.push_str(&lookup(provider, reference)?);
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

fn lookup(provider: &Provider, reference: &str) -> anyhow::Result<String> {
    match provider {
        Provider::Env => std::env::var(reference)
            .with_context(|| format!("environment variable `{reference}` is not set (from `${{env:{reference}}}`)")),
        Provider::File => {
            let (path, key) = reference
                .rsplit_once(':')
                .with_context(|| format!("a file placeholder is `${{file:<path>:<key>}}`, got `{reference}`"))?;
            let map = super::files::read_worker_file(std::path::Path::new(path))?;
            map.get(key).map(String::from).with_context(|| format!("`{path}` has no key `{key}`"))
        }
        Provider::Directory => {
            let (dir, file) = reference.rsplit_once(':').with_context(|| {
                format!("a directory placeholder is `${{directory:<dir>:<file>}}`, got `{reference}`")
            })?;
            let path = std::path::Path::new(dir).join(file);
            std::fs::read_to_string(&path).with_context(|| format!("reading `{}`", path.display()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_text;

    fn providers() -> ConfigProviders {
        let worker = "config.providers=env,file\n\
            config.providers.env.class=org.apache.kafka.common.config.provider.EnvVarConfigProvider\n\
            config.providers.file.class=org.apache.kafka.common.config.provider.FileConfigProvider\n";
        ConfigProviders::from_map(&parse_text("w", worker).unwrap()).unwrap()
    }

    #[test]
    fn env_and_file_placeholders_are_resolved() {
        let dir = tempfile::tempdir().unwrap();
        let secrets = dir.path().join("secrets.properties");
        std::fs::write(&secrets, "ts.secret=s3cr3t\n").unwrap();
        std::env::set_var("SLUICE_TEST_PROVIDER_ID", "AKID");
        let text = format!(
            "id=${{env:SLUICE_TEST_PROVIDER_ID}}\nsecret=${{file:{}:ts.secret}}\nplain=a-${{x}}\n",
            secrets.display()
        );
        let resolved = providers().resolve(&parse_text("c", &text).unwrap()).unwrap();
        assert_eq!(resolved.get("id"), Some("AKID"));
        assert_eq!(resolved.get("secret"), Some("s3cr3t"));
        assert_eq!(resolved.get("plain"), Some("a-${x}"));
    }

    #[test]
    fn unknown_providers_and_missing_values_name_the_key() {
        let error = providers().resolve(&parse_text("c", "k=${vault:a:b}\n").unwrap()).unwrap_err();
        assert!(format!("{error:#}").contains("`k`") && format!("{error:#}").contains("`vault`"), "{error:#}");
        let error = providers().resolve(&parse_text("c", "k=${env:SLUICE_SURELY_UNSET_VAR}\n").unwrap()).unwrap_err();
        assert!(format!("{error:#}").contains("SLUICE_SURELY_UNSET_VAR"), "{error:#}");
    }
}
