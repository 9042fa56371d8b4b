//! TDengine `raw` payload normalisation: idempotent, no line ending in `\r`, no blank lines.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sluice::fuzzing::tdengine_raw(data));
