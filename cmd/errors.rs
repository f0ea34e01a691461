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
            let line = if line.is_empty() { format!("{:?}", s.code()) } else { line };
            format!("{line}{}", auth_hint(&line))
        }
        etcd_client::Error::TransportError(t) => error_line(t),
        other => other.to_string(),
    }
}

/// What to pass next when etcd refused for want of a user: empty when the line is not about
/// auth. etcd names the user from the client certificate's CN when no token is sent, so an
/// auth-enabled cluster says "user name not found" (or "is empty") to a client without --user.
pub fn auth_hint(line: &str) -> &'static str {
    let l = line.to_ascii_lowercase();
    if l.contains("invalid user id or password") || l.contains("authentication failed") {
        " (etcd has authentication enabled and refused this user: check --user and --password, or ETCDCTL_USER and ETCDCTL_PASSWORD)"
    } else if ["user name not found", "user name is empty", "authentication is required", "invalid auth token"]
        .iter()
        .any(|k| l.contains(k))
    {
        " (etcd has authentication enabled: pass --user NAME:PASSWORD, or --user NAME --password PASSWORD, or set ETCDCTL_USER and ETCDCTL_PASSWORD)"
    } else if l.contains("permission denied") {
        " (etcd has authentication enabled and this user lacks the permission: pass --user with a user that has the root role)"
    } else {
        ""
    }
}

/// The hint for an https endpoint that answered HTTP/2 in plaintext: proof, not a guess.
pub const PLAINTEXT_PORT: &str = " (the endpoint answered HTTP/2 without TLS: it does not speak TLS: use http://)";

/// Whether a connection error says the server hung up (closed, reset, or answered something
/// that is no TLS record), as a plaintext port does to a ClientHello.
pub fn hung_up(line: &str) -> bool {
    let l = line.to_ascii_lowercase();
    [
        "connection reset",
        "connection closed",
        "broken pipe",
        "eof",
        "invalidcontenttype",
        "corrupt message",
        "wrong version",
    ]
    .iter()
    .any(|k| l.contains(k))
}

/// What to do about a failed connection to `url`, from its error line: the wrong scheme for
/// the port, a client certificate the server wants, a learner that answers no member list.
/// Empty when nothing better than the line itself is known. `client_cert` says whether
/// --cert/--key were given.
pub fn connect_hint(url: &str, line: &str, client_cert: bool) -> &'static str {
    let l = line.to_ascii_lowercase();
    let https = url.to_ascii_lowercase().starts_with("https://");
    if l.contains("not supported for learner") {
        " (this endpoint is a learner, which answers no member list: pass a voter's endpoint, or several)"
    } else if https
        && (l.contains("invalidcontenttype") || l.contains("corrupt message") || l.contains("wrong version"))
    {
        " (the endpoint does not speak TLS: use http://)"
    } else if https && l.contains("handshake eof") {
        // etcd's plaintext listener hangs up on a ClientHello without a word.
        " (the endpoint hung up on the TLS handshake, as a plaintext port does: it most likely does not speak TLS: use http://)"
    } else if !https
        // A TLS listener hangs up on HTTP/2's preface: the write breaks or the read ends.
        && (l.contains("broken pipe")
            || l.contains("connection closed")
            || l.contains("connection reset")
            || l.contains("frame with invalid size")
            || l.contains("h2 protocol error")
            || l.contains("http2 error"))
    {
        " (the endpoint speaks TLS: use https://, with --cacert)"
    } else if https
        && !client_cert
        // TLS 1.3 finishes the client's side of the handshake before the server checks for a
        // certificate: the refusal arrives as a closed connection on the first request.
        && (l.contains("connection closed")
            || l.contains("broken pipe")
            || l.contains("stream closed")
            || l.contains("certificaterequired")
            || l.contains("certificate required")
            || l.contains("badcertificate"))
    {
        " (the server wants a client certificate: pass --cert and --key, or run with --local on an etcd node)"
    } else if https && !client_cert && l.contains("connection reset") {
        // The same refusal with our bytes still unread; a firewall or a crashing server
        // resets too, so it is named as the likely cause, not the cause. (The caller first
        // asks the port whether it is plaintext.)
        " (the connection was reset, as a server that wants a client certificate does: pass --cert and --key, or run with --local on an etcd node)"
    } else {
        ""
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_say_what_to_pass() {
        assert!(auth_hint("etcdserver: user name not found").contains("--user"));
        assert!(auth_hint("etcdserver: authentication failed, invalid user ID or password").contains("check --user"));
        assert_eq!(auth_hint("etcdserver: member not found"), "");
        assert!(connect_hint("http://a:2379", "error trying to connect: broken pipe", false).contains("https://"));
        assert!(
            connect_hint("https://a:2379", "received corrupt message of type InvalidContentType", true)
                .contains("use http://")
        );
        assert!(connect_hint("https://a:2379", "tls handshake eof", true).contains("use http://"));
        assert!(connect_hint("http://a:2379", "operation was canceled: connection closed", false).contains("https://"));
        assert!(connect_hint("https://a:2379", "operation was canceled: connection closed", false).contains("--cert"));
        assert_eq!(connect_hint("https://a:2379", "operation was canceled: connection closed", true), "");
        assert!(
            connect_hint("https://a:2379", "connection error: stream closed because of a broken pipe", false)
                .contains("client certificate")
        );
        assert!(connect_hint("http://a:2379", "etcdserver: rpc not supported for learner", true).contains("voter"));
        assert_eq!(connect_hint("http://a:2379", "connection refused", false), "");
        assert!(connect_hint("https://a:2379", "Connection reset by peer (os error 104)", false).contains("--cert"));
        assert_eq!(connect_hint("https://a:2379", "Connection reset by peer (os error 104)", true), "");
        assert!(hung_up("https://a:2379: Connection reset by peer (os error 104)"));
        assert!(hung_up("tls handshake eof"));
        assert!(!hung_up("connection refused"));
        assert!(!hung_up("invalid peer certificate: UnknownIssuer"));
    }
}
