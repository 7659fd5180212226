//! A minimal blocking HTTP/1.1 client for the local API (loopback only, no
//! TLS): enough for tools and tests to call a running `meshd` without a
//! heavyweight HTTP stack.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Why a call failed before an HTTP answer arrived.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No node answers at the address.
    #[error("no meshd API at {addr}: {source}; start one with `meshd run`")]
    Connect {
        /// The address tried.
        addr: SocketAddr,
        /// The socket error.
        source: std::io::Error,
    },
    /// The connection broke or the answer was not HTTP.
    #[error("bad answer from the meshd API: {0}")]
    Protocol(String),
}

/// An HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// Status code.
    pub status: u16,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl Answer {
    /// The body parsed as JSON.
    pub fn json(&self) -> Result<serde_json::Value, ClientError> {
        serde_json::from_slice(&self.body).map_err(|e| ClientError::Protocol(e.to_string()))
    }
}

/// A body length meaning "unknown": the body is sent with chunked
/// transfer encoding until the reader ends, so a source whose size changes
/// (or a `/proc` file that reports size 0) is sent as it reads, never as
/// its `stat` said.
pub const UNTIL_EOF: u64 = u64::MAX;

/// Sends one request and reads the whole answer. `body` is streamed from
/// the reader, with its length given up front or [`UNTIL_EOF`]. If the
/// node stops reading the body part-way (it refused it, e.g. its disk is
/// full), its answer is still read and returned, so the caller hears why
/// rather than "broken pipe". A reader error ends the request without
/// finishing the body, so the node discards what it received.
pub fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<(&mut dyn Read, u64, &str)>,
) -> Result<Answer, ClientError> {
    let proto = |e: std::io::Error| ClientError::Protocol(e.to_string());
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .map_err(|source| ClientError::Connect { addr, source })?;
    stream
        .set_read_timeout(Some(Duration::from_secs(600)))
        .map_err(proto)?;
    stream
        .set_write_timeout(Some(Duration::from_secs(60)))
        .map_err(proto)?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(token) = token {
        head += &["Authorization: Bearer ", token, "\r\n"].concat();
    }
    match &body {
        Some((_, len, content_type)) => {
            let framing = if *len == UNTIL_EOF {
                "Transfer-Encoding: chunked".to_owned()
            } else {
                format!("Content-Length: {len}")
            };
            head += &[&framing, "\r\nContent-Type: ", content_type, "\r\n"].concat();
        }
        None => head.push_str("Content-Length: 0\r\n"),
    }
    head.push_str("\r\n");
    let sent = send(&mut stream, head.as_bytes(), body)?;
    match read_answer(stream) {
        Ok(answer) => Ok(answer),
        // Sending broke and no answer came: say what broke first.
        Err(e) => Err(sent.map_or(e, |w| {
            ClientError::Protocol(format!("the node stopped reading the request: {w}"))
        })),
    }
}

/// Writes the head and the body. A reader error is returned at once (the
/// body stays unfinished); a socket error is returned inside `Ok`, since
/// the node may have answered before it stopped reading.
fn send(
    stream: &mut TcpStream,
    head: &[u8],
    body: Option<(&mut dyn Read, u64, &str)>,
) -> Result<Option<std::io::Error>, ClientError> {
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, &mut *stream);
    if let Err(e) = out.write_all(head) {
        return Ok(Some(e));
    }
    if let Some((reader, len, _)) = body {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match reader.read(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(ClientError::Protocol(format!(
                        "cannot read what was being sent: {e}"
                    )));
                }
            };
            let written = if len == UNTIL_EOF {
                // A chunk; the empty one (`0\r\n\r\n`) ends the body.
                out.write_all(format!("{n:x}\r\n").as_bytes())
                    .and_then(|()| out.write_all(&buf[..n]))
                    .and_then(|()| out.write_all(b"\r\n"))
            } else {
                out.write_all(&buf[..n])
            };
            if let Err(e) = written {
                return Ok(Some(e));
            }
            if n == 0 {
                break;
            }
        }
    }
    Ok(out.flush().err())
}

/// Reads a whole HTTP answer.
fn read_answer(stream: TcpStream) -> Result<Answer, ClientError> {
    let proto = |e: std::io::Error| ClientError::Protocol(e.to_string());
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).map_err(proto)?;
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| ClientError::Protocol(format!("status line {line:?}")))?;
    let mut length = None;
    let mut chunked = false;
    loop {
        line.clear();
        reader.read_line(&mut line).map_err(proto)?;
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            let name = name.trim().to_ascii_lowercase();
            if name == "content-length" {
                length = value.trim().parse::<usize>().ok();
            } else if name == "transfer-encoding" && value.trim().eq_ignore_ascii_case("chunked") {
                chunked = true;
            }
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            line.clear();
            reader.read_line(&mut line).map_err(proto)?;
            let size = usize::from_str_radix(line.trim(), 16)
                .map_err(|_| ClientError::Protocol("bad chunk size".into()))?;
            if size == 0 {
                break;
            }
            let start = body.len();
            body.resize(start + size, 0);
            reader.read_exact(&mut body[start..]).map_err(proto)?;
            line.clear();
            reader.read_line(&mut line).map_err(proto)?;
        }
    } else if let Some(len) = length {
        body.resize(len, 0);
        reader.read_exact(&mut body).map_err(proto)?;
    } else {
        reader.read_to_end(&mut body).map_err(proto)?;
    }
    Ok(Answer { status, body })
}

/// A JSON request body.
pub fn json_body(value: &serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_default()
}
