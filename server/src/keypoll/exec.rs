//! Exec mode: run the operator's script as `<exec_path…> id|ip <value>` (SPEC 8.4).

use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;
use tracing::{debug, info};

use super::{Failure, KeyRequest};

/// Most stdout read from a script (an answer is a few hundred bytes).
const MAX_STDOUT: usize = 1 << 20;
/// Most stderr kept for the log.
const MAX_STDERR: usize = 16 * 1024;
/// Time between SIGTERM and SIGKILL after a timeout.
const KILL_GRACE: Duration = Duration::from_secs(2);

/// Splits a command line as upstream does: spaces separate words, `"…"` groups, `\` takes the next
/// character literally. No shell, no globbing, no variables.
pub fn split_command(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quoted = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(next) = chars.next() {
                    word.push(next);
                }
                in_word = true;
            }
            '"' => {
                quoted = !quoted;
                in_word = true;
            }
            ' ' if !quoted => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            other => {
                word.push(other);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

/// Runs the script for `request`, returning its stdout when it exits 0 in time.
pub async fn run(command: &str, request: &KeyRequest, timeout: Duration) -> Result<Vec<u8>, Failure> {
    let cannot_run = || {
        Failure(format!(
            "Cannot run key request integration ({command}): path is invalid or file has insufficient permissions."
        ))
    };
    let argv = split_command(command);
    let Some((program, args)) = argv.split_first() else {
        return Err(cannot_run());
    };
    let mut child = match Command::new(program)
        .args(args)
        .arg(request.kind.word())
        .arg(&request.value)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
    {
        Ok(child) => child,
        Err(e) => {
            debug!("Invalid command: '{command}': {e}");
            return Err(cannot_run());
        }
    };
    let pid = child.id().and_then(|p| i32::try_from(p).ok());
    // If this lookup is abandoned (shutdown), the script's whole process group goes with it.
    let mut group = GroupGuard(pid.map(Pid::from_raw));
    let (mut stdout, mut stderr) = (child.stdout.take(), child.stderr.take());
    let work = async {
        let (out, err) =
            tokio::join!(read_bounded(stdout.as_mut(), MAX_STDOUT), read_bounded(stderr.as_mut(), MAX_STDERR));
        let status = child.wait().await;
        (out, err, status)
    };
    let (out, err, status) = match tokio::time::timeout(timeout, work).await {
        Ok(done) => {
            group.0 = None;
            done
        }
        Err(_) => {
            if let Some(pid) = group.0 {
                let _ = killpg(pid, Signal::SIGTERM);
                tokio::time::sleep(KILL_GRACE).await;
                let _ = killpg(pid, Signal::SIGKILL);
                group.0 = None;
            }
            return Err(Failure(format!("Timeout received while running key request integration ({command})")));
        }
    };
    if !err.is_empty() {
        info!("key request integration ({command}) stderr: {}", String::from_utf8_lossy(&err).trim_end());
    }
    match status {
        Ok(status) if status.success() => {}
        Ok(status) if status.code() == Some(127) => return Err(cannot_run()),
        Ok(status) => match status.code() {
            Some(code) => return Err(Failure(format!("Key request integration ({command}) returned code {code}."))),
            None => return Err(Failure(format!("Error executing [{command}]: killed by a signal"))),
        },
        Err(e) => return Err(Failure(format!("Error executing [{command}]: {e}"))),
    }
    if out.iter().all(u8::is_ascii_whitespace) {
        return Err(Failure(format!("Key request integration ({command}) printed nothing.")));
    }
    Ok(out)
}

/// Kills a script's process group when dropped before the script was waited for.
struct GroupGuard(Option<Pid>);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if let Some(pid) = self.0.take() {
            let _ = killpg(pid, Signal::SIGKILL);
        }
    }
}

async fn read_bounded<R: AsyncRead + Unpin>(reader: Option<&mut R>, max: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let Some(reader) = reader else { return out };
    let mut chunk = [0u8; 8192];
    loop {
        match reader.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let room = max.saturating_sub(out.len());
                out.extend_from_slice(&chunk[..n.min(room)]);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_like_upstream() {
        assert_eq!(split_command("/usr/bin/python3 /x/poll.py"), ["/usr/bin/python3", "/x/poll.py"]);
        assert_eq!(split_command(r#"  a  "b c"  d\ e "f\"g" "#), ["a", "b c", "d e", "f\"g"]);
        assert_eq!(split_command(r#""""#), [""]);
        assert!(split_command("   ").is_empty());
    }
}
