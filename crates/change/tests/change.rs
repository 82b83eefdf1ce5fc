//! Tests of webhook authentication, GitHub and GitLab delivery parsing (against real GitHub
//! example payloads), AI attribution from commits, Git AI notes, and change-record folding.
//!
//! Most tests are data-driven: `check(input, expect)` renders what the code made of `input` and
//! compares it with an `expect!` snapshot (`UPDATE_EXPECT=1 cargo test -p change` to update).

use std::fmt::Write as _;
use std::path::PathBuf;

use change::attribution::{self, Commit};
use change::record::{self, ChangeRecord, GateChecks};
use change::webhook::{self, SignatureError};
use change::{
    ChangeEvent, Check, CheckKind, Deployment, DeploymentStatus, Pipeline, PullRequest,
    PullRequestAction, Push, PushCommit, Review, ReviewAction, ReviewState, Status, gitai, github,
    gitlab,
};
use expect_test::{Expect, expect};
use model::{AiTool, ToolStatus};

fn test_data(path: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("test_data")
        .join(path);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

// ---------------------------------------------------------------------------------------------
// Webhook authentication

fn result<E: std::fmt::Display>(r: Result<(), E>) -> String {
    match r {
        Ok(()) => "ok".to_owned(),
        Err(e) => format!("error: {e}"),
    }
}

#[test]
fn github_published_vector() {
    // https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries
    let secret = b"It's a Secret to Everybody";
    let body = b"Hello, World!";
    let sig = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
    assert_eq!(webhook::github_signature(secret, body), sig);
    assert_eq!(
        webhook::verify_github_signature(secret, body, Some(sig)),
        Ok(())
    );
}

#[test]
fn hmac_rfc4231() {
    let cases: [(Vec<u8>, &[u8], &str); 3] = [
        (
            vec![0x0b; 20],
            b"Hi There",
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
        ),
        (
            b"Jefe".to_vec(),
            b"what do ya want for nothing?",
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
        ),
        (
            vec![0xaa; 131], // longer than a block: hashed first
            b"Test Using Larger Than Block-Size Key - Hash Key First",
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
        ),
    ];
    for (key, data, mac) in cases {
        assert_eq!(hex(&webhook::hmac_sha256(&key, data)), mac);
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn github_signature_errors() {
    let secret = b"It's a Secret to Everybody";
    let body = b"Hello, World!";
    let good = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
    let mut out = String::new();
    type Case<'a> = (&'a str, &'a [u8], &'a [u8], Option<&'a str>);
    let cases: [Case<'_>; 9] = [
        ("good", secret, body, Some(good)),
        ("missing", secret, body, None),
        (
            "sha1",
            secret,
            body,
            Some("sha1=0123456789abcdef0123456789abcdef01234567"),
        ),
        (
            "no prefix",
            secret,
            body,
            Some("757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"),
        ),
        (
            "not hex",
            secret,
            body,
            Some("sha256=zz7107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"),
        ),
        ("short", secret, body, Some("sha256=757107ea")),
        ("other body", secret, b"Hello, World?", Some(good)),
        (
            "other secret",
            b"It's a secret to everybody",
            body,
            Some(good),
        ),
        ("no secret", b"", body, Some(good)),
    ];
    for (name, secret, body, header) in cases {
        let r = webhook::verify_github_signature(secret, body, header);
        writeln!(out, "{name}: {}", result(r)).unwrap();
    }
    expect![[r#"
        good: ok
        missing: error: missing `X-Hub-Signature-256` header
        sha1: error: `X-Hub-Signature-256` must start with `sha256=`, got `sha1=0123456789abcdef0123456789abcdef01234567`
        no prefix: error: `X-Hub-Signature-256` must start with `sha256=`, got `757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17`
        not hex: error: `X-Hub-Signature-256` must be `sha256=` followed by 64 hexadecimal digits, got `sha256=zz7107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17`
        short: error: `X-Hub-Signature-256` must be `sha256=` followed by 64 hexadecimal digits, got `sha256=757107ea`
        other body: error: `X-Hub-Signature-256` does not match the body under the configured secret
        other secret: error: `X-Hub-Signature-256` does not match the body under the configured secret
        no secret: error: no webhook secret is configured; refusing to accept unverifiable deliveries
    "#]]
    .assert_eq(&out);
}

#[test]
fn github_signature_of_a_real_payload() {
    let body = test_data("github/pull_request.opened.json");
    let header = webhook::github_signature(b"s3cret", &body);
    assert_eq!(
        webhook::verify_github_signature(b"s3cret", &body, Some(&header)),
        Ok(())
    );
    let mut tampered = body.clone();
    tampered[10] ^= 1;
    assert!(matches!(
        webhook::verify_github_signature(b"s3cret", &tampered, Some(&header)),
        Err(SignatureError::Mismatch { .. })
    ));
}

#[test]
fn gitlab_token() {
    let mut out = String::new();
    let cases: [(&str, &[u8], Option<&str>); 5] = [
        ("good", b"glwt-token", Some("glwt-token")),
        ("missing", b"glwt-token", None),
        ("wrong", b"glwt-token", Some("glwt-tokem")),
        ("prefix", b"glwt-token", Some("glwt-")),
        ("no secret", b"", Some("")),
    ];
    for (name, secret, header) in cases {
        writeln!(
            out,
            "{name}: {}",
            result(webhook::verify_gitlab_token(secret, header))
        )
        .unwrap();
    }
    expect![[r#"
        good: ok
        missing: error: missing `X-Gitlab-Token` header
        wrong: error: `X-Gitlab-Token` is not the configured token
        prefix: error: `X-Gitlab-Token` is not the configured token
        no secret: error: no webhook secret is configured; refusing to accept unverifiable deliveries
    "#]]
    .assert_eq(&out);
}

#[test]
fn long_header_values_are_shortened() {
    let long = format!("sha1={}", "a".repeat(500));
    let err = webhook::verify_github_signature(b"k", b"", Some(&long)).unwrap_err();
    assert!(err.to_string().len() < 200, "{err}");
}

// ---------------------------------------------------------------------------------------------
// GitHub deliveries

fn check_github(event: &str, file: &str, expect: Expect) {
    let body = test_data(&format!("github/{file}"));
    let out = match github::parse(event, "d-1", &body) {
        Ok(d) => format!("{:#?}\n", d.event),
        Err(e) => format!("error: {e}\n"),
    };
    expect.assert_eq(&out);
}

#[test]
fn github_pull_request_opened() {
    check_github(
        "pull_request",
        "pull_request.opened.json",
        expect![[r#"
            PullRequest(
                PullRequest {
                    action: Opened,
                    repo: "Codertocat/Hello-World",
                    number: 2,
                    title: "Update the README with new information.",
                    body: Some(
                        "This is a pretty simple change that we need to pull into master.",
                    ),
                    author: Some(
                        "Codertocat",
                    ),
                    head_sha: "ec26c3e57ca3a959ca5aad62de7213c562f8c821",
                    head_ref: "changes",
                    base_ref: "master",
                    before: None,
                    merged: false,
                    merge_commit_sha: None,
                    merged_by: None,
                },
            )
        "#]],
    );
}

#[test]
fn github_pull_request_other_actions() {
    let mut out = String::new();
    for file in [
        "pull_request.synchronize.json",
        "pull_request.closed.json",
        "pull_request.reopened.json",
        "pull_request.labeled.json",
    ] {
        let d = github::parse("pull_request", "d", &test_data(&format!("github/{file}"))).unwrap();
        let ChangeEvent::PullRequest(pr) = d.event else {
            panic!("{file}: {:?}", d.event)
        };
        writeln!(
            out,
            "{file}: {:?} head={} before={:?} merged={} merge_commit_sha={:?} merged_by={:?}",
            pr.action, pr.head_sha, pr.before, pr.merged, pr.merge_commit_sha, pr.merged_by
        )
        .unwrap();
    }
    expect![[r#"
        pull_request.synchronize.json: Synchronize head=ec26c3e57ca3a959ca5aad62de7213c562f8c821 before=Some("f95f852bd8fca8fcc58a9a2d6c842781e32a215e") merged=false merge_commit_sha=None merged_by=None
        pull_request.closed.json: Closed head=ec26c3e57ca3a959ca5aad62de7213c562f8c821 before=None merged=false merge_commit_sha=Some("c4295bd74fb0f4fda03689c3df3f2803b658fd85") merged_by=None
        pull_request.reopened.json: Reopened head=ec26c3e57ca3a959ca5aad62de7213c562f8c821 before=None merged=false merge_commit_sha=None merged_by=None
        pull_request.labeled.json: Other("labeled") head=ec26c3e57ca3a959ca5aad62de7213c562f8c821 before=None merged=false merge_commit_sha=Some("c4295bd74fb0f4fda03689c3df3f2803b658fd85") merged_by=None
    "#]]
    .assert_eq(&out);
}

#[test]
fn github_review_submitted() {
    check_github(
        "pull_request_review",
        "pull_request_review.submitted.json",
        expect![[r#"
            Review(
                Review {
                    action: Submitted,
                    repo: "Codertocat/Hello-World",
                    number: 2,
                    pr_author: Some(
                        "Codertocat",
                    ),
                    pr_head_sha: "ec26c3e57ca3a959ca5aad62de7213c562f8c821",
                    id: Some(
                        237895671,
                    ),
                    reviewer: "Codertocat",
                    state: Commented,
                    commit_id: Some(
                        "ec26c3e57ca3a959ca5aad62de7213c562f8c821",
                    ),
                    submitted_at: Some(
                        "2019-05-15T15:20:38Z",
                    ),
                    body: None,
                },
            )
        "#]],
    );
}

#[test]
fn github_review_dismissed() {
    let d = github::parse(
        "pull_request_review",
        "d",
        &test_data("github/pull_request_review.dismissed.json"),
    )
    .unwrap();
    let ChangeEvent::Review(r) = d.event else {
        panic!()
    };
    expect![[r#"Dismissed Dismissed Codertocat"#]]
        .assert_eq(&format!("{:?} {:?} {}", r.action, r.state, r.reviewer));
}

#[test]
fn github_push() {
    check_github(
        "push",
        "push.branch-created.json",
        expect![[r#"
            Push(
                Push {
                    repo: "Codertocat/Hello-World",
                    git_ref: "refs/heads/master",
                    before: "0000000000000000000000000000000000000000",
                    after: "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
                    created: true,
                    deleted: false,
                    forced: Some(
                        false,
                    ),
                    pusher: "Codertocat",
                    commits: [
                        PushCommit {
                            id: "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
                            message: "Initial commit",
                            author_name: "Codertocat",
                            author_email: "21031067+Codertocat@users.noreply.github.com",
                            committer_name: Some(
                                "Codertocat",
                            ),
                            committer_email: Some(
                                "21031067+Codertocat@users.noreply.github.com",
                            ),
                            timestamp: "2019-05-15T15:19:25Z",
                        },
                    ],
                },
            )
        "#]],
    );
    check_github(
        "push",
        "push.tag-deleted.json",
        expect![[r#"
            Push(
                Push {
                    repo: "Codertocat/Hello-World",
                    git_ref: "refs/tags/simple-tag",
                    before: "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
                    after: "0000000000000000000000000000000000000000",
                    created: false,
                    deleted: true,
                    forced: Some(
                        false,
                    ),
                    pusher: "Codertocat",
                    commits: [],
                },
            )
        "#]],
    );
}

#[test]
fn github_checks_and_statuses() {
    let mut out = String::new();
    for (event, file) in [
        ("check_run", "check_run.created.json"),
        ("check_run", "check_run.completed.json"),
        ("check_suite", "check_suite.completed.json"),
        ("status", "status.json"),
    ] {
        let d = github::parse(event, "d", &test_data(&format!("github/{file}"))).unwrap();
        match d.event {
            ChangeEvent::Check(c) => writeln!(
                out,
                "{file}: {:?} {:?} name={:?} sha={} status={} conclusion={:?} app={:?} prs={:?} → {:?}",
                c.kind,
                c.action,
                c.name,
                c.head_sha,
                c.status,
                c.conclusion,
                c.app_slug,
                c.pull_requests,
                c.verdict()
            )
            .unwrap(),
            ChangeEvent::Status(s) => writeln!(
                out,
                "{file}: {} context={:?} sha={} state={} → {:?}",
                s.repo,
                s.context,
                s.sha,
                s.state,
                s.verdict()
            )
            .unwrap(),
            other => panic!("{other:?}"),
        }
    }
    expect![[r#"
        check_run.created.json: Run "created" name="Octocoders-linter" sha=ec26c3e57ca3a959ca5aad62de7213c562f8c821 status=queued conclusion=None app=None prs=[2] → Pending
        check_run.completed.json: Run "completed" name="Octocoders-linter" sha=ec26c3e57ca3a959ca5aad62de7213c562f8c821 status=completed conclusion=Some("failure") app=Some("github-actions") prs=[2] → Failure
        check_suite.completed.json: Suite "completed" name="octocoders-linter" sha=ec26c3e57ca3a959ca5aad62de7213c562f8c821 status=completed conclusion=Some("success") app=Some("github-actions") prs=[] → Success
        status.json: Codertocat/Hello-World context="default" sha=6113728f27ae82c7b1a177c8d03f9e96e0adf246 state=success → Success
    "#]]
    .assert_eq(&out);
}

#[test]
fn github_deployments() {
    check_github(
        "deployment",
        "deployment.created.json",
        expect![[r#"
            Deployment(
                Deployment {
                    repo: "Codertocat/Hello-World",
                    id: 145988746,
                    sha: "f95f852bd8fca8fcc58a9a2d6c842781e32a215e",
                    git_ref: "master",
                    environment: "production",
                    creator: Some(
                        "Codertocat",
                    ),
                },
            )
        "#]],
    );
    check_github(
        "deployment_status",
        "deployment_status.created.json",
        expect![[r#"
            DeploymentStatus(
                DeploymentStatus {
                    repo: "Codertocat/Hello-World",
                    deployment_id: 145988746,
                    state: "success",
                    environment: "production",
                    sha: "f95f852bd8fca8fcc58a9a2d6c842781e32a215e",
                    creator: Some(
                        "Codertocat",
                    ),
                },
            )
        "#]],
    );
    check_github(
        "deployment_protection_rule",
        "deployment_protection_rule.requested.json",
        expect![[r#"
            DeploymentProtectionRule(
                ProtectionRule {
                    repo: "Codertocat/Hello-World",
                    environment: "production",
                    event: Some(
                        "deployment",
                    ),
                    callback_url: "https://api.github.com/repos/Codertocat/Hello-World/actions/runs/1234567890/deployment_protection_rule",
                    deployment_id: 145988746,
                    sha: "f95f852bd8fca8fcc58a9a2d6c842781e32a215e",
                    git_ref: "master",
                    pull_requests: [
                        2,
                    ],
                },
            )
        "#]],
    );
}

#[test]
fn github_ignored_and_errors() {
    let opened = String::from_utf8(test_data("github/pull_request.opened.json")).unwrap();
    let mut value: serde_json::Value = serde_json::from_str(&opened).unwrap();
    value["pull_request"]["head"]
        .as_object_mut()
        .unwrap()
        .remove("sha");
    let no_head_sha = serde_json::to_vec(&value).unwrap();
    value["pull_request"]["head"]["sha"] = serde_json::Value::Null;
    let null_head_sha = serde_json::to_vec(&value).unwrap();
    let mut push: serde_json::Value =
        serde_json::from_slice(&test_data("github/push.branch-created.json")).unwrap();
    push["commits"][0]["id"] = 42.into();
    let push_bad_id = serde_json::to_vec(&push).unwrap();

    let issues = test_data("github/issues.edited.json");
    let cases: [(&str, &[u8]); 8] = [
        ("issues", &issues),
        ("ping", b"{\"zen\": \"Design for failure.\"}"),
        ("pull_request", b"{\"action\": \"opened\", "),
        ("pull_request", b"not json"),
        ("pull_request", &no_head_sha),
        ("pull_request", &null_head_sha),
        ("push", &push_bad_id),
        ("status", b"{}"),
    ];
    let mut out = String::new();
    for (event, body) in cases {
        match github::parse(event, "72d3162e-cc78-11e3-81ab-4c9367dc0958", body) {
            Ok(d) => writeln!(out, "{event}: {:?}", d.event).unwrap(),
            Err(e) => writeln!(out, "{event}: error: {e}").unwrap(),
        }
    }
    expect![[r#"
        issues: Ignored { event: "issues" }
        ping: Ignored { event: "ping" }
        pull_request: error: GitHub `pull_request` delivery `72d3162e-cc78-11e3-81ab-4c9367dc0958` is not valid JSON: EOF while parsing a value at line 1 column 21
        pull_request: error: GitHub `pull_request` delivery `72d3162e-cc78-11e3-81ab-4c9367dc0958` is not valid JSON: expected ident at line 1 column 2
        pull_request: error: GitHub `pull_request` delivery `72d3162e-cc78-11e3-81ab-4c9367dc0958`: field `pull_request.head.sha`: missing
        pull_request: error: GitHub `pull_request` delivery `72d3162e-cc78-11e3-81ab-4c9367dc0958`: field `pull_request.head.sha`: invalid type: null, expected a string
        push: error: GitHub `push` delivery `72d3162e-cc78-11e3-81ab-4c9367dc0958`: field `commits[0].id`: invalid type: integer `42`, expected a string
        status: error: GitHub `status` delivery `72d3162e-cc78-11e3-81ab-4c9367dc0958`: field `sha`: missing
    "#]]
    .assert_eq(&out);
}

// ---------------------------------------------------------------------------------------------
// GitLab deliveries

#[test]
fn gitlab_deliveries() {
    let mut out = String::new();
    for (event, file) in [
        ("Merge Request Hook", "merge_request.open.json"),
        ("Push Hook", "push.json"),
        ("Merge Request Hook", "merge_request.update.json"),
        ("Pipeline Hook", "pipeline.json"),
        ("Merge Request Hook", "merge_request.approved.json"),
        ("Merge Request Hook", "merge_request.merge.json"),
        ("Deployment Hook", "deployment.json"),
    ] {
        let d = gitlab::parse(event, "uuid-1", &test_data(&format!("gitlab/{file}"))).unwrap();
        writeln!(out, "{file}: {:#?}", d.event).unwrap();
    }
    expect![[r#"
        merge_request.open.json: PullRequest(
            PullRequest {
                action: Opened,
                repo: "acme/payments-api",
                number: 7,
                title: "Add partial refunds",
                body: Some(
                    "Adds partial refunds.\n\nWritten with Claude Code.",
                ),
                author: Some(
                    "alice",
                ),
                head_sha: "1111111111111111111111111111111111111111",
                head_ref: "feature/refunds",
                base_ref: "main",
                before: None,
                merged: false,
                merge_commit_sha: None,
                merged_by: None,
            },
        )
        push.json: Push(
            Push {
                repo: "acme/payments-api",
                git_ref: "refs/heads/feature/refunds",
                before: "1111111111111111111111111111111111111111",
                after: "2222222222222222222222222222222222222222",
                created: false,
                deleted: false,
                forced: None,
                pusher: "alice",
                commits: [
                    PushCommit {
                        id: "2222222222222222222222222222222222222222",
                        message: "Handle currency rounding\n\nAssisted-by: Cursor:claude-4.5-sonnet\n",
                        author_name: "Alice Example",
                        author_email: "alice@example.com",
                        committer_name: None,
                        committer_email: None,
                        timestamp: "2026-11-20T10:00:00+00:00",
                    },
                ],
            },
        )
        merge_request.update.json: PullRequest(
            PullRequest {
                action: Synchronize,
                repo: "acme/payments-api",
                number: 7,
                title: "Add partial refunds",
                body: Some(
                    "Adds partial refunds.\n\nWritten with Claude Code.",
                ),
                author: None,
                head_sha: "2222222222222222222222222222222222222222",
                head_ref: "feature/refunds",
                base_ref: "main",
                before: Some(
                    "1111111111111111111111111111111111111111",
                ),
                merged: false,
                merge_commit_sha: None,
                merged_by: None,
            },
        )
        pipeline.json: Pipeline(
            Pipeline {
                repo: "acme/payments-api",
                id: 3101,
                name: None,
                git_ref: "refs/merge-requests/7/head",
                sha: "2222222222222222222222222222222222222222",
                status: "success",
                merge_request: Some(
                    7,
                ),
                jobs: [
                    Job {
                        id: 88001,
                        name: "unit-tests",
                        stage: "test",
                        status: "success",
                    },
                    Job {
                        id: 88002,
                        name: "sast",
                        stage: "security",
                        status: "success",
                    },
                    Job {
                        id: 88003,
                        name: "dependency-scan",
                        stage: "security",
                        status: "skipped",
                    },
                ],
            },
        )
        merge_request.approved.json: Review(
            Review {
                action: Submitted,
                repo: "acme/payments-api",
                number: 7,
                pr_author: None,
                pr_head_sha: "2222222222222222222222222222222222222222",
                id: None,
                reviewer: "bob",
                state: Approved,
                commit_id: Some(
                    "2222222222222222222222222222222222222222",
                ),
                submitted_at: Some(
                    "2026-11-20T09:10:00+00:00",
                ),
                body: None,
            },
        )
        merge_request.merge.json: PullRequest(
            PullRequest {
                action: Closed,
                repo: "acme/payments-api",
                number: 7,
                title: "Add partial refunds",
                body: Some(
                    "Adds partial refunds.\n\nWritten with Claude Code.",
                ),
                author: None,
                head_sha: "2222222222222222222222222222222222222222",
                head_ref: "feature/refunds",
                base_ref: "main",
                before: None,
                merged: true,
                merge_commit_sha: Some(
                    "3333333333333333333333333333333333333333",
                ),
                merged_by: Some(
                    "carol",
                ),
            },
        )
        deployment.json: DeploymentStatus(
            DeploymentStatus {
                repo: "acme/payments-api",
                deployment_id: 615,
                state: "success",
                environment: "production",
                sha: "3333333333333333333333333333333333333333",
                creator: Some(
                    "carol",
                ),
            },
        )
    "#]]
    .assert_eq(&out);
}

#[test]
fn gitlab_ignored_and_errors() {
    let mut out = String::new();
    let cases: [(&str, &[u8]); 6] = [
        ("Note Hook", b"{}"),
        ("System Hook", b"{\"object_kind\": \"push\"}"),
        ("Push Hook", b"{\"ref\": \"refs/heads/main\"}"),
        ("Pipeline Hook", b"{\"object_attributes\": {\"id\": 1,"),
        ("Pipeline Hook", b"[1, 2]"),
        (
            "Deployment Hook",
            b"{\"status\": \"success\", \"deployment_id\": \"15\"}",
        ),
    ];
    for (event, body) in cases {
        match gitlab::parse(event, "uuid-2", body) {
            Ok(d) => writeln!(out, "{event}: {:?}", d.event).unwrap(),
            Err(e) => writeln!(out, "{event}: error: {e}").unwrap(),
        }
    }
    expect![[r#"
        Note Hook: Ignored { event: "Note Hook" }
        System Hook: Ignored { event: "System Hook" }
        Push Hook: error: GitLab `Push Hook` delivery `uuid-2`: field `before`: missing
        Pipeline Hook: error: GitLab `Pipeline Hook` delivery `uuid-2` is not valid JSON: EOF while parsing a value at line 1 column 31
        Pipeline Hook: error: GitLab `Pipeline Hook` delivery `uuid-2`: field `[0]`: invalid type: integer `1`, expected a JSON object
        Deployment Hook: error: GitLab `Deployment Hook` delivery `uuid-2`: field `deployment_id`: invalid type: string "15", expected u64
    "#]]
    .assert_eq(&out);
}

// ---------------------------------------------------------------------------------------------
// AI attribution

/// The example bundle's tools (`examples/governance/inventory/tools.yaml`).
fn tools() -> Vec<AiTool> {
    [
        ("claude-code", ToolStatus::Approved),
        ("copilot", ToolStatus::Approved),
        ("cursor", ToolStatus::Pilot),
        ("aider", ToolStatus::Approved),
        ("codex", ToolStatus::Denied),
    ]
    .into_iter()
    .map(|(id, status)| AiTool {
        id: id.to_owned(),
        name: id.to_owned(),
        vendor: "v".to_owned(),
        status,
    })
    .collect()
}

fn render_attributions(commit: &Commit) -> String {
    let found = attribution::attribute(commit);
    let tools = tools();
    let tools: Vec<&AiTool> = tools.iter().collect();
    let mut out = String::new();
    for a in &found {
        let line = a.line.map_or("author".to_owned(), |l| format!("line {l}"));
        writeln!(out, "{} ({line}): {:?}", a.tool, a.evidence).unwrap();
    }
    for s in attribution::shadow_ai(&commit.sha, &found, &tools) {
        writeln!(
            out,
            "shadow AI: {} in {}: {:?}",
            s.tool_name, s.commit, s.reason
        )
        .unwrap();
    }
    if out.is_empty() {
        out.push_str("none\n");
    }
    out
}

/// Attribution of a commit by Jane Dev with this message.
fn check(message: &str, expect: Expect) {
    let commit = Commit {
        sha: "c0ffee".to_owned(),
        author_name: "Jane Dev".to_owned(),
        author_email: "jane@example.com".to_owned(),
        committer_name: "Jane Dev".to_owned(),
        committer_email: "jane@example.com".to_owned(),
        message: message.to_owned(),
    };
    expect.assert_eq(&render_attributions(&commit));
}

/// Attribution of a commit with this author and committer (`Name <email>`).
fn check_author(author: &str, committer: &str, message: &str, expect: Expect) {
    let split = |s: &str| {
        let (n, e) = s.split_once(" <").unwrap();
        (n.to_owned(), e.trim_end_matches('>').to_owned())
    };
    let (author_name, author_email) = split(author);
    let (committer_name, committer_email) = split(committer);
    let commit = Commit {
        sha: "c0ffee".to_owned(),
        author_name,
        author_email,
        committer_name,
        committer_email,
        message: message.to_owned(),
    };
    expect.assert_eq(&render_attributions(&commit));
}

#[test]
fn attribution_claude_code() {
    check(
        "Add partial refunds\n\nImplements refunds for card payments.\n\n🤖 Generated with [Claude Code](https://claude.com/claude-code)\n\nCo-Authored-By: Claude <noreply@anthropic.com>\n",
        expect![[r#"
            claude-code (line 5): Footer { line: "🤖 Generated with [Claude Code](https://claude.com/claude-code)" }
            claude-code (line 7): CoAuthoredBy { name: "Claude", email: "noreply@anthropic.com" }
        "#]],
    );
    check(
        "Fix flaky test\n\nCo-Authored-By: Claude Opus 4.5 <noreply@anthropic.com>",
        expect![[r#"
            claude-code (line 3): CoAuthoredBy { name: "Claude Opus 4.5", email: "noreply@anthropic.com" }
        "#]],
    );
}

#[test]
fn attribution_copilot() {
    check(
        "Refactor parser\n\nCo-authored-by: Copilot <175728472+Copilot@users.noreply.github.com>\n",
        expect![[r#"
            copilot (line 3): CoAuthoredBy { name: "Copilot", email: "175728472+copilot@users.noreply.github.com" }
        "#]],
    );
    check(
        "Refactor parser\n\nCo-authored-by: GitHub Copilot <copilot@github.com>\n",
        expect![[r#"
            copilot (line 3): CoAuthoredBy { name: "GitHub Copilot", email: "copilot@github.com" }
        "#]],
    );
    check_author(
        "copilot-swe-agent[bot] <198982749+Copilot@users.noreply.github.com>",
        "GitHub <noreply@github.com>",
        "Initial plan\n\nCo-authored-by: octocat <583231+octocat@users.noreply.github.com>",
        expect![[r#"
            copilot (author): BotAuthor { login: "copilot-swe-agent[bot]" }
        "#]],
    );
    check_author(
        "Copilot <198982749+Copilot@users.noreply.github.com>",
        "GitHub <noreply@github.com>",
        "Add tests",
        expect![[r#"
            copilot (author): BotAuthor { login: "Copilot" }
        "#]],
    );
}

#[test]
fn attribution_cursor() {
    check(
        "Tidy imports\n\nCo-authored-by: Cursor Agent <cursoragent@cursor.com>\n",
        expect![[r#"
            cursor (line 3): CoAuthoredBy { name: "Cursor Agent", email: "cursoragent@cursor.com" }
            shadow AI: cursor in c0ffee: NotApproved { status: Pilot }
        "#]],
    );
    check(
        "Tidy imports\n\nMade-with: Cursor\n",
        expect![[r#"
            cursor (line 3): MadeWith { value: "Cursor" }
            shadow AI: cursor in c0ffee: NotApproved { status: Pilot }
        "#]],
    );
    check_author(
        "Cursor Agent <cursoragent@cursor.com>",
        "Cursor Agent <cursoragent@cursor.com>",
        "Fix lint",
        expect![[r#"
            cursor (author): BotAuthor { login: "cursoragent@cursor.com" }
            shadow AI: cursor in c0ffee: NotApproved { status: Pilot }
        "#]],
    );
}

#[test]
fn attribution_aider() {
    check(
        "feat: add retry\n\nCo-authored-by: aider (openai/gpt-4o) <aider@aider.chat>\n",
        expect![[r#"
            aider (line 3): CoAuthoredBy { name: "aider (openai/gpt-4o)", email: "aider@aider.chat" }
        "#]],
    );
    check_author(
        "Jane Dev (aider) <jane@example.com>",
        "Jane Dev (aider) <jane@example.com>",
        "feat: add retry",
        expect![[r#"
            aider (author): AuthorSuffix
        "#]],
    );
    check_author(
        "Jane Dev <jane@example.com>",
        "Jane Dev (aider) <jane@example.com>",
        "feat: add retry",
        expect![[r#"
            aider (author): AuthorSuffix
        "#]],
    );
}

#[test]
fn attribution_codex_and_devin() {
    check(
        "Port to tokio 1.40\n\nCo-authored-by: Codex <noreply@openai.com>\n",
        expect![[r#"
            codex (line 3): CoAuthoredBy { name: "Codex", email: "noreply@openai.com" }
            shadow AI: codex in c0ffee: NotApproved { status: Denied }
        "#]],
    );
    check_author(
        "devin-ai-integration[bot] <158243242+devin-ai-integration[bot]@users.noreply.github.com>",
        "devin-ai-integration[bot] <158243242+devin-ai-integration[bot]@users.noreply.github.com>",
        "Update docs",
        expect![[r#"
            devin (author): BotAuthor { login: "devin-ai-integration[bot]" }
            shadow AI: devin in c0ffee: Unknown
        "#]],
    );
    // The Claude GitHub app commits as `claude[bot]`; a human co-author is not a tool.
    check_author(
        "claude[bot] <209825114+claude[bot]@users.noreply.github.com>",
        "GitHub <noreply@github.com>",
        "Fix typo\n\nCo-authored-by: Jane Dev <jane@example.com>",
        expect![[r#"
            claude-code (author): BotAuthor { login: "claude[bot]" }
        "#]],
    );
}

#[test]
fn github_pull_request_edited() {
    // Not among the vendored examples: the `opened` payload with `"action": "edited"`.
    let body = String::from_utf8(test_data("github/pull_request.opened.json")).unwrap();
    let body = body.replacen("\"action\": \"opened\"", "\"action\": \"edited\"", 1);
    let d = github::parse("pull_request", "d", body.as_bytes()).unwrap();
    let ChangeEvent::PullRequest(pr) = d.event else {
        panic!()
    };
    assert_eq!(pr.action, PullRequestAction::Edited);
}

#[test]
fn attribution_assisted_and_generated_by() {
    check(
        "mm: fix race in folio split\n\nThe race was found with a coding agent.\n\nAssisted-by: Claude:claude-3-opus coccinelle sparse\nSigned-off-by: Jane Dev <jane@example.com>\n",
        expect![[r#"
            claude-code (line 5): AssistedBy { value: "Claude:claude-3-opus coccinelle sparse" }
        "#]],
    );
    check(
        "Add connector\n\nGenerated-by: GitHub Copilot\n",
        expect![[r#"
            copilot (line 3): GeneratedBy { value: "GitHub Copilot" }
        "#]],
    );
    check(
        "Add connector\n\nGenerated-by: Gemini CLI 0.9 (gemini-2.5-pro)\nAssisted-by: Windsurf:swe-1 [ruff]\n",
        expect![[r#"
            Gemini CLI (line 3): GeneratedBy { value: "Gemini CLI 0.9 (gemini-2.5-pro)" }
            Windsurf (line 4): AssistedBy { value: "Windsurf:swe-1 [ruff]" }
            shadow AI: Gemini CLI in c0ffee: Unknown
            shadow AI: Windsurf in c0ffee: Unknown
        "#]],
    );
}

#[test]
fn attribution_mixed_trailers() {
    check(
        "Speed up ledger verification\n\nUses a streaming verifier.\n\nReviewed-by: Bob <bob@example.com>\nCo-Authored-By: Claude <noreply@anthropic.com>\nco-authored-by: Copilot <175728472+Copilot@users.noreply.github.com>\nCo-authored-by: Alice <alice@example.com>\nMADE-WITH: Cursor\nSigned-off-by: Jane Dev <jane@example.com>\n",
        expect![[r#"
            claude-code (line 6): CoAuthoredBy { name: "Claude", email: "noreply@anthropic.com" }
            copilot (line 7): CoAuthoredBy { name: "Copilot", email: "175728472+copilot@users.noreply.github.com" }
            cursor (line 9): MadeWith { value: "Cursor" }
            shadow AI: cursor in c0ffee: NotApproved { status: Pilot }
        "#]],
    );
}

#[test]
fn attribution_trailers_only_in_last_paragraph() {
    // A trailer-looking line in the body, followed by another paragraph: not a trailer.
    check(
        "Fix build\n\nCo-authored-by: Claude <noreply@anthropic.com>\n\nThanks to everyone who tested this.\n",
        expect![[r#"
            none
        "#]],
    );
    // The subject paragraph is never trailers.
    check(
        "Co-authored-by: Claude <noreply@anthropic.com>",
        expect![[r#"
            none
        "#]],
    );
    // A last paragraph mixing prose and trailers without a git-generated line: not trailers.
    check(
        "Fix build\n\nThis was paired on with\nCo-authored-by: Claude <noreply@anthropic.com>\n",
        expect![[r#"
            none
        "#]],
    );
    // … but with `Signed-off-by: ` and at least 25% trailer lines it is (git's rule).
    check(
        "Fix build\n\nThis was paired on with\nCo-authored-by: Claude <noreply@anthropic.com>\nSigned-off-by: Jane Dev <jane@example.com>\n",
        expect![[r#"
            claude-code (line 4): CoAuthoredBy { name: "Claude", email: "noreply@anthropic.com" }
        "#]],
    );
    // Trailing blank lines and CRLF line ends do not matter.
    check(
        "Fix build\r\n\r\nCo-authored-by: Claude <noreply@anthropic.com>\r\n\r\n\r\n",
        expect![[r#"
            claude-code (line 3): CoAuthoredBy { name: "Claude", email: "noreply@anthropic.com" }
        "#]],
    );
}

#[test]
fn attribution_false_positives() {
    check(
        "Compare Claude and Copilot suggestions\n\nWe asked Claude about this; Copilot disagreed. Cursor position fixed.\nCo-authored by the team, generated with care.\n",
        expect![[r#"
            none
        "#]],
    );
    check(
        "Paint\n\nCo-authored-by: Claude Monet <claude@monet.fr>\nCo-authored-by: Copilot Fan <copilot-fan@example.com>\n",
        expect![[r#"
            none
        "#]],
    );
    check(
        "Docs\n\nSee \"Generated with [Claude Code]\" in the README for how we label commits.\n",
        expect![[r#"
            none
        "#]],
    );
    check(
        "Docs\n\nMade-with: love\nAssisted-by: Cursory review\n",
        expect![[r#"
            love (line 3): MadeWith { value: "love" }
            Cursory review (line 4): AssistedBy { value: "Cursory review" }
            shadow AI: love in c0ffee: Unknown
            shadow AI: Cursory review in c0ffee: Unknown
        "#]],
    );
    check_author(
        "dependabot[bot] <49699333+dependabot[bot]@users.noreply.github.com>",
        "GitHub <noreply@github.com>",
        "Bump serde from 1.0.1 to 1.0.2",
        expect![[r#"
            none
        "#]],
    );
    check_author(
        "Jane (aider fan) <jane@example.com>",
        "Jane <jane@example.com>",
        "Fix",
        expect![[r#"
            none
        "#]],
    );
}

#[test]
fn trailer_parsing() {
    let render = |msg: &str| {
        attribution::trailers(msg)
            .iter()
            .map(|t| format!("{}:{}={:?}\n", t.line, t.key, t.value))
            .collect::<String>()
    };
    expect![[r#"
        3:Fixes=""
        4:Reviewed-by="Bob <bob@example.com>"
        5:Co-authored-by="Claude <noreply@anthropic.com>"
        6:Note="spans two lines"
        8:Key="value"
    "#]]
    .assert_eq(&render(
        "Subject\n\nFixes:\nReviewed-by : Bob <bob@example.com>\nCo-authored-by:Claude <noreply@anthropic.com>\nNote: spans\n  two lines\nKey: value",
    ));
    // `Key with space: v` and `: v` are not trailers, so this paragraph is prose.
    expect![[r#""#]].assert_eq(&render("Subject\n\nKey with space: v\n: v"));
    // `(cherry picked from commit …)` counts as git-generated.
    expect![[r#"
        4:Co-authored-by="Claude <noreply@anthropic.com>"
    "#]]
    .assert_eq(&render(
        "Subject\n\nsome prose\nCo-authored-by: Claude <noreply@anthropic.com>\n(cherry picked from commit 0123456789abcdef)",
    ));
}

// ---------------------------------------------------------------------------------------------
// Git AI notes

const GIT_AI_NOTE: &str = r#"src/main.rs
  abcd1234abcd1234 1-10,15-20
  0123456789abcdef 25,30-35
"src/my file.rs"
  abcd1234abcd1234 1-50
---
{
  "schema_version": "authorship/3.0.0",
  "git_ai_version": "1.0.23",
  "base_commit_sha": "7734793b756b3921c88db5375a8c156e9532447b",
  "prompts": {
    "abcd1234abcd1234": {
      "agent_id": { "tool": "cursor", "id": "6ef2299e-a67f-432b-aa80-3d2fb4d28999", "model": "claude-4.5-opus" },
      "human_author": "Developer <dev@example.com>",
      "messages": [{ "type": "user", "text": "Add error handling", "timestamp": "2025-12-05T01:22:13.211Z" }],
      "total_additions": 25, "total_deletions": 5, "accepted_lines": 20, "overriden_lines": 0
    },
    "0123456789abcdef": {
      "agent_id": { "tool": "claude", "id": "a1b2c3d4-e5f6-7890-abcd-ef1234567890", "model": "claude-sonnet-4" },
      "messages": [],
      "total_additions": 6, "total_deletions": 0, "accepted_lines": 6, "overriden_lines": 0
    }
  }
}
"#;

#[test]
fn git_ai_note() {
    let note = gitai::parse_git_ai_note(GIT_AI_NOTE).unwrap();
    expect![[r#"
        GitAiNote {
            schema_version: "authorship/3.0.0",
            base_commit_sha: "7734793b756b3921c88db5375a8c156e9532447b",
            git_ai_version: Some(
                "1.0.23",
            ),
            files: [
                FileLines {
                    path: "src/main.rs",
                    entries: [
                        (
                            "abcd1234abcd1234",
                            [
                                (
                                    1,
                                    10,
                                ),
                                (
                                    15,
                                    20,
                                ),
                            ],
                        ),
                        (
                            "0123456789abcdef",
                            [
                                (
                                    25,
                                    25,
                                ),
                                (
                                    30,
                                    35,
                                ),
                            ],
                        ),
                    ],
                },
                FileLines {
                    path: "src/my file.rs",
                    entries: [
                        (
                            "abcd1234abcd1234",
                            [
                                (
                                    1,
                                    50,
                                ),
                            ],
                        ),
                    ],
                },
            ],
            sessions: [
                Session {
                    hash: "0123456789abcdef",
                    tool: "claude",
                    model: Some(
                        "claude-sonnet-4",
                    ),
                    human_author: None,
                    accepted_lines: Some(
                        6,
                    ),
                },
                Session {
                    hash: "abcd1234abcd1234",
                    tool: "cursor",
                    model: Some(
                        "claude-4.5-opus",
                    ),
                    human_author: Some(
                        "Developer <dev@example.com>",
                    ),
                    accepted_lines: Some(
                        20,
                    ),
                },
            ],
        }
    "#]]
    .assert_eq(&format!("{note:#?}\n"));
    expect![[r#"
        [Attribution { tool: "claude-code", evidence: GitAiNote, line: None }, Attribution { tool: "cursor", evidence: GitAiNote, line: None }]
    "#]]
    .assert_eq(&format!("{:?}\n", note.attributions()));
}

#[test]
fn git_ai_note_errors() {
    let meta = |prompts: &str| {
        format!(
            "---\n{{\"schema_version\": \"authorship/3.0.0\", \"base_commit_sha\": \"abc\", \"prompts\": {{{prompts}}}}}"
        )
    };
    let p = r#""abcd1234abcd1234": {"agent_id": {"tool": "cursor", "id": "x"}}"#;
    let cases = [
        "src/a.rs\n  abcd1234abcd1234 1-2\n".to_owned(),
        format!("  abcd1234abcd1234 1\n{}", meta(p)),
        format!("a.rs\n  abcd1234abcd1234 3-1\n{}", meta(p)),
        format!("a.rs\n  abcd1234abcd1234 x\n{}", meta(p)),
        format!("a.rs\n   abcd1234abcd1234 1\n{}", meta(p)),
        format!("a.rs\n  ffff1234abcd1234 1\n{}", meta(p)),
        format!("a.rs\n  nothex 1\n{}", meta(p)),
        "---\n{\"schema_version\": \"authorship/2.0.0\", \"base_commit_sha\": \"a\", \"prompts\": {}}".to_owned(),
        "---\n{\"schema_version\": \"authorship/3.0.0\"}".to_owned(),
        meta(""),
    ];
    let mut out = String::new();
    for c in &cases {
        match gitai::parse_git_ai_note(c) {
            Ok(n) => writeln!(
                out,
                "ok: {} files, {} sessions",
                n.files.len(),
                n.sessions.len()
            ),
            Err(e) => writeln!(out, "error: {e}"),
        }
        .unwrap();
    }
    expect![[r#"
        error: authorship log has no `---` line between attestations and metadata
        error: authorship log line 1: attestation entry before any file path
        error: authorship log line 2: line ranges `3-1` are not like `1-4,9,12-20` (1-based, start ≤ end)
        error: authorship log line 2: line ranges `x` are not like `1-4,9,12-20` (1-based, start ≤ end)
        error: authorship log line 2: attestation entries are indented by exactly two spaces
        error: authorship log line 2: session `ffff1234abcd1234` is not in the metadata's `prompts`
        error: authorship log line 2: session hash `nothex` is not 16 (or 7) hexadecimal digits
        error: unsupported authorship log schema `authorship/2.0.0`: expected `authorship/3.x`
        error: authorship log metadata: missing field `base_commit_sha` at line 1 column 38
        ok: 0 files, 0 sessions
    "#]]
    .assert_eq(&out);
}

// ---------------------------------------------------------------------------------------------
// Change records
//
// `check_record(script, expect)` folds a script of events into the record of
// `acme/payments-api#7` and prints what each line did. Commands (`|` starts a message or
// review body; `\n` in it is a newline):
//
// - `opened head=SHA [author=LOGIN] [branch=B]`, `sync head=SHA`, `closed`, `reopened`,
//   `merged sha=SHA by=LOGIN`
// - `push SHA [author=Name_With_Underscores] [email=E] | message` — one commit to the head branch
// - `review LOGIN STATE at=SHA [id=N] [| body]`, `dismiss LOGIN id=N`, `edit LOGIN id=N | body`
// - `run NAME STATUS [CONCLUSION] at=SHA [pr=N]` (check run), `status CONTEXT STATE at=SHA`,
//   `pipeline STATUS at=SHA [mr=N] jobs=name:status,…`
// - `deploy ID env=E sha=SHA`, `deploy-status ID STATE env=E sha=SHA`,
//   `protect ID env=E sha=SHA`
// - `github EVENT FILE` / `gitlab EVENT FILE` — a vendored payload
// - `note SHA` — add the attributions of the test Git AI note to commit SHA
// - `checklist item;item`, `gates tests=a,b security=c` — configuration for `facts`
// - `facts` — prints the facts (and shadow AI)

const REPO: &str = "acme/payments-api";

fn kv<'a>(words: &[&'a str], key: &str) -> Option<&'a str> {
    words
        .iter()
        .find_map(|w| w.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
}

fn req<'a>(words: &[&'a str], key: &str) -> &'a str {
    kv(words, key).unwrap_or_else(|| panic!("{words:?}: missing {key}="))
}

fn pr_event(rec: &ChangeRecord, action: PullRequestAction, head: &str) -> PullRequest {
    PullRequest {
        action,
        repo: REPO.to_owned(),
        number: 7,
        title: "Add partial refunds".to_owned(),
        body: None,
        author: None,
        head_sha: head.to_owned(),
        head_ref: if rec.head_ref.is_empty() {
            "feature/refunds".to_owned()
        } else {
            rec.head_ref.clone()
        },
        base_ref: "main".to_owned(),
        before: None,
        merged: false,
        merge_commit_sha: None,
        merged_by: None,
    }
}

fn check_record(script: &str, expect: Expect) {
    let mut rec = ChangeRecord::new(REPO, 7);
    let mut checklist: Vec<String> = Vec::new();
    let mut gates = GateChecks::default();
    let mut out = String::new();
    for line in script.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let (cmd, text) = match line.split_once(" | ") {
            Some((c, t)) => (c, Some(t.replace("\\n", "\n"))),
            None => (line, None),
        };
        let w: Vec<&str> = cmd.split_whitespace().collect();
        let event = match w[0] {
            "opened" => {
                let mut e = pr_event(&rec, PullRequestAction::Opened, req(&w, "head"));
                e.author = Some(kv(&w, "author").unwrap_or("alice").to_owned());
                if let Some(b) = kv(&w, "branch") {
                    e.head_ref = b.to_owned();
                }
                ChangeEvent::PullRequest(e)
            }
            "sync" => ChangeEvent::PullRequest(pr_event(
                &rec,
                PullRequestAction::Synchronize,
                req(&w, "head"),
            )),
            "closed" | "reopened" => {
                let action = if w[0] == "closed" {
                    PullRequestAction::Closed
                } else {
                    PullRequestAction::Reopened
                };
                ChangeEvent::PullRequest(pr_event(&rec, action, &rec.head_sha.clone()))
            }
            "merged" => {
                let mut e = pr_event(&rec, PullRequestAction::Closed, &rec.head_sha.clone());
                e.merged = true;
                e.merge_commit_sha = Some(req(&w, "sha").to_owned());
                e.merged_by = Some(req(&w, "by").to_owned());
                ChangeEvent::PullRequest(e)
            }
            "push" => ChangeEvent::Push(Push {
                repo: REPO.to_owned(),
                git_ref: format!("refs/heads/{}", kv(&w, "branch").unwrap_or(&rec.head_ref)),
                before: rec.head_sha.clone(),
                after: w[1].to_owned(),
                created: false,
                deleted: false,
                forced: Some(false),
                pusher: "alice".to_owned(),
                commits: vec![PushCommit {
                    id: w[1].to_owned(),
                    message: text.clone().unwrap_or_default(),
                    author_name: kv(&w, "author").unwrap_or("Alice").replace('_', " "),
                    author_email: kv(&w, "email").unwrap_or("alice@example.com").to_owned(),
                    committer_name: None,
                    committer_email: None,
                    timestamp: "2026-11-20T10:00:00Z".to_owned(),
                }],
            }),
            "review" | "dismiss" | "edit" => ChangeEvent::Review(Review {
                action: match w[0] {
                    "review" => ReviewAction::Submitted,
                    "dismiss" => ReviewAction::Dismissed,
                    _ => ReviewAction::Edited,
                },
                repo: REPO.to_owned(),
                number: 7,
                pr_author: None,
                pr_head_sha: rec.head_sha.clone(),
                id: kv(&w, "id").map(|i| i.parse().unwrap()),
                reviewer: w[1].to_owned(),
                state: match w[0] {
                    "review" => ReviewState::parse(w[2]),
                    "dismiss" => ReviewState::Dismissed,
                    _ => ReviewState::Approved,
                },
                commit_id: kv(&w, "at").map(str::to_owned),
                submitted_at: None,
                body: text.clone(),
            }),
            "run" => ChangeEvent::Check(Check {
                kind: CheckKind::Run,
                action: "completed".to_owned(),
                repo: REPO.to_owned(),
                name: w[1].to_owned(),
                head_sha: req(&w, "at").to_owned(),
                status: w[2].to_owned(),
                conclusion: w
                    .get(3)
                    .filter(|c| !c.contains('='))
                    .map(|c| (*c).to_owned()),
                app_slug: Some("github-actions".to_owned()),
                pull_requests: kv(&w, "pr")
                    .map(|n| vec![n.parse().unwrap()])
                    .unwrap_or_default(),
            }),
            "status" => ChangeEvent::Status(Status {
                repo: REPO.to_owned(),
                sha: req(&w, "at").to_owned(),
                context: w[1].to_owned(),
                state: w[2].to_owned(),
            }),
            "pipeline" => ChangeEvent::Pipeline(Pipeline {
                repo: REPO.to_owned(),
                id: 1,
                name: None,
                git_ref: "feature/refunds".to_owned(),
                sha: req(&w, "at").to_owned(),
                status: w[1].to_owned(),
                merge_request: kv(&w, "mr").map(|n| n.parse().unwrap()),
                jobs: kv(&w, "jobs")
                    .unwrap_or("")
                    .split(',')
                    .filter(|j| !j.is_empty())
                    .enumerate()
                    .map(|(i, j)| {
                        let (name, status) = j.split_once(':').unwrap();
                        change::Job {
                            id: i as u64,
                            name: name.to_owned(),
                            stage: "test".to_owned(),
                            status: status.to_owned(),
                        }
                    })
                    .collect(),
            }),
            "deploy" => ChangeEvent::Deployment(Deployment {
                repo: REPO.to_owned(),
                id: w[1].parse().unwrap(),
                sha: req(&w, "sha").to_owned(),
                git_ref: "main".to_owned(),
                environment: req(&w, "env").to_owned(),
                creator: Some("carol".to_owned()),
            }),
            "deploy-status" => ChangeEvent::DeploymentStatus(DeploymentStatus {
                repo: REPO.to_owned(),
                deployment_id: w[1].parse().unwrap(),
                state: w[2].to_owned(),
                environment: req(&w, "env").to_owned(),
                sha: req(&w, "sha").to_owned(),
                creator: None,
            }),
            "protect" => ChangeEvent::DeploymentProtectionRule(change::ProtectionRule {
                repo: REPO.to_owned(),
                environment: req(&w, "env").to_owned(),
                event: Some("deployment".to_owned()),
                callback_url: format!("https://api.github.com/callback/{}", w[1]),
                deployment_id: w[1].parse().unwrap(),
                sha: req(&w, "sha").to_owned(),
                git_ref: "main".to_owned(),
                pull_requests: Vec::new(),
            }),
            "github" => {
                github::parse(w[1], "d", &test_data(&format!("github/{}", w[2])))
                    .unwrap()
                    .event
            }
            "gitlab" => {
                let event = w[1].replace('_', " ");
                gitlab::parse(&event, "d", &test_data(&format!("gitlab/{}", w[2])))
                    .unwrap()
                    .event
            }
            "note" => {
                let note = gitai::parse_git_ai_note(GIT_AI_NOTE).unwrap();
                let known = rec.add_attributions(w[1], &note.attributions());
                writeln!(
                    out,
                    "{line}: {}",
                    if known { "added" } else { "unknown commit" }
                )
                .unwrap();
                continue;
            }
            "checklist" => {
                checklist = line["checklist ".len()..]
                    .split(';')
                    .map(|s| s.trim().to_owned())
                    .collect();
                continue;
            }
            "gates" => {
                let list = |k: &str| {
                    kv(&w, k)
                        .map(|v| v.split(',').map(str::to_owned).collect())
                        .unwrap_or_default()
                };
                gates = GateChecks {
                    tests: list("tests"),
                    security: list("security"),
                };
                continue;
            }
            "facts" => {
                let items: Vec<&str> = checklist.iter().map(String::as_str).collect();
                let f = rec.facts(&items, &gates);
                writeln!(
                    out,
                    "facts: approvals={} checklist_complete={} tests_passed={} security_scan_passed={} ai_assisted={} ai_tools={:?}",
                    f.approvals,
                    f.checklist_complete,
                    f.tests_passed,
                    f.security_scan_passed,
                    f.ai_assisted,
                    f.ai_tools
                )
                .unwrap();
                continue;
            }
            other => panic!("unknown command {other}"),
        };
        let applied = rec.apply(&event);
        if !applied {
            writeln!(out, "{line}: skipped").unwrap();
        }
    }
    writeln!(
        out,
        "state={:?} head={} heads={:?} author={:?} commits={:?}",
        rec.state,
        rec.head_sha,
        rec.heads,
        rec.author,
        rec.commits
            .iter()
            .map(|c| c.commit.sha.as_str())
            .collect::<Vec<_>>()
    )
    .unwrap();
    if let Some(m) = &rec.merge {
        writeln!(out, "merge: {m:?}").unwrap();
    }
    for (item, ticks) in
        rec.checklist_ticks(&checklist.iter().map(String::as_str).collect::<Vec<_>>())
    {
        let who: Vec<String> = ticks
            .iter()
            .map(|t| {
                format!(
                    "{}@{}({:?})",
                    t.reviewer,
                    t.commit_id.as_deref().unwrap_or("?"),
                    t.state
                )
            })
            .collect();
        writeln!(out, "ticked {item:?}: {}", who.join(", ")).unwrap();
    }
    for ((sha, name, source), verdict) in &rec.checks {
        writeln!(out, "check {sha} {name} ({source:?}): {verdict:?}").unwrap();
    }
    for d in &rec.deployments {
        writeln!(out, "deployment: {d:?}").unwrap();
    }
    let tools = tools();
    for s in rec.shadow_ai(&tools.iter().collect::<Vec<_>>()) {
        writeln!(
            out,
            "shadow AI: {} in {}: {:?}",
            s.tool_name, s.commit, s.reason
        )
        .unwrap();
    }
    expect.assert_eq(&out);
}

#[test]
fn record_approval_rules() {
    check_record(
        r"
        gates tests=ci/test security=codeql
        opened head=a1 author=alice
        push a1 | Add refunds\n\nCo-Authored-By: Claude <noreply@anthropic.com>
        review bob approved at=a1 id=1
        review alice approved at=a1 id=2
        review dependabot[bot] approved at=a1 id=3
        facts
        push a2 | Handle rounding
        facts
        review bob commented at=a2 id=4
        review carol approved at=a2 id=5
        facts
        review carol changes_requested at=a2 id=6
        facts
        review carol approved at=a2 id=7
        review carol commented at=a2 id=8
        review Bob approved at=a2 id=9
        facts
        dismiss Bob id=9
        facts
        ",
        expect![[r#"
            facts: approvals=1 checklist_complete=true tests_passed=false security_scan_passed=false ai_assisted=true ai_tools=["claude-code"]
            facts: approvals=0 checklist_complete=false tests_passed=false security_scan_passed=false ai_assisted=true ai_tools=["claude-code"]
            facts: approvals=1 checklist_complete=true tests_passed=false security_scan_passed=false ai_assisted=true ai_tools=["claude-code"]
            facts: approvals=0 checklist_complete=false tests_passed=false security_scan_passed=false ai_assisted=true ai_tools=["claude-code"]
            facts: approvals=2 checklist_complete=true tests_passed=false security_scan_passed=false ai_assisted=true ai_tools=["claude-code"]
            facts: approvals=1 checklist_complete=true tests_passed=false security_scan_passed=false ai_assisted=true ai_tools=["claude-code"]
            state=Open head=a2 heads=["a1", "a2"] author=Some("alice") commits=["a1", "a2"]
        "#]],
    );
}

#[test]
fn record_checklist() {
    check_record(
        r"
        checklist I read every AI-generated line;Tests cover the AI-generated code;No secrets or personal data in prompts
        opened head=a1
        push a1 | Add refunds\n\nCo-authored-by: Cursor Agent <cursoragent@cursor.com>
        review bob approved at=a1 id=1 | LGTM\n\n## AI review\n- [x] I read every AI-generated line\n- [x] Tests cover the AI-generated code\n- [ ] No secrets or personal data in prompts
        facts
        edit bob id=1 | LGTM\n\n- [x] i read  every AI-generated line.\n* [X] Tests cover the AI-generated code\n1. [x] No secrets or personal data in prompts
        facts
        push a2 | Fix typo
        facts
        review carol commented at=a2 id=2 | - [x] I read every AI-generated line\n- [x] Tests cover the AI-generated code\n- [x] No secrets or personal data in prompts
        review dave approved at=a2 id=3 | Approved.
        facts
        review carol approved at=a2 id=4 | - [x] I read every AI-generated line\n- [x] Tests cover the AI-generated code\n- [x] No secrets or personal data in prompts
        facts
        ",
        expect![[r#"
            facts: approvals=1 checklist_complete=false tests_passed=false security_scan_passed=false ai_assisted=true ai_tools=["cursor"]
            facts: approvals=1 checklist_complete=true tests_passed=false security_scan_passed=false ai_assisted=true ai_tools=["cursor"]
            facts: approvals=0 checklist_complete=false tests_passed=false security_scan_passed=false ai_assisted=true ai_tools=["cursor"]
            facts: approvals=1 checklist_complete=false tests_passed=false security_scan_passed=false ai_assisted=true ai_tools=["cursor"]
            facts: approvals=2 checklist_complete=true tests_passed=false security_scan_passed=false ai_assisted=true ai_tools=["cursor"]
            state=Open head=a2 heads=["a1", "a2"] author=Some("alice") commits=["a1", "a2"]
            ticked "I read every AI-generated line": bob@a1(Approved), carol@a2(Commented), carol@a2(Approved)
            ticked "Tests cover the AI-generated code": bob@a1(Approved), carol@a2(Commented), carol@a2(Approved)
            ticked "No secrets or personal data in prompts": bob@a1(Approved), carol@a2(Commented), carol@a2(Approved)
            shadow AI: cursor in a1: NotApproved { status: Pilot }
        "#]],
    );
}

#[test]
fn record_checks_at_head() {
    check_record(
        r"
        gates tests=ci/test,unit security=codeql
        opened head=a1
        push a1 | Add refunds
        run unit completed success at=a1
        status ci/test success at=a1
        run codeql completed success at=a1
        facts
        push a2 | More
        facts
        run unit completed success at=a2
        status ci/test pending at=a2
        run codeql completed success at=a2
        facts
        status ci/test success at=a2
        facts
        run unit queued at=a2
        facts
        run unit completed failure at=a2
        facts
        run unit completed success at=a2
        run codeql completed neutral at=a2
        facts
        run codeql completed success at=zz pr=7
        run codeql completed success at=yy
        status ci/test success at=xx
        ",
        expect![[r#"
            facts: approvals=0 checklist_complete=false tests_passed=true security_scan_passed=true ai_assisted=false ai_tools=[]
            facts: approvals=0 checklist_complete=false tests_passed=false security_scan_passed=false ai_assisted=false ai_tools=[]
            facts: approvals=0 checklist_complete=false tests_passed=false security_scan_passed=true ai_assisted=false ai_tools=[]
            facts: approvals=0 checklist_complete=false tests_passed=true security_scan_passed=true ai_assisted=false ai_tools=[]
            facts: approvals=0 checklist_complete=false tests_passed=false security_scan_passed=true ai_assisted=false ai_tools=[]
            facts: approvals=0 checklist_complete=false tests_passed=false security_scan_passed=true ai_assisted=false ai_tools=[]
            facts: approvals=0 checklist_complete=false tests_passed=true security_scan_passed=false ai_assisted=false ai_tools=[]
            run codeql completed success at=yy: skipped
            status ci/test success at=xx: skipped
            state=Open head=a2 heads=["a1", "a2"] author=Some("alice") commits=["a1", "a2"]
            check a1 ci/test (Status): Success
            check a1 codeql (CheckRun): Success
            check a1 unit (CheckRun): Success
            check a2 ci/test (Status): Success
            check a2 codeql (CheckRun): Neutral
            check a2 unit (CheckRun): Success
            check zz codeql (CheckRun): Success
        "#]],
    );
}

#[test]
fn record_routing_merge_and_deployments() {
    check_record(
        r"
        opened head=a1 branch=feature/refunds
        push b1 branch=other | Unrelated
        push a2 author=copilot-swe-agent[bot] email=198982749+Copilot@users.noreply.github.com | Initial plan
        push a3 author=Jane_(aider) email=jane@example.com | Refactor
        push a4 | Port\n\nCo-authored-by: Codex <noreply@openai.com>
        note a3
        note zz
        deploy 1 env=staging sha=a4
        deploy-status 1 in_progress env=staging sha=a4
        deploy-status 1 success env=staging sha=a4
        merged sha=m1 by=carol
        push a5 | After merge
        protect 2 env=production sha=m1
        deploy-status 2 success env=production sha=m1
        deploy 3 env=production sha=other
        reopened
        facts
        ",
        expect![[r#"
            push b1 branch=other | Unrelated: skipped
            note a3: added
            note zz: unknown commit
            push a5 | After merge: skipped
            deploy 3 env=production sha=other: skipped
            facts: approvals=0 checklist_complete=false tests_passed=false security_scan_passed=false ai_assisted=true ai_tools=["aider", "claude-code", "codex", "copilot", "cursor"]
            state=Merged head=a4 heads=["a1", "a2", "a3", "a4"] author=Some("alice") commits=["a2", "a3", "a4"]
            merge: Merge { commit_sha: Some("m1"), by: Some("carol"), head_sha: "a4" }
            deployment: DeploymentRecord { id: 1, environment: "staging", sha: "a4", creator: Some("carol"), states: ["in_progress", "success"], callback_url: None }
            deployment: DeploymentRecord { id: 2, environment: "production", sha: "m1", creator: None, states: ["success"], callback_url: Some("https://api.github.com/callback/2") }
            shadow AI: cursor in a3: NotApproved { status: Pilot }
            shadow AI: codex in a4: NotApproved { status: Denied }
        "#]],
    );
}

#[test]
fn record_real_github_payloads() {
    // The vendored examples all describe Codertocat/Hello-World#2.
    let mut rec = ChangeRecord::new("Codertocat/Hello-World", 2);
    let mut out = String::new();
    for (event, file) in [
        ("pull_request", "pull_request.opened.json"),
        ("check_run", "check_run.created.json"),
        ("check_run", "check_run.completed.json"),
        ("check_suite", "check_suite.completed.json"),
        ("pull_request_review", "pull_request_review.submitted.json"),
        ("status", "status.json"),
        ("deployment", "deployment.created.json"),
        ("push", "push.branch-created.json"),
        ("issues", "issues.edited.json"),
        ("pull_request", "pull_request.synchronize.json"),
        ("pull_request_review", "pull_request_review.dismissed.json"),
        (
            "deployment_protection_rule",
            "deployment_protection_rule.requested.json",
        ),
        ("pull_request", "pull_request.closed.json"),
    ] {
        let d = github::parse(event, "d", &test_data(&format!("github/{file}"))).unwrap();
        writeln!(
            out,
            "{file}: {}",
            if rec.apply(&d.event) {
                "applied"
            } else {
                "skipped"
            }
        )
        .unwrap();
    }
    let gates = GateChecks {
        tests: vec!["Octocoders-linter".to_owned()],
        security: vec!["octocoders-linter".to_owned()],
    };
    writeln!(out, "{:?}", rec.facts(&[], &gates)).unwrap();
    writeln!(
        out,
        "state={:?} merge={:?} reviews={:?}",
        rec.state, rec.merge, rec.reviews
    )
    .unwrap();
    writeln!(out, "deployments={:?}", rec.deployments).unwrap();
    expect![[r#"
        pull_request.opened.json: applied
        check_run.created.json: applied
        check_run.completed.json: applied
        check_suite.completed.json: applied
        pull_request_review.submitted.json: applied
        status.json: skipped
        deployment.created.json: skipped
        push.branch-created.json: skipped
        issues.edited.json: skipped
        pull_request.synchronize.json: applied
        pull_request_review.dismissed.json: applied
        deployment_protection_rule.requested.json: applied
        pull_request.closed.json: applied
        ChangeFacts { ai_assisted: false, ai_tools: [], approvals: 0, checklist_complete: false, security_scan_passed: true, high_findings: 0, tests_passed: false, secret_findings: 0 }
        state=Closed merge=None reviews=[ReviewRecord { id: Some(237895671), reviewer: "Codertocat", state: Dismissed, commit_id: Some("ec26c3e57ca3a959ca5aad62de7213c562f8c821"), submitted_at: Some("2019-05-15T15:20:38Z"), checklist: [] }]
        deployments=[DeploymentRecord { id: 145988746, environment: "production", sha: "f95f852bd8fca8fcc58a9a2d6c842781e32a215e", creator: None, states: [], callback_url: Some("https://api.github.com/repos/Codertocat/Hello-World/actions/runs/1234567890/deployment_protection_rule") }]
    "#]]
    .assert_eq(&out);
}

#[test]
fn record_gitlab_flow() {
    check_record(
        r"
        gates tests=unit-tests security=sast,dependency-scan
        gitlab Merge_Request_Hook merge_request.open.json
        gitlab Push_Hook push.json
        gitlab Merge_Request_Hook merge_request.update.json
        gitlab Pipeline_Hook pipeline.json
        gitlab Merge_Request_Hook merge_request.approved.json
        facts
        gates tests=unit-tests,pipeline security=sast
        facts
        gitlab Merge_Request_Hook merge_request.merge.json
        gitlab Deployment_Hook deployment.json
        ",
        expect![[r#"
            facts: approvals=1 checklist_complete=true tests_passed=true security_scan_passed=false ai_assisted=true ai_tools=["cursor"]
            facts: approvals=1 checklist_complete=true tests_passed=true security_scan_passed=true ai_assisted=true ai_tools=["cursor"]
            state=Merged head=2222222222222222222222222222222222222222 heads=["1111111111111111111111111111111111111111", "2222222222222222222222222222222222222222"] author=Some("alice") commits=["2222222222222222222222222222222222222222"]
            merge: Merge { commit_sha: Some("3333333333333333333333333333333333333333"), by: Some("carol"), head_sha: "2222222222222222222222222222222222222222" }
            check 2222222222222222222222222222222222222222 dependency-scan (Job): Neutral
            check 2222222222222222222222222222222222222222 pipeline (Pipeline): Success
            check 2222222222222222222222222222222222222222 sast (Job): Success
            check 2222222222222222222222222222222222222222 unit-tests (Job): Success
            deployment: DeploymentRecord { id: 615, environment: "production", sha: "3333333333333333333333333333333333333333", creator: Some("carol"), states: ["success"], callback_url: None }
            shadow AI: cursor in 2222222222222222222222222222222222222222: NotApproved { status: Pilot }
        "#]],
    );
}

#[test]
fn task_lists() {
    let items = record::task_list(
        "Intro\n- [x] done\n  - [ ] nested todo\n* [X] star\n+ [ ]\n1. [x] ordered\n2) [ ] paren\n- [x]no space\n-[x] no space after bullet\n- [y] other\n[x] no bullet\n```\n- [x] in code (still counted)\n```",
    );
    let out: String = items
        .iter()
        .map(|t| {
            format!(
                "{} {} {:?}\n",
                t.line,
                if t.checked { "x" } else { " " },
                t.text
            )
        })
        .collect();
    expect![[r#"
        2 x "done"
        3   "nested todo"
        4 x "star"
        5   ""
        6 x "ordered"
        7   "paren"
        13 x "in code (still counted)"
    "#]]
    .assert_eq(&out);
}

/// A change record survives a JSON round trip (how the store keeps it), check results included.
#[test]
fn record_json_round_trip() {
    let mut rec = ChangeRecord::new("Codertocat/Hello-World", 2);
    for (event, file) in [
        ("pull_request", "pull_request.opened.json"),
        ("check_run", "check_run.completed.json"),
        ("pull_request_review", "pull_request_review.submitted.json"),
        (
            "deployment_protection_rule",
            "deployment_protection_rule.requested.json",
        ),
    ] {
        let d = github::parse(event, "d", &test_data(&format!("github/{file}"))).unwrap();
        assert!(rec.apply(&d.event), "{file}");
    }
    assert!(!rec.checks.is_empty() && !rec.reviews.is_empty());
    let json = serde_json::to_value(&rec).unwrap();
    // A list of objects (JSON object keys must be strings); keys named, whatever their order.
    let checks: Vec<String> = json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            format!(
                "{} {} {} {}",
                c["sha"], c["name"], c["source"], c["verdict"]
            )
        })
        .collect();
    expect![[r#"["\"ec26c3e57ca3a959ca5aad62de7213c562f8c821\" \"Octocoders-linter\" \"check_run\" \"failure\""]"#]]
        .assert_eq(&format!("{checks:?}"));
    let back: ChangeRecord = serde_json::from_value(json).unwrap();
    assert_eq!(back, rec);
}

#[test]
fn senders() {
    let out: Vec<Option<String>> = vec![
        github::sender(&test_data("github/pull_request.opened.json")),
        github::sender(&test_data("github/push.branch-created.json")),
        github::sender(b"not json"),
        gitlab::sender(&test_data("gitlab/merge_request.open.json")),
        gitlab::sender(&test_data("gitlab/push.json")),
        gitlab::sender(b"{}"),
    ];
    expect![[
        r#"[Some("Codertocat"), Some("Codertocat"), None, Some("alice"), Some("alice"), None]"#
    ]]
    .assert_eq(&format!("{out:?}"));
}
