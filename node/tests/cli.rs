//! The `meshd` binary's argument handling. (Also makes `cargo test` build
//! the binary that the workspace's integration tests run.)

use std::process::Command;

#[test]
fn unknown_subcommand_is_a_usage_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_meshd"))
        .arg("frobnicate")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn init_rejects_an_invalid_domain_name() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_meshd"))
        .args([
            "init",
            "--data-dir",
            dir.path().to_str().unwrap(),
            "--domain",
            "Not Valid",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid domain name"));
    assert!(!dir.path().join("domain.key").exists());
}
