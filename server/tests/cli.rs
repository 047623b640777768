//! The `agentkeys` binary, run as a user would.

use std::process::Command;

fn agentkeys(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_agentkeys")).args(args).output().expect("run agentkeys")
}

#[test]
fn keygen_prints_a_fresh_valid_key() {
    let a = agentkeys(&["keygen"]);
    let b = agentkeys(&["keygen"]);
    assert!(a.status.success());
    let key = String::from_utf8(a.stdout).unwrap();
    let key = key.trim_end();
    assert_eq!(key.len(), 64);
    assert!(key.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')));
    assert!(agentkeys::AgentKey::new(key).is_ok());
    assert_ne!(key.as_bytes(), b.stdout.trim_ascii_end());
}

#[test]
fn unknown_command_prints_usage_and_fails() {
    let out = agentkeys(&["frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Usage: agentkeys"), "{out:?}");
}

#[test]
fn version_matches_the_crate() {
    let out = agentkeys(&["--version"]);
    assert_eq!(String::from_utf8(out.stdout).unwrap(), format!("agentkeys {}\n", env!("CARGO_PKG_VERSION")));
}

/// Completion scripts and the manual page, as `make install` installs them; a closed pipe is not
/// an error.
#[test]
fn completions_and_manual_page() {
    let bin = env!("CARGO_BIN_EXE_agentkeys");
    for shell in ["bash", "zsh", "fish"] {
        let out = Command::new(bin).args(["completions", shell]).output().unwrap();
        assert!(out.status.success() && String::from_utf8_lossy(&out.stdout).contains("tokens"), "{shell}");
    }
    let man = Command::new(bin).arg("man").output().unwrap();
    assert!(man.status.success() && String::from_utf8_lossy(&man.stdout).contains(".TH agentkeys 1"));
    let mut child =
        Command::new(bin).args(["completions", "bash"]).stdout(std::process::Stdio::piped()).spawn().unwrap();
    drop(child.stdout.take());
    assert!(child.wait().unwrap().success(), "a reader that went away is not an error");
}
