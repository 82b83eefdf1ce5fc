//! Integration tests of the content scanner: rule examples, allowlists, PII validators, redaction.

use expect_test::{Expect, expect};
use scanner::{BUILTIN, Scanner};

#[test]
fn every_builtin_rule_matches_its_examples_and_not_its_near_misses() {
    let mut problems = Vec::new();
    for rule in BUILTIN {
        assert!(
            !rule.positives.is_empty() && !rule.negatives.is_empty(),
            "rule `{}` needs examples of both kinds",
            rule.id
        );
        let alone = Scanner::with_rules(vec![rule.into()]).unwrap();
        for p in rule.positives {
            if !alone
                .scan_secrets(p.as_bytes())
                .iter()
                .any(|f| &*f.rule_id == rule.id)
            {
                problems.push(format!("{}: missed positive {p:?}", rule.id));
            }
        }
        for n in rule.negatives {
            let found = alone.scan_secrets(n.as_bytes());
            if !found.is_empty() {
                problems.push(format!(
                    "{}: flagged negative {n:?} at {:?}",
                    rule.id, found[0].span
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn rule_ids_are_unique_and_regexes_compile_without_unicode() {
    let mut ids: Vec<&str> = BUILTIN.iter().map(|r| r.id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), BUILTIN.len());
    Scanner::builtin();
}

/// Scans `input` with the built-in rules and lists each finding as `family confidence: text`.
fn check(input: &str, expect: Expect) {
    let s = Scanner::builtin();
    let found = s.scan(input.as_bytes());
    let actual: String = found
        .iter()
        .map(|f| {
            format!(
                "{} {}: {}\n",
                f.family,
                f.confidence.as_str(),
                &input[f.span.clone()]
            )
        })
        .collect();
    expect.assert_eq(&actual);
}

#[test]
fn documented_examples_placeholders_and_inline_markers_are_allowed() {
    check("aws_access_key_id = AKIAIOSFODNN7EXAMPLE\n", expect![[""]]);
    check(
        "token = \"ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"\n",
        expect![[""]],
    );
    check("api_key = \"your-api-key-here\"\n", expect![[""]]);
    check(
        "key = AKIAZ3MKQ7T2X4PLW5NB  # aigov:allow test fixture\n",
        expect![[""]],
    );
    check(
        "key = AKIAZ3MKQ7T2X4PLW5NB\n",
        expect![[r#"
        aws-access-key high: AKIAZ3MKQ7T2X4PLW5NB
    "#]],
    );
}

#[test]
fn a_specific_rule_wins_over_the_generic_one_on_the_same_span() {
    check(
        "github_token = \"ghp_R8zK2mQ9vL4xT7nB1cW5yH3jF6dS0aP2eG8u\"\n",
        expect![[r#"
        github-token high: ghp_R8zK2mQ9vL4xT7nB1cW5yH3jF6dS0aP2eG8u
    "#]],
    );
}

#[test]
fn adjacent_secrets_are_all_found() {
    check(
        "ghp_R8zK2mQ9vL4xT7nB1cW5yH3jF6dS0aP2eG8u,ghp_Q7yJ1lP8uK3wS6mA0bV4xG2iE5cR9zO1dF7t AKIAZ3MKQ7T2X4PLW5NB\n",
        expect![[r#"
            github-token high: ghp_R8zK2mQ9vL4xT7nB1cW5yH3jF6dS0aP2eG8u
            github-token high: ghp_Q7yJ1lP8uK3wS6mA0bV4xG2iE5cR9zO1dF7t
            aws-access-key high: AKIAZ3MKQ7T2X4PLW5NB
        "#]],
    );
}

#[test]
fn personal_data_is_validated() {
    check(
        "card 4111 1111 1111 1111 ok, 4111 1111 1111 1112 bad, ssn 123-45-6789, 666-12-3456 never issued\n\
         iban DE89 3704 0044 0532 0130 00 and DE89 3704 0044 0532 0130 01\n\
         ip 8.8.8.8 public, 10.1.2.3 private, 192.0.2.7 documentation, 300.1.1.1 invalid\n\
         mail jane.doe@acme-corp.io and ops@example.com, phone +44 20 7946 0958\n",
        expect![[r#"
            credit-card high: 4111 1111 1111 1111
            us-ssn medium: 123-45-6789
            iban high: DE89 3704 0044 0532 0130 00
            ip-address low: 8.8.8.8
            email medium: jane.doe@acme-corp.io
            phone-number low: +44 20 7946 0958
        "#]],
    );
}

#[test]
fn redaction_replaces_only_the_secret_and_keeps_the_type() {
    let s = Scanner::builtin();
    let text = r#"{"messages":[{"role":"user","content":"deploy with key AKIAZ3MKQ7T2X4PLW5NB and mail jane.doe@acme-corp.io"}]}"#;
    let found = s.scan(text.as_bytes());
    expect![[r#"{"messages":[{"role":"user","content":"deploy with key [REDACTED:aws-access-key] and mail [REDACTED:email]"}]}"#]]
        .assert_eq(&scanner::redact(text, &found));
}

#[test]
fn entropy_is_bits_per_byte() {
    assert_eq!(scanner::entropy(b"aaaa"), 0.0);
    assert!((scanner::entropy(b"abcd") - 2.0).abs() < 1e-6);
}

#[test]
fn card_numbers_need_their_issuers_length() {
    // Amex (37…) is 15 digits; the same digits at 18 long are not a card (they are the tail of
    // an IBAN with a wrong checksum).
    check(
        "amex 3782 822463 10005 and 3704 0044 0532 0130 01\n",
        expect![[r#"
        credit-card high: 3782 822463 10005
    "#]],
    );
}

#[test]
fn generic_keywords_match_in_any_case_and_token_prefixes_exactly() {
    check(
        "DB_PASSWORD = \"Zk2mQ9vL4xT7\"\nClientSecret: \"q3Zt8Vw1Lr9Xk2Pm\"\n",
        expect![[r#"
        generic-secret medium: Zk2mQ9vL4xT7
        generic-secret medium: q3Zt8Vw1Lr9Xk2Pm
    "#]],
    );
    // Real GitHub tokens are always lowercase `ghp_`; `GHP_…` is something else.
    check("GHP_R8ZK2MQ9VL4XT7NB1CW5YH3JF6DS0AP2EG8U\n", expect![[""]]);
}

#[test]
fn json_string_values_are_scanned_decoded_and_redacted_validly() {
    let s = Scanner::builtin();
    // The key sits after an escaped quote and newline: raw-byte spans would be off.
    let body = r#"{"model":"m","messages":[{"role":"user","content":"config:\n\"key\": \"AKIAZ3MKQ7T2X4PLW5NB\"\tmail jane.doe@acme-corp.io"}],"a/b":"ghp_R8zK2mQ9vL4xT7nB1cW5yH3jF6dS0aP2eG8u"}"#;
    let mut value: serde_json::Value = serde_json::from_str(body).unwrap();
    let found = s.scan_json(&value);
    let listed: Vec<String> = found
        .iter()
        .map(|f| format!("{} {}", f.pointer, f.finding.family))
        .collect();
    assert_eq!(
        listed,
        [
            "/a~1b github-token",
            "/messages/0/content aws-access-key",
            "/messages/0/content email"
        ]
    );
    scanner::redact_json(&mut value, &found);
    // Compared as parsed values: key order depends on serde_json's features in the build.
    let out = serde_json::to_string(&value).unwrap();
    let expected = serde_json::json!({
        "model": "m",
        "messages": [{"role": "user", "content": "config:\n\"key\": \"[REDACTED:aws-access-key]\"\tmail [REDACTED:email]"}],
        "a/b": "[REDACTED:github-token]",
    });
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&out).unwrap(),
        expected
    );
}

/// Scans a diff and lists `file:line:column family`.
fn check_diff(diff: &str, expect: Expect) {
    let found = Scanner::builtin().scan_diff(diff);
    let actual: String = found
        .iter()
        .map(|f| format!("{}:{}:{} {}\n", f.file, f.line, f.column, f.finding.family))
        .collect();
    expect.assert_eq(&actual);
}

#[test]
fn diffs_count_only_added_lines_with_new_file_positions() {
    check_diff(
        "diff --git a/app/settings.py b/app/settings.py\n\
         index 1111111..2222222 100644\n\
         --- a/app/settings.py\n\
         +++ b/app/settings.py\n\
         @@ -10,4 +10,5 @@ import os\n \
         DEBUG = False\n\
         -AWS_KEY = \"AKIAQ2W3E4R5T6Y7U2I3\"\n\
         +AWS_KEY = os.environ[\"AWS_KEY\"]\n\
         +GITHUB = \"ghp_R8zK2mQ9vL4xT7nB1cW5yH3jF6dS0aP2eG8u\"\n \
         ALLOWED = []\n\
         +++ not a header: an added line whose content starts with '++ '\n\
         diff --git a/keys/deploy.pem b/keys/deploy.pem\n\
         new file mode 100644\n\
         --- /dev/null\n\
         +++ b/keys/deploy.pem\n\
         @@ -0,0 +1,4 @@\n\
         +-----BEGIN RSA PRIVATE KEY-----\n\
         +MIIEowIBAAKCAQEAzk2mQ9vL4xT7nB1cW5yH3jF6dS0aP2eG8uR8zK2mQ9vL4xT7nB1c\n\
         +W5yH3jF6dS0aP2eG8uR8zK2mQ9vL4xT7nB1cW5yH3jF6dS0aP2eG8u==\n\
         +-----END RSA PRIVATE KEY-----\n",
        expect![[r#"
            app/settings.py:12:11 github-token
            keys/deploy.pem:1:1 private-key
        "#]],
    );
}

fn gitleaks_fixture(name: &str) -> Result<scanner::gitleaks::Loaded, scanner::gitleaks::LoadError> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("test_data/gitleaks");
    let text = std::fs::read_to_string(dir.join(name)).unwrap();
    let mut resolve = |p: &str| {
        std::fs::read_to_string(dir.join(p))
            .map(|t| (p.to_owned(), t))
            .map_err(|e| e.to_string())
    };
    scanner::gitleaks::load(name, &text, &mut resolve)
}

/// Loads a gitleaks fixture, scans each `(path, text)` and lists `path: rule family text`.
fn check_gitleaks(file: &str, inputs: &[(Option<&str>, &str)], expect: Expect) {
    let loaded = gitleaks_fixture(file).unwrap_or_else(|e| panic!("{e}"));
    let s = loaded.scanner();
    let mut actual = String::new();
    for (path, text) in inputs {
        let src = scanner::Source {
            path: *path,
            repo: None,
        };
        for f in s.scan_secrets_in(text.as_bytes(), src) {
            actual.push_str(&format!(
                "{}: {} {} {:?}\n",
                path.unwrap_or("<prompt>"),
                f.rule_id,
                f.family,
                &text[f.span.clone()]
            ));
        }
    }
    expect.assert_eq(&actual);
}

#[test]
fn gitleaks_rules_extend_the_defaults_with_groups_paths_and_allowlists() {
    let token = "acme_live_q3zt8vw1lr9xk2pm7nc4hb6yd0gf5js8";
    let deploy = "deploy_key = \"Zk2mQ9vL4xT7nB1cW5yH3jF6dS0aP2eG8uR8Zk2m\"";
    let jwt = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkFsaWNlIn0.Zk2mQ9vL4xT7nB1cW5yH3jF6dS0aP2eG8uR8";
    check_gitleaks(
        "org.toml",
        &[
            // secretGroup = 1: the whole token, not just its random part; keywords in any case.
            (None, &format!("TOKEN={}", token.to_uppercase())),
            (None, &format!("token = {token}  # sandbox account")),
            // `path`-scoped rule: only in deploy/*.ini.
            (Some("deploy/prod.ini"), deploy),
            (Some("src/prod.ini"), deploy),
            // Path-only rule: the file itself is the finding.
            (Some("certs/server.jks"), "binary-ish"),
            // A built-in rule extended with a stopword; `jwt` is disabled.
            (
                None,
                "a ghp_0000Zk2mQ9vL4xT7nB1cW5yH3jF6dS0aP2e b ghp_R8zK2mQ9vL4xT7nB1cW5yH3jF6dS0aP2eG8u",
            ),
            (None, jwt),
            // Global allowlists: vendored code; Stripe test keys only under fixtures/ (AND).
            (Some("vendor/lib/aws.py"), "AKIAZ3MKQ7T2X4PLW5NB"),
            (
                Some("tests/fixtures/pay.py"),
                "sk_test_51Hq8ZkLm2Qp9Vx4Tb7Nc1Wy5Dj3Fg6H",
            ),
            (
                Some("tests/fixtures/pay.py"),
                "sk_live_51Hq8ZkLm2Qp9Vx4Tb7Nc1Wy5Dj3Fg6H",
            ),
            (
                Some("src/pay.py"),
                "sk_test_51Hq8ZkLm2Qp9Vx4Tb7Nc1Wy5Dj3Fg6H",
            ),
        ],
        expect![[r#"
            <prompt>: acme-internal-token acme-internal-token "ACME_LIVE_Q3ZT8VW1LR9XK2PM7NC4HB6YD0GF5JS8"
            deploy/prod.ini: acme-deploy-key acme-deploy-key "Zk2mQ9vL4xT7nB1cW5yH3jF6dS0aP2eG8uR8Zk2m"
            certs/server.jks: keystore-file keystore-file ""
            <prompt>: github-token github-token "ghp_R8zK2mQ9vL4xT7nB1cW5yH3jF6dS0aP2eG8u"
            tests/fixtures/pay.py: stripe-key stripe-key "sk_live_51Hq8ZkLm2Qp9Vx4Tb7Nc1Wy5Dj3Fg6H"
            src/pay.py: stripe-key stripe-key "sk_test_51Hq8ZkLm2Qp9Vx4Tb7Nc1Wy5Dj3Fg6H"
        "#]],
    );
}

#[test]
fn gitleaks_extend_path_merges_the_extended_file() {
    check_gitleaks(
        "extends.toml",
        &[(
            None,
            "base_q3zt8vw1lr9xk2pm own_zk2mq9vl4xt7nb1c AKIAZ3MKQ7T2X4PLW5NB",
        )],
        // No `useDefault`: the built-in AWS rule is not in effect.
        expect![[r#"
            <prompt>: base-rule base-rule "q3zt8vw1lr9xk2pm"
            <prompt>: own-rule own-rule "zk2mq9vl4xt7nb1c"
        "#]],
    );
}

#[test]
fn bad_gitleaks_files_are_rejected_with_position_rule_and_reason() {
    let errors = |name: &str| match gitleaks_fixture(name) {
        Ok(_) => panic!("{name} loaded"),
        Err(e) => format!("{e}\n"),
    };
    expect![[r#"
        bad.toml:2:7: `[extend] url` is not supported: aigov does not fetch rules over the network (hint: download the file and use `[extend] path` instead)
        bad.toml:6:9: rule `broken-regex`: invalid regex: unclosed group (hint: gitleaks and aigov agree on Go RE2 syntax, except that Unicode classes such as `\p{L}` are not available; test the pattern with `aigov scan --rules FILE`)
        bad.toml:12:15: rule `group-too-big`: `secretGroup` is 3 but the regex has 1 capture group(s) (hint: count the regex's `(` groups, not counting `(?:`)
        bad.toml:19:3: rule `composite`: composite rules (`required`) are not supported by aigov (hint: remove `[[rules.required]]`; aigov would otherwise report matches that gitleaks reports only next to the required findings)
        bad.toml:22:1: rule `nothing-to-match`: rule has neither `regex` nor `path` (hint: give a `regex` to match content, a `path` to match file names, or both)
        bad.toml:31:15: rule `bad-allowlist`: allowlist `condition` must be `OR` or `AND`, not `XOR`
        bad.toml:32:17: rule `bad-allowlist`: allowlist `regexTarget` must be `secret`, `match` or `line`, not `everything`
        bad.toml:33:14: rule `bad-allowlist`: invalid allowlist regex: invalid character class range, the start must be <= the end (hint: gitleaks and aigov agree on Go RE2 syntax, except that Unicode classes such as `\p{L}` are not available; test the pattern with `aigov scan --rules FILE`)
    "#]]
    .assert_eq(&errors("bad.toml"));
    expect![[r#"
        typo.toml:9:1: rule `typo-rule`: unknown field `keyword`, expected one of `id`, `description`, `regex`, `secretGroup`, `entropy`, `path`, `keywords`, `tags`, `allowlist`, `allowlists`, `required`, `skipReport` (hint: aigov reads gitleaks v8 rule files; check the spelling, or remove the field)
    "#]]
    .assert_eq(&errors("typo.toml"));
}

#[test]
fn gitleaks_features_aigov_cannot_honour_are_reported_as_warnings() {
    let loaded = gitleaks_fixture("warnings.toml").unwrap();
    let warnings: String = loaded.warnings.iter().map(|w| format!("{w}\n")).collect();
    expect![[r#"
        warnings.toml:1:1: rule `no-keywords`: rule has no `keywords`, so its regex runs on every input (hint: add `keywords` (literal strings every match contains) to keep scans fast)
        warnings.toml:6:1: allowlist `commits` never match: aigov scans content (prompts, files, diffs), not git history (hint: the allowlist's other criteria still apply)
    "#]]
    .assert_eq(&warnings);
    // The keyword-less rule still works, and the allowlist's paths still apply.
    let s = loaded.scanner();
    let text = b"tok_q3zt8vw1lr9xk2pm7nc4hb6y";
    assert_eq!(s.scan_secrets(text).len(), 1);
    let docs = scanner::Source {
        path: Some("docs/setup.md"),
        repo: None,
    };
    assert!(s.scan_secrets_in(text, docs).is_empty());
}

#[test]
fn repository_and_path_allowlists_apply_to_secrets_and_personal_data() {
    let mut rules = scanner::RuleSet::builtin();
    rules.allowlists.push(scanner::Allowlist {
        description: "docs site publishes sample data".into(),
        condition: scanner::Condition::And,
        repos: vec!["acme/docs-site".into()],
        paths: vec![scanner::PathPattern::Glob("content/**".into())],
        ..Default::default()
    });
    rules.allowlists.push(scanner::Allowlist {
        description: "support fixtures".into(),
        condition: scanner::Condition::And,
        paths: vec![scanner::PathPattern::Glob("**/fixtures/*.csv".into())],
        target_rules: vec!["email".into()],
        ..Default::default()
    });
    let s = Scanner::new(&rules).unwrap();
    let text = b"key AKIAZ3MKQ7T2X4PLW5NB mail jane.doe@acme-corp.io";
    let count = |path: Option<&str>, repo: Option<&str>| {
        s.scan_in(text, scanner::Source { path, repo })
            .iter()
            .map(|f| f.family.to_string())
            .collect::<Vec<_>>()
            .join(",")
    };
    assert_eq!(count(None, None), "aws-access-key,email");
    assert_eq!(count(Some("content/a.md"), Some("acme/docs-site")), "");
    assert_eq!(
        count(Some("content/a.md"), Some("acme/payments")),
        "aws-access-key,email"
    );
    assert_eq!(
        count(Some("src/a.md"), Some("acme/docs-site")),
        "aws-access-key,email"
    );
    // Only e-mail addresses are allowed in fixtures; `*` does not cross directories.
    assert_eq!(
        count(Some("tests/fixtures/users.csv"), None),
        "aws-access-key"
    );
    assert_eq!(
        count(Some("tests/fixtures/x/users.csv"), None),
        "aws-access-key,email"
    );
}
