#![no_main]
//! See etcd_doctor::fuzzing::node_annotations.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    etcd_doctor::fuzzing::node_annotations(data);
});
