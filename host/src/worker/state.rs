//! Connectors created through the REST API survive a restart: their configuration (as given,
//! placeholders unresolved) and target state are kept in `sluice-connectors.json` in the
//! worker's state folder ([`WorkerConfig::state_dir`](crate::config::WorkerConfig)).
//! Connectors from files on the command line are not kept here: their file is their record.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

use super::TargetState;

/// The state file's name inside the state folder.
pub const FILE_NAME: &str = "sluice-connectors.json";

/// One kept connector.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeptConnector {
    /// Its configuration as given through the API.
    pub config: BTreeMap<String, String>,
    /// `RUNNING`, `PAUSED` or `STOPPED`.
    pub state: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Contents {
    connectors: BTreeMap<String, KeptConnector>,
}

/// The state file of one worker.
#[derive(Debug, Clone)]
pub struct StateFile {
    path: PathBuf,
}

impl StateFile {
    /// The state file in `dir`.
    pub fn in_dir(dir: &Path) -> Self {
        Self { path: dir.join(FILE_NAME) }
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The kept connectors; none when the file does not exist yet.
    pub fn read(&self) -> anyhow::Result<BTreeMap<String, KeptConnector>> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
            Err(error) => return Err(error).with_context(|| format!("reading {}", self.path.display())),
        };
        let contents: Contents = serde_json::from_str(&text).with_context(|| {
            format!("{} is not a sluice state file; move it away to start without it", self.path.display())
        })?;
        Ok(contents.connectors)
    }

    /// Replaces the kept connectors, atomically (a crash leaves the old or the new file).
    /// Readable by the owner only: configurations may hold credentials, as Kafka Connect's
    /// config topic does.
    pub fn write(&self, connectors: BTreeMap<String, KeptConnector>) -> anyhow::Result<()> {
        let text = serde_json::to_string_pretty(&Contents { connectors })?;
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let temporary = self.path.with_extension("json.tmp");
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&temporary).with_context(|| format!("writing {}", temporary.display()))?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&temporary, &self.path).with_context(|| format!("replacing {}", self.path.display()))?;
        Ok(())
    }
}

/// The name kept for a target state.
pub fn state_name(target: TargetState) -> &'static str {
    match target {
        TargetState::Running => "RUNNING",
        TargetState::Paused => "PAUSED",
        TargetState::Stopped => "STOPPED",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_connectors_read_back_and_a_missing_file_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        let file = StateFile::in_dir(&dir.path().join("nested"));
        assert!(file.read().unwrap().is_empty());
        let kept = BTreeMap::from([(
            "c1".to_string(),
            KeptConnector {
                config: BTreeMap::from([("topics".to_string(), "t".to_string())]),
                state: state_name(TargetState::Paused).to_string(),
            },
        )]);
        file.write(kept.clone()).unwrap();
        assert_eq!(file.read().unwrap(), kept);
        std::fs::write(file.path(), "not json").unwrap();
        let error = format!("{:#}", file.read().unwrap_err());
        assert!(error.contains("not a sluice state file"), "{error}");
    }
}
