//! `sluice validate worker.properties connector.properties …`: every problem of every file
//! at once, each naming the key and how to fix it, with the checks the REST validate
//! endpoint uses. Exits non-zero when there is one.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::config::{
    key_problems, read_connector_file, read_worker_file, validate, ConfigMap, WorkerConfig, DISTRIBUTED_KEYS,
    WORKER_KEYS,
};

/// Validates the files and prints what is wrong with them.
pub fn run(worker: PathBuf, connectors: Vec<PathBuf>) -> anyhow::Result<ExitCode> {
    let mut problems: Vec<String> = Vec::new();
    let worker_config = match read_worker_file(&worker) {
        Err(error) => {
            problems.push(format!("{error:#}"));
            None
        }
        Ok(map) => {
            let (_, refused) = key_problems(&map, &[WORKER_KEYS, DISTRIBUTED_KEYS]);
            // The values of the other keys are still checked.
            let rest = map.entries().iter().filter(|(k, _)| !refused.iter().any(|p| &p.key == *k));
            let map = ConfigMap::new(map.origin(), rest.map(|(k, v)| (k.clone(), v.clone())).collect());
            problems.extend(refused.into_iter().map(|p| p.message));
            match WorkerConfig::from_map(&map) {
                Ok(config) => Some(config),
                Err(error) => {
                    problems.push(format!("{error:#}"));
                    None
                }
            }
        }
    };
    let empty_worker;
    let worker_config = match &worker_config {
        Some(config) => config,
        None => {
            // Connector files are still checked, against the worker defaults.
            empty_worker = WorkerConfig::from_map(&crate::config::parse_text("defaults", "")?)?;
            &empty_worker
        }
    };
    for path in &connectors {
        match read_connector_file(path) {
            Err(error) => problems.push(format!("{error:#}")),
            Ok(map) => {
                for (key, errors) in validate::problems(&map, worker_config) {
                    for error in errors {
                        if error.contains(map.origin()) {
                            problems.push(error);
                        } else {
                            problems.push(format!("{}: `{key}`: {error}", map.origin()));
                        }
                    }
                }
            }
        }
    }
    if problems.is_empty() {
        println!("{} and {} connector file(s) are valid", worker.display(), connectors.len());
        return Ok(ExitCode::SUCCESS);
    }
    for problem in &problems {
        eprintln!("error: {problem}");
    }
    eprintln!("{} problem(s) found", problems.len());
    Ok(ExitCode::FAILURE)
}
