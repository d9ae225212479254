//! The admin CLI against the configured database, on SQLite and PostgreSQL, with a server
//! running on the same database: tenants and keys created from the command line work in
//! the API; an operator's password is reset (printed once, or read from stdin) and the
//! old one stops working; a lockout is lifted; `config print` redacts secrets; errors
//! are one readable line and exit status 1; `--help` names the variables and the file.

use crate::bootstrap::ServerProcess;
use crate::support::{base64_basic, create_alice, SendJson, ADMIN_PASSWORD};
use crate::{Backend, TestApp, PASSWORD};
use serde_json::{json, Value};
use std::io::Write;
use std::process::{Command, Stdio};

struct Cli {
    env: Vec<(String, String)>,
}

struct Output {
    ok: bool,
    stdout: String,
    stderr: String,
}

impl Cli {
    fn run(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut command = Command::new(env!("CARGO_BIN_EXE_keyplane"));
        command
            .args(args)
            .env("RUST_BACKTRACE", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in &self.env {
            command.env(k, v);
        }
        let mut child = command.spawn().unwrap();
        let mut input = child.stdin.take().unwrap();
        if let Some(text) = stdin {
            input.write_all(text.as_bytes()).unwrap();
        }
        drop(input);
        let out = child.wait_with_output().unwrap();
        let output = Output {
            ok: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        assert!(!output.stderr.contains("backtrace"), "{args:?}: no backtrace: {}", output.stderr);
        output
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args, None);
        assert!(out.ok, "{args:?} succeeds: {}", out.stderr);
        out.stdout
    }

    fn fails(&self, args: &[&str], stdin: Option<&str>, saying: &str) {
        let out = self.run(args, stdin);
        assert!(!out.ok, "{args:?} fails");
        assert!(out.stderr.contains(saying), "{args:?} says {saying:?}: {}", out.stderr);
    }
}

async fn cli_on(cli: Cli, server: &ServerProcess) {
    let client = reqwest::Client::new();
    let url = |path: &str| format!("{}{path}", server.base);

    let created: Value =
        serde_json::from_str(&cli.ok(&["tenant", "create", "--slug", "acme", "--name", "Acme"])).unwrap();
    assert_eq!(created["slug"], "acme");
    cli.fails(
        &["tenant", "create", "--slug", "acme", "--name", "Acme"],
        None,
        "a tenant with the slug 'acme' already exists",
    );
    cli.fails(&["tenant", "create", "--slug", "Not A Slug", "--name", "x"], None, "slug");
    assert!(cli.ok(&["tenant", "list"]).lines().any(|l| l.contains("\"slug\":\"acme\"")));

    let key: Value =
        serde_json::from_str(&cli.ok(&["key", "create", "--tenant", "acme", "--role", "tenant_admin"])).unwrap();
    let plain: Value = serde_json::from_str(&cli.ok(&["key", "create", "--tenant", "acme"])).unwrap();
    assert_eq!(plain["roles"], json!([]), "a key without --role administers nothing: {plain}");
    let key = key["key"].as_str().unwrap().to_owned();
    cli.fails(&["key", "create", "--tenant", "nope"], None, "no tenant 'nope' exists");
    cli.fails(&["key", "create", "--tenant", "acme", "--role", "platform_admin"], None, "platform role");
    // A key made by the CLI works in the API.
    create_alice(&client, &server.base, &key).await;

    // A lockout lifted from the command line.
    let login = |password: &'static str| {
        client
            .post(url("/api/v1/users/auth/_login"))
            .header("x-api-key", &key)
            .json(&json!({"username": "alice", "password": password}))
            .send()
    };
    for _ in 0..10 {
        assert_eq!(login("wrong password").await.unwrap().status(), 401);
    }
    assert_eq!(login(PASSWORD).await.unwrap().status(), 401, "locked");
    assert!(cli.ok(&["user", "unlock", "alice", "--tenant", "acme"]).contains("unlocked"));
    assert_eq!(login(PASSWORD).await.unwrap().status(), 200, "unlocked from the CLI");

    // An operator's password reset: generated and printed once, then read from stdin.
    let tenants = |password: String| {
        client
            .get(url("/api/v1/platform/tenants"))
            .header("authorization", format!("Basic {}", base64_basic("admin", &password)))
            .send()
    };
    assert_eq!(tenants(ADMIN_PASSWORD.to_owned()).await.unwrap().status(), 200);
    // The operator has a session, and is locked out by repeated failures.
    let session: Value = client
        .post(url("/api/v1/users/auth/_login"))
        .json(&json!({"username": "admin", "password": ADMIN_PASSWORD}))
        .send_json()
        .await;
    let operator_token = session["token"].as_str().expect("the operator signs in").to_owned();
    let me = |token: String| client.get(url("/api/v1/platform/brute-force-policy")).bearer_auth(token).send();
    assert_eq!(me(operator_token.clone()).await.unwrap().status(), 200);
    for _ in 0..10 {
        assert_eq!(tenants("wrong password".to_owned()).await.unwrap().status(), 401);
    }
    assert_eq!(tenants(ADMIN_PASSWORD.to_owned()).await.unwrap().status(), 401, "the operator is locked");
    let printed = cli.ok(&["admin", "reset-password", "admin"]);
    assert!(printed.contains("1 session(s) ended"), "{printed}");
    assert_eq!(me(operator_token).await.unwrap().status(), 401, "the reset ends the operator's sessions");
    let generated = printed.split("shown only this once): ").nth(1).unwrap().lines().next().unwrap().trim().to_owned();
    assert!(generated.len() >= 20, "{printed}");
    assert_eq!(tenants(ADMIN_PASSWORD.to_owned()).await.unwrap().status(), 401, "the old password stops working");
    assert_eq!(tenants(generated.clone()).await.unwrap().status(), 200, "the printed one works, the lock lifted");
    let out = cli.run(&["admin", "reset-password", "admin", "--password-stdin"], Some("chosen-by-operator\n"));
    assert!(out.ok && !out.stdout.contains("chosen-by-operator"), "{} {}", out.stdout, out.stderr);
    assert_eq!(tenants("chosen-by-operator".to_owned()).await.unwrap().status(), 200);
    cli.fails(&["admin", "reset-password", "admin", "--password-stdin"], Some("short\n"), "8 to 1024");
    cli.fails(&["admin", "reset-password", "ghost"], None, "no platform operator is named 'ghost'");
    // An operator created over the API is reset the same way.
    let created = client
        .post(url("/api/v1/platform/users"))
        .basic_auth("admin", Some("chosen-by-operator"))
        .json(&json!({"user_name": "Ops", "password": PASSWORD, "roles": ["platform_viewer"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 200);
    let as_ops =
        |password: &'static str| client.get(url("/api/v1/platform/users")).basic_auth("ops", Some(password)).send();
    assert_eq!(as_ops(PASSWORD).await.unwrap().status(), 200);
    let ops_key: Value = client
        .post(url("/api/v1/platform/users/ops/keys"))
        .basic_auth("ops", Some(PASSWORD))
        .json(&json!({"description": "automation"}))
        .send_json()
        .await;
    let ops_key = ops_key["key"].as_str().expect("ops makes a key").to_owned();
    let with_ops_key = || client.get(url("/api/v1/platform/users")).header("x-api-key", &ops_key).send();
    assert_eq!(with_ops_key().await.unwrap().status(), 200);
    let out = cli.run(&["admin", "reset-password", "ops", "--password-stdin"], Some("ops-new-password\n"));
    assert!(out.ok, "{}", out.stderr);
    assert!(out.stdout.contains("1 API key(s) revoked"), "{}", out.stdout);
    assert_eq!(with_ops_key().await.unwrap().status(), 401, "the reset revokes the operator's keys");
    assert_eq!(as_ops(PASSWORD).await.unwrap().status(), 401, "the API-created operator's old password");
    assert_eq!(as_ops("ops-new-password").await.unwrap().status(), 200, "and the new one");

    let config = cli.ok(&["config", "print"]);
    let config: Value = serde_json::from_str(&config).unwrap();
    assert_eq!(config["master_key"], "<redacted>");
    assert!(config["database_url"].is_null() || config["database_url"] == "<redacted>");
    for (_, value) in cli.env.iter().filter(|(k, _)| k == "KEYPLANE_MASTER_KEY" || k == "KEYPLANE_DATABASE_URL") {
        assert!(!config.to_string().contains(value.as_str()), "config print shows no secret");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_administers_a_sqlite_database_beside_a_running_server() {
    let dir = std::env::temp_dir().join(format!("keyplane-cli-{}", uuid::Uuid::new_v4().simple()));
    let data_dir = dir.to_str().unwrap().to_owned();
    let master = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
    let server = ServerProcess::start(&[
        ("KEYPLANE_DATA_DIR", data_dir.as_str()),
        ("KEYPLANE_MASTER_KEY", master),
        ("KEYPLANE_BOOTSTRAP_ADMIN_PASSWORD", ADMIN_PASSWORD),
        ("KEYPLANE_CACHE_TTL_MS", "0"),
    ]);
    let cli = Cli {
        env: vec![("KEYPLANE_DATA_DIR".into(), data_dir.clone()), ("KEYPLANE_MASTER_KEY".into(), master.into())],
    };
    cli_on(cli, &server).await;
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_administers_a_postgres_database_beside_a_running_server() {
    let Some(app) = TestApp::spawn(Backend::Postgres).await else { return };
    let master = std::fs::read_to_string(app.data_dir_path().join("master.key")).unwrap().trim().to_owned();
    let server = app.replica(1, &[("KEYPLANE_CACHE_TTL_MS", "0")]);
    let cli = Cli {
        env: vec![
            ("KEYPLANE_DATABASE_URL".into(), app.database_url.clone()),
            ("KEYPLANE_MASTER_KEY".into(), master),
            ("KEYPLANE_DATA_DIR".into(), app.data_dir_path().join("cli").display().to_string()),
        ],
    };
    cli_on(cli, &server).await;
}

#[test]
fn the_cli_never_creates_a_database_or_a_master_key_of_its_own() {
    let dir = std::env::temp_dir().join(format!("keyplane-cli-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let cli = Cli { env: vec![("KEYPLANE_DATA_DIR".into(), dir.display().to_string())] };
    cli.fails(&["admin", "reset-password", "admin"], None, "no Keyplane database at");
    cli.fails(&["tenant", "list"], None, "no Keyplane database at");
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0, "nothing was created");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn version_and_help_name_the_variables_and_the_file() {
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_keyplane")).args(args).output().unwrap();
        assert!(out.status.success(), "{args:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_eq!(run(&["--version"]).trim(), format!("keyplane {}", env!("CARGO_PKG_VERSION")));
    for args in
        [&["--help"][..], &["admin", "reset-password", "--help"], &["key", "create", "--help"], &["tenant", "--help"]]
    {
        let help = run(args);
        assert!(help.contains("KEYPLANE_") && help.contains("keyplane.toml"), "{args:?}: {help}");
    }
    assert!(run(&["admin", "reset-password", "--help"]).contains("--password-stdin"));
}
