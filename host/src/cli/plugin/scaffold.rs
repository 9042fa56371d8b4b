//! `sluice plugin new`: a plugin project per language, complete with the contract, sample
//! records and expected results, so it builds and passes its own test right away.
//!
//! Every scaffold implements the same small parser (upper-case a text value into a row keyed
//! by the record's offset), so the three can be compared side by side.

use std::path::Path;

use anyhow::{bail, Context as _};

/// Languages `sluice plugin new` can scaffold.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Lang {
    /// Rust with the sluice SDK (cargo, wasm32-wasip2).
    Rust,
    /// Python with componentize-py.
    Python,
    /// JavaScript with componentize-js.
    Js,
}

const WIT: &str = include_str!("../../../../wit/types.wit");

const SDK: &[(&str, &str)] = &[
    ("src/lib.rs", include_str!("../../../../plugins/sdk/src/lib.rs")),
    ("src/bindings.rs", include_str!("../../../../plugins/sdk/src/bindings.rs")),
    ("src/parser.rs", include_str!("../../../../plugins/sdk/src/parser.rs")),
    ("src/settings.rs", include_str!("../../../../plugins/sdk/src/settings.rs")),
    ("src/error.rs", include_str!("../../../../plugins/sdk/src/error.rs")),
    ("src/value.rs", include_str!("../../../../plugins/sdk/src/value.rs")),
    ("src/builders.rs", include_str!("../../../../plugins/sdk/src/builders.rs")),
    ("src/log.rs", include_str!("../../../../plugins/sdk/src/log.rs")),
    ("src/alloc.rs", include_str!("../../../../plugins/sdk/src/alloc.rs")),
    ("src/compact.rs", include_str!("../../../../plugins/sdk/src/compact.rs")),
];

const SAMPLE_RECORDS: &str = r#"{"topic":"words","offset":0,"value":"hello"}
{"topic":"words","offset":1,"value":"sluice"}
{"topic":"words","offset":2,"value_base64":"/w=="}
{"topic":"words","offset":3,"value":null}
"#;

const SAMPLE_EXPECTED: &str = r#"{"offset":0,"outputs":[{"row":{"table":null,"kind":"put","primary_key":[{"name":"offset","int64":0}],"columns":[{"name":"text","text":"HELLO"}],"deleted_columns":[]}}]}
{"offset":1,"outputs":[{"row":{"table":null,"kind":"put","primary_key":[{"name":"offset","int64":1}],"columns":[{"name":"text","text":"SLUICE"}],"deleted_columns":[]}}]}
{"offset":2,"error":{"code":"invalid-utf8","field":"value"}}
{"offset":3,"outputs":[]}
"#;

const SAMPLE_SETTINGS: &str = "# Settings passed to configure(); a connector passes its whole configuration.\n";

/// Creates the project directory `name`.
pub fn create(lang: Lang, name: &str) -> anyhow::Result<()> {
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        bail!("plugin name `{name}` must use only letters, digits, `-` and `_`");
    }
    let root = Path::new(name);
    super::ensure_absent(root)?;
    let wasm = format!("{}.wasm", name.replace('-', "_"));
    let (build, files): (String, Vec<(String, String)>) = match lang {
        Lang::Rust => rust(name, &wasm),
        Lang::Python => python(&wasm),
        Lang::Js => js(name, &wasm),
    };
    let test = format!(
        "#!/usr/bin/env bash\n# Builds the plugin and checks it against the sample records.\nset -euo pipefail\ncd \"$(dirname \"$0\")\"\n{build}\n\"${{SLUICE:-sluice}}\" plugin test {wasm} --settings samples/settings.properties --input samples/records.jsonl --expect samples/expected.jsonl\n"
    );
    let readme = format!(
        "# {name}\n\nA sluice parser plugin. The contract is `wit/types.wit` (`sluice:plugin@0.2.0`, world `parser`; the Rust SDK builds `compact-parser`).\n\n\
         Build: `{build}`\n\nTest against the samples: `./test.sh` (set `SLUICE` to the sluice binary if it is not on your PATH).\n\n\
         Use it in a connector: `parser.plugin=/path/to/{wasm}`.\n"
    );
    let mut all = files;
    all.extend([
        ("wit/types.wit".to_string(), WIT.to_string()),
        ("samples/records.jsonl".to_string(), SAMPLE_RECORDS.to_string()),
        ("samples/expected.jsonl".to_string(), SAMPLE_EXPECTED.to_string()),
        ("samples/settings.properties".to_string(), SAMPLE_SETTINGS.to_string()),
        ("test.sh".to_string(), test),
        ("README.md".to_string(), readme),
    ]);
    for (path, contents) in all {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).with_context(|| format!("creating {}", path.display()))?;
        std::fs::write(&path, contents).with_context(|| format!("writing {}", path.display()))?;
    }
    make_executable(&root.join("test.sh"))?;
    println!("created {name}/ ({lang:?}); build and test it with: cd {name} && ./test.sh");
    Ok(())
}

#[cfg(unix)]
fn make_executable(path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .with_context(|| format!("chmod {}", path.display()))
}

#[cfg(not(unix))]
fn make_executable(_: &Path) -> anyhow::Result<()> {
    Ok(())
}

fn rust(name: &str, wasm: &str) -> (String, Vec<(String, String)>) {
    let crate_file = wasm.trim_end_matches(".wasm");
    let build = format!("cargo build --release --target wasm32-wasip2 --target-dir target && cp target/wasm32-wasip2/release/{crate_file}.wasm {wasm}");
    let cargo = format!(
        "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\npublish = false\n\n[lib]\ncrate-type = [\"cdylib\", \"rlib\"]\n\n\
         [dependencies]\nsluice-plugin-sdk = {{ path = \"vendor/sluice-plugin-sdk\" }}\n\n\
         [profile.release]\nopt-level = 3\nlto = true\ncodegen-units = 1\npanic = \"abort\"\nstrip = true\n\n[workspace]\n"
    );
    let lib = r#"//! A sluice parser: each record's text value, upper-cased, as a row keyed by its offset.

use sluice_plugin_sdk::{export_parser, row, KafkaRecord, Output, Parser, PluginError, Settings};

/// The parser. Keep configuration parsed in `configure` here.
pub struct Plugin;

impl Parser for Plugin {
    fn configure(_settings: Settings) -> Result<Self, PluginError> {
        Ok(Plugin)
    }

    fn parse_one(&mut self, record: &KafkaRecord) -> Result<Vec<Output>, PluginError> {
        let Some(value) = record.value.as_deref() else { return Ok(vec![]) };
        let text = std::str::from_utf8(value)
            .map_err(|_| PluginError::new("invalid-utf8", "the value is not UTF-8 text").with_field("value"))?;
        Ok(vec![row().key("offset", record.offset).column("text", text.to_uppercase()).build().into()])
    }
}

export_parser!(Plugin);
"#;
    let sdk_cargo = "[package]\nname = \"sluice-plugin-sdk\"\nversion = \"0.1.0\"\nedition = \"2021\"\npublish = false\n\
                     description = \"Guest SDK for sluice parser plugins (vendored by `sluice plugin new`)\"\n\n\
                     [dependencies]\nwit-bindgen = { version = \"0.61.1\", default-features = false, features = [\"macros\", \"realloc\"] }\n";
    let mut files = vec![
        ("Cargo.toml".to_string(), cargo),
        ("src/lib.rs".to_string(), lib.to_string()),
        (".gitignore".to_string(), "target/\n*.wasm\n".to_string()),
        ("vendor/sluice-plugin-sdk/Cargo.toml".to_string(), sdk_cargo.to_string()),
    ];
    files.extend(SDK.iter().map(|(path, text)| (format!("vendor/sluice-plugin-sdk/{path}"), text.to_string())));
    (build, files)
}

fn python(wasm: &str) -> (String, Vec<(String, String)>) {
    let build = format!("componentize-py -d wit -w parser componentize --stub-wasi app -o {wasm}");
    let app = r#""""A sluice parser: each record's text value, upper-cased, as a row keyed by its offset."""

from componentize_py_types import Err, Ok
from wit_world import exports
from wit_world.imports import types


class Parsing(exports.Parsing):
    def configure(self, settings):
        # Parse and check settings here; raise Err(types.PluginError(...)) to refuse them.
        pass

    def parse(self, batch):
        return [self.parse_one(record) for record in batch]

    def parse_one(self, record):
        if record.value is None:
            return Ok([])
        try:
            text = bytes(record.value).decode("utf-8")
        except UnicodeDecodeError:
            return Err(types.PluginError(code="invalid-utf8", message="the value is not UTF-8 text", field="value"))
        row = types.Row(
            table=None,
            kind=types.WriteKind.PUT,
            primary_key=[types.Column(name="offset", value=types.Value_Int64(record.offset))],
            columns=[types.Column(name="text", value=types.Value_Text(text.upper()))],
            deleted_columns=[],
        )
        return Ok([types.Output_Row(row)])
"#;
    (
        build,
        vec![("app.py".to_string(), app.to_string()), (".gitignore".to_string(), "*.wasm\n__pycache__/\n".to_string())],
    )
}

fn js(name: &str, wasm: &str) -> (String, Vec<(String, String)>) {
    let build = "npm install --no-audit --no-fund --loglevel=error && npm run --silent build".to_string();
    let package = format!(
        "{{\n  \"name\": \"{name}\",\n  \"private\": true,\n  \"type\": \"module\",\n  \"scripts\": {{ \"build\": \"node build.mjs\" }},\n  \
         \"devDependencies\": {{\n    \"@bytecodealliance/componentize-js\": \"0.23.0\",\n    \"@bytecodealliance/preview2-shim\": \"0.25.0\"\n  }}\n}}\n"
    );
    let build_script = format!(
        "// Builds {wasm} from parser.js against the contract in wit/.\nimport {{ componentize }} from '@bytecodealliance/componentize-js';\n\
         import {{ readFile, writeFile }} from 'node:fs/promises';\n\n\
         const {{ component }} = await componentize(await readFile('parser.js', 'utf8'), {{\n  witPath: 'wit',\n  worldName: 'parser',\n  \
         disableFeatures: ['random', 'stdio', 'clocks', 'http', 'fetch-event'],\n}});\nawait writeFile('{wasm}', component);\n"
    );
    let parser = r#"// A sluice parser: each record's text value, upper-cased, as a row keyed by its offset.
const decoder = new TextDecoder('utf-8', { fatal: true });

function parseOne(record) {
  if (record.value === undefined || record.value === null) return { tag: 'ok', val: [] };
  let text;
  try {
    text = decoder.decode(record.value);
  } catch {
    return { tag: 'err', val: { code: 'invalid-utf8', message: 'the value is not UTF-8 text', field: 'value' } };
  }
  const row = {
    table: undefined,
    kind: 'put',
    primaryKey: [{ name: 'offset', value: { tag: 'int64', val: record.offset } }],
    columns: [{ name: 'text', value: { tag: 'text', val: text.toUpperCase() } }],
    deletedColumns: [],
  };
  return { tag: 'ok', val: [{ tag: 'row', val: row }] };
}

export const parsing = {
  // Parse and check settings here; throw { payload: { code, message, field } } to refuse them.
  configure(settings) {},
  parse(batch) {
    return batch.map(parseOne);
  },
};
"#;
    (
        build,
        vec![
            ("package.json".to_string(), package),
            ("build.mjs".to_string(), build_script),
            ("parser.js".to_string(), parser.to_string()),
            (".gitignore".to_string(), "node_modules/\n*.wasm\n".to_string()),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::SDK;

    #[test]
    fn every_sdk_source_file_is_vendored_into_a_new_rust_plugin() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/sdk/src");
        let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| format!("src/{}", e.unwrap().file_name().to_string_lossy()))
            .filter(|name| name.ends_with(".rs"))
            .collect();
        on_disk.sort();
        let mut vendored: Vec<String> = SDK.iter().map(|(name, _)| name.to_string()).collect();
        vendored.sort();
        assert_eq!(vendored, on_disk, "add the missing files to SDK in host/src/cli/plugin/scaffold.rs");
    }
}
