//! `sshd` on loopback, run as the current user with its own config, host key and
//! authorized_keys in a temp dir, on an unprivileged port.

use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

pub struct SshServer {
    pub dir: TempDir,
    pub port: u16,
    pub user: String,
    child: Child,
}

impl Drop for SshServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn keygen(path: &Path, passphrase: &str) {
    let status = Command::new("ssh-keygen")
        .args([
            "-q",
            "-t",
            "ed25519",
            "-N",
            passphrase,
            "-C",
            "pg-gitops-test",
            "-f",
        ])
        .arg(path)
        .stdout(Stdio::null())
        .status()
        .expect("ssh-keygen runs");
    assert!(status.success(), "ssh-keygen failed");
}

fn current_user() -> String {
    let output = Command::new("id").arg("-un").output().expect("id runs");
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

impl SshServer {
    /// Starts sshd accepting `client_public_key` (the contents of a `.pub` file).
    pub fn start(client_public_key: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let host_key = dir.path().join("host_key");
        keygen(&host_key, "");
        std::fs::write(dir.path().join("authorized_keys"), client_public_key).unwrap();
        if current_user() == "root" {
            // sshd running as root insists on its privilege separation directory.
            std::fs::create_dir_all("/run/sshd").unwrap();
        }
        let git_dir = Command::new("sh")
            .args([
                "-c",
                "dirname \"$(command -v git-upload-pack || command -v git)\"",
            ])
            .output()
            .unwrap();
        let git_dir = String::from_utf8_lossy(&git_dir.stdout).trim().to_string();
        let port = crate::free_port().port();
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {host_key}\nAuthorizedKeysFile {dir}/authorized_keys\n\
             PidFile none\nStrictModes no\nUsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
             PubkeyAuthentication yes\nPermitRootLogin prohibit-password\nLogLevel ERROR\n\
             SetEnv PATH={git_dir}:/usr/local/bin:/usr/bin:/bin\n",
            host_key = host_key.display(),
            dir = dir.path().display(),
        );
        let config_path = dir.path().join("sshd_config");
        std::fs::write(&config_path, config).unwrap();
        let child = Command::new("/usr/sbin/sshd")
            .args(["-D", "-e", "-f"])
            .arg(&config_path)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("sshd starts (install openssh-server)");
        let server = SshServer {
            dir,
            port,
            user: current_user(),
            child,
        };
        server.wait_for_banner();
        server
    }

    fn wait_for_banner(&self) {
        let started = Instant::now();
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        while started.elapsed() < Duration::from_secs(10) {
            if let Ok(mut stream) = TcpStream::connect(addr) {
                let mut banner = [0u8; 4];
                if stream.read_exact(&mut banner).is_ok() && &banner == b"SSH-" {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("sshd did not come up on port {}", self.port);
    }

    /// `ssh://user@127.0.0.1:port/<absolute path>`
    pub fn url(&self, repo: &Path) -> String {
        format!(
            "ssh://{}@127.0.0.1:{}{}",
            self.user,
            self.port,
            repo.display()
        )
    }

    /// A known_hosts line for this server's real host key.
    pub fn known_hosts_line(&self) -> String {
        let public = std::fs::read_to_string(self.dir.path().join("host_key.pub")).unwrap();
        let mut fields = public.split_whitespace();
        let (key_type, key) = (fields.next().unwrap(), fields.next().unwrap());
        format!("[127.0.0.1]:{} {key_type} {key}\n", self.port)
    }
}
