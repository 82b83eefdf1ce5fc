//! Policy test cases (`policy/tests/*.yaml`): parse them and run them against the engine.

use marked_yaml::{Node, Spanned};
use model::{Action, DecisionRequest, Diagnostic, Outcome};
use serde::Deserialize;

use crate::yaml::YamlFile;
use crate::{Bundle, PolicyTest, TestResult};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCase {
    name: Spanned<String>,
    action: Spanned<String>,
    principal: String,
    resource: String,
    /// Read from the node by type once the action is known.
    #[allow(dead_code)]
    context: Option<serde::de::IgnoredAny>,
    expect: Spanned<String>,
    determining: Option<Vec<String>>,
}

pub(crate) fn parse(file: &YamlFile<'_>, out: &mut Vec<PolicyTest>, diags: &mut Vec<Diagnostic>) {
    let node = match file.parse(1, file.text) {
        Ok(n) => n,
        Err(d) => return diags.push(d),
    };
    let cases = node
        .as_mapping()
        .and_then(|m| m.get_node("tests"))
        .and_then(Node::as_sequence);
    let Some(cases) = cases else {
        let d = Diagnostic::error(
            "invalid-field",
            file.at(node.span()),
            "a policy test file needs a top-level `tests:` list",
        )
        .with_hint("see examples/governance/policy/tests/ for the format");
        return diags.push(d);
    };
    for case in cases.iter() {
        match parse_case(file, case) {
            Ok(t) => out.push(t),
            Err(d) => diags.push(d),
        }
    }
}

fn parse_case(file: &YamlFile<'_>, node: &Node) -> Result<PolicyTest, Diagnostic> {
    let c: RawCase = file.typed(node, "policy test")?;
    let action: Action = c
        .action
        .parse()
        .map_err(|e: String| Diagnostic::error("invalid-value", file.at(c.action.span()), e))?;
    let expect = match c.expect.as_str() {
        "allow" => Outcome::Allow,
        "deny" => Outcome::Deny,
        other => {
            return Err(Diagnostic::error(
                "invalid-value",
                file.at(c.expect.span()),
                format!("`expect` is `{other}`; use `allow` or `deny`"),
            ));
        }
    };
    let principal = strip_type(&c.principal);
    let resource = strip_type(&c.resource);
    let node = node.as_mapping().and_then(|m| m.get_node("context"));
    // The action decides the context's type; a missing context is the type's default.
    fn context<T: serde::de::DeserializeOwned + Default>(
        file: &YamlFile<'_>,
        node: Option<&Node>,
    ) -> Result<T, Diagnostic> {
        Ok(node
            .map(|n| file.typed(n, "test `context`"))
            .transpose()?
            .unwrap_or_default())
    }
    let request = match action {
        Action::SendPrompt => DecisionRequest::SendPrompt {
            principal,
            resource,
            context: context(file, node)?,
        },
        Action::MergeChange => DecisionRequest::MergeChange {
            principal,
            resource,
            context: context(file, node)?,
        },
        Action::Deploy => DecisionRequest::Deploy {
            principal,
            resource,
            context: context(file, node)?,
        },
    };
    Ok(PolicyTest {
        name: c.name.to_string(),
        location: file.at(c.name.span()),
        request,
        expect,
        determining: c.determining,
    })
}

/// Accepts `alice` as well as Cedar's `Person::"alice"`.
fn strip_type(s: &str) -> String {
    match s.split_once("::") {
        Some((_, id)) => id.trim_matches('"').to_owned(),
        None => s.to_owned(),
    }
}

pub(crate) fn run(bundle: &Bundle) -> Vec<TestResult> {
    bundle
        .tests
        .iter()
        .map(|t| {
            let decision = bundle.engine.decide(&t.request);
            let mut problems = Vec::new();
            if decision.outcome != t.expect {
                problems.push(format!(
                    "expected {}, got {}",
                    word(t.expect),
                    word(decision.outcome)
                ));
            }
            if let Some(expected) = &t.determining {
                let mut want: Vec<&str> = expected.iter().map(String::as_str).collect();
                let mut got: Vec<&str> =
                    decision.determining.iter().map(|p| p.id.as_str()).collect();
                want.sort_unstable();
                got.sort_unstable();
                if want != got {
                    problems.push(format!(
                        "expected determining policies [{}], got [{}]",
                        want.join(", "),
                        got.join(", ")
                    ));
                }
            }
            TestResult {
                name: t.name.clone(),
                location: t.location.clone(),
                decision,
                failure: (!problems.is_empty()).then(|| problems.join("; ")),
            }
        })
        .collect()
}

fn word(o: Outcome) -> &'static str {
    match o {
        Outcome::Allow => "allow",
        Outcome::Deny => "deny",
    }
}
