//! The node's identity files: the domain key, the node key and the signed
//! binding between them, kept in the data directory with mode 0600.
//!
//! `meshd init` creates them once and refuses to overwrite them; every start
//! loads them and fails with a one-line error if one is missing or corrupt.
//! The binding is re-issued at start when it expires within a day or names
//! another node key.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use libp2p::identity::Keypair;
use mesh_protocol::descriptor::check_name;
use mesh_protocol::{DomainKeypair, NodeBinding, Signed, encoding};
use serde::{Deserialize, Serialize};

use crate::clock::now;

/// Domain key file.
pub const DOMAIN_KEY_FILE: &str = "domain.key";
/// Node key file.
pub const NODE_KEY_FILE: &str = "node.key";
/// Signed node binding.
pub const BINDING_FILE: &str = "node-binding.bin";
/// Public facts about the domain (name, id, key), readable by tools.
pub const DOMAIN_FILE: &str = "domain.json";

const BINDING_VALIDITY_MS: u64 = 365 * 24 * 3600 * 1000;
const BINDING_RENEW_MS: u64 = 24 * 3600 * 1000;

/// Why the identity could not be created or loaded.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// `init` found an existing identity.
    #[error("{0} already holds a meshd identity; refusing to overwrite it")]
    Exists(PathBuf),
    /// No identity in the data directory.
    #[error("no meshd identity in {0}; run `meshd init --data-dir {0} --domain NAME` first")]
    Missing(PathBuf),
    /// Some identity files are there, the domain key is not: `init` would
    /// refuse, and a new key would be another domain.
    #[error(
        "{dir} holds {present} but no {DOMAIN_KEY_FILE}: restore {DOMAIN_KEY_FILE} from your backup (a new key would be another domain), or move {dir} aside and run `meshd init` to start a new domain"
    )]
    Incomplete {
        /// The data directory (displayed).
        dir: String,
        /// The identity files that are there.
        present: String,
    },
    /// A key file is unreadable or malformed.
    #[error("corrupt key file {path}: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The domain name is invalid.
    #[error("invalid domain name: {0}")]
    DomainName(#[from] mesh_protocol::descriptor::NameError),
    /// File IO failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// Public facts about the domain, written beside the keys.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DomainInfo {
    /// Human name.
    pub name: String,
    /// Domain id (hex).
    pub domain_id: String,
    /// Public key (hex).
    pub public_key: String,
}

/// A loaded identity.
pub struct Identity {
    /// The domain's human name.
    pub domain_name: String,
    /// The domain key.
    pub domain: DomainKeypair,
    /// The libp2p node key.
    pub node: Keypair,
    /// The binding of node to domain.
    pub binding: Signed<NodeBinding>,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("domain_name", &self.domain_name)
            .field("domain", &self.domain.domain_id())
            .field("node", &self.node.public().to_peer_id())
            .finish_non_exhaustive()
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> IdentityError + '_ {
    move |source| IdentityError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Writes a file readable by the owner only, synced to disk.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Creates a directory (and parents) usable by its owner only; an existing
/// one is left as it is (the node makes it private at start).
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(crate::perms::DIR_MODE);
    }
    builder.create(dir)
}

fn random_secret() -> [u8; 32] {
    rand::random()
}

/// Creates a fresh identity in `dir`. Refuses if one exists.
pub fn init(dir: &Path, domain_name: &str) -> Result<Identity, IdentityError> {
    init_with_secrets(dir, domain_name, random_secret(), random_secret())
}

/// Creates an identity in `dir` from given secrets (the simulator derives
/// them from its seed so runs reproduce; everything else uses [`init`]).
/// Refuses if one exists.
pub fn init_with_secrets(
    dir: &Path,
    domain_name: &str,
    domain_secret: [u8; 32],
    node_secret: [u8; 32],
) -> Result<Identity, IdentityError> {
    check_name(domain_name)?;
    if [DOMAIN_KEY_FILE, NODE_KEY_FILE, DOMAIN_FILE]
        .iter()
        .any(|f| dir.join(f).exists())
    {
        return Err(IdentityError::Exists(dir.to_owned()));
    }
    create_private_dir(dir).map_err(io_err(dir))?;
    let domain = DomainKeypair::from_secret(domain_secret);
    let key_path = dir.join(DOMAIN_KEY_FILE);
    write_private(&key_path, to_hex(&domain.secret_bytes()).as_bytes())
        .map_err(io_err(&key_path))?;
    let node_path = dir.join(NODE_KEY_FILE);
    write_private(&node_path, to_hex(&node_secret).as_bytes()).map_err(io_err(&node_path))?;
    let info = DomainInfo {
        name: domain_name.to_owned(),
        domain_id: domain.domain_id().to_string(),
        public_key: domain.public().to_string(),
    };
    let info_path = dir.join(DOMAIN_FILE);
    let json = serde_json::to_vec_pretty(&info).unwrap_or_default();
    write_private(&info_path, &json).map_err(io_err(&info_path))?;
    load(dir)
}

/// Loads the identity of `dir`, renewing the binding if needed.
pub fn load(dir: &Path) -> Result<Identity, IdentityError> {
    let key_path = dir.join(DOMAIN_KEY_FILE);
    if !key_path.exists() {
        let present: Vec<&str> = [NODE_KEY_FILE, DOMAIN_FILE, BINDING_FILE]
            .into_iter()
            .filter(|f| dir.join(f).exists())
            .collect();
        if present.is_empty() {
            return Err(IdentityError::Missing(dir.to_owned()));
        }
        return Err(IdentityError::Incomplete {
            dir: dir.display().to_string(),
            present: present.join(", "),
        });
    }
    let domain = DomainKeypair::from_secret(read_secret(&key_path)?);
    let node_path = dir.join(NODE_KEY_FILE);
    let node = Keypair::ed25519_from_bytes(read_secret(&node_path)?).map_err(|e| {
        IdentityError::Corrupt {
            path: node_path.clone(),
            reason: e.to_string(),
        }
    })?;
    let info_path = dir.join(DOMAIN_FILE);
    let text = fs::read(&info_path).map_err(io_err(&info_path))?;
    let info: DomainInfo = serde_json::from_slice(&text).map_err(|e| IdentityError::Corrupt {
        path: info_path.clone(),
        reason: e.to_string(),
    })?;
    if info.domain_id != domain.domain_id().to_string() {
        return Err(IdentityError::Corrupt {
            path: info_path,
            reason: "domain id does not match domain.key".into(),
        });
    }
    let peer_bytes = node.public().to_peer_id().to_bytes();
    let binding_path = dir.join(BINDING_FILE);
    let now = now();
    let existing = fs::read(&binding_path)
        .ok()
        .and_then(|b| encoding::from_bytes::<Signed<NodeBinding>>(&b, 4096).ok())
        .filter(|b| {
            b.authorises(&peer_bytes, now.plus_millis(BINDING_RENEW_MS))
                .is_ok()
        });
    let binding = if let Some(binding) = existing {
        binding
    } else {
        let binding = NodeBinding::issue(&domain, peer_bytes, now, BINDING_VALIDITY_MS);
        let tmp = dir.join(format!("{BINDING_FILE}.tmp"));
        let _ = fs::remove_file(&tmp);
        write_private(&tmp, &encoding::to_bytes(&binding)).map_err(io_err(&tmp))?;
        fs::rename(&tmp, &binding_path).map_err(io_err(&binding_path))?;
        binding
    };
    Ok(Identity {
        domain_name: info.name,
        domain,
        node,
        binding,
    })
}

fn read_secret(path: &Path) -> Result<[u8; 32], IdentityError> {
    let text = fs::read_to_string(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            IdentityError::Corrupt {
                path: path.to_owned(),
                reason: "file is missing".into(),
            }
        } else {
            IdentityError::Io {
                path: path.to_owned(),
                source: e,
            }
        }
    })?;
    mesh_protocol::bytes::from_hex::<32>(text.trim()).map_err(|e| IdentityError::Corrupt {
        path: path.to_owned(),
        reason: e.to_string(),
    })
}

fn to_hex(bytes: &[u8]) -> String {
    mesh_protocol::bytes::to_hex(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_then_load_and_refuse_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let a = init(dir.path(), "sales").unwrap();
        let b = load(dir.path()).unwrap();
        assert_eq!(a.domain.domain_id(), b.domain.domain_id());
        assert_eq!(a.node.public(), b.node.public());
        assert!(matches!(
            init(dir.path(), "sales"),
            Err(IdentityError::Exists(_))
        ));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.path().join(DOMAIN_KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn a_missing_domain_key_beside_other_files_gets_a_hint_that_works() {
        let dir = tempfile::tempdir().unwrap();
        init(dir.path(), "sales").unwrap();
        fs::remove_file(dir.path().join(DOMAIN_KEY_FILE)).unwrap();
        let err = load(dir.path()).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, IdentityError::Incomplete { .. }), "{text}");
        assert!(
            text.contains("restore domain.key") && text.contains(NODE_KEY_FILE),
            "{text}"
        );
        // The hint does not send the user to a command that refuses.
        assert!(!text.contains("meshd init --data-dir"), "{text}");
        assert!(matches!(
            init(dir.path(), "sales"),
            Err(IdentityError::Exists(_))
        ));
    }

    #[test]
    fn corrupt_and_missing_keys_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(load(dir.path()), Err(IdentityError::Missing(_))));
        init(dir.path(), "sales").unwrap();
        fs::write(dir.path().join(NODE_KEY_FILE), "zz").unwrap();
        assert!(matches!(
            load(dir.path()),
            Err(IdentityError::Corrupt { .. })
        ));
        assert!(matches!(
            init(tempfile::tempdir().unwrap().path(), "Bad Name"),
            Err(IdentityError::DomainName(_))
        ));
    }
}
