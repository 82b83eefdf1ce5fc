//! Integration tests of bundle loading, validation diagnostics and policy tests.

use std::path::{Path, PathBuf};

use expect_test::{Expect, expect};

fn example_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/governance")
}

/// Copies the example bundle into a temp dir, applies `patches` (path, new content; empty
/// content deletes the file), and returns the dir.
fn patched(patches: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    bundle::example::write_to(dir.path()).unwrap();
    for (rel, text) in patches {
        let path = dir.path().join(rel);
        if text.is_empty() {
            std::fs::remove_file(&path).unwrap();
        } else {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, text).unwrap();
        }
    }
    dir
}

/// Loads the patched example bundle and compares every diagnostic (or `valid`) with `expect`.
fn check(patches: &[(&str, &str)], expect: Expect) {
    let dir = patched(patches);
    let actual = match bundle::load(dir.path()) {
        Ok(b) => {
            let mut out = format!("valid: {} policies\n", b.engine.policies().len());
            for w in &b.warnings {
                out.push_str(&format!("{w}\n"));
            }
            out
        }
        Err(bundle::LoadError::Invalid(diags)) => {
            diags.iter().map(|d| format!("{d}\n")).collect::<String>()
        }
        Err(e) => format!("io error: {e}\n"),
    };
    expect.assert_eq(&actual);
}

fn replace(rel: &str, from: &str, to: &str) -> (String, String) {
    let text = std::fs::read_to_string(example_dir().join(rel)).unwrap();
    assert!(text.contains(from), "{rel} does not contain {from:?}");
    (rel.to_owned(), text.replacen(from, to, 1))
}

#[test]
fn example_bundle_is_valid_and_its_tests_pass() {
    let b = bundle::load(&example_dir()).unwrap();
    assert_eq!(b.engine.policies().len(), 16);
    assert!(b.tests.len() >= 25, "{} tests", b.tests.len());
    let results = bundle::run_tests(&b);
    let failed: Vec<_> = results.iter().filter(|r| r.failure.is_some()).collect();
    assert!(failed.is_empty(), "{failed:#?}");
    assert_eq!(
        b.inventory.applications["data-pipeline"].repositories,
        ["acme/data-pipeline"]
    );
}

#[test]
fn example_bundle_as_shipped() {
    check(
        &[],
        expect![[r#"
        valid: 16 policies
    "#]],
    );
}

#[test]
fn embedded_example_matches_the_directory() {
    let mut on_disk = Vec::new();
    let mut stack = vec![example_dir()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p
                    .strip_prefix(example_dir())
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                assert_eq!(
                    bundle::example::FILES
                        .iter()
                        .find(|(r, _)| *r == rel)
                        .map(|(_, t)| *t),
                    Some(std::fs::read_to_string(&p).unwrap().as_str()),
                    "{rel} is not embedded (add it to crates/bundle/src/example.rs)"
                );
                on_disk.push(rel);
            }
        }
    }
    assert_eq!(on_disk.len(), bundle::example::FILES.len());
}

#[test]
fn change_settings_errors_are_located() {
    let (rel, text) = replace(
        "change.yaml",
        "retro_review_within: 48h",
        "retro_review_within: 2 days",
    );
    let text = text
        .replace(
            "protected_branches: [main]",
            "protected_branches: [main, Main]",
        )
        .replace(
            "  security: [security-scan]",
            "  security: [security-scan]\n  lint: [clippy]",
        );
    check(
        &[(&rel, &text)],
        expect![[r#"
            change.yaml:17:3: error[invalid-field]: invalid change-management settings at `checks.lint`: Unknown field `lint`, expected `tests` or `security`
              hint: `change.yaml` takes `review_checklist: [..]`, `checks: {tests: [..], security: [..]}`, `protected_branches: [..]` and `deployments: {authorization_valid_for: 7d, retro_review_within: 48h}`
        "#]],
    );
    let (rel, text) = replace(
        "change.yaml",
        "retro_review_within: 48h",
        "retro_review_within: 2days",
    );
    let text = text.replace(
        "protected_branches: [main]",
        "protected_branches: [main, Main, ' ']",
    );
    check(
        &[(&rel, &text)],
        expect![[r#"
            change.yaml:20:28: error[duplicate]: `protected_branches` lists `Main` twice
            change.yaml:20:34: error[invalid-value]: `protected_branches` has an empty entry
              hint: remove the entry or write its text
            change.yaml:27:24: error[invalid-value]: invalid `deployments.retro_review_within`: `2days` has no known unit: write a whole number and a unit, e.g. `30m`, `48h`, `7d` (units: s, m, h, d, w)
        "#]],
    );
}

#[test]
fn change_settings_are_read() {
    let b = bundle::load(&example_dir()).unwrap();
    let c = &b.change;
    assert_eq!(c.review_checklist.len(), 3);
    assert_eq!(c.test_checks, ["test"]);
    assert_eq!(c.security_checks, ["security-scan"]);
    assert_eq!(c.protected_branches, ["main"]);
    assert_eq!(c.authorization_valid_for.as_secs(), 7 * 86_400);
    assert_eq!(c.retro_review_within.as_secs(), 48 * 3600);
    assert_eq!(
        b.inventory
            .person_by_login("github", "Lena-Acme")
            .map(|p| p.id.as_str()),
        Some("lena")
    );
    assert_eq!(b.inventory.person_by_login("gitlab", "lena-acme"), None);
}

#[test]
fn planted_errors_are_all_reported_with_file_and_line() {
    let (teams, teams_text) = replace("inventory/teams.yaml", "owner: priya\n", "owner: pryia\n");
    let (apps, apps_text) = replace("inventory/applications.yaml", "    owner: web\n", "");
    let (people, people_text) = replace(
        "inventory/people.yaml",
        "    team: web\n    role: developer\n    training_completed: 2026-04-11",
        "    role: developer\n    training_completed: 2026-04-11",
    );
    let (tools, tools_text) = replace(
        "inventory/tools.yaml",
        "vendor: anysphere, status",
        "vendor: any-sphere, status",
    );
    let (_, gw_text) = replace(
        "policy/gateway.cedar",
        "unless { principal.training_completed }",
        "unless { principal.trainig_completed }",
    );
    let gw_text = gw_text.replace("Team::\"payments\"", "Team::\"paymnets\"");
    check(
        &[
            (&teams, &teams_text),
            (&apps, &apps_text),
            (&people, &people_text),
            (&tools, &tools_text),
            ("policy/gateway.cedar", &gw_text),
        ],
        expect![[r#"
            inventory/applications.yaml:11:9: error[missing-owner]: application `storefront` has no owner
              hint: every application needs an accountable owner: add `owner: <team-or-person-id>`
            inventory/people.yaml:39:9: error[person-without-team]: person `omar` is in no team
              hint: add `team: <team-id>` to the person, or list them under a team's `members`
            inventory/teams.yaml:5:12: error[unknown-person]: `owner` refers to person `pryia`, which is not defined
              hint: did you mean `priya`?
            inventory/tools.yaml:22:41: error[unknown-vendor]: `vendor` refers to vendor `any-sphere`, which is not defined
              hint: did you mean `anysphere`?
            policy/gateway.cedar:12:10: error[cedar-validation]: for policy `training-required`, attribute `trainig_completed` on entity type `Person` not found
              hint: did you mean `training_completed`?
            policy/gateway.cedar:46:23: error[unknown-entity]: policy `payments-code-payments-team-only` refers to `Team::"paymnets"`, which is not in the inventory
              hint: did you mean `Team::"payments"`?
        "#]],
    );
}

#[test]
fn policy_annotation_and_syntax_errors() {
    check(
        &[(
            "policy/extra.cedar",
            "permit (principal, action == Action::\"SendPrompt\", resource);\n\n@id(\"baseline-prompt\")\n@reason(\"dup\")\npermit (principal, action, resource);\n\n@id(\"no-reason\")\nforbid (principal, action == Action::\"Deploy\", resource)\nwhen { context.authorized };\n\n@id(\"broken\")\n@reason(\"x\")\nforbid (principal, action, resource) when { context.change.approvals > };\n",
        )],
        expect![[r#"
            policy/extra.cedar:1:1: error[missing-id]: policy has no `@id` annotation
              hint: add `@id("short-kebab-name")` on the line above the policy; ids appear in every decision
            policy/extra.cedar:7:1: error[missing-reason]: policy `no-reason` has no `@reason` annotation
              hint: add `@reason("…")` with the sentence a developer sees when this policy decides
            policy/extra.cedar:13:72: error[cedar-syntax]: unexpected token `}`: expected `!`, `(`, `-`, `[`, `{`, `false`, identifier, `if`, number, `?principal`, `?resource`, string literal, or `true`
            policy/gateway.cedar:5:1: error[duplicate-id]: policy id `baseline-prompt` is used twice
              hint: the first `baseline-prompt` is at policy/extra.cedar:3:1; give each policy its own id
        "#]],
    );
}

#[test]
fn yaml_errors_have_positions() {
    check(
        &[
            (
                "inventory/extra.yaml",
                "teams:\n  - id: sre\n    stage: pilot\n    colour: blue\n",
            ),
            (
                "inventory/more.yaml",
                "people:\n  - id: zoe\n    team: sre\n    training_completed: last tuesday\n",
            ),
            ("inventory/bad.yaml", "teams: [\n"),
            (
                "inventory/stage.yaml",
                "teams:\n  - id: qa\n    stage: pliot\n",
            ),
        ],
        expect![[r#"
            inventory/bad.yaml:2:1: error[yaml-syntax]: invalid YAML: while parsing a node, did not find expected node content
              hint: check indentation and quoting; anchors, aliases and tags are not supported
            inventory/extra.yaml:4:5: error[invalid-field]: invalid inventory file at `teams[0].colour`: Unknown field `colour`, expected one of `id`, `name`, `owner`, `members`, or `stage`
            inventory/more.yaml:3:11: error[unknown-team]: `team` refers to team `sre`, which is not defined
              hint: define team `sre` in the inventory, or fix the reference
            inventory/more.yaml:4:25: error[invalid-date]: `training_completed` is `last tuesday`, not a date
              hint: write the date as YYYY-MM-DD, e.g. 2026-03-01
            inventory/stage.yaml:3:12: error[invalid-value]: invalid `stage`: `pliot` is not one of `pilot`, `controlled-expansion`, `scale`
        "#]],
    );
}

#[test]
fn policy_tests_referring_to_unknown_policies_or_bad_requests() {
    check(
        &[(
            "policy/tests/extra.yaml",
            "tests:\n  - name: typo in expected id\n    action: SendPrompt\n    principal: lena\n    resource: acme/storefront\n    context: { tool: claude-code, model: claude-sonnet-4 }\n    expect: allow\n    determining: [baseline-promt]\n  - name: bad action\n    action: Merge\n    principal: lena\n    resource: acme/storefront\n    expect: allow\n  - name: bad context field\n    action: SendPrompt\n    principal: lena\n    resource: acme/storefront\n    context: { tool: claude-code, tokens: 5 }\n    expect: maybe\n",
        )],
        expect![[r#"
            policy/tests/extra.yaml:2:11: error[unknown-policy]: test `typo in expected id` expects policy `baseline-promt`, which does not exist
              hint: did you mean `baseline-prompt`?
            policy/tests/extra.yaml:10:13: error[invalid-value]: unknown action `Merge`: expected one of `SendPrompt`, `MergeChange`, `Deploy`
            policy/tests/extra.yaml:19:13: error[invalid-value]: `expect` is `maybe`; use `allow` or `deny`
        "#]],
    );
}

#[test]
fn failing_policy_test_is_reported() {
    let dir = patched(&[(
        "policy/tests/wrong.yaml",
        "tests:\n  - name: wrong expectation\n    action: SendPrompt\n    principal: bob\n    resource: acme/storefront\n    context: { tool: claude-code, model: claude-sonnet-4 }\n    expect: allow\n",
    )]);
    let b = bundle::load(dir.path()).unwrap();
    let results = bundle::run_tests(&b);
    let failed: Vec<_> = results
        .iter()
        .filter_map(|r| {
            r.failure
                .as_ref()
                .map(|f| (r.name.as_str(), r.location.to_string(), f.as_str()))
        })
        .collect();
    assert_eq!(
        failed,
        [(
            "wrong expectation",
            "policy/tests/wrong.yaml:2:11".to_owned(),
            "expected allow, got deny"
        )]
    );
}

#[test]
fn missing_directories_and_unreadable_root() {
    let dir = tempfile::tempdir().unwrap();
    check_dir(
        dir.path(),
        expect![[r#"
        inventory/: error[missing-directory]: bundle has no files under `inventory/`
          hint: `inventory/` holds the teams, people, applications, tools, models and vendors; see examples/governance for a complete bundle
        policy/: error[missing-directory]: bundle has no files under `policy/`
          hint: `policy/` holds the Cedar policies; see examples/governance for a complete bundle
    "#]],
    );
    check_dir(
        &dir.path().join("nope"),
        expect![[r#"
        io error: cannot read bundle at `<dir>`: No such file or directory (os error 2)
    "#]],
    );
}

fn check_dir(path: &Path, expect: Expect) {
    let actual = match bundle::load(path) {
        Ok(_) => "valid\n".to_owned(),
        Err(bundle::LoadError::Invalid(d)) => d.iter().map(|d| format!("{d}\n")).collect(),
        Err(e) => format!("io error: {e}\n"),
    };
    expect.assert_eq(&actual.replace(&path.display().to_string(), "<dir>"));
}

#[test]
fn fingerprint_changes_when_a_file_changes() {
    let dir = patched(&[]);
    let before = bundle::fingerprint(dir.path()).unwrap();
    assert_eq!(before, bundle::fingerprint(dir.path()).unwrap());
    std::fs::write(dir.path().join("inventory/teams.yaml"), "teams: []\n").unwrap();
    assert_ne!(before, bundle::fingerprint(dir.path()).unwrap());
    let unrelated = bundle::fingerprint(dir.path()).unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not part of the bundle").unwrap();
    assert_eq!(unrelated, bundle::fingerprint(dir.path()).unwrap());
}

#[test]
fn digest_identifies_content() {
    let a = bundle::load(patched(&[]).path());
    let a = a.unwrap().digest;
    let b = bundle::load(&example_dir()).unwrap().digest;
    assert_eq!(a, b);
    let (rel, text) = replace("policy/change.cedar", "tests must pass", "tests must pass!");
    let c = bundle::load(patched(&[(&rel, &text)]).path())
        .unwrap()
        .digest;
    assert_ne!(a, c);
}

#[test]
fn bundles_extend_the_schema_but_cannot_redefine_it() {
    check(
        &[
            (
                "policy/extra.cedarschema",
                "action ReadDashboard appliesTo { principal: Person, resource: Application };\n",
            ),
            (
                "policy/extra.cedar",
                "@id(\"owners-read\")\n@reason(\"team members may read their dashboards\")\npermit (principal, action == Action::\"ReadDashboard\", resource)\nwhen { resource.owner == principal.team.name };\n",
            ),
        ],
        expect![[r#"
            valid: 17 policies
        "#]],
    );
    check(
        &[(
            "policy/extra.cedarschema",
            "entity Person = { nickname: String };\n",
        )],
        expect![[r#"
        policy/extra.cedarschema: error[cedar-schema]: duplicate entity type `Person`
          hint: bundle schema files may add entity types and actions but not redefine aigov's (see `aigov policy schema`)
    "#]],
    );
}

#[test]
fn an_invalid_value_does_not_cascade_into_unknown_reference_errors() {
    let (rel, text) = replace(
        "inventory/teams.yaml",
        "    stage: pilot\n",
        "    stage: pliot\n",
    );
    check(
        &[(&rel, &text)],
        expect![[r#"
        inventory/teams.yaml:15:12: error[invalid-value]: invalid `stage`: `pliot` is not one of `pilot`, `controlled-expansion`, `scale`
    "#]],
    );
}

#[test]
fn scanning_allowlists_scope_findings_to_paths_and_repositories() {
    let b = bundle::load(&example_dir()).unwrap();
    let text = b"stripe.api_key = \"sk_test_51Hq8ZkLm2Qp9Vx4Tb7Nc1Wy5Dj3Fg6H\"\n";
    let found = |path: &str, repo: &str| {
        b.scanner
            .scan_in(
                text,
                scanner::Source {
                    path: Some(path),
                    repo: Some(repo),
                },
            )
            .len()
    };
    assert_eq!(found("tests/fixtures/pay.py", "acme/payments-api"), 0);
    assert_eq!(found("tests/fixtures/pay.py", "acme/storefront"), 1);
    assert_eq!(found("src/pay.py", "acme/payments-api"), 1);
}

#[test]
fn scanning_files_are_validated_with_positions() {
    check(
        &[
            (
                "scanning/allowlists.yaml",
                "allowlists:\n\
                 \x20 - description: fixtures\n\
                 \x20   paths: [\"tests/[fixtures/**\"]\n\
                 \x20   repos: [acme]\n\
                 \x20   rules: [stripe-keys]\n\
                 \x20 - description: \"\"\n\
                 \x20 - description: typo\n\
                 \x20   path: [docs/**]\n",
            ),
            (
                "scanning/rules.toml",
                "[extend]\nuseDefault = true\n\n[[rules]]\nid = \"acme\"\nregex = '''acme_(['''\nkeywords = [\"acme_\"]\n",
            ),
        ],
        expect![[r#"
            scanning/allowlists.yaml:3:13: error[invalid-allowlist]: invalid path glob `tests/[fixtures/**`: unclosed character class; missing ']'
              hint: globs use `*` within a directory and `**` across directories
            scanning/allowlists.yaml:4:13: error[invalid-allowlist]: repository `acme` is not `owner/name`
            scanning/allowlists.yaml:5:13: error[invalid-allowlist]: allowlist names rule `stripe-keys`, which does not exist
              hint: did you mean `stripe-key`?
            scanning/allowlists.yaml:6:16: error[invalid-allowlist]: allowlist has no criteria
              hint: give `paths` (globs), `repos` (owner/name), `values` (regexes) or `stopwords`
            scanning/allowlists.yaml:6:18: error[invalid-allowlist]: allowlist `description` is empty
              hint: say why these findings are acceptable; auditors read it
            scanning/allowlists.yaml:8:5: error[invalid-field]: invalid allowlist at `path`: Unknown field `path`, expected one of `description`, `paths`, `repos`, `rules`, `values`, or `stopwords`
            scanning/rules.toml:6:9: error[invalid-rule]: rule `acme`: invalid regex: unclosed character class
              hint: gitleaks and aigov agree on Go RE2 syntax, except that Unicode classes such as `\p{L}` are not available; test the pattern with `aigov scan --rules FILE`
        "#]],
    );
    // A valid rule file extends the built-in rules; the bundle's scanner uses it.
    let dir = patched(&[(
        "scanning/rules.toml",
        "[extend]\nuseDefault = true\n\n[[rules]]\nid = \"acme-token\"\nregex = '''\\b(acme_[a-z0-9]{24})\\b'''\nkeywords = [\"acme_\"]\n",
    )]);
    let b = bundle::load(dir.path()).unwrap();
    let found = b
        .scanner
        .scan_secrets(b"t = acme_q3zt8vw1lr9xk2pm7nc4hb6y and AKIAZ3MKQ7T2X4PLW5NB");
    let ids: Vec<&str> = found.iter().map(|f| &*f.rule_id).collect();
    assert_eq!(ids, ["acme-token", "aws-access-key-id"]);
}

#[test]
fn retention_policy_defaults_to_digests_and_is_validated() {
    use model::{ContentRetention, DataClassification};
    let dir = patched(&[("retention.yaml", "")]);
    let b = bundle::load(dir.path()).unwrap();
    assert_eq!(
        b.retention.content_for(Some(DataClassification::Public)),
        ContentRetention::Digest,
        "without retention.yaml only digests are kept"
    );

    // The example keeps public code in full and everything else as digests.
    let b = bundle::load(&example_dir()).unwrap();
    let kept: Vec<(Option<DataClassification>, ContentRetention)> = [
        None,
        Some(DataClassification::Public),
        Some(DataClassification::Restricted),
    ]
    .into_iter()
    .map(|c| (c, b.retention.content_for(c)))
    .collect();
    assert_eq!(
        kept,
        [
            (None, ContentRetention::Digest),
            (Some(DataClassification::Public), ContentRetention::Full),
            (
                Some(DataClassification::Restricted),
                ContentRetention::Digest
            ),
        ]
    );

    check(
        &[(
            "retention.yaml",
            "content: everything\nclassifications:\n  secret: full\n  internal: some\n",
        )],
        expect![[r#"
            retention.yaml:1:10: error[invalid-value]: invalid `content`: `everything` is not one of `digest` (keep only a SHA-256 of the content), `full` (keep the content)
            retention.yaml:3:3: error[invalid-value]: invalid `classifications`: `secret` is not one of `public`, `internal`, `confidential`, `restricted`
            retention.yaml:4:13: error[invalid-value]: invalid `classifications`: `some` is not one of `digest` (keep only a SHA-256 of the content), `full` (keep the content)
        "#]],
    );
    check(
        &[("retention.yaml", "contents: full\n")],
        expect![[r#"
            retention.yaml:1:1: error[invalid-field]: invalid retention policy at `contents`: Unknown field `contents`, expected `content` or `classifications`
              hint: `retention.yaml` takes `content: digest|full` and `classifications: {<classification>: digest|full}`
        "#]],
    );
}

#[test]
fn data_handling_defaults_to_pass_and_is_validated() {
    use model::{DataClassification, FindingAction, HandlingRule};
    let dir = patched(&[("handling.yaml", "")]);
    let b = bundle::load(dir.path()).unwrap();
    assert_eq!(
        b.handling.rule_for(Some(DataClassification::Restricted)),
        HandlingRule::default(),
        "without handling.yaml every finding passes to the policy"
    );
    let b = bundle::load(&example_dir()).unwrap();
    let rule = |c| {
        let r = b.handling.rule_for(c);
        (r.secrets, r.pii)
    };
    assert_eq!(rule(None), (FindingAction::Pass, FindingAction::Pass));
    assert_eq!(
        rule(Some(DataClassification::Internal)),
        (FindingAction::Pass, FindingAction::Redact),
        "a field left out takes the top-level value"
    );
    assert_eq!(
        rule(Some(DataClassification::Restricted)),
        (FindingAction::Block, FindingAction::Block)
    );
    check(
        &[(
            "handling.yaml",
            "secrets: hide\nclassifications:\n  secret: { pii: block }\n  internal: { pii: drop }\n",
        )],
        expect![[r#"
            handling.yaml:1:10: error[invalid-value]: invalid `secrets`: `hide` is not one of `pass` (send it; the policy decides), `redact` (replace each finding with a typed placeholder), `block` (refuse the request)
            handling.yaml:3:3: error[invalid-value]: invalid `classifications`: `secret` is not one of `public`, `internal`, `confidential`, `restricted`
            handling.yaml:4:20: error[invalid-value]: invalid `pii`: `drop` is not one of `pass` (send it; the policy decides), `redact` (replace each finding with a typed placeholder), `block` (refuse the request)
        "#]],
    );
    check(
        &[("handling.yaml", "secret: block\n")],
        expect![[r#"
        handling.yaml:1:1: error[invalid-field]: invalid data-handling policy at `secret`: Unknown field `secret`, expected one of `secrets`, `pii`, or `classifications`
          hint: `handling.yaml` takes `secrets` and `pii` (each `pass`, `redact` or `block`) and `classifications: {<classification>: {secrets: …, pii: …}}`
    "#]],
    );
}

#[test]
fn budgets_are_read_and_validated() {
    let dir = patched(&[("budgets.yaml", "")]);
    let b = bundle::load(dir.path()).unwrap();
    assert!(b.budgets.budgets.is_empty(), "without budgets.yaml, none");

    let b = bundle::load(&example_dir()).unwrap();
    let shown: String = b
        .budgets
        .budgets
        .iter()
        .map(|b| {
            let per: Vec<String> = b.per.iter().map(|d| d.to_string()).collect();
            let filters: Vec<String> = b
                .filters
                .iter()
                .map(|f| format!("{}={}", f.dimension, f.values.join("|")))
                .collect();
            let limits: Vec<String> = b.limit.iter().map(|(m, v)| m.format(v)).collect();
            format!(
                "{}: per [{}] where [{}] {} {}\n",
                b.name,
                per.join(", "),
                filters.join(", "),
                b.window,
                limits.join(", ")
            )
        })
        .collect();
    expect![[r#"
        developer-monthly: per [developer] where [] month 200 USD
        team-daily-tokens: per [team] where [] day 20,000,000 tokens
        developer-rate: per [developer] where [] minute 60 requests
        payments-gpt-4o: per [] where [team=payments, model=gpt-4o] month 500 USD
    "#]]
    .assert_eq(&shown);

    check(
        &[(
            "budgets.yaml",
            "budgets:
  - name: a
    per: [developer, teams, \"tag:\", developer]
    where: { team: paymnets, model: [gpt-4o, gpt-5], tag:env: prod, repo: [] }
    window: fortnight
    limit: { cost_usd: 12.3456789, tokens: lots }
  - name: a
    window: day
    limit: {}
  - name: b c
    window: day
    limit: { requests: 1 }
",
        )],
        expect![[r#"
            budgets.yaml:3:22: error[invalid-value]: invalid `per`: `teams` is not one of `developer`, `team`, `tool`, `model`, `repo`, `tag:<key>`
              hint: did you mean `team`?
            budgets.yaml:3:29: error[invalid-value]: invalid `per`: `` is not a valid tag key; use letters, digits, `-`, `_` or `.`
            budgets.yaml:3:37: error[invalid-value]: budget `a` lists `developer` twice in `per`
            budgets.yaml:4:20: error[unknown-team]: `where.team` refers to team `paymnets`, which is not defined
              hint: did you mean `payments`?
            budgets.yaml:4:37: error[unknown-model]: `where.model` refers to model `gpt-5`, which is not defined
              hint: did you mean `gpt-4o`?
            budgets.yaml:4:75: error[invalid-value]: `where.repo` of budget `a` has an empty value
              hint: give one value (`repo: x`) or a list (`repo: [x, y]`)
            budgets.yaml:5:13: error[invalid-value]: invalid `window`: `fortnight` is not one of `minute`, `hour`, `day`, `week`, `month` (calendar periods in UTC)
            budgets.yaml:6:24: error[invalid-value]: invalid `limit.cost_usd`: `12.3456789` has more than 6 decimals; the smallest amount is 0.000001 USD
            budgets.yaml:6:44: error[invalid-value]: invalid `limit.tokens`: `lots` is not a whole number; write e.g. `1000000` or `1_000_000`
            budgets.yaml:7:11: error[duplicate-budget]: budget `a` is defined twice
              hint: the first definition is at budgets.yaml:2:11; budget names must be unique
            budgets.yaml:9:12: error[invalid-value]: budget `a` sets no limit
              hint: set any of `cost_usd`, `tokens`, `requests`, e.g. `limit: { cost_usd: 200 }`
            budgets.yaml:10:11: error[invalid-value]: invalid budget `name`: `b c`
              hint: use letters, digits, `-`, `_` or `.`, e.g. `developer-monthly`
        "#]],
    );
    check(
        &[(
            "budgets.yaml",
            "budgets:\n  - name: a\n    windw: day\n    limit: { requests: 1 }\n",
        )],
        expect![[r#"
            budgets.yaml:3:5: error[invalid-field]: invalid budgets file at `budgets[0].windw`: Unknown field `windw`, expected one of `name`, `per`, `where`, `window`, or `limit`
              hint: did you mean `window`? (a budget takes `name`, `per`, `where`, `window` and `limit`)
        "#]],
    );
    check(
        &[(
            "budgets.yaml",
            "budgets:\n  - name: a\n    window: day\n    limit: { request: 1 }\n",
        )],
        expect![[r#"
            budgets.yaml:4:12: error[invalid-field]: invalid budgets file at `budgets[0].limit.request`: Unknown field `request`, expected one of `cost_usd`, `tokens`, or `requests`
              hint: did you mean `requests`? (a limit takes `cost_usd`, `tokens` and `requests`)
        "#]],
    );
    check(
        &[("budgets.yaml", "budget:\n  - name: a\n")],
        expect![[r#"
            budgets.yaml:1:1: error[invalid-field]: invalid budgets file at `budget`: Unknown field `budget`, expected `budgets`
              hint: did you mean `budgets`? (`budgets.yaml` holds `budgets:`, a list of budgets)
        "#]],
    );
}

#[test]
fn policies_can_use_the_budget_state() {
    let dir = patched(&[(
        "policy/budget-models.cedar",
        "@id(\"near-budget-self-hosted-only\")\n@reason(\"budget `x` is nearly spent\")\nforbid (principal, action == Action::\"SendPrompt\", resource)\nwhen { context.budget.used_percent >= 90 && context.budget.name == \"developer-monthly\" && context.model.hosting != Hosting::\"self-hosted\" };\n",
    )]);
    let b = bundle::load(dir.path()).unwrap();
    let decide = |used_percent: u64| {
        let request = model::DecisionRequest::SendPrompt {
            principal: "alice".to_owned(),
            resource: "acme/payments-api".to_owned(),
            context: model::PromptContext {
                tool: "claude-code".to_owned(),
                model: "claude-sonnet-4".to_owned(),
                budget: model::BudgetState {
                    name: "developer-monthly".to_owned(),
                    used_percent,
                    ..Default::default()
                },
                ..Default::default()
            },
        };
        let d = b.engine.decide(&request);
        (
            d.outcome,
            d.determining
                .iter()
                .map(|p| p.id.clone())
                .collect::<Vec<_>>(),
        )
    };
    let (outcome, determining) = decide(95);
    assert_eq!(outcome, model::Outcome::Deny);
    assert!(determining.contains(&"near-budget-self-hosted-only".to_owned()));
    assert!(
        !decide(89)
            .1
            .contains(&"near-budget-self-hosted-only".to_owned())
    );
}
