//! Finding a Python with the official `openai` and `anthropic` SDKs, for tests that drive the
//! stand-in or the aigov gateway with the real clients.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The SDK versions checked against (pinned so CI is reproducible).
pub const SDK_PINS: [&str; 2] = ["openai==3.54.0", "anthropic==2.12.0"];

fn imports(python: &Path) -> bool {
    Command::new(python)
        .args(["-c", "import openai, anthropic"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A python that can import both SDKs: `$AIGOV_SDK_PYTHON`, `python3`, or a venv at
/// `<target>/standin-sdk-venv` (created with pip, pinned to [`SDK_PINS`], on first use).
pub fn python(target: &Path) -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("AIGOV_SDK_PYTHON") {
        let p = PathBuf::from(p);
        return if imports(&p) {
            Ok(p)
        } else {
            Err(format!(
                "AIGOV_SDK_PYTHON={} cannot import openai and anthropic",
                p.display()
            ))
        };
    }
    if imports(Path::new("python3")) {
        return Ok(PathBuf::from("python3"));
    }
    let venv = target.join("standin-sdk-venv");
    let python = venv.join("bin").join("python");
    if imports(&python) {
        return Ok(python);
    }
    eprintln!(
        "standin: installing {} into {}",
        SDK_PINS.join(" "),
        venv.display()
    );
    let ok = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        return Err("python3 -m venv failed (is python3 with venv installed?)".into());
    }
    let ok = Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .args(SDK_PINS)
        .status()
        .is_ok_and(|s| s.success());
    if ok && imports(&python) {
        Ok(python)
    } else {
        Err(format!(
            "pip install {} into {} failed",
            SDK_PINS.join(" "),
            venv.display()
        ))
    }
}

/// [`python`], or `None` after a loud banner saying `test` was skipped; with
/// `AIGOV_REQUIRE_SDK` set (as in CI) a missing SDK panics instead.
pub fn python_or_skip(target: &Path, test: &str) -> Option<PathBuf> {
    match python(target) {
        Ok(p) => Some(p),
        Err(why) if std::env::var_os("AIGOV_REQUIRE_SDK").is_none() => {
            let bar = "!".repeat(72);
            eprintln!(
                "\n{bar}\n!!! SKIPPED {test}: {why}\n!!! set AIGOV_REQUIRE_SDK=1 to make this a failure\n{bar}\n"
            );
            None
        }
        Err(why) => panic!("AIGOV_REQUIRE_SDK is set but the SDKs are unavailable: {why}"),
    }
}
