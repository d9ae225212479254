//! The `keyplane` binary itself: first start creates `admin` and prints a generated
//! password once; later starts keep it and print nothing.

use reqwest::Method;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A `keyplane serve` child process on a free port.
pub struct ServerProcess {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// Every stderr line up to "listening".
    pub startup_output: Vec<String>,
    /// The stderr lines after those.
    output: mpsc::Receiver<String>,
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ServerProcess {
    /// The process id (to read its memory from `/proc`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Starts the binary with `env` and waits until it listens.
    pub fn start(env: &[(&str, &str)]) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_keyplane"));
        command.arg("serve").env("KEYPLANE_PORT", "0").env("KEYPLANE_LOG_FORMAT", "json").env("KEYPLANE_WORKERS", "1");
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child =
            command.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("the keyplane binary starts");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            // Keep draining stderr for the child's whole life, so that it never writes
            // into a closed pipe.
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut startup_output = Vec::new();
        let port = loop {
            let line = rx.recv_timeout(Duration::from_secs(60)).expect("the server reports that it listens");
            startup_output.push(line.clone());
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
                if v["fields"]["message"] == "listening" {
                    break v["fields"]["port"].as_u64().unwrap();
                }
            }
        };
        Self { child, base: format!("http://127.0.0.1:{port}"), startup_output, output: rx }
    }

    /// Sends `signal` (`TERM`, `INT`, …) to the process.
    pub fn signal(&self, signal: &str) {
        let sent = Command::new("kill").arg(format!("-{signal}")).arg(self.pid().to_string()).status().unwrap();
        assert!(sent.success(), "kill -{signal}");
    }

    /// Waits (up to `limit`) for the process to exit; returns its status and the stderr
    /// lines it wrote since it started listening.
    pub fn wait_for_exit(&mut self, limit: Duration) -> (std::process::ExitStatus, Vec<String>) {
        let deadline = std::time::Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                // The reader thread ends at the pipe's end: every line is in by then.
                return (status, self.output.iter().collect());
            }
            assert!(std::time::Instant::now() < deadline, "still running after {limit:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[tokio::test]
async fn first_start_prints_a_generated_admin_password_once() {
    let dir = std::env::temp_dir().join(format!("keyplane-bootstrap-{}", uuid::Uuid::new_v4().simple()));
    let data_dir = dir.to_str().unwrap();
    let client = reqwest::Client::new();

    let first = ServerProcess::start(&[("KEYPLANE_DATA_DIR", data_dir)]);
    let line = first
        .startup_output
        .iter()
        .find(|l| l.contains("created with password:"))
        .expect("the generated password is printed");
    // The server logs JSON here: the line is JSON too, readable by a log collector.
    let line: serde_json::Value = serde_json::from_str(line).expect("the password line is JSON in JSON mode");
    let message = line["fields"]["message"].as_str().unwrap();
    let password = message.rsplit("password: ").next().unwrap().trim().to_owned();
    assert!(password.len() >= 20, "a strong generated password");
    let ok = client
        .request(Method::GET, format!("{}/api/v1/platform/tenants", first.base))
        .basic_auth("admin", Some(&password))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    drop(first);

    let second = ServerProcess::start(&[("KEYPLANE_DATA_DIR", data_dir)]);
    assert!(
        second.startup_output.iter().all(|l| !l.contains("created with password") && !l.contains(&password)),
        "printed only once: {:?}",
        second.startup_output
    );
    assert!(std::path::Path::new(data_dir).join("keyplane.db").exists(), "SQLite file under the data dir");
    let ok = client
        .request(Method::GET, format!("{}/api/v1/platform/tenants", second.base))
        .basic_auth("admin", Some(&password))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200, "the same password works after a restart");
    drop(second);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn configured_admin_password_is_used_and_never_printed() {
    let dir = std::env::temp_dir().join(format!("keyplane-bootstrap-{}", uuid::Uuid::new_v4().simple()));
    let server = ServerProcess::start(&[
        ("KEYPLANE_DATA_DIR", dir.to_str().unwrap()),
        ("KEYPLANE_BOOTSTRAP_ADMIN_PASSWORD", "configured-secret-pw"),
    ]);
    assert!(server.startup_output.iter().all(|l| !l.contains("configured-secret-pw")), "no secret in logs");
    let client = reqwest::Client::new();
    let resp = client
        .get(format!("{}/api/v1/platform/tenants", server.base))
        .basic_auth("admin", Some("configured-secret-pw"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_master_key_that_does_not_open_the_stored_keys_stops_the_start() {
    let dir = std::env::temp_dir().join(format!("keyplane-bootstrap-{}", uuid::Uuid::new_v4().simple()));
    let data_dir = dir.to_str().unwrap();
    let first_key = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
    let server = ServerProcess::start(&[
        ("KEYPLANE_DATA_DIR", data_dir),
        ("KEYPLANE_MASTER_KEY", first_key),
        ("KEYPLANE_BOOTSTRAP_ADMIN_PASSWORD", "configured-secret-pw"),
    ]);
    let created = reqwest::Client::new()
        .post(format!("{}/api/v1/platform/tenants", server.base))
        .basic_auth("admin", Some("configured-secret-pw"))
        .json(&serde_json::json!({"slug": "acme", "name": "Acme"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201, "the tenant and its signing key are stored");
    drop(server);

    let output = Command::new(env!("CARGO_BIN_EXE_keyplane"))
        .arg("serve")
        .env("KEYPLANE_PORT", "0")
        .env("KEYPLANE_DATA_DIR", data_dir)
        .env("KEYPLANE_MASTER_KEY", "ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA=")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "a start with another master key fails: {stderr}");
    assert!(stderr.contains("the master key does not open the signing keys"), "a clear message: {stderr}");
    assert!(!stderr.contains("listening"), "{stderr}");

    let again = ServerProcess::start(&[("KEYPLANE_DATA_DIR", data_dir), ("KEYPLANE_MASTER_KEY", first_key)]);
    drop(again);
    let _ = std::fs::remove_dir_all(&dir);
}
