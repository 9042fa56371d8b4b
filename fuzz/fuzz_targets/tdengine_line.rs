//! TDengine line protocol: any point either is refused with a reason or encodes to a line an
//! independent reader reads back to the same measurement, tags, fields and time.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sluice::fuzzing::tdengine_line(data));
