//! A plugin for a future contract version (`sluice:plugin@1.0.0`). The host must refuse it
//! at load with a message naming both versions.
#![allow(missing_docs)]

wit_bindgen::generate!({ path: "wit", world: "parser" });

struct Future;

impl exports::sluice::plugin::parsing::Guest for Future {
    fn configure(_settings: Vec<(String, String)>) -> Result<(), String> {
        Ok(())
    }

    fn parse(batch: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
        batch
    }
}

export!(Future);
