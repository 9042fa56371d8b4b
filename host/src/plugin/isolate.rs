//! Finding the records that break a plugin: when a batch traps, times out or runs out of
//! memory, the instance is dropped and the batch is bisected with fresh instances until
//! every guilty record is pinned down. Innocent records are parsed normally.

use std::ops::Range;

use super::instance::{InstanceError, PluginInstance, SandboxFailure};
use crate::model::{KafkaRecord, Output, PluginError};

/// Why one record produced no outputs.
#[derive(Debug, Clone)]
pub enum RecordFailure {
    /// The plugin rejected the record with a structured error.
    Plugin(PluginError),
    /// Parsing this record (alone) made the sandbox fail.
    Sandbox(SandboxFailure),
    /// Before parsing: a converter could not read it or a transform failed on it.
    Transform(crate::transforms::TransformFailure),
}

impl std::fmt::Display for RecordFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RecordFailure::Plugin(error) => {
                write!(f, "{}: {}", error.code, error.message)?;
                if let Some(field) = &error.field {
                    write!(f, " (field `{field}`)")?;
                }
                Ok(())
            }
            RecordFailure::Sandbox(failure) => write!(f, "{failure}"),
            RecordFailure::Transform(failure) => write!(f, "{}: {}", failure.component, failure.message),
        }
    }
}

/// Parses `batch` with the instance in `slot` (creating one with `make` when empty) and
/// returns one outcome per record, in order. Only a failure to create a fresh instance is
/// an error; everything a record does to the sandbox becomes that record's outcome.
pub fn parse_isolating(
    slot: &mut Option<PluginInstance>,
    make: &mut dyn FnMut() -> Result<PluginInstance, InstanceError>,
    batch: &[KafkaRecord],
) -> Result<Vec<Result<Vec<Output>, RecordFailure>>, InstanceError> {
    let mut outcomes = Vec::with_capacity(batch.len());
    if !batch.is_empty() {
        run(slot, make, batch, 0..batch.len(), &mut outcomes)?;
    }
    Ok(outcomes)
}

fn run(
    slot: &mut Option<PluginInstance>,
    make: &mut dyn FnMut() -> Result<PluginInstance, InstanceError>,
    batch: &[KafkaRecord],
    range: Range<usize>,
    outcomes: &mut Vec<Result<Vec<Output>, RecordFailure>>,
) -> Result<(), InstanceError> {
    let instance = match slot {
        Some(instance) => instance,
        None => slot.insert(make()?),
    };
    match instance.parse(&batch[range.clone()]) {
        Ok(results) => {
            outcomes.extend(results.into_iter().map(|r| r.map_err(RecordFailure::Plugin)));
        }
        Err(failure) => {
            *slot = None;
            if range.len() == 1 {
                let record = &batch[range.start];
                tracing::warn!(
                    topic = %record.topic, partition = record.partition, offset = record.offset,
                    reason = failure.kind.code(), "Record isolated: {}", failure.message
                );
                outcomes.push(Err(RecordFailure::Sandbox(failure)));
            } else {
                tracing::debug!(
                    records = range.len(),
                    reason = failure.kind.code(),
                    "Plugin failed on a batch; bisecting to find the record responsible."
                );
                let mid = range.start + range.len() / 2;
                run(slot, make, batch, range.start..mid, outcomes)?;
                run(slot, make, batch, mid..range.end, outcomes)?;
            }
        }
    }
    Ok(())
}
