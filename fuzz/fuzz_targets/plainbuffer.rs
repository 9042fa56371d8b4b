//! Tablestore PlainBuffer rows: what the encoder writes, an independent reader accepts and
//! reads back to the same cells.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sluice::fuzzing::plainbuffer(data));
