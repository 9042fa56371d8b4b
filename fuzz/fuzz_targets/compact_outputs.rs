//! Plugin outputs in the compact encoding: any bytes are read or refused without a panic, and
//! results of every shape written from the specification read back to the same results.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sluice::fuzzing::compact_outputs(data));
