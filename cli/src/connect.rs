//! Finding the node and talking to it.
//!
//! `mesh` reaches a node through its local API. The address comes from
//! `--api`/`MESH_API`, else from the data directory's `node-info.json`
//! (written by a running `meshd`); the token from `--token-file`/
//! `MESH_TOKEN_FILE`, else from `MESH_TOKEN` (or `--token`, which every
//! local user sees in `ps`), else from the data directory's `api.token`. A token file that group or others can read is refused: the
//! token may have leaked, and using it anyway would hide that. The data
//! directory is `--data-dir`, else `MESH_DATA_DIR`, else
//! `~/.local/share/meshd`.

use std::fmt::Write as _;
use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use mesh_node::api::client::{self, ClientError};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{CliError, CliResult};

/// How to reach a node, as the user gave it.
#[derive(Clone, Debug, Default)]
pub struct Target {
    /// `--data-dir` / `MESH_DATA_DIR`.
    pub data_dir: Option<PathBuf>,
    /// `--api` / `MESH_API`.
    pub api: Option<String>,
    /// `--token` / `MESH_TOKEN`.
    pub token: Option<String>,
    /// `--token-file` / `MESH_TOKEN_FILE`.
    pub token_file: Option<PathBuf>,
}

/// A node's API, ready to call.
#[derive(Clone, Debug)]
pub struct Api {
    addr: SocketAddr,
    token: String,
}

fn start_hint(dir: &Path) -> String {
    format!(
        "start one with `meshd run --data-dir {}`, or point mesh at a running node with --data-dir or MESH_API and MESH_TOKEN",
        dir.display()
    )
}

impl Target {
    fn dir(&self) -> PathBuf {
        self.data_dir
            .clone()
            .unwrap_or_else(mesh_node::daemon::default_data_dir)
    }

    /// Resolves the address and token.
    pub fn connect(&self) -> CliResult<Api> {
        let dir = self.dir();
        let addr = if let Some(text) = &self.api {
            text.parse::<SocketAddr>().map_err(|_| {
                CliError::usage(format!(
                    "MESH_API/--api {text:?} is not an address like 127.0.0.1:7420"
                ))
            })?
        } else {
            {
                let info = dir.join(mesh_node::event_loop::NODE_INFO_FILE);
                let text = std::fs::read_to_string(&info).map_err(|_| {
                    CliError::failed(format!(
                        "no meshd is running with data directory {}; {}",
                        dir.display(),
                        start_hint(&dir)
                    ))
                })?;
                let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
                    CliError::failed(format!(
                        "{} is damaged ({e}); restart meshd",
                        info.display()
                    ))
                })?;
                value
                    .get("api")
                    .and_then(serde_json::Value::as_str)
                    .and_then(|a| a.parse().ok())
                    .ok_or_else(|| {
                        CliError::failed(format!(
                            "{} names no API address; restart meshd",
                            info.display()
                        ))
                    })?
            }
        };
        let token = if let Some(path) = &self.token_file {
            read_token(path, "check --token-file")?
        } else if let Some(t) = &self.token {
            t.clone()
        } else {
            read_token(
                &dir.join(mesh_node::api::token::TOKEN_FILE),
                "give --data-dir of the node, --token-file or MESH_TOKEN",
            )?
        };
        Ok(Api { addr, token })
    }
}

/// Reads a token file, refusing one that other users could read.
fn read_token(path: &Path, hint: &str) -> CliResult<String> {
    mesh_node::perms::check_private_file(path).map_err(|e| CliError::failed(e.to_string()))?;
    let token = std::fs::read_to_string(path).map_err(|e| {
        CliError::failed(format!(
            "cannot read the API token {} ({e}); {hint}",
            path.display()
        ))
    })?;
    Ok(token.trim().to_owned())
}

/// An API error body.
#[derive(serde::Deserialize)]
struct ErrorBody {
    code: String,
    message: String,
}

impl Api {
    /// An API at a known address with a known token.
    pub fn new(addr: SocketAddr, token: String) -> Self {
        Self { addr, token }
    }

    /// The API's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<(&mut dyn Read, u64, &str)>,
    ) -> CliResult<Vec<u8>> {
        let answer = client::call(self.addr, method, path, Some(&self.token), body).map_err(
            |e| match e {
                ClientError::Connect { addr, .. } => CliError::failed(format!(
                    "no meshd API answers at {addr}; start the node with `meshd run`, or check --data-dir / MESH_API"
                )),
                ClientError::Protocol(p) => {
                    CliError::failed(format!("the node at {} broke the connection: {p}", self.addr))
                }
            },
        )?;
        if (200..300).contains(&answer.status) {
            return Ok(answer.body);
        }
        if answer.status == 401 {
            return Err(CliError::Api {
                status: 401,
                code: "unauthorized".into(),
                message: format!(
                    "the node at {} refused the API token; use the token in the node's DATA_DIR/api.token (--data-dir or MESH_TOKEN)",
                    self.addr
                ),
            });
        }
        match serde_json::from_slice::<ErrorBody>(&answer.body) {
            Ok(e) => Err(CliError::Api {
                status: answer.status,
                code: e.code,
                message: e.message,
            }),
            Err(_) => Err(CliError::failed(format!(
                "the node answered HTTP {} to {method} {path}",
                answer.status
            ))),
        }
    }

    fn parse<T: DeserializeOwned>(bytes: &[u8]) -> CliResult<T> {
        serde_json::from_slice(bytes).map_err(|e| {
            CliError::failed(format!(
                "unexpected answer from the node ({e}); are mesh and meshd the same version?"
            ))
        })
    }

    /// GET a JSON resource.
    pub fn get<T: DeserializeOwned>(&self, path: &str) -> CliResult<T> {
        Self::parse(&self.call("GET", path, None)?)
    }

    /// GET a text resource.
    pub fn get_text(&self, path: &str) -> CliResult<String> {
        let bytes = self.call("GET", path, None)?;
        String::from_utf8(bytes).map_err(|_| CliError::failed("the node answered non-UTF-8 text"))
    }

    /// POST a JSON body, read a JSON answer.
    pub fn post<B: Serialize, T: DeserializeOwned>(&self, path: &str, body: &B) -> CliResult<T> {
        let bytes = serde_json::to_vec(body)
            .map_err(|e| CliError::failed(format!("cannot encode the request: {e}")))?;
        let mut reader = bytes.as_slice();
        let len = bytes.len() as u64;
        Self::parse(&self.call("POST", path, Some((&mut reader, len, "application/json")))?)
    }

    /// POST a JSON body, read the answer's bytes.
    pub fn post_bytes<B: Serialize>(&self, path: &str, body: &B) -> CliResult<Vec<u8>> {
        let bytes = serde_json::to_vec(body)
            .map_err(|e| CliError::failed(format!("cannot encode the request: {e}")))?;
        let mut reader = bytes.as_slice();
        let len = bytes.len() as u64;
        self.call("POST", path, Some((&mut reader, len, "application/json")))
    }

    /// POST raw bytes from a reader.
    pub fn post_stream<T: DeserializeOwned>(
        &self,
        path: &str,
        reader: &mut dyn Read,
        len: u64,
    ) -> CliResult<T> {
        Self::parse(&self.call(
            "POST",
            path,
            Some((reader, len, "application/octet-stream")),
        )?)
    }

    /// DELETE a resource whose answer has no body (204).
    pub fn delete_empty(&self, path: &str) -> CliResult<()> {
        self.call("DELETE", path, None).map(drop)
    }

    /// DELETE a resource, read a JSON answer.
    pub fn delete<T: DeserializeOwned>(&self, path: &str) -> CliResult<T> {
        Self::parse(&self.call("DELETE", path, None)?)
    }
}

/// Percent-encodes a query value.
pub fn encode_query(value: &str) -> String {
    percent_encode(value, b"")
}

/// Percent-encodes every byte but the URI-unreserved ones (letters,
/// digits, `-_.~`) and those in `keep`.
pub fn percent_encode(value: &str, keep: &[u8]) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) || keep.contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(encode_query("a b/c&d=é"), "a%20b%2Fc%26d%3D%C3%A9");
        assert_eq!(encode_query("plain-1.2_x~"), "plain-1.2_x~");
    }
}
