#![no_main]
//! See etcd_doctor::fuzzing::pem.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    etcd_doctor::fuzzing::pem(data);
});
