//! Tablestore time-series rows: rows of every field type encode to a FlatBuffer that a reader
//! written from the schema accepts and reads back to the same rows.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sluice::fuzzing::timeseries_rows(data));
