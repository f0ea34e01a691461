#![no_main]
//! See etcd_doctor::fuzzing::kube_documents.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    etcd_doctor::fuzzing::kube_documents(data);
});
