//! A second local Unix user, for tests of what another user on the machine can reach.
#![allow(dead_code)]

use std::process::{Command, Output};

pub const NAME: &str = "fdtest2";

/// Whether the tests can act as another user: they run as root and the user exists (made
/// here when absent). Otherwise says why and returns false (the test then skips that part).
pub fn available() -> bool {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: acting as a second Unix user needs root (useradd, runuser)");
        return false;
    }
    let exists = Command::new("id")
        .arg(NAME)
        .output()
        .is_ok_and(|o| o.status.success());
    if !exists {
        let made = Command::new("useradd")
            .args(["-M", "-r", "-s", "/bin/sh", NAME])
            .status()
            .is_ok_and(|s| s.success());
        // Another test binary may have made it meanwhile.
        let exists = Command::new("id")
            .arg(NAME)
            .output()
            .is_ok_and(|o| o.status.success());
        if !made && !exists {
            eprintln!("skipped: cannot create the user {NAME}");
            return false;
        }
    }
    true
}

/// Run `argv` as the second user.
pub fn run(argv: &[&str]) -> Output {
    Command::new("runuser")
        .args(["-u", NAME, "--"])
        .args(argv)
        .output()
        .expect("runuser")
}
