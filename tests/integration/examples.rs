//! Every configuration under `examples/` must load, so examples cannot rot.

use std::path::{Path, PathBuf};

use sluice::config::{read_connector_file, read_worker_file, ConnectorConfig, WorkerConfig};

fn config_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            // Plugin sample settings are plugin input, not connector files.
            if !path.ends_with("target") && !path.ends_with("node_modules") && !path.ends_with("samples") {
                config_files(&path, found);
            }
        } else if matches!(path.extension().and_then(|e| e.to_str()), Some("properties" | "json"))
            && !path.file_name().unwrap().to_string_lossy().starts_with("package")
        {
            found.push(path);
        }
    }
}

#[test]
fn every_example_config_loads() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut files = Vec::new();
    config_files(&root, &mut files);
    assert!(!files.is_empty());
    let default_worker = WorkerConfig::from_map(&sluice::config::parse_text("default", "").unwrap()).unwrap();
    for file in files {
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        if name.contains("worker") || name.starts_with("connect-standalone") {
            WorkerConfig::from_map(&read_worker_file(&file).unwrap())
                .unwrap_or_else(|e| panic!("{}: {e:#}", file.display()));
        } else {
            let worker = file.with_file_name("worker.properties");
            let worker = if worker.exists() {
                WorkerConfig::from_map(&read_worker_file(&worker).unwrap()).unwrap()
            } else {
                default_worker.clone()
            };
            ConnectorConfig::from_map(&read_connector_file(&file).unwrap(), &worker)
                .unwrap_or_else(|e| panic!("{}: {e:#}", file.display()));
        }
    }
}
