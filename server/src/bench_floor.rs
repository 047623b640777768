//! `agentkeys bench floor`: the physical floor of a registration — a bare TLS server with the same
//! crypto provider, TLS configuration, certificate and runtime as `serve`, that only accepts,
//! handshakes, reads one request, writes a fixed reply and closes (close_notify). `agentkeys bench
//! register --floor HOME` runs it and loads it exactly as the real server, so the two CPU figures
//! can be compared from one run.

use std::path::PathBuf;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::home::Home;

/// `agentkeys bench floor`.
#[derive(Debug, clap::Args)]
pub struct FloorArgs {
    /// The home whose certificate to serve (`etc/sslmanager.*`, or `etc/sslenroll.*` with
    /// `--https`), as `serve` would.
    #[arg(long, env = "AGENTKEYS_HOME", default_value = "agentkeys-data")]
    home: PathBuf,
    /// Port on 127.0.0.1 (0 picks a free one; the address is printed).
    #[arg(short = 'p', long, default_value_t = 0)]
    port: u16,
    /// Answer as the HTTPS listener would (TLS 1.3, one HTTP/1.1 request, a fixed 200 JSON body).
    #[arg(long)]
    https: bool,
}

/// A key reply a 4.x agent accepts (never a real key).
const KEY_REPLY: &[u8] = b"OSSEC K:'001 floor any 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef'\n";

/// A 200 answer a 5.x agent accepts.
const HTTP_REPLY: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 196\r\nconnection: close\r\n\r\n{\"id\":\"001\",\"name\":\"floor\",\"ip\":\"any\",\"key\":\"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\",\"reenroll_secret\":\"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"}";

/// Runs the floor server until killed; the exit code.
pub fn run(args: &FloorArgs) -> i32 {
    let home = Home::new(&args.home);
    let (config, _) = match crate::config::Config::load(home.root(), None, None) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("agentkeys bench floor: {e}");
            return 1;
        }
    };
    let tls = if args.https {
        let e = &config.enrollment;
        crate::tls::enrollment_config(&home.join(&e.ssl_cert), &home.join(&e.ssl_key), None).map_err(|e| e.to_string())
    } else {
        crate::ciphers::select(&config.auth.ciphers, "auth.ciphers").map_err(|e| e.to_string()).and_then(|suites| {
            crate::tls::server_config(
                &home.join(&config.auth.ssl_manager_cert),
                &home.join(&config.auth.ssl_manager_key),
                None,
                suites,
            )
            .map_err(|e| e.to_string())
        })
    };
    let tls = match tls {
        Ok(tls) => tls,
        Err(e) => {
            eprintln!("agentkeys bench floor: {e} (start `agentkeys serve --home` once to create the certificates)");
            return 1;
        }
    };
    // The same runtime as `serve`.
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("agentkeys bench floor: {e}");
            return 1;
        }
    };
    let https = args.https;
    let port = args.port;
    // As `serve`: the accept loop runs on the runtime's workers.
    let served = runtime.spawn(async move {
        let listener = match TcpListener::bind(("127.0.0.1", port)).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("agentkeys bench floor: cannot listen on 127.0.0.1:{port}: {e}");
                return 1;
            }
        };
        if let Ok(addr) = listener.local_addr() {
            println!("agentkeys bench floor ({}): listening on {addr}", crate::tls::PROVIDER_NAME);
        }
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::clone(&tls));
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let _ = stream.set_nodelay(true);
                let Ok(mut tls) = acceptor.accept(stream).await else { return };
                let mut request = Vec::with_capacity(1024);
                let mut buf = [0u8; 4096];
                loop {
                    let Ok(n) = tls.read(&mut buf).await else { return };
                    if n == 0 {
                        return;
                    }
                    request.extend_from_slice(&buf[..n]);
                    if complete(&request, https) {
                        break;
                    }
                }
                let reply = if https { HTTP_REPLY } else { KEY_REPLY };
                if tls.write_all(reply).await.is_ok() && tls.flush().await.is_ok() {
                    let _ = tls.shutdown().await;
                }
            });
        }
    });
    runtime.block_on(served).unwrap_or(1)
}

/// Whether `request` is whole: one line, or HTTP headers and their `content-length` of body.
fn complete(request: &[u8], https: bool) -> bool {
    if !https {
        return request.contains(&b'\n');
    }
    let Some(end) = request.windows(4).position(|w| w == b"\r\n\r\n") else { return false };
    let headers = String::from_utf8_lossy(&request[..end]).to_ascii_lowercase();
    let length = headers
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    request.len() >= end + 4 + length
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fixed_replies_are_what_agents_accept() {
        assert!(matches!(agentkeys::parse_reply(KEY_REPLY), Ok(agentkeys::Reply::Key { .. })));
        let body = &HTTP_REPLY[HTTP_REPLY.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4..];
        assert_eq!(body.len(), 196);
        assert!(agentkeys::wazuh5::EnrollReply::parse(body).is_ok());
    }

    #[test]
    fn requests_are_complete_at_their_end() {
        assert!(!complete(b"OSSEC A:'x'", false));
        assert!(complete(b"OSSEC A:'x'\n", false));
        assert!(!complete(b"POST / HTTP/1.1\r\ncontent-length: 3\r\n\r\nab", true));
        assert!(complete(b"POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc", true));
    }
}
