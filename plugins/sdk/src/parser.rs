//! The [`Parser`] trait and the glue that exports it as the component's `parsing` interface.

use std::cell::RefCell;
use std::marker::PhantomData;

use crate::bindings::exports::sluice::plugin::compact_parsing::Guest as CompactGuest;
use crate::bindings::exports::sluice::plugin::parsing::Guest;
use crate::{KafkaRecord, Output, PluginError, RecordResult, Settings};

/// A record parser: turns Kafka records into outputs.
///
/// The host calls [`Parser::configure`] on every fresh instance and again when the
/// connector's settings change; the new parser replaces the previous one.
pub trait Parser: Sized + 'static {
    /// Build the parser from the connector settings (called on every fresh instance and on
    /// settings change). Return an error naming the offending setting to refuse them.
    fn configure(settings: Settings) -> Result<Self, PluginError>;

    /// Parse one record into zero or more outputs, or reject it.
    fn parse_one(&mut self, record: &KafkaRecord) -> Result<Vec<Output>, PluginError>;

    /// Parse a whole batch. Must return exactly one result per record, in order.
    ///
    /// The default calls [`Parser::parse_one`] for each record.
    fn parse_batch(&mut self, batch: &[KafkaRecord]) -> Vec<RecordResult> {
        batch.iter().map(|record| self.parse_one(record)).collect()
    }

    /// Parse a batch into the compact encoding (what the host calls). The default encodes
    /// [`Parser::parse_batch`]'s results; a parser whose records are independent can encode
    /// each record's result as soon as it is made (see [`crate::compact::write_result`]), so
    /// its outputs are freed while still in cache.
    fn parse_compact(&mut self, batch: &[KafkaRecord], out: &mut Vec<u8>) {
        for result in checked(batch, self.parse_batch(batch)) {
            crate::compact::write_result(out, &result);
        }
    }
}

/// Object-safe view of a configured [`Parser`], so one global slot can hold any of them.
trait AnyParser {
    fn parse_batch(&mut self, batch: &[KafkaRecord]) -> Vec<RecordResult>;
    fn parse_compact(&mut self, batch: &[KafkaRecord], out: &mut Vec<u8>);
}

impl<P: Parser> AnyParser for P {
    fn parse_batch(&mut self, batch: &[KafkaRecord]) -> Vec<RecordResult> {
        Parser::parse_batch(self, batch)
    }

    fn parse_compact(&mut self, batch: &[KafkaRecord], out: &mut Vec<u8>) {
        Parser::parse_compact(self, batch, out)
    }
}

thread_local! {
    // WebAssembly instances are single threaded: this is effectively a plain global.
    static INSTANCE: RefCell<Option<Box<dyn AnyParser>>> = const { RefCell::new(None) };
}

/// Build `P` from `settings` and make it the active parser. On failure no parser stays
/// active, so stale settings are never used.
pub(crate) fn configure<P: Parser>(settings: Vec<(String, String)>) -> Result<(), PluginError> {
    INSTANCE.with(|slot| {
        let mut slot = slot.borrow_mut();
        *slot = None;
        *slot = Some(Box::new(P::configure(Settings::from(settings))?));
        Ok(())
    })
}

/// Parse `batch` with the active parser; one result per record, in order.
pub(crate) fn parse(batch: &[KafkaRecord]) -> Vec<RecordResult> {
    INSTANCE.with(|slot| match slot.borrow_mut().as_mut() {
        None => batch
            .iter()
            .map(|_| Err(PluginError::new("not-configured", "parse was called before configure succeeded")))
            .collect(),
        Some(parser) => checked(batch, parser.parse_batch(batch)),
    })
}

/// `results` when there is one per record, else a `plugin-bug` error for every record.
fn checked(batch: &[KafkaRecord], results: Vec<RecordResult>) -> Vec<RecordResult> {
    if results.len() == batch.len() {
        return results;
    }
    let message = format!("the plugin returned {} results for a batch of {} records", results.len(), batch.len());
    batch.iter().map(|_| Err(PluginError::new("plugin-bug", message.clone()))).collect()
}

/// Parse `batch` with the active parser into the compact encoding.
pub(crate) fn parse_compact(batch: &[KafkaRecord]) -> Vec<u8> {
    INSTANCE.with(|slot| match slot.borrow_mut().as_mut() {
        None => crate::compact::encode(&parse(batch)),
        Some(parser) => {
            let mut out = Vec::with_capacity(batch.len() * 256);
            parser.parse_compact(batch, &mut out);
            out
        }
    })
}

/// Adapter implementing the generated `parsing` interface for a [`Parser`]; used by
/// [`crate::export_parser!`].
pub struct Export<P>(PhantomData<P>);

impl<P: Parser> Guest for Export<P> {
    fn configure(settings: Vec<(String, String)>) -> Result<(), PluginError> {
        configure::<P>(settings)
    }

    fn parse(batch: Vec<KafkaRecord>) -> Vec<RecordResult> {
        parse(&batch)
    }
}

impl<P: Parser> CompactGuest for Export<P> {
    fn parse_compact(batch: Vec<KafkaRecord>) -> Vec<u8> {
        parse_compact(&batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raw;

    /// Echoes the value as a raw output; refuses `fail=true`; `short` drops a result.
    struct Echo {
        short: bool,
    }

    impl Parser for Echo {
        fn configure(settings: Settings) -> Result<Self, PluginError> {
            if settings.get_bool("fail", false)? {
                return Err(PluginError::new("bad-setting", "asked to fail").with_field("fail"));
            }
            Ok(Echo { short: settings.get_bool("short", false)? })
        }

        fn parse_one(&mut self, record: &KafkaRecord) -> Result<Vec<Output>, PluginError> {
            let data = record.value.clone().unwrap_or_default();
            Ok(vec![raw("text", data).into()])
        }

        fn parse_batch(&mut self, batch: &[KafkaRecord]) -> Vec<RecordResult> {
            let mut all: Vec<_> = batch.iter().map(|r| self.parse_one(r)).collect();
            if self.short {
                all.pop();
            }
            all
        }
    }

    fn record(value: &str) -> KafkaRecord {
        KafkaRecord {
            topic: "t".into(),
            partition: 0,
            offset: 7,
            timestamp_ms: None,
            key: None,
            value: Some(value.as_bytes().to_vec()),
            headers: Vec::new(),
        }
    }

    fn settings(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    // One test so the thread-local slot is not shared with other tests' expectations.
    #[test]
    fn lifecycle() {
        let batch = [record("a"), record("b")];

        let results = parse(&batch);
        assert_eq!(results.len(), 2);
        assert!(results.iter().all(|r| r.as_ref().unwrap_err().code == "not-configured"));

        <Export<Echo> as Guest>::configure(settings(&[])).unwrap();
        let results = parse(&batch);
        assert_eq!(results[1], Ok(vec![raw("text", b"b".to_vec()).into()]));

        let err = <Export<Echo> as Guest>::configure(settings(&[("fail", "TRUE")])).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("fail"));
        assert_eq!(parse(&batch)[0].as_ref().unwrap_err().code, "not-configured");

        configure::<Echo>(settings(&[("short", "true")])).unwrap();
        let results = parse(&batch);
        assert_eq!(results.len(), 2);
        assert_eq!(results[0].as_ref().unwrap_err().code, "plugin-bug");
    }
}
