//! Integration tests of the policy engine: fail-closed evaluation, exact slicing, engine notes.

use std::str::FromStr;

use model::{
    Decision, DecisionRequest, DeployContext, Effect, MergeContext, Outcome, PromptContext,
};
use policy::{Engine, PolicySource, synth};

fn engine(policies: &str) -> Engine {
    let src = [PolicySource {
        path: "policy/test.cedar".into(),
        text: policies.into(),
    }];
    Engine::build(&synth::inventory(), &src, &[]).unwrap_or_else(|d| panic!("{d:#?}"))
}

fn prompt(principal: &str, resource: &str, token_estimate: u64) -> DecisionRequest {
    DecisionRequest::SendPrompt {
        principal: principal.into(),
        resource: resource.into(),
        context: PromptContext {
            tool: "tool-0".into(),
            model: "model-0".into(),
            token_estimate,
            ..PromptContext::default()
        },
    }
}

/// Overflows (a Cedar evaluation error) once `token_estimate` is 2 or more.
const ERRORING_FORBID: &str = r#"
@id("allow-all")
@reason("allowed")
permit (principal, action == Action::"SendPrompt", resource);

@id("overflowing-forbid")
@reason("too many tokens")
forbid (principal, action == Action::"SendPrompt", resource)
when { context.token_estimate * 4611686018427387904 > 0 };
"#;

#[test]
fn a_forbid_that_fails_to_evaluate_denies() {
    let e = engine(ERRORING_FORBID);
    let d = e.decide(&prompt("p-1", "org/app-1-r0", 2));
    assert_eq!(d.outcome, Outcome::Deny, "{d:#?}");
    assert!(
        d.determining.is_empty(),
        "a permit must not be reported as determining a deny"
    );
    assert_eq!(d.errors.len(), 1);
    assert_eq!(d.errors[0].policy_id, "overflowing-forbid");
    assert_eq!(d.errors[0].effect, Effect::Forbid);
    assert!(
        d.errors[0].message.contains("overflow"),
        "{}",
        d.errors[0].message
    );
    assert!(
        d.notes[0].contains("forbid policy `overflowing-forbid` failed to evaluate"),
        "{:?}",
        d.notes
    );
    // The same policy without the error (token_estimate 1 → 1 * 2^62 > 0) forbids normally…
    let d = e.decide(&prompt("p-1", "org/app-1-r0", 1));
    assert_eq!(d.outcome, Outcome::Deny);
    assert_eq!(d.determining[0].id, "overflowing-forbid");
    // …and with 0 the forbid is not satisfied, so the permit allows.
    assert!(e.decide(&prompt("p-1", "org/app-1-r0", 0)).is_allowed());
}

#[test]
fn cedar_alone_would_let_the_erroring_request_through() {
    // Guards the test above: if Cedar itself ever failed closed, the guard would be untested.
    use cedar_policy::{
        Authorizer, Context, Entities, EntityUid, PolicySet, Request, RestrictedExpression,
    };
    let set = PolicySet::from_str(ERRORING_FORBID).unwrap();
    let ctx = Context::from_pairs([(
        "token_estimate".to_owned(),
        RestrictedExpression::new_long(2),
    )])
    .unwrap();
    let uid = |s: &str| EntityUid::from_str(s).unwrap();
    let req = Request::new(
        uid(r#"Person::"a""#),
        uid(r#"Action::"SendPrompt""#),
        uid(r#"Repository::"r""#),
        ctx,
        None,
    )
    .unwrap();
    let resp = Authorizer::new().is_authorized(&req, &set, &Entities::empty());
    assert_eq!(resp.decision(), cedar_policy::Decision::Allow);
    assert_eq!(resp.diagnostics().errors().count(), 1);
}

#[test]
fn an_erroring_permit_does_not_allow() {
    let e = engine(
        r#"@id("bad-permit") @reason("r")
        permit (principal, action == Action::"SendPrompt", resource)
        when { context.token_estimate * 4611686018427387904 > 0 };"#,
    );
    let d = e.decide(&prompt("p-1", "org/app-1-r0", 2));
    assert_eq!(d.outcome, Outcome::Deny);
    assert_eq!(d.errors[0].effect, Effect::Permit);
}

fn notes(d: &Decision) -> String {
    assert_eq!(d.outcome, Outcome::Deny);
    d.notes.join("\n")
}

#[test]
fn unknown_principal_resource_and_context_entities_deny_with_a_reason() {
    let e = engine(r#"@id("all") @reason("r") permit (principal, action, resource);"#);
    assert!(e.decide(&prompt("p-1", "org/app-1-r0", 0)).is_allowed());
    expect_test::expect!["unknown person `nobody`: not in the inventory; add them to the bundle's inventory/people.yaml"]
        .assert_eq(&notes(&e.decide(&prompt("nobody", "org/app-1-r0", 0))));
    expect_test::expect!["unknown repository `org/ghost`: this repository is not listed under any application in the inventory"]
        .assert_eq(&notes(&e.decide(&prompt("p-1", "org/ghost", 0))));
    let mut req = prompt("p-1", "org/app-1-r0", 0);
    if let DecisionRequest::SendPrompt { context, .. } = &mut req {
        context.model = "gpt-9".into();
    }
    expect_test::expect!["unknown model `gpt-9`: not in the inventory"]
        .assert_eq(&notes(&e.decide(&req)));
    let deploy = DecisionRequest::Deploy {
        principal: "p-1".into(),
        resource: "app-1/prod".into(),
        context: DeployContext::default(),
    };
    expect_test::expect!["unknown environment `app-1/prod`: this environment (`application/environment`) is not listed under any application in the inventory"]
        .assert_eq(&notes(&e.decide(&deploy)));
}

#[test]
fn no_applicable_policy_is_a_default_deny() {
    let e = engine(
        r#"@id("deploys") @reason("r") permit (principal, action == Action::"Deploy", resource);"#,
    );
    let d = e.decide(&prompt("p-1", "org/app-1-r0", 0));
    assert_eq!(notes(&d), "no policy permits this request (default deny)");
}

#[test]
fn slicing_gives_the_same_decisions_as_the_whole_set() {
    let e = Engine::build(&synth::inventory(), &synth::policies(1000), &[]).unwrap();
    let mut rng = synth::Rng::new(7);
    let mut requests = synth::prompt_requests(&mut rng, 3000);
    for i in 0..500 {
        let app = rng.below(synth::APPS);
        let change = model::ChangeFacts {
            approvals: (i % 3) as u64,
            tests_passed: i % 4 != 0,
            ..Default::default()
        };
        requests.push(DecisionRequest::MergeChange {
            principal: format!("p-{}", rng.below(synth::PEOPLE)),
            resource: format!("org/app-{app}-r0"),
            context: MergeContext {
                change: change.clone(),
            },
        });
        requests.push(DecisionRequest::Deploy {
            principal: format!("p-{}", rng.below(synth::PEOPLE)),
            resource: format!("app-{app}/production"),
            context: DeployContext {
                change,
                authorized: i % 2 == 0,
                break_glass: false,
            },
        });
    }
    let (mut allows, mut denies) = (0, 0);
    for r in &requests {
        let sliced = e.decide(r);
        assert_eq!(sliced, e.decide_unsliced(r), "{r:?}");
        if sliced.is_allowed() {
            allows += 1
        } else {
            denies += 1
        }
    }
    // The workload exercises both outcomes, so equality means something.
    assert!(
        allows > 300 && denies > 300,
        "allows {allows}, denies {denies}"
    );
}

#[test]
fn policies_report_id_effect_reason_and_location() {
    let e = engine(
        "// header\n\n@id(\"a\")\n@reason(\"because\")\nforbid (principal, action, resource);\n",
    );
    let p = &e.policies()[0];
    assert_eq!(
        (
            p.id.as_str(),
            p.effect,
            p.reason.as_str(),
            p.location.to_string().as_str()
        ),
        ("a", Effect::Forbid, "because", "policy/test.cedar:3:1")
    );
}
