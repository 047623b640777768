//! Where the force rules learn an existing agent's connection state (SPEC 4.3 step 2, SPEC 10).

use std::path::PathBuf;
use std::time::Duration;

use tokio::net::UnixStream;

/// An agent's connection state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Connection {
    /// Never connected.
    NeverConnected,
    /// Registered, first connection pending.
    Pending,
    /// Connected now.
    Active,
    /// Was connected, is not now.
    Disconnected,
}

/// What the force rules need to know about an existing agent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AgentInfo {
    /// Connection state.
    pub connection: Connection,
    /// When it last disconnected (epoch seconds), 0 if never.
    pub disconnection_time: i64,
    /// When it was registered (epoch seconds), 0 if unknown.
    pub date_add: i64,
}

/// The configured source.
#[derive(Clone, Debug)]
pub enum StatusSource {
    /// Every agent counts as never connected; registration time from our own records.
    None,
    /// wazuh-db's socket (`queue/db/wdb`).
    WazuhDb(PathBuf),
}

/// Why an agent's state could not be had from wazuh-db (the replacement is then refused). `Clone`
/// so the states fetched for a decision can travel with each retry.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StatusError {
    /// The socket cannot be reached.
    #[error("cannot connect to {path}: {reason}")]
    Connect {
        /// The socket.
        path: String,
        /// The OS error.
        reason: String,
    },
    /// The exchange failed part-way.
    #[error("wazuh-db: {0}")]
    Exchange(String),
    /// No answer in time.
    #[error("wazuh-db did not answer within {0} s")]
    Timeout(u64),
    /// The answer is not `ok [{…}]` JSON, or says something we cannot read.
    #[error("{0}")]
    Unreadable(String),
    /// wazuh-db does not know the agent.
    #[error("wazuh-db does not know this agent")]
    UnknownAgent,
}

/// wazuh-db answers within this time or the lookup fails (and the replacement is refused).
const WDB_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest wazuh-db answer read.
const WDB_MAX_ANSWER: usize = 1 << 20;

impl StatusSource {
    /// Whether states come from outside (wazuh-db), and so must be fetched before a decision.
    pub fn needs_lookup(&self) -> bool {
        matches!(self, StatusSource::WazuhDb(_))
    }

    /// The state of agent `id` when it is known without I/O (source `none`), else `None`.
    pub fn known(&self, _id: u32, local_date_add: i64) -> Option<Result<AgentInfo, StatusError>> {
        match self {
            StatusSource::None => Some(Ok(AgentInfo {
                connection: Connection::NeverConnected,
                disconnection_time: 0,
                date_add: local_date_add,
            })),
            StatusSource::WazuhDb(_) => None,
        }
    }

    /// The state of agent `id`; `date_add` is what we know locally (used by `None`).
    ///
    /// # Errors
    /// wazuh-db unreachable, failing, slow, or answering something unreadable, or the agent unknown
    /// to it: the caller refuses the replacement (`Failed to get agent-info for agent '<id>'`).
    pub async fn agent_info(&self, id: u32, local_date_add: i64) -> Result<AgentInfo, StatusError> {
        match self {
            StatusSource::None => Ok(AgentInfo {
                connection: Connection::NeverConnected,
                disconnection_time: 0,
                date_add: local_date_add,
            }),
            StatusSource::WazuhDb(path) => match tokio::time::timeout(WDB_TIMEOUT, query_wdb(path, id)).await {
                Ok(result) => result,
                Err(_) => Err(StatusError::Timeout(WDB_TIMEOUT.as_secs())),
            },
        }
    }
}

async fn query_wdb(path: &std::path::Path, id: u32) -> Result<AgentInfo, StatusError> {
    let mut stream = UnixStream::connect(path)
        .await
        .map_err(|e| StatusError::Connect { path: path.display().to_string(), reason: e.to_string() })?;
    let query = format!("global get-agent-info {id}");
    let wdb = |e: std::io::Error| StatusError::Exchange(e.to_string());
    crate::framing::write_frame(&mut stream, query.as_bytes()).await.map_err(wdb)?;
    let answer = crate::framing::read_frame(&mut stream, WDB_MAX_ANSWER).await.map_err(wdb)?;
    parse_agent_info(&answer)
}

/// Reads `ok [{"connection_status":…,"disconnection_time":…,"date_add":…,…}]`.
pub fn parse_agent_info(answer: &[u8]) -> Result<AgentInfo, StatusError> {
    let unreadable = |why: String| StatusError::Unreadable(why);
    let text = std::str::from_utf8(answer).map_err(|_| unreadable("wazuh-db answer is not UTF-8".to_owned()))?;
    let json = text
        .strip_prefix("ok ")
        .ok_or_else(|| unreadable(format!("wazuh-db answered {:?}", text.get(..80).unwrap_or(text))))?;
    let value: serde_json::Value =
        serde_json::from_str(json).map_err(|e| unreadable(format!("wazuh-db answer is not JSON: {e}")))?;
    let first = value.get(0).ok_or(StatusError::UnknownAgent)?;
    let connection = match first.get("connection_status").and_then(serde_json::Value::as_str) {
        Some("never_connected") => Connection::NeverConnected,
        Some("pending") => Connection::Pending,
        Some("active") => Connection::Active,
        Some("disconnected") => Connection::Disconnected,
        other => return Err(unreadable(format!("unknown connection_status {other:?}"))),
    };
    let integer = |key: &str| first.get(key).and_then(serde_json::Value::as_i64).unwrap_or(0);
    Ok(AgentInfo { connection, disconnection_time: integer("disconnection_time"), date_add: integer("date_add") })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_wazuh_db_answers() {
        let info = parse_agent_info(
            br#"ok [{"id":1,"name":"a","connection_status":"disconnected","disconnection_time":100,"date_add":50}]"#,
        )
        .unwrap();
        assert_eq!(info, AgentInfo { connection: Connection::Disconnected, disconnection_time: 100, date_add: 50 });
        assert!(parse_agent_info(b"ok []").is_err());
        assert!(parse_agent_info(b"err Cannot execute").is_err());
        assert!(parse_agent_info(br#"ok [{"connection_status":"weird"}]"#).is_err());
    }
}
