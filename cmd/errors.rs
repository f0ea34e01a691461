//! Error lines as etcdctl prints them: one line per error chain, shared by every layer that
//! talks to etcd or the Kubernetes API.

/// One line from an error and its sources, without repeats or tonic's bare "transport error".
pub fn error_line(err: &(dyn std::error::Error + 'static)) -> String {
    join_parts(Vec::new(), Some(err))
}

fn join_parts(mut parts: Vec<String>, mut cur: Option<&(dyn std::error::Error + 'static)>) -> String {
    while let Some(e) = cur {
        parts.push(e.to_string());
        cur = e.source();
    }
    let mut out: Vec<String> = Vec::new();
    for p in parts {
        let p = p.trim().to_string();
        if p.is_empty() || p == "transport error" || out.iter().any(|o| o.contains(&p)) {
            continue;
        }
        out.push(p);
    }
    out.join(": ")
}

/// One line from an etcd-client error. Its `Error` has no `source()`, and tonic's `Status`
/// prints its source with `Debug`; walk the chain by hand so the line reads like etcdctl's.
pub fn etcd_error_line(err: &etcd_client::Error) -> String {
    match err {
        etcd_client::Error::GRpcStatus(s) => {
            let line = join_parts(vec![s.message().to_string()], std::error::Error::source(s));
            if line.is_empty() { format!("{:?}", s.code()) } else { line }
        }
        etcd_client::Error::TransportError(t) => error_line(t),
        other => other.to_string(),
    }
}
