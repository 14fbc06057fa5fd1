//! A real `sshd` on 127.0.0.1 for the remote-host tests: a generated host key and user key, an
//! authorized_keys of its own, the current user as the login. Stopped when dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};

pub const SSHD: &str = "/usr/sbin/sshd";

pub struct Sshd {
    pub port: u16,
    pub dir: PathBuf,
    child: Child,
}

/// Whether the remote-host tests can run here; when sshd is missing they skip, unless
/// FLIGHTDECK_SSHD=required (CI sets it), where they fail.
pub fn available() -> bool {
    let there = Path::new(SSHD).exists();
    if !there {
        assert!(
            std::env::var("FLIGHTDECK_SSHD").as_deref() != Ok("required"),
            "FLIGHTDECK_SSHD=required but {SSHD} is not installed (apt-get install openssh-server)"
        );
        eprintln!("skipped: {SSHD} is not installed (apt-get install openssh-server)");
    }
    there
}

fn keygen(path: &Path) {
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "fdtest", "-f"])
        .arg(path)
        .output()
        .expect("ssh-keygen");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn user() -> String {
    let out = Command::new("id").arg("-un").output().expect("id");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

impl Sshd {
    pub fn start(dir: &Path) -> Sshd {
        std::fs::create_dir_all(dir).unwrap();
        let dir = dir.to_path_buf();
        keygen(&dir.join("host_key"));
        keygen(&dir.join("user_key"));
        std::fs::copy(dir.join("user_key.pub"), dir.join("authorized_keys")).unwrap();
        // Privilege separation wants its directory when sshd starts as root.
        let _ = std::fs::create_dir_all("/run/sshd");
        for _ in 0..5 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            std::fs::write(
                dir.join("sshd_config"),
                format!(
                    "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\nPidFile {d}/sshd.pid\nAuthorizedKeysFile {d}/authorized_keys\nStrictModes no\nUsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nPubkeyAuthentication yes\nPermitRootLogin prohibit-password\nMaxSessions 64\nMaxStartups 64\nLogLevel ERROR\n",
                    d = dir.display()
                ),
            )
            .unwrap();
            let mut child = Command::new(SSHD)
                .args(["-D", "-e", "-f"])
                .arg(dir.join("sshd_config"))
                .stderr(std::fs::File::create(dir.join("sshd.log")).unwrap())
                .spawn()
                .expect("sshd");
            let host_pub = std::fs::read_to_string(dir.join("host_key.pub")).unwrap();
            std::fs::write(
                dir.join("known_hosts"),
                format!("[127.0.0.1]:{port} {host_pub}"),
            )
            .unwrap();
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            while std::time::Instant::now() < deadline {
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Sshd { port, dir, child };
                }
                if let Ok(Some(_)) = child.try_wait() {
                    break; // the port was taken in between: another one
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!(
            "sshd did not start: {}",
            std::fs::read_to_string(dir.join("sshd.log")).unwrap_or_default()
        );
    }

    /// `[hosts.NAME]`'s ssh words for this server.
    pub fn ssh_words(&self) -> Vec<String> {
        let d = self.dir.display();
        vec![
            "-F".into(),
            "/dev/null".into(),
            "-p".into(),
            self.port.to_string(),
            "-i".into(),
            format!("{d}/user_key"),
            "-o".into(),
            "IdentitiesOnly=yes".into(),
            "-o".into(),
            format!("UserKnownHostsFile={d}/known_hosts"),
            "-o".into(),
            "StrictHostKeyChecking=yes".into(),
            // The master connection ends with the test, not five minutes later.
            "-o".into(),
            "ControlPersist=1".into(),
            format!("{}@127.0.0.1", user()),
        ]
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
