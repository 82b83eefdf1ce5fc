//! The merge gate and bypass alerts driven by GitHub webhooks over real HTTP: the gate's
//! decision follows commits, reviews and checks (each change recorded in the ledger and kept in
//! the change record); a merge the gate denies, and a push straight to a protected branch that
//! no merge explains, raise alerts; a push a merge explains does not.

use change::record::PrState;
use ledger::EntryKind;
use model::Outcome;
use reqwest::StatusCode;
use store::{AlertState, AlertStore as _};
use time::Duration;

use super::TestServer;
use super::forge::{Repo, sha};
use super::webhooks::{backends, webhooks};

const CHECKLIST: &str = "Looks good.\n\n\
    - [x] I read and understood every AI-generated line\n\
    - [x] Tests cover the AI-generated code paths\n\
    - [x] No secrets, personal data or licence-incompatible code was introduced\n";

const CLAUDE: &str = "Add the cart badge\n\nCo-authored-by: Claude <noreply@anthropic.com>";

impl TestServer {
    /// `outcome reasons…` of a record's gate decision.
    async fn gate_of(&self, repo: &str, number: u64) -> String {
        let record = self.change_record("github", repo, number).await;
        match record.gate {
            None => "no decision".to_owned(),
            Some(g) => format!(
                "{} at {} [{}]",
                match g.outcome {
                    Outcome::Allow => "allow",
                    Outcome::Deny => "deny",
                },
                &g.head_sha[g.head_sha.len() - 4..],
                g.reasons
                    .iter()
                    .map(|r| r.split(':').next().unwrap_or(r))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }

    async fn alert_lines(&self, state: Option<AlertState>) -> String {
        self.store
            .alerts(state, 100)
            .await
            .unwrap()
            .iter()
            .rev()
            .map(|a| format!("{} {} {}: {}\n", a.state, a.kind, a.subject, a.summary))
            .collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_merge_gate_follows_reviews_and_checks_and_bypasses_raise_alerts() {
    let repo = Repo::new("acme/storefront");
    let r = "acme/storefront";
    let (h1, m1, h2, m2, direct, merged_later, h3) = (
        sha("h1"),
        sha("m1"),
        sha("h2"),
        sha("m2"),
        sha("direct"),
        sha("m3"),
        sha("h3"),
    );
    for db in backends().await {
        let b = db.label;
        let github = standin::github::spawn("ghs_installation_token")
            .await
            .unwrap();
        let client = server::github::GithubApi::new(&config::GithubConfig {
            api_url: github.base_url(),
            token: Some(config::Secret::new("ghs_installation_token")),
            ..config::GithubConfig::default()
        })
        .unwrap();
        let s = db
            .start_with(server::StateOptions {
                webhooks: webhooks(true),
                github: client,
                ..server::StateOptions::default()
            })
            .await;
        let mut n = 0;
        let mut deliver = async |event: &str, body: Vec<u8>| {
            n += 1;
            s.deliver_github(event, &format!("d-{n}"), &body).await;
            s.processed(n).await;
        };

        // #7: opened by Lena; her commit has Claude as co-author; no review, no tests yet.
        deliver(
            "pull_request",
            repo.pull_request("opened", 7, "lena-acme", &h1, None),
        )
        .await;
        expect_test::expect!["deny at 0000 [tests-must-pass]"].assert_eq(&s.gate_of(r, 7).await);
        deliver(
            "push",
            repo.push(
                "refs/heads/feature-7",
                &"0".repeat(40),
                &h1,
                "lena-acme",
                &[(&h1, CLAUDE, "Lena Fischer", "lena@acme.example")],
            ),
        )
        .await;
        expect_test::expect!["deny at 0000 [tests-must-pass, ai-changes-need-human-review]"]
            .assert_eq(&s.gate_of(r, 7).await);
        // Tests pass; an approval without the checklist is not enough; with it, allow.
        deliver("check_run", repo.check_run(7, &h1, "test", "success")).await;
        deliver(
            "pull_request_review",
            repo.review(7, "lena-acme", "omar-acme", &h1, "approved", "LGTM"),
        )
        .await;
        expect_test::expect!["deny at 0000 [ai-changes-need-human-review]"]
            .assert_eq(&s.gate_of(r, 7).await);
        deliver(
            "pull_request_review",
            repo.review(7, "lena-acme", "omar-acme", &h1, "approved", CHECKLIST),
        )
        .await;
        expect_test::expect!["allow at 0000 [baseline-merge]"].assert_eq(&s.gate_of(r, 7).await);
        // Merged, and its merge commit reaches main: no alert.
        deliver(
            "pull_request",
            repo.pull_request("closed", 7, "lena-acme", &h1, Some((&m1, "lena-acme"))),
        )
        .await;
        deliver(
            "push",
            repo.push("refs/heads/main", &"0".repeat(40), &m1, "lena-acme", &[]),
        )
        .await;
        assert_eq!(
            s.change_record("github", r, 7).await.state,
            PrState::Merged,
            "{b}"
        );

        // #8: AI-assisted, unreviewed, merged by an administrator anyway → alert.
        // Its commit was pushed before the pull request was opened: the record still gets it.
        deliver(
            "push",
            repo.push(
                "refs/heads/feature-8",
                &"0".repeat(40),
                &h2,
                "lena-acme",
                &[(&h2, CLAUDE, "Lena Fischer", "lena@acme.example")],
            ),
        )
        .await;
        deliver(
            "pull_request",
            repo.pull_request("opened", 8, "lena-acme", &h2, None),
        )
        .await;
        let record = s.change_record("github", r, 8).await;
        assert_eq!(record.ai_tools(), ["claude-code"], "{b}");
        deliver("check_run", repo.check_run(8, &h2, "test", "success")).await;
        deliver(
            "pull_request",
            repo.pull_request("closed", 8, "lena-acme", &h2, Some((&m2, "priya-acme"))),
        )
        .await;
        // The merge commit of #9 reaches main before its pull request event does.
        deliver(
            "push",
            repo.push("refs/heads/main", &m1, &merged_later, "omar-acme", &[]),
        )
        .await;
        // A push straight to main that no change explains.
        deliver(
            "push",
            repo.push(
                "refs/heads/main",
                &m1,
                &direct,
                "bob-acme",
                &[(&direct, "hotfix", "Bob", "bob@acme.example")],
            ),
        )
        .await;
        // A push to another branch is nobody's business.
        deliver(
            "push",
            repo.push("refs/heads/experiment", &m1, &sha("exp"), "bob-acme", &[]),
        )
        .await;
        deliver(
            "pull_request",
            repo.pull_request("opened", 9, "omar-acme", &h3, None),
        )
        .await;
        deliver("check_run", repo.check_run(9, &h3, "test", "success")).await;
        deliver(
            "pull_request",
            repo.pull_request(
                "closed",
                9,
                "omar-acme",
                &h3,
                Some((&merged_later, "omar-acme")),
            ),
        )
        .await;

        // Only the merge alert is raised so far; the pushes wait for their grace period.
        expect_test::expect![[r#"
            open merge-without-approval repo:acme/storefront#8: acme/storefront#8 was merged although the merge gate denies it: ai-changes-need-human-review: AI-assisted changes need at least one approving review by someone other than the author, and the AI review checklist
            pending push-to-protected-branch repo:acme/storefront: omar-acme pushed 6d3300000000 straight to protected branch `main` of acme/storefront (no merged change has that commit)
            pending push-to-protected-branch repo:acme/storefront: bob-acme pushed 646972656374 straight to protected branch `main` of acme/storefront (no merged change has that commit)
        "#]]
        .assert_eq(&s.alert_lines(None).await);

        // Before the grace period ends nothing changes; after it, the explained push is
        // dismissed and the other raised.
        let now = s.state.now();
        let early = server::alerts::sweep(&s.state, now).await.unwrap();
        assert_eq!((early.raised, early.dismissed), (0, 0), "{b}");
        let report = server::alerts::sweep(&s.state, now + Duration::minutes(6))
            .await
            .unwrap();
        assert_eq!((report.raised, report.dismissed), (1, 1), "{b}");
        expect_test::expect![[r#"
            open merge-without-approval repo:acme/storefront#8: acme/storefront#8 was merged although the merge gate denies it: ai-changes-need-human-review: AI-assisted changes need at least one approving review by someone other than the author, and the AI review checklist
            dismissed push-to-protected-branch repo:acme/storefront: omar-acme pushed 6d3300000000 straight to protected branch `main` of acme/storefront (no merged change has that commit)
            open push-to-protected-branch repo:acme/storefront: bob-acme pushed 646972656374 straight to protected branch `main` of acme/storefront (no merged change has that commit)
        "#]]
        .assert_eq(&s.alert_lines(None).await);

        // Over the API, for people; every raised alert is in the ledger, once.
        let response = s
            .client
            .get(s.url("/api/v1/alerts?state=open"))
            .bearer_auth(&s.token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{b}");
        let body: serde_json::Value = response.json().await.unwrap();
        let kinds: Vec<&str> = body["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["kind"].as_str().unwrap())
            .collect();
        assert_eq!(
            kinds,
            ["push-to-protected-branch", "merge-without-approval"],
            "{b}"
        );
        assert!(body["alerts"][0]["ledger_index"].is_u64(), "{b}: {body}");
        let bad = s
            .client
            .get(s.url("/api/v1/alerts?state=closed"))
            .bearer_auth(&s.token)
            .send()
            .await
            .unwrap();
        assert_eq!(bad.status(), StatusCode::BAD_REQUEST, "{b}");
        assert!(
            bad.text()
                .await
                .unwrap()
                .contains("unknown alert state `closed`")
        );
        server::alerts::sweep(&s.state, now + Duration::minutes(7))
            .await
            .unwrap();
        expect_test::expect![[r#"
            aigov repo:acme/storefront#8 success alert [alert=merge-without-approval alert_id=1 event=alert.raised]
            aigov repo:acme/storefront success alert [alert=push-to-protected-branch alert_id=3 event=alert.raised]
        "#]]
        .assert_eq(&s.ledger_lines(EntryKind::Alert).await);

        // Each gate decision that changed is in the ledger, with its verdict.
        let gates: Vec<String> = s
            .ledger()
            .await
            .iter()
            .filter(|e| {
                e.kind == EntryKind::PolicyDecision
                    && e.fields.get("event").map(String::as_str) == Some("gate.merge")
            })
            .map(|e| format!("{} {}", e.subject, e.decision.map_or("-", |d| d.as_str())))
            .collect();
        expect_test::expect![[r#"
            [
                "repo:acme/storefront#7 deny",
                "repo:acme/storefront#7 deny",
                "repo:acme/storefront#7 deny",
                "repo:acme/storefront#7 deny",
                "repo:acme/storefront#7 allow",
                "repo:acme/storefront#7 allow",
                "repo:acme/storefront#8 deny",
                "repo:acme/storefront#8 deny",
                "repo:acme/storefront#8 deny",
                "repo:acme/storefront#9 deny",
                "repo:acme/storefront#9 allow",
                "repo:acme/storefront#9 allow",
            ]
        "#]]
        .assert_debug_eq(&gates);
        // Each decision on an open pull request was posted as an `aigov/gate` check run on its
        // head, with GitHub's headers and the app's token.
        let runs: Vec<String> = github
            .calls()
            .iter()
            .filter(|c| c.method == "POST" && c.path.ends_with("/check-runs"))
            .map(|c| {
                assert!(c.authorized && c.api_version.as_deref() == Some("2022-11-28"));
                let sha = c.body["head_sha"].as_str().unwrap();
                format!(
                    "{} {} {} {}: {}",
                    c.path,
                    c.body["name"].as_str().unwrap(),
                    &sha[..6],
                    c.body["conclusion"].as_str().unwrap(),
                    c.body["output"]["title"].as_str().unwrap()
                )
            })
            .collect();
        expect_test::expect![[r#"
            [
                "/repos/acme/storefront/check-runs aigov/gate 683100 failure: Merge blocked: 1 reason",
                "/repos/acme/storefront/check-runs aigov/gate 683100 failure: Merge blocked: 2 reasons",
                "/repos/acme/storefront/check-runs aigov/gate 683100 failure: Merge blocked: 1 reason",
                "/repos/acme/storefront/check-runs aigov/gate 683100 failure: Merge blocked: 1 reason",
                "/repos/acme/storefront/check-runs aigov/gate 683100 success: Merge allowed",
                "/repos/acme/storefront/check-runs aigov/gate 683200 failure: Merge blocked: 2 reasons",
                "/repos/acme/storefront/check-runs aigov/gate 683200 failure: Merge blocked: 1 reason",
                "/repos/acme/storefront/check-runs aigov/gate 683300 failure: Merge blocked: 1 reason",
                "/repos/acme/storefront/check-runs aigov/gate 683300 success: Merge allowed",
            ]
        "#]]
        .assert_debug_eq(&runs);
        let last_deny = github
            .calls()
            .iter()
            .rev()
            .find(|c| c.body["conclusion"] == "failure")
            .map(|c| c.body["output"]["summary"].as_str().unwrap().to_owned())
            .unwrap();
        expect_test::expect![[r#"
            The merge gate blocks this change.

            - tests-must-pass: tests must pass before a change merges

            **What to do**

            - make the test checks pass at the head commit: test
        "#]]
        .assert_eq(&last_deny);
        s.verify_ledger().await;
        s.stop().await.unwrap();
        github.shutdown().await.unwrap();
    }
}
