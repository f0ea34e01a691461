#![no_main]
//! See etcd_doctor::fuzzing::bundle_files.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    etcd_doctor::fuzzing::bundle_files(data);
});
