//! The API bearer token: 32 random bytes in hex, in `DATA_DIR/api.token`,
//! readable by the owner only. Whoever can read the data directory can use
//! the API; nobody else on the machine can.

use std::path::Path;

/// Name of the token file in the data directory.
pub const TOKEN_FILE: &str = "api.token";

/// Reads the token, creating it first if the data directory has none.
pub fn ensure(dir: &Path) -> std::io::Result<String> {
    let path = dir.join(TOKEN_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) if !text.trim().is_empty() => return Ok(text.trim().to_owned()),
        Ok(_) => std::fs::remove_file(&path)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let token = mesh_protocol::bytes::to_hex(&rand::random::<[u8; 32]>());
    crate::identity::write_private(&path, token.as_bytes())?;
    Ok(token)
}

/// Compares two tokens in time independent of where they differ.
pub fn matches(expected: &str, given: &str) -> bool {
    let (a, b) = (expected.as_bytes(), given.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_is_created_once_and_compared_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let t = ensure(dir.path()).unwrap();
        assert_eq!(t.len(), 64);
        assert_eq!(ensure(dir.path()).unwrap(), t);
        assert!(matches(&t, &t));
        assert!(!matches(&t, &t[..63]));
        assert!(!matches(&t, &"0".repeat(64)));
    }
}
