//! The length-prefixed frames of Wazuh's local sockets (admin socket, wazuh-db): a 4-byte
//! little-endian length, then that many bytes. One implementation for every side.

use std::io::{Read, Write};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The 4-byte header of a frame of `len` bytes (saturated at `u32::MAX`).
fn header(len: usize) -> [u8; 4] {
    u32::try_from(len).unwrap_or(u32::MAX).to_le_bytes()
}

/// Reads a frame's length header.
///
/// # Errors
/// I/O errors (EOF included).
pub async fn read_len<S: AsyncRead + Unpin>(stream: &mut S) -> std::io::Result<usize> {
    let mut len = [0u8; 4];
    stream.read_exact(&mut len).await?;
    Ok(u32::from_le_bytes(len) as usize)
}

/// Reads a frame's `len` payload bytes.
///
/// # Errors
/// I/O errors (EOF included).
pub async fn read_payload<S: AsyncRead + Unpin>(stream: &mut S, len: usize) -> std::io::Result<Vec<u8>> {
    let mut payload = vec![0u8; len];
    stream.read_exact(&mut payload).await?;
    Ok(payload)
}

/// Reads a whole frame of at most `max` bytes.
///
/// # Errors
/// I/O errors, or `InvalidData` for a frame over `max`.
pub async fn read_frame<S: AsyncRead + Unpin>(stream: &mut S, max: usize) -> std::io::Result<Vec<u8>> {
    let len = read_len(stream).await?;
    if len > max {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("frame of {len} bytes (at most {max})"),
        ));
    }
    read_payload(stream, len).await
}

/// Writes one frame.
///
/// # Errors
/// I/O errors.
pub async fn write_frame<S: AsyncWrite + Unpin>(stream: &mut S, payload: &[u8]) -> std::io::Result<()> {
    stream.write_all(&header(payload.len())).await?;
    stream.write_all(payload).await
}

/// One blocking request/reply exchange (for the command-line client), with a reply deadline.
///
/// # Errors
/// I/O errors, a timeout included.
pub fn exchange<S: Read + Write>(stream: &mut S, payload: &[u8]) -> std::io::Result<Vec<u8>> {
    stream.write_all(&header(payload.len()))?;
    stream.write_all(payload)?;
    let mut len = [0u8; 4];
    stream.read_exact(&mut len)?;
    let mut reply = vec![0u8; u32::from_le_bytes(len) as usize];
    stream.read_exact(&mut reply)?;
    Ok(reply)
}

/// How long the command-line client waits for the server's reply.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(120);
