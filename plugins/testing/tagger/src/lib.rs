//! A test parser for swap tests: each record becomes one `raw` output `<tag>:<value>`, where
//! the tag is the setting `tagger.tag` (default `tagger`). Swapping the settings or swapping
//! this component for another one changes the tag, so tests can see which parser handled
//! which record.
#![warn(missing_docs)]

use sluice_plugin_sdk::{export_parser, raw, KafkaRecord, Output, Parser, PluginError, Settings};

/// The tagging parser.
pub struct Tagger {
    tag: String,
}

impl Parser for Tagger {
    fn configure(settings: Settings) -> Result<Self, PluginError> {
        Ok(Tagger { tag: settings.get_or("tagger.tag", "tagger").to_string() })
    }

    fn parse_one(&mut self, record: &KafkaRecord) -> Result<Vec<Output>, PluginError> {
        let mut data = format!("{}:", self.tag).into_bytes();
        data.extend_from_slice(record.value.as_deref().unwrap_or_default());
        Ok(vec![raw("text", data).into()])
    }
}

export_parser!(Tagger);
