//! `aigov key create|list|revoke`: developer keys checked against the bundle's people, shown
//! once, listed without the key, revoked per kind, and recorded in the audit ledger.

use expect_test::expect;

use super::{broken_bundle, bundle_copy, check, run};

fn stdout(args: &[&str], dir: &std::path::Path) -> String {
    let output = run(dir, args);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn args(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn assert_key_shape(key: &str) {
    let body = key.strip_prefix("aigov_dev_").expect("aigov_dev_ prefix");
    assert_eq!(body.len(), 43, "{key}");
    assert!(
        body.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
        "{key}"
    );
}

#[test]
fn key_create_list_revoke() {
    let dir = bundle_copy(|_| {});
    let d = dir.path();
    let store = ["--data-dir", "data"];
    let create = |extra: &[&str]| -> Vec<String> {
        ["key", "create", "--bundle", "bundle"]
            .iter()
            .chain(extra)
            .chain(&store)
            .map(|s| (*s).to_owned())
            .collect()
    };

    let first = run(
        d,
        &args(&create(&["--person", "lena", "--repo", "acme/storefront"])),
    );
    assert_eq!(first.status.code(), Some(0));
    let first_key = String::from_utf8(first.stdout).unwrap().trim().to_owned();
    assert_key_shape(&first_key);
    expect![[r#"
        Created developer key `lena-1` for `lena`, default repository `acme/storefront`. Store it now: it will not be shown again.
    "#]]
    .assert_eq(&String::from_utf8(first.stderr).unwrap());

    // The name defaults to `<person>-<n>`.
    let second_key = stdout(&args(&create(&["--person", "lena"])), d)
        .trim()
        .to_owned();
    assert_key_shape(&second_key);
    assert_ne!(first_key, second_key);

    // An unknown person is a usage error with a hint; nothing is created.
    check(
        d,
        &args(&create(&["--person", "lenna"])),
        expect![[r#"
            exit: 2
            --- stderr
            error: unknown person `lenna`: the inventory of the bundle at `bundle` does not list them
              hint: did you mean `lena`?
        "#]],
    );
    check(
        d,
        &args(&create(&["--person", "lena", "--repo", "storefront"])),
        expect![[r#"
            exit: 2
            --- stderr
            error: invalid repository `storefront`: expected `owner/name`, e.g. `acme/storefront`
        "#]],
    );
    // An explicit name that an active key has is refused.
    check(
        d,
        &args(&create(&["--person", "lena", "--name", "lena-1"])),
        expect![[r#"
            exit: 1
            --- stderr
            error: an active developer key named `lena-1` already exists; revoke it first with `aigov key revoke --name lena-1`, or pick another name
        "#]],
    );

    let list = stdout(&["key", "list", "--data-dir", "data"], d);
    let rows: Vec<Vec<&str>> = list
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows.len(), 3, "{list}");
    assert_eq!(rows[0], ["NAME", "PERSON", "REPO", "CREATED", "REVOKED"]);
    assert_eq!(
        (rows[1][0], rows[1][1], rows[1][2], rows[1][4]),
        ("lena-1", "lena", "acme/storefront", "-")
    );
    assert_eq!(
        (rows[2][0], rows[2][1], rows[2][2], rows[2][4]),
        ("lena-2", "lena", "-", "-")
    );
    for key in [&first_key, &second_key] {
        assert!(!list.contains(key.as_str()), "list never shows keys");
        let body = key.strip_prefix("aigov_dev_").unwrap();
        assert!(!list.contains(body), "nor part of them");
    }

    // Admin tokens and developer keys are separate: `token` neither lists nor revokes keys.
    let tokens = run(d, &["token", "list", "--data-dir", "data"]);
    assert_eq!(tokens.status.code(), Some(0));
    assert!(
        !String::from_utf8(tokens.stdout).unwrap().contains("lena-"),
        "token list shows admin tokens only"
    );
    check(
        d,
        &["token", "revoke", "--name", "lena-2", "--data-dir", "data"],
        expect![[r#"
            exit: 1
            --- stderr
            error: no active token named `lena-2`; see `aigov token list`
        "#]],
    );

    check(
        d,
        &["key", "revoke", "--name", "lena-1", "--data-dir", "data"],
        expect![[r#"
            exit: 0
            --- stdout
            revoked developer key `lena-1`
        "#]],
    );
    check(
        d,
        &["key", "revoke", "--name", "lena-1", "--data-dir", "data"],
        expect![[r#"
            exit: 1
            --- stderr
            error: no active developer key named `lena-1`; see `aigov key list`
        "#]],
    );
    let list = stdout(&["key", "list", "--data-dir", "data"], d);
    let revoked: Vec<&str> = list
        .lines()
        .filter_map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            (cols[0] == "lena-1").then_some(cols[4])
        })
        .collect();
    assert_eq!(revoked.len(), 1, "{list}");
    assert_ne!(revoked[0], "-", "{list}");

    // A revoked key's generated name is not handed out again.
    stdout(&args(&create(&["--person", "lena"])), d);
    assert!(
        stdout(&["key", "list", "--data-dir", "data"], d).contains("lena-3"),
        "next generated name"
    );

    // Every creation and revocation is in the ledger; no entry holds a key.
    let log = stdout(
        &[
            "audit",
            "log",
            "--data-dir",
            "data",
            "--kind",
            "credential_change",
            "--format",
            "json",
        ],
        d,
    );
    let entries: Vec<(String, String)> = log
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            assert_eq!(v["kind"], "credential_change", "{l}");
            (
                v["fields"]["event"].as_str().unwrap().to_owned(),
                v["subject"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected = [
        ("key.created", "key:lena-1"),
        ("key.created", "key:lena-2"),
        ("key.revoked", "key:lena-1"),
        ("key.created", "key:lena-3"),
    ]
    .map(|(e, s)| (e.to_owned(), s.to_owned()));
    assert_eq!(entries, expected);
    assert!(!log.contains(&first_key) && !log.contains(&second_key));
}

#[test]
fn key_create_needs_a_loadable_bundle() {
    let dir = broken_bundle();
    check(
        dir.path(),
        &[
            "key",
            "create",
            "--person",
            "lena",
            "--bundle",
            "bundle",
            "--data-dir",
            "data",
        ],
        expect![[r#"
            exit: 2
            --- stderr
            error: cannot check person `lena`: the bundle at `bundle` is invalid (1 error(s)); check it with `aigov policy validate bundle`
        "#]],
    );
    check(
        dir.path(),
        &[
            "key",
            "create",
            "--person",
            "lena",
            "--bundle",
            "missing",
            "--data-dir",
            "data",
        ],
        expect![[r#"
            exit: 2
            --- stderr
            error: cannot check person `lena` against the bundle's inventory: cannot read bundle at `missing`: No such file or directory (os error 2)
        "#]],
    );
    // Nothing was created.
    check(
        dir.path(),
        &["key", "list", "--data-dir", "data"],
        expect![[r#"
            exit: 0
            --- stderr
            no developer keys; create one with `aigov key create --person PERSON`
        "#]],
    );
}
