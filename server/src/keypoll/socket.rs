//! Socket mode: ask a UNIX stream socket `id:…` / `ip:…` and read one JSON answer (SPEC 8.4).

use std::path::Path;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tracing::info;

use super::KeyRequest;

/// Largest answer read.
const MAX_ANSWER: usize = 64 * 1024;
/// Upstream's connection attempts: three, after pauses of 1, 2 and 3 seconds.
const RETRY_PAUSES: [u64; 3] = [1, 2, 3];

/// Connects (retrying as upstream), sends the request, and reads until EOF or a complete JSON
/// value, within `timeout`.
///
/// # Errors
/// Upstream's texts: the socket cannot be reached, or answers nothing.
pub async fn ask(path: &Path, request: &KeyRequest, timeout: Duration) -> Result<Vec<u8>, String> {
    let mut stream = None;
    for (attempt, pause) in RETRY_PAUSES.iter().enumerate() {
        match UnixStream::connect(path).await {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => {
                info!("Could not connect to external socket: {e} ({})", e.raw_os_error().unwrap_or(0));
                if attempt + 1 < RETRY_PAUSES.len() {
                    tokio::time::sleep(Duration::from_secs(*pause)).await;
                }
            }
        }
    }
    let Some(mut stream) = stream else {
        return Err(format!("Could not connect to external integration: {}. Discarding request.", path.display()));
    };
    let exchange = async {
        stream.write_all(request.wire().as_bytes()).await.map_err(|e| format!("external socket: {e}"))?;
        let mut answer = Vec::new();
        let mut chunk = [0u8; 4096];
        while answer.len() < MAX_ANSWER {
            let n = stream.read(&mut chunk).await.map_err(|e| format!("external socket: {e}"))?;
            if n == 0 {
                break;
            }
            answer.extend_from_slice(&chunk[..n]);
            if complete_json_object(&answer) {
                break;
            }
        }
        answer.truncate(MAX_ANSWER);
        Ok::<_, String>(answer)
    };
    match tokio::time::timeout(timeout, exchange).await {
        Ok(Ok(answer)) if !answer.iter().all(u8::is_ascii_whitespace) => Ok(answer),
        Ok(Ok(_)) => Err("No data received from external socket.".to_owned()),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(format!("No data received from external socket within {} s.", timeout.as_secs())),
    }
}

/// Whether `bytes` holds a whole top-level JSON object (braces balanced outside strings).
pub fn complete_json_object(bytes: &[u8]) -> bool {
    let mut depth = 0usize;
    let (mut in_string, mut escaped, mut started) = (false, false, false);
    for &b in bytes {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' => {
                depth += 1;
                started = true;
            }
            b'}' => {
                depth = depth.saturating_sub(1);
                if started && depth == 0 {
                    return true;
                }
            }
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_a_complete_object() {
        assert!(complete_json_object(br#" {"error":0,"data":{"k":"}"}}"#));
        assert!(!complete_json_object(br#"{"error":0,"data":{"#));
        assert!(!complete_json_object(br#"{"m":"\"}""#));
        assert!(!complete_json_object(b""));
    }
}
