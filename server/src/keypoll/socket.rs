//! Socket mode: ask a UNIX stream socket `id:…` / `ip:…` and read one JSON answer (SPEC 8.4).

use std::path::Path;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tracing::info;

use super::{Failure, KeyRequest};

/// Largest answer read.
const MAX_ANSWER: usize = 64 * 1024;
/// Upstream's connection attempts: three, after pauses of 1, 2 and 3 seconds.
const RETRY_PAUSES: [u64; 3] = [1, 2, 3];

/// Connects (retrying as upstream), sends the request, and reads until EOF or a complete JSON
/// value, within `timeout`.
///
/// # Errors
/// Upstream's texts: the socket cannot be reached, or answers nothing.
pub async fn ask(path: &Path, request: &KeyRequest, timeout: Duration) -> Result<Vec<u8>, Failure> {
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
        return Err(Failure(format!(
            "Could not connect to external integration: {}. Discarding request.",
            path.display()
        )));
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
            if agentkeys::json_progress(&answer) != agentkeys::JsonProgress::Incomplete {
                break;
            }
        }
        answer.truncate(MAX_ANSWER);
        Ok::<_, String>(answer)
    };
    match tokio::time::timeout(timeout, exchange).await {
        Ok(Ok(answer)) if !answer.iter().all(u8::is_ascii_whitespace) => Ok(answer),
        Ok(Ok(_)) => Err(Failure("No data received from external socket.".to_owned())),
        Ok(Err(e)) => Err(Failure(e)),
        Err(_) => Err(Failure(format!("No data received from external socket within {} s.", timeout.as_secs()))),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_answer_is_complete_where_the_parser_says() {
        use agentkeys::{JsonProgress, json_progress};
        assert!(matches!(json_progress(br#" {"error":0,"data":{"k":"}"}}"#), JsonProgress::Complete(_)));
        assert_eq!(json_progress(br#"{"error":0,"data":{"#), JsonProgress::Incomplete);
        assert_eq!(json_progress(br#"{"m":"\"}""#), JsonProgress::Incomplete);
        assert_eq!(json_progress(b""), JsonProgress::Incomplete);
        assert_eq!(json_progress(b"{]"), JsonProgress::Invalid);
    }
}
