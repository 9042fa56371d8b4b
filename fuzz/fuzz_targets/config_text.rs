//! Worker and connector files (JSON or properties): what reads, read back from properties.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sluice::fuzzing::config_text(data));
