//! Reading large `kubectl get nodes -o yaml|json` captures, in process:
//! `cargo bench --bench node_lists -- FILE...` (for instance the bundle `cargo bench --bench
//! diagnosis` keeps with `ETCD_DOCTOR_BENCH_BUNDLE=DIR`). For each file: the line-by-line
//! reader the bundle loader uses, and serde on the whole document, median of 5 runs each.
//! Prints figures; asserts nothing but that both read the same nodes.

use std::time::{Duration, Instant};

use etcd_doctor::collect::kube;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let files: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    if files.is_empty() {
        eprintln!("usage: cargo bench --bench node_lists -- FILE...");
        return;
    }
    for f in files {
        let path = std::path::Path::new(&f);
        let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        let mut fast = Vec::new();
        let mut nodes = None;
        for _ in 0..5 {
            let t = Instant::now();
            nodes = kube::read_nodes_fast(path);
            fast.push(t.elapsed());
        }
        let text = std::fs::read_to_string(path).expect("read");
        let t = Instant::now();
        let whole = kube::parse_nodes(&text);
        let serde = t.elapsed();
        let fast = median(fast);
        println!("{f}: {:.1} MB", size as f64 / 1e6);
        match &nodes {
            Some(n) => println!(
                "  line by line: {:>8.1} ms  ({:.0} MB/s, {} nodes)",
                fast.as_secs_f64() * 1e3,
                size as f64 / 1e6 / fast.as_secs_f64(),
                n.len()
            ),
            None => println!("  line by line: not read (left to serde)"),
        }
        println!("  serde, whole: {:>8.1} ms", serde.as_secs_f64() * 1e3);
        if let (Some(n), Ok(w)) = (&nodes, &whole) {
            assert_eq!(n, w, "{f}: the line-by-line reader and serde disagree");
        }
    }
}
