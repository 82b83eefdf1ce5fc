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

/// One policy per construct the native evaluator implements, and two it does not (`like`,
/// `decimal`), which must fall back to Cedar. Some error at run time (overflow), which must be handed to Cedar as well.
const EVERY_CONSTRUCT: &str = r#"
@id("base") @reason("r") permit (principal, action, resource);
@id("eq-ne") @reason("r") forbid (principal, action == Action::"SendPrompt", resource)
  when { context.tool != Tool::"tool-1" && context.model == Model::"model-3" };
@id("cmp") @reason("r") forbid (principal, action == Action::"SendPrompt", resource)
  when { context.token_estimate >= 3900 || context.token_estimate < 5 || (context.token_estimate > 2000 && context.token_estimate <= 2010) };
@id("arith") @reason("r") forbid (principal, action == Action::"SendPrompt", resource)
  when { context.token_estimate * 3 - 100 + -(context.findings.secrets) == 2900 };
@id("overflow") @reason("r") forbid (principal, action == Action::"SendPrompt", resource)
  when { context.token_estimate > 3990 && context.token_estimate * 4611686018427387904 > 0 };
@id("in-set") @reason("r") forbid (principal, action, resource) when { principal in [Team::"team-1", Team::"team-2"] };
@id("in-expr") @reason("r") forbid (principal, action, resource)
  when { principal in Team::"team-3" && resource in [Application::"app-7", Application::"app-8"] };
@id("has") @reason("r") forbid (principal, action == Action::"SendPrompt", resource)
  when { context.model has retention_days && context.model.retention_days > 0 && principal has email };
@id("optional-guarded") @reason("r") forbid (principal is Person in Team::"team-4", action == Action::"SendPrompt", resource)
  when { context.model has vendor && context.model.vendor.score > 60 };
@id("is") @reason("r") forbid (principal, action, resource is Environment)
  when { resource.production && !(context.authorized) };
@id("sets") @reason("r") forbid (principal, action == Action::"MergeChange", resource)
  when { context.change.ai_tools.containsAny(["tool-2", "tool-3"]) && !context.change.ai_tools.isEmpty() && ["a", "b"].containsAll(["a"]) && resource.compliance.contains("pci") };
@id("if") @reason("r") forbid (principal, action == Action::"MergeChange", resource)
  when { if context.change.ai_assisted then context.change.approvals < 1 else !context.change.tests_passed };
@id("records") @reason("r") forbid (principal, action == Action::"Deploy", resource)
  when { {a: context.change.approvals, b: [1, 2]} == {b: [2, 1, 1], a: 0} };
@id("action-in") @reason("r") forbid (principal, action in [Action::"Deploy", Action::"MergeChange"], resource == Repository::"org/app-9-r0");
@id("entity-attrs") @reason("r") forbid (principal, action == Action::"SendPrompt", resource)
  when { principal.team.stage == Stage::"pilot" && context.tool.status == ToolStatus::"pilot" && resource.application.classification != Classification::"public" };
@id("like") @reason("r") forbid (principal, action == Action::"SendPrompt", resource)
  when { principal.name like "Person 1*7" };
@id("decimal") @reason("r") forbid (principal, action == Action::"Deploy", resource)
  when { decimal("1.5").lessThan(decimal("0.5")) };
"#;

fn mixed_requests(count: usize) -> Vec<DecisionRequest> {
    let mut rng = synth::Rng::new(11);
    let mut requests = synth::prompt_requests(&mut rng, count);
    for i in 0..count / 2 {
        let app = rng.below(synth::APPS);
        let change = model::ChangeFacts {
            ai_assisted: i % 2 == 0,
            ai_tools: (0..rng.below(3))
                .map(|_| format!("tool-{}", rng.below(5)))
                .collect(),
            approvals: rng.below(3) as u64,
            tests_passed: i % 3 != 0,
            ..Default::default()
        };
        requests.push(DecisionRequest::MergeChange {
            principal: format!("p-{}", rng.below(synth::PEOPLE)),
            resource: format!("org/app-{app}-r{}", rng.below(synth::REPOS_PER_APP)),
            context: MergeContext {
                change: change.clone(),
            },
        });
        requests.push(DecisionRequest::Deploy {
            principal: format!("p-{}", rng.below(synth::PEOPLE)),
            resource: format!("app-{app}/{}", ["staging", "production"][rng.below(2)]),
            context: DeployContext {
                change,
                authorized: rng.below(2) == 0,
                break_glass: false,
            },
        });
    }
    requests
}

#[test]
fn native_evaluation_matches_cedar_for_every_construct() {
    let e = engine(EVERY_CONSTRUCT);
    assert_eq!(
        e.natively_compiled(),
        e.policies().len() - 2,
        "all but `like` and `decimal` compile natively"
    );
    let (mut errors, mut denies, mut allows) = (0, 0, 0);
    for r in &mixed_requests(6000) {
        let native = e.decide(r);
        assert_eq!(native, e.decide_unsliced(r), "{r:?}");
        errors += native.errors.len();
        if native.is_allowed() {
            allows += 1
        } else {
            denies += 1
        }
    }
    // Every construct is exercised with both outcomes, and errors do occur and match Cedar's.
    assert!(
        errors > 5 && denies > 1000 && allows > 1000,
        "errors {errors}, denies {denies}, allows {allows}"
    );
}

#[test]
fn every_policy_of_the_synthetic_workload_compiles_natively() {
    let e = Engine::build(&synth::inventory(), &synth::policies(1000), &[]).unwrap();
    assert_eq!(e.natively_compiled(), 1000);
}
