//! The properties reader: parses or names a line; what parses reads back after escaping.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sluice::fuzzing::properties(data));
