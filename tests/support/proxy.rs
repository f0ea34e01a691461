//! A fault-injecting TCP proxy on loopback: it forwards bytes both ways, delays what the server
//! sends back, and on `cut_all` shuts every open connection, so a request that reached etcd
//! never gets its reply (the kubeadm "timeout although it happened" case).

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

struct Shared {
    conns: Mutex<Vec<TcpStream>>,
    stop: AtomicBool,
}

/// A running proxy; stops on drop.
pub struct Proxy {
    /// Where it listens.
    pub addr: SocketAddr,
    shared: Arc<Shared>,
}

impl Proxy {
    /// Listens on `listen` and forwards to `upstream`, delaying each server→client chunk.
    pub fn start(listen: &str, upstream: SocketAddr, delay_down: Duration) -> Proxy {
        let l = TcpListener::bind(listen).expect("proxy bind");
        let addr = l.local_addr().expect("proxy addr");
        let shared = Arc::new(Shared { conns: Mutex::new(Vec::new()), stop: AtomicBool::new(false) });
        let sh = shared.clone();
        thread::spawn(move || {
            for client in l.incoming() {
                if sh.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect_timeout(&upstream, Duration::from_secs(2)) else { continue };
                let (Ok(c2), Ok(s2)) = (client.try_clone(), server.try_clone()) else { continue };
                if let Ok(mut v) = sh.conns.lock() {
                    v.extend([c2, s2]);
                }
                pump(&client, &server, Duration::ZERO);
                pump(&server, &client, delay_down);
            }
        });
        Proxy { addr, shared }
    }

    /// Shuts every open connection in both directions; new ones are forwarded again.
    pub fn cut_all(&self) {
        if let Ok(mut v) = self.shared.conns.lock() {
            for s in v.drain(..) {
                let _ = s.shutdown(Shutdown::Both);
            }
        }
    }
}

fn pump(from: &TcpStream, to: &TcpStream, delay: Duration) {
    let (Ok(mut from), Ok(mut to)) = (from.try_clone(), to.try_clone()) else { return };
    thread::spawn(move || {
        let mut buf = [0u8; 16384];
        loop {
            let n = match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if !delay.is_zero() {
                thread::sleep(delay);
            }
            if to.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    });
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.cut_all();
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
    }
}
