//! `kubectl-etcd_doctor`: a thin entry point. The work lives in the library (`cmd/lib.rs`).

// See Cargo.toml: large captures are read on several threads.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    std::process::exit(etcd_doctor::main_exit_code());
}
