//! MaxCompute Tunnel record stream: records of any schema encode to a stream an independent
//! reader accepts (every record CRC-32C and the footer) and reads back to the same cells.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sluice::fuzzing::tunnel_records(data));
