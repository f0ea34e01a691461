//! Whether an https endpoint that hung up is in fact a plaintext etcd port. How a plaintext
//! listener drops a ClientHello depends on timing (a clean close, or a reset when our bytes
//! are still unread), so the error alone cannot decide. This asks the port directly: etcd's
//! gRPC speaks HTTP/2, and a plaintext listener answers the HTTP/2 preface with a SETTINGS
//! frame, which no TLS listener does.

use std::time::Duration;

use etcd_doctor_checks::endpoint::Endpoint;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The client connection preface (RFC 9113 §3.4) and an empty SETTINGS frame.
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";

/// True only when `url`'s port answered the HTTP/2 preface, without TLS, with a SETTINGS
/// frame within `bound`. Anything else (no connection, a TLS alert, a close, silence) is false:
/// the caller then knows no more than before.
pub async fn answers_h2c(url: &str, bound: Duration) -> bool {
    let Ok(ep) = Endpoint::parse(url) else { return false };
    if ep.port.is_none() {
        return false;
    }
    tokio::time::timeout(bound, ask(ep.authority())).await.unwrap_or(false)
}

async fn ask(authority: String) -> bool {
    let Ok(mut s) = TcpStream::connect(authority.as_str()).await else { return false };
    if s.write_all(PREFACE).await.is_err() {
        return false;
    }
    let mut head = [0u8; 9];
    if s.read_exact(&mut head).await.is_err() {
        return false;
    }
    is_settings_frame(&head)
}

/// A frame header (RFC 9113 §4.1) of a non-ACK SETTINGS frame on stream 0, its length a
/// whole number of 6-byte settings. A TLS record starts 0x15 or 0x16 and never matches.
fn is_settings_frame(head: &[u8; 9]) -> bool {
    let len = u32::from_be_bytes([0, head[0], head[1], head[2]]);
    let stream = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
    head[3] == 0x04 && head[4] & 0x01 == 0 && stream == 0 && len.is_multiple_of(6) && len <= 6 * 64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_settings_frame_on_stream_zero_counts() {
        // grpc-go's first frame: SETTINGS with one setting (MAX_FRAME_SIZE).
        assert!(is_settings_frame(&[0, 0, 6, 4, 0, 0, 0, 0, 0]));
        assert!(is_settings_frame(&[0, 0, 0, 4, 0, 0, 0, 0, 0]));
        // A TLS alert record (handshake failure) and a TLS handshake record.
        assert!(!is_settings_frame(&[0x15, 3, 3, 0, 2, 2, 40, 0, 0]));
        assert!(!is_settings_frame(&[0x16, 3, 3, 0, 0x7a, 2, 0, 0, 0x76]));
        // An HTTP/1 answer, a SETTINGS ACK, a frame on stream 1, a length that is no settings.
        assert!(!is_settings_frame(b"HTTP/1.0 "));
        assert!(!is_settings_frame(&[0, 0, 0, 4, 1, 0, 0, 0, 0]));
        assert!(!is_settings_frame(&[0, 0, 6, 4, 0, 0, 0, 0, 1]));
        assert!(!is_settings_frame(&[0, 0, 5, 4, 0, 0, 0, 0, 0]));
    }

    #[tokio::test]
    async fn a_port_that_hangs_up_or_is_closed_is_not_plaintext() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = l.local_addr().expect("addr");
        let server = tokio::spawn(async move {
            if let Ok((s, _)) = l.accept().await {
                drop(s);
            }
        });
        assert!(!answers_h2c(&format!("https://{addr}"), Duration::from_secs(3)).await);
        server.await.expect("server task");
        // Nothing listens there any more.
        assert!(!answers_h2c(&format!("https://{addr}"), Duration::from_secs(3)).await);
        assert!(!answers_h2c("not a url", Duration::from_secs(3)).await);
    }
}
