//! `kubectl-etcd_doctor`: a thin entry point. The work lives in the library (`cmd/lib.rs`).

fn main() {
    std::process::exit(etcd_doctor::main_exit_code());
}
