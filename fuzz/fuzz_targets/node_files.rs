#![no_main]
//! See etcd_doctor::fuzzing::node_files.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    etcd_doctor::fuzzing::node_files(data);
});
