//! Load-time checks of a component against the contract: it must export
//! `sluice:plugin/parsing` at a version this host supports, and import nothing beyond the
//! contract's `log` interface and the deny-all WASI 0.2 interfaces.

use wasmtime::component::Component;
use wasmtime::Engine;

use super::bindings::{compact_export, CONTRACT_PACKAGE, CONTRACT_VERSION, SUPPORTED_VERSIONS};

/// WASI interfaces the host links in deny-all form.
const ALLOWED_WASI_PACKAGES: &[&str] =
    &["wasi:cli/", "wasi:io/", "wasi:clocks/", "wasi:random/", "wasi:filesystem/", "wasi:sockets/"];

/// What a component imports and exports, as checked at load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContractReport {
    /// Names of the component's imports.
    pub imports: Vec<String>,
    /// Names of the component's exports.
    pub exports: Vec<String>,
    /// The contract version of the `parsing` export (one of [`SUPPORTED_VERSIONS`], as the
    /// plugin spells it).
    pub contract_version: String,
    /// Whether the plugin exports `compact-parsing` (0.2.0), which the host then calls.
    pub compact: bool,
}

/// The names a component imports and exports, without judging them.
pub fn describe(engine: &Engine, component: &Component) -> (Vec<String>, Vec<String>) {
    let ty = component.component_type();
    let imports = ty.imports(engine).map(|(name, _)| name.to_string()).collect();
    let exports = ty.exports(engine).map(|(name, _)| name.to_string()).collect();
    (imports, exports)
}

/// Checks `component` and describes it. The error says exactly what is wrong.
pub fn check(engine: &Engine, component: &Component) -> anyhow::Result<ContractReport> {
    let (imports, exports) = describe(engine, component);

    let parsing_prefix = format!("{CONTRACT_PACKAGE}/parsing@");
    let Some(export) = exports.iter().find(|e| e.starts_with(&parsing_prefix)) else {
        anyhow::bail!(
            "it does not export `{CONTRACT_PACKAGE}/parsing@{CONTRACT_VERSION}` (its exports: {}); \
             build it against the `parser` world in sluice's wit/ directory",
            list_or_none(&exports)
        );
    };
    let version = export[parsing_prefix.len()..].to_string();
    if !SUPPORTED_VERSIONS.iter().any(|supported| compatible(&version, supported)) {
        anyhow::bail!(
            "it implements {CONTRACT_PACKAGE}@{version}, but this sluice supports {CONTRACT_PACKAGE}@{}; \
             rebuild the plugin against the contract shipped with this sluice (wit/, \
             {CONTRACT_PACKAGE}@{CONTRACT_VERSION}) or use a sluice release that supports {version}",
            SUPPORTED_VERSIONS.join(" and @")
        );
    }
    let contract_imports = [format!("{CONTRACT_PACKAGE}/log@"), format!("{CONTRACT_PACKAGE}/types@")];
    for import in &imports {
        if let Some(log_version) = contract_imports.iter().find_map(|p| import.strip_prefix(p.as_str())) {
            if !compatible(log_version, &version) {
                anyhow::bail!(
                    "it imports `{import}`, but its parsing export is {CONTRACT_PACKAGE}@{version}; a plugin \
                     is built against one contract version"
                );
            }
            continue;
        }
        if !ALLOWED_WASI_PACKAGES.iter().any(|p| import.starts_with(p)) {
            anyhow::bail!(
                "it imports `{import}`, which sluice does not provide: parser plugins may import \
                 only `{CONTRACT_PACKAGE}/log` and WASI 0.2 (cli, io, clocks, random; files and \
                 network are linked but deny everything)"
            );
        }
    }
    let compact = exports.contains(&compact_export(&version));
    Ok(ContractReport { imports, exports, contract_version: version, compact })
}

/// Cargo's rule: the same major version, and for 0.x the same minor version.
fn compatible(plugin: &str, host: &str) -> bool {
    let parse = |v: &str| -> Option<(u64, u64)> {
        let mut parts = v.split(['.', '-', '+']);
        Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
    };
    match (parse(plugin), parse(host)) {
        (Some((0, pm)), Some((0, hm))) => pm == hm,
        (Some((pmaj, _)), Some((hmaj, _))) => pmaj == hmaj,
        _ => false,
    }
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_string()
    } else {
        items.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::compatible;

    #[test]
    fn versions_follow_cargo_rules() {
        assert!(compatible("0.1.0", "0.1.0"));
        assert!(compatible("0.1.3", "0.1.0"));
        assert!(!compatible("0.2.0", "0.1.0"));
        assert!(compatible("1.4.0", "1.0.0"));
        assert!(!compatible("2.0.0", "1.0.0"));
        assert!(!compatible("garbage", "0.1.0"));
    }
}
