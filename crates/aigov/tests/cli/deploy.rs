//! `aigov deploy`: a break-glass authorization made with the CLI, its bundle written by
//! `deploy proof` and checked by `deploy verify` as a CD pipeline runs it (exit codes, reasons,
//! `--format json`), refusals, revocation, retro-review, `verify --server` against
//! `aigov serve`, and the ledger verifying afterwards.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use expect_test::expect;
use serde_json::Value;

use super::{Child, aigov, bundle_copy, check, http_get, run};

const HOTFIX: &str = "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee";
const OTHER: &str = "1111111111111111111111111111111111111111";

fn ok(dir: &Path, args: &[&str]) -> String {
    let out = run(dir, args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `deploy verify` of the bundle file `auth.json` for `commit` with `extra` arguments: exit
/// code and stdout.
fn verify(dir: &Path, commit: &str, extra: &[&str]) -> (i32, String) {
    verify_with(dir, commit, "file:key.pub", extra)
}

fn verify_with(dir: &Path, commit: &str, key: &str, extra: &[&str]) -> (i32, String) {
    let mut args = vec![
        "deploy",
        "verify",
        "--app",
        "storefront",
        "--env",
        "production",
        "--commit",
        commit,
        "--key",
        key,
    ];
    args.extend_from_slice(extra);
    let out = run(dir, &args);
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap() + &String::from_utf8_lossy(&out.stderr),
    )
}

fn argv(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// JSON with every RFC 3339 time replaced by `<time>`, pretty.
fn redact_times(mut v: Value) -> String {
    fn walk(v: &mut Value) {
        match v {
            Value::Object(map) => map.values_mut().for_each(walk),
            Value::Array(items) => items.iter_mut().for_each(walk),
            Value::String(s)
                if time::OffsetDateTime::parse(
                    s,
                    &time::format_description::well_known::Rfc3339,
                )
                .is_ok() =>
            {
                *s = "<time>".to_owned();
            }
            _ => {}
        }
    }
    walk(&mut v);
    serde_json::to_string_pretty(&v).unwrap()
}

#[test]
fn deploy_authorize_proof_verify() {
    let dir = bundle_copy(|_| {});
    let d = dir.path();
    let target = ["--bundle", "bundle", "--data-dir", "data"];
    let authorize = |extra: &[&str]| {
        let mut args = vec![
            "deploy",
            "authorize",
            "--app",
            "storefront",
            "--env",
            "production",
            "--approver",
            "alice",
        ];
        args.extend_from_slice(extra);
        args.extend_from_slice(&target);
        args.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>()
    };

    // A standard authorization needs the change record: refused (and recorded), exit 1.
    check(
        d,
        &argv(&authorize(&["--commit", HOTFIX])),
        expect![[r#"
            exit: 1
            --- stdout
            refused (recorded as ledger entry 0):
              - no change record of `storefront` (acme/storefront) has commit eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee as its head or merge commit; a standard authorization needs the reviewed change (or use break-glass with a reason)
        "#]],
    );
    // Bad input is a tool failure naming the problem.
    check(
        d,
        &argv(&authorize(&["--commit", "abc"])),
        expect![[r#"
            exit: 2
            --- stderr
            error: invalid commit `abc`: expected the full 40-hex-digit commit id
        "#]],
    );
    check(
        d,
        &argv(&authorize(&["--commit", HOTFIX, "--break-glass"])),
        expect![[r#"
            exit: 2
            --- stderr
            error: the following required arguments were not provided:
              --reason <REASON>

            Usage: aigov deploy authorize --app <APP> --env <ENV> --commit <COMMIT> --approver <APPROVER> --break-glass --reason <REASON> --bundle <DIR> --data-dir <DIR>

            For more information, try '--help'.
        "#]],
    );

    // Break-glass: a reason and a named approver.
    let created: Value = serde_json::from_str(&ok(
        d,
        &argv(&authorize(&[
            "--commit",
            HOTFIX,
            "--break-glass",
            "--reason",
            "checkout returns 500s",
            "--format",
            "json",
        ])),
    ))
    .unwrap();
    expect![[r#"
        {
          "id": 1,
          "app": "storefront",
          "environment": "production",
          "repo": null,
          "commit": "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee",
          "kind": "break-glass",
          "approver": "alice",
          "reason": "checkout returns 500s",
          "authorized_at": "<time>",
          "expires_at": "<time>",
          "retro_review_due": "<time>",
          "ledger_index": 1,
          "revocation": null,
          "retro_review": null
        }"#]]
    .assert_eq(&redact_times(created));

    let key = ok(d, &["audit", "key", "--file", "data/audit-signing.key"]);
    std::fs::write(d.join("key.pub"), &key).unwrap();
    let proof = run(
        d,
        &[
            "deploy",
            "proof",
            "--app",
            "storefront",
            "--env",
            "production",
            "--commit",
            HOTFIX,
            "--out",
            "auth.json",
            "--data-dir",
            "data",
        ],
    );
    assert_eq!(proof.status.code(), Some(0), "{proof:?}");

    // Valid: exit 0.
    let (code, out) = verify(d, HOTFIX, &["--bundle", "auth.json"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with(&format!("authorized: {HOTFIX} may be deployed to storefront/production (break-glass authorization by alice at ")), "{out}");
    assert!(
        out.contains("\n  break-glass: checkout returns 500s\n"),
        "{out}"
    );
    let (code, out) = verify(d, HOTFIX, &["--bundle", "auth.json", "--format", "json"]);
    assert_eq!(code, 0, "{out}");
    expect![[r#"
        {
          "authorized": true,
          "app": "storefront",
          "environment": "production",
          "commit": "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee",
          "reason": null,
          "message": null,
          "authorization": {
            "kind": "break-glass",
            "approver": "alice",
            "authorized_at": "<time>",
            "expires_at": "<time>",
            "reason": "checkout returns 500s",
            "retro_review_due": "<time>",
            "ledger_index": 1,
            "checkpoint_size": 2,
            "origin": "aigov.local/audit"
          }
        }"#]]
    .assert_eq(&redact_times(serde_json::from_str(&out).unwrap()));

    // Another commit: exit 1 with the authorized one.
    check(
        d,
        &[
            "deploy",
            "verify",
            "--app",
            "storefront",
            "--env",
            "production",
            "--commit",
            OTHER,
            "--key",
            "file:key.pub",
            "--bundle",
            "auth.json",
        ],
        expect![[r#"
            exit: 1
            --- stdout
            not authorized: authorization is for commit eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee
        "#]],
    );
    check(
        d,
        &[
            "deploy",
            "verify",
            "--app",
            "storefront",
            "--env",
            "production",
            "--commit",
            OTHER,
            "--key",
            "file:key.pub",
            "--bundle",
            "auth.json",
            "--format",
            "json",
        ],
        expect![[r#"
            exit: 1
            --- stdout
            {"authorized":false,"app":"storefront","environment":"production","commit":"1111111111111111111111111111111111111111","reason":"other_commit","message":"authorization is for commit eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee","authorization":null}
        "#]],
    );
    // Expired (verified as of a later time).
    let (code, out) = verify(
        d,
        HOTFIX,
        &["--bundle", "auth.json", "--at", "2100-01-01T00:00:00Z"],
    );
    assert_eq!(code, 1, "{out}");
    assert!(out.starts_with("not authorized: expired at "), "{out}");
    // Another key.
    std::fs::write(
        d.join("other.pub"),
        ledger::SignerKey::from_seed("aigov.local", [3; 32])
            .unwrap()
            .verifier()
            .to_string(),
    )
    .unwrap();
    let (code, out) = verify_with(d, HOTFIX, "file:other.pub", &["--bundle", "auth.json"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.starts_with("not authorized: signature does not verify: no signature on the envelope verifies with key `aigov.local+"), "{out}");
    // Tampered with: the details no longer match the ledger entry.
    let text = std::fs::read_to_string(d.join("auth.json")).unwrap();
    std::fs::write(
        d.join("tampered.json"),
        text.replacen("checkout returns 500s", "routine", 1),
    )
    .unwrap();
    let (code, out) = verify(d, HOTFIX, &["--bundle", "tampered.json"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.starts_with("not authorized: not in the log: the authorization's ledger entry 1 does not commit to these details"), "{out}");
    std::fs::write(d.join("garbage.json"), "{}").unwrap();
    let (code, out) = verify(d, HOTFIX, &["--bundle", "garbage.json"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.starts_with(
            "not authorized: invalid bundle: `garbage.json` is not an authorization bundle"
        ),
        "{out}"
    );
    // A missing file is a tool failure.
    let (code, out) = verify(d, HOTFIX, &["--bundle", "missing.json"]);
    assert_eq!(code, 2, "{out}");

    // The retro-review, by someone other than the approver.
    let review = ok(
        d,
        &[
            "deploy",
            "retro-review",
            "--id",
            "1",
            "--reviewer",
            "priya",
            "--notes",
            "root cause fixed in #12",
            "--bundle",
            "bundle",
            "--data-dir",
            "data",
        ],
    );
    assert!(review.contains("retro-reviewed by priya at "), "{review}");

    // `verify --server` asks `aigov serve`, which also knows about revocations.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let log = std::fs::File::create(d.join("serve.log")).unwrap();
    let _child = Child(
        aigov(d)
            .args([
                "serve",
                "--listen",
                &listen,
                "--data-dir",
                "data",
                "--bundle",
                "bundle",
            ])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    let started = Instant::now();
    while http_get(port, "/healthz", None).map(|r| r.0).unwrap_or(0) != 200 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "server did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let token = std::fs::read_to_string(d.join("data/initial-admin-token")).unwrap();
    let server = format!("http://{listen}");
    let verify_server = |commit: &str| {
        let out = aigov(d)
            .env("AIGOV_TOKEN", token.trim())
            .args([
                "deploy",
                "verify",
                "--app",
                "storefront",
                "--env",
                "production",
                "--commit",
                commit,
                "--key",
                "file:key.pub",
                "--server",
                &server,
            ])
            .output()
            .unwrap();
        (
            out.status.code().unwrap(),
            String::from_utf8(out.stdout).unwrap(),
        )
    };
    let (code, out) = verify_server(HOTFIX);
    assert_eq!(code, 0, "{out}");
    let (code, out) = verify_server(OTHER);
    assert_eq!(
        (code, out.as_str()),
        (
            1,
            format!("not authorized: authorization is for commit {HOTFIX}\n").as_str()
        )
    );
    let (code, out) = {
        let out = run(
            d,
            &[
                "deploy",
                "verify",
                "--app",
                "storefront",
                "--env",
                "production",
                "--commit",
                HOTFIX,
                "--key",
                "file:key.pub",
                "--server",
                &server,
            ],
        );
        (
            out.status.code().unwrap(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    assert_eq!(code, 2, "no token is a tool failure: {out}");
    assert!(out.contains("AIGOV_TOKEN"), "{out}");

    let revoked = ok(
        d,
        &[
            "deploy",
            "revoke",
            "--id",
            "1",
            "--by",
            "priya",
            "--reason",
            "superseded by the real fix",
            "--bundle",
            "bundle",
            "--data-dir",
            "data",
        ],
    );
    assert!(revoked.contains("revoked by priya at "), "{revoked}");
    let (code, out) = verify_server(HOTFIX);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.starts_with("not authorized: revoked by priya at "),
        "{out}"
    );
    assert!(
        out.ends_with(" because superseded by the real fix\n"),
        "{out}"
    );
    // The bundle saved before the revocation cannot know of it.
    let (code, out) = verify(d, HOTFIX, &["--bundle", "auth.json"]);
    assert_eq!(code, 0, "{out}");

    // Everything is in a ledger that verifies.
    let out = run(
        d,
        &[
            "audit",
            "verify",
            "--db",
            "data/aigov.db",
            "--origin",
            "aigov.local/audit",
            "--key",
            "file:key.pub",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
