#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pg_gitops::fuzzing::quantity(data));
