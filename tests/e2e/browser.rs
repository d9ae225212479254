//! Swagger UI in headless Chromium (Debian's `chromium`, driven by playwright-core from
//! npm): `tests/browser/swagger-ui.mjs` against the real `keyplane` binary. Skipped,
//! visibly, where Node, Chromium or the npm package is missing, unless
//! `KEYPLANE_TEST_REQUIRE_TOOLS=1` (CI installs them and sets that). The screenshot is kept
//! at `target/ci-artifacts/swagger-ui.png`.

use std::path::Path;
use std::process::Command;

#[test]
fn swagger_ui_authorizes_and_tries_operations_in_a_real_browser() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let required = std::env::var("KEYPLANE_TEST_REQUIRE_TOOLS").is_ok_and(|v| v == "1");
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned());
    let missing = [
        (Command::new("node").arg("--version").output().is_err(), "node"),
        (!Path::new(&chromium).exists(), "chromium (apt-get install chromium)"),
        (
            !root.join("tests/browser/node_modules/playwright-core").exists(),
            "playwright-core (npm ci --prefix tests/browser)",
        ),
    ];
    if let Some((_, what)) = missing.iter().find(|(gone, _)| *gone) {
        assert!(!required, "{what} is required (KEYPLANE_TEST_REQUIRE_TOOLS=1) but missing");
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), "NOTE: {what} is missing: the Swagger UI browser test is SKIPPED");
        return;
    }
    let out = Command::new("node")
        .arg(root.join("tests/browser/swagger-ui.mjs"))
        .arg(env!("CARGO_BIN_EXE_keyplane"))
        .env("SCREENSHOT", root.join("target/ci-artifacts/swagger-ui.png"))
        .env("CHROMIUM", &chromium)
        .output()
        .expect("node runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the Swagger UI check failed:\n{text}");
    assert!(text.contains("3 operations OK"), "{text}");
}
