//! A native evaluator for the subset of Cedar that aigov's policies use, with Cedar as the
//! reference: a policy the compiler does not understand is always evaluated by Cedar, and an
//! evaluation that would raise an error is handed to Cedar too, so errors (and their messages,
//! and fail-closed handling) are Cedar's own. The native path only ever answers "satisfied" or
//! "not satisfied", and a differential test checks it against Cedar on the whole policy set.

use std::collections::HashMap;

use cedar_policy::{EntityTypeName, EntityUid, Policy, PrincipalConstraint, ResourceConstraint};
use serde_json::Value as Json;

use crate::value::Value;

/// Any failure: evaluate this policy with Cedar instead.
pub(crate) struct Fallback;

type R<T> = Result<T, Fallback>;

/// Entities with their attributes and transitive ancestors.
#[derive(Debug, Default)]
pub(crate) struct Store {
    entities: HashMap<EntityUid, NativeEntity>,
}

#[derive(Debug)]
struct NativeEntity {
    attrs: HashMap<&'static str, Value>,
    ancestors: Box<[EntityUid]>,
}

impl Store {
    pub(crate) fn insert(
        &mut self,
        uid: EntityUid,
        attrs: &[(&'static str, Value)],
        ancestors: Box<[EntityUid]>,
    ) {
        let attrs = attrs.iter().cloned().collect();
        self.entities.insert(uid, NativeEntity { attrs, ancestors });
    }

    /// Transitive ancestors, or `None` when the entity is not in the inventory.
    pub(crate) fn ancestors(&self, uid: &EntityUid) -> Option<&[EntityUid]> {
        self.entities.get(uid).map(|e| &*e.ancestors)
    }

    fn is_in(&self, child: &EntityUid, group: &EntityUid) -> R<bool> {
        if child == group {
            return Ok(true);
        }
        match self.entities.get(child) {
            Some(e) => Ok(e.ancestors.contains(group)),
            // Actions and enum values are not in the store; let Cedar decide.
            None => Err(Fallback),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) enum Scope {
    Any,
    Eq(EntityUid),
    In(EntityUid),
    Is(EntityTypeName),
    IsIn(EntityTypeName, EntityUid),
}

impl Scope {
    pub(crate) fn matches(&self, uid: &EntityUid, ancestors: &[EntityUid]) -> bool {
        let within = |g: &EntityUid| g == uid || ancestors.contains(g);
        match self {
            Scope::Any => true,
            Scope::Eq(e) => e == uid,
            Scope::In(g) => within(g),
            Scope::Is(t) => t == uid.type_name(),
            Scope::IsIn(t, g) => t == uid.type_name() && within(g),
        }
    }

    /// The entity the scope names, if any.
    pub(crate) fn key(&self) -> Option<&EntityUid> {
        match self {
            Scope::Eq(e) | Scope::In(e) | Scope::IsIn(_, e) => Some(e),
            Scope::Any | Scope::Is(_) => None,
        }
    }

    pub(crate) fn principal(c: PrincipalConstraint) -> Scope {
        match c {
            PrincipalConstraint::Any => Scope::Any,
            PrincipalConstraint::Eq(e) => Scope::Eq(e),
            PrincipalConstraint::In(e) => Scope::In(e),
            PrincipalConstraint::Is(t) => Scope::Is(t),
            PrincipalConstraint::IsIn(t, e) => Scope::IsIn(t, e),
        }
    }

    pub(crate) fn resource(c: ResourceConstraint) -> Scope {
        match c {
            ResourceConstraint::Any => Scope::Any,
            ResourceConstraint::Eq(e) => Scope::Eq(e),
            ResourceConstraint::In(e) => Scope::In(e),
            ResourceConstraint::Is(t) => Scope::Is(t),
            ResourceConstraint::IsIn(t, e) => Scope::IsIn(t, e),
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Var {
    Principal,
    Action,
    Resource,
    Context,
}

#[derive(Debug, Clone, Copy)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Add,
    Sub,
    Mul,
    In,
    Contains,
    ContainsAll,
    ContainsAny,
}

#[derive(Debug)]
enum Expr {
    Lit(Value),
    Var(Var),
    Not(Box<Expr>),
    Neg(Box<Expr>),
    IsEmpty(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Bin(Op, Box<Expr>, Box<Expr>),
    Attr(Box<Expr>, String),
    Has(Box<Expr>, String),
    Is(Box<Expr>, EntityTypeName, Option<Box<Expr>>),
    If(Box<Expr>, Box<Expr>, Box<Expr>),
    Set(Vec<Expr>),
    Record(Vec<(String, Expr)>),
}

/// A policy's conditions (`when` → must be true, `unless` → must be false), compiled.
#[derive(Debug)]
pub(crate) struct Conditions(Vec<(bool, Expr)>);

/// Compiles a policy's conditions, or `None` when it uses something the native evaluator does
/// not implement (extension functions, `like`, tags, templates…): Cedar evaluates it then.
pub(crate) fn compile(policy: &Policy) -> Option<Conditions> {
    let json = policy.to_json().ok()?;
    let mut out = Vec::new();
    for c in json.get("conditions")?.as_array()? {
        let when = match c.get("kind")?.as_str()? {
            "when" => true,
            "unless" => false,
            _ => return None,
        };
        out.push((when, expr(c.get("body")?)?));
    }
    Some(Conditions(out))
}

fn boxed(j: &Json) -> Option<Box<Expr>> {
    expr(j).map(Box::new)
}

fn expr(j: &Json) -> Option<Expr> {
    let obj = j.as_object()?;
    if obj.len() != 1 {
        return None;
    }
    let (k, v) = obj.iter().next()?;
    let bin = |op: Op| {
        Some(Expr::Bin(
            op,
            boxed(v.get("left")?)?,
            boxed(v.get("right")?)?,
        ))
    };
    match k.as_str() {
        "Value" => literal(v).map(Expr::Lit),
        "Var" => Some(Expr::Var(match v.as_str()? {
            "principal" => Var::Principal,
            "action" => Var::Action,
            "resource" => Var::Resource,
            "context" => Var::Context,
            _ => return None,
        })),
        "!" => Some(Expr::Not(boxed(v.get("arg")?)?)),
        "neg" => Some(Expr::Neg(boxed(v.get("arg")?)?)),
        "isEmpty" => Some(Expr::IsEmpty(boxed(v.get("arg")?)?)),
        "&&" => Some(Expr::And(boxed(v.get("left")?)?, boxed(v.get("right")?)?)),
        "||" => Some(Expr::Or(boxed(v.get("left")?)?, boxed(v.get("right")?)?)),
        "==" => bin(Op::Eq),
        "!=" => bin(Op::Ne),
        "<" => bin(Op::Lt),
        "<=" => bin(Op::Le),
        ">" => bin(Op::Gt),
        ">=" => bin(Op::Ge),
        "+" => bin(Op::Add),
        "-" => bin(Op::Sub),
        "*" => bin(Op::Mul),
        "in" => bin(Op::In),
        "contains" => bin(Op::Contains),
        "containsAll" => bin(Op::ContainsAll),
        "containsAny" => bin(Op::ContainsAny),
        "." => Some(Expr::Attr(
            boxed(v.get("left")?)?,
            v.get("attr")?.as_str()?.to_owned(),
        )),
        "has" => Some(Expr::Has(
            boxed(v.get("left")?)?,
            v.get("attr")?.as_str()?.to_owned(),
        )),
        "is" => {
            let ty: EntityTypeName = v.get("entity_type")?.as_str()?.parse().ok()?;
            let within = match v.get("in") {
                Some(e) => Some(boxed(e)?),
                None => None,
            };
            Some(Expr::Is(boxed(v.get("left")?)?, ty, within))
        }
        "if-then-else" => Some(Expr::If(
            boxed(v.get("if")?)?,
            boxed(v.get("then")?)?,
            boxed(v.get("else")?)?,
        )),
        "Set" => Some(Expr::Set(
            v.as_array()?.iter().map(expr).collect::<Option<_>>()?,
        )),
        "Record" => Some(Expr::Record(
            v.as_object()?
                .iter()
                .map(|(k, e)| Some((k.clone(), expr(e)?)))
                .collect::<Option<_>>()?,
        )),
        _ => None,
    }
}

fn literal(j: &Json) -> Option<Value> {
    Some(match j {
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => Value::Long(n.as_i64()?),
        Json::String(s) => Value::str(s),
        Json::Array(items) => Value::Set(items.iter().map(literal).collect::<Option<_>>()?),
        Json::Object(map) if map.len() == 1 && map.contains_key("__entity") => {
            Value::Entity(EntityUid::from_json(map["__entity"].clone()).ok()?)
        }
        Json::Object(map) if !map.contains_key("__extn") && !map.contains_key("__entity") => {
            Value::Record(std::sync::Arc::new(
                map.iter()
                    .map(|(k, v)| Some((k.clone(), literal(v)?)))
                    .collect::<Option<_>>()?,
            ))
        }
        _ => return None,
    })
}

/// What a request offers to expressions.
pub(crate) struct Env<'a> {
    pub(crate) principal: &'a EntityUid,
    pub(crate) action: &'a EntityUid,
    pub(crate) resource: &'a EntityUid,
    pub(crate) context: &'a Value,
    pub(crate) store: &'a Store,
}

impl Conditions {
    /// Whether every condition holds; `Err` means "ask Cedar".
    pub(crate) fn satisfied(&self, env: &Env<'_>) -> R<bool> {
        for (when, e) in &self.0 {
            if boolean(eval(e, env)?)? != *when {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

fn boolean(v: Value) -> R<bool> {
    match v {
        Value::Bool(b) => Ok(b),
        _ => Err(Fallback),
    }
}

fn long(v: Value) -> R<i64> {
    match v {
        Value::Long(n) => Ok(n),
        _ => Err(Fallback),
    }
}

fn eval(e: &Expr, env: &Env<'_>) -> R<Value> {
    Ok(match e {
        Expr::Lit(v) => v.clone(),
        Expr::Var(Var::Principal) => Value::Entity(env.principal.clone()),
        Expr::Var(Var::Action) => Value::Entity(env.action.clone()),
        Expr::Var(Var::Resource) => Value::Entity(env.resource.clone()),
        Expr::Var(Var::Context) => env.context.clone(),
        Expr::Not(a) => Value::Bool(!boolean(eval(a, env)?)?),
        Expr::Neg(a) => Value::Long(long(eval(a, env)?)?.checked_neg().ok_or(Fallback)?),
        Expr::IsEmpty(a) => match eval(a, env)? {
            Value::Set(items) => Value::Bool(items.is_empty()),
            _ => return Err(Fallback),
        },
        Expr::And(a, b) => Value::Bool(boolean(eval(a, env)?)? && boolean(eval(b, env)?)?),
        Expr::Or(a, b) => Value::Bool(boolean(eval(a, env)?)? || boolean(eval(b, env)?)?),
        Expr::Bin(op, a, b) => binary(*op, eval(a, env)?, eval(b, env)?, env.store)?,
        Expr::Attr(a, name) => match eval(a, env)? {
            Value::Entity(uid) => {
                let entity = env.store.entities.get(&uid).ok_or(Fallback)?;
                entity.attrs.get(name.as_str()).cloned().ok_or(Fallback)?
            }
            Value::Record(fields) => fields.get(name).cloned().ok_or(Fallback)?,
            _ => return Err(Fallback),
        },
        Expr::Has(a, name) => match eval(a, env)? {
            Value::Entity(uid) => {
                let entity = env.store.entities.get(&uid).ok_or(Fallback)?;
                Value::Bool(entity.attrs.contains_key(name.as_str()))
            }
            Value::Record(fields) => Value::Bool(fields.contains_key(name)),
            _ => return Err(Fallback),
        },
        Expr::Is(a, ty, within) => match eval(a, env)? {
            Value::Entity(uid) => {
                let is = uid.type_name() == ty;
                match within {
                    Some(g) if is => binary(Op::In, Value::Entity(uid), eval(g, env)?, env.store)?,
                    _ => Value::Bool(is),
                }
            }
            _ => return Err(Fallback),
        },
        Expr::If(c, t, f) => {
            if boolean(eval(c, env)?)? {
                eval(t, env)?
            } else {
                eval(f, env)?
            }
        }
        Expr::Set(items) => Value::Set(items.iter().map(|i| eval(i, env)).collect::<R<_>>()?),
        Expr::Record(fields) => Value::Record(std::sync::Arc::new(
            fields
                .iter()
                .map(|(k, v)| Ok((k.clone(), eval(v, env)?)))
                .collect::<R<_>>()?,
        )),
    })
}

fn binary(op: Op, a: Value, b: Value, store: &Store) -> R<Value> {
    let cmp = |f: fn(&i64, &i64) -> bool| -> R<Value> {
        Ok(Value::Bool(f(&long(a.clone())?, &long(b.clone())?)))
    };
    Ok(match op {
        Op::Eq => Value::Bool(a == b),
        Op::Ne => Value::Bool(a != b),
        Op::Lt => cmp(i64::lt)?,
        Op::Le => cmp(i64::le)?,
        Op::Gt => cmp(i64::gt)?,
        Op::Ge => cmp(i64::ge)?,
        Op::Add => Value::Long(long(a)?.checked_add(long(b)?).ok_or(Fallback)?),
        Op::Sub => Value::Long(long(a)?.checked_sub(long(b)?).ok_or(Fallback)?),
        Op::Mul => Value::Long(long(a)?.checked_mul(long(b)?).ok_or(Fallback)?),
        Op::In => {
            let Value::Entity(child) = a else {
                return Err(Fallback);
            };
            match b {
                Value::Entity(group) => Value::Bool(store.is_in(&child, &group)?),
                Value::Set(groups) => {
                    let mut any = false;
                    for g in groups.iter() {
                        let Value::Entity(g) = g else {
                            return Err(Fallback);
                        };
                        any |= store.is_in(&child, g)?;
                    }
                    Value::Bool(any)
                }
                _ => return Err(Fallback),
            }
        }
        Op::Contains => match a {
            Value::Set(items) => Value::Bool(items.contains(&b)),
            _ => return Err(Fallback),
        },
        Op::ContainsAll | Op::ContainsAny => match (a, b) {
            (Value::Set(x), Value::Set(y)) => Value::Bool(match op {
                Op::ContainsAll => y.iter().all(|v| x.contains(v)),
                _ => y.iter().any(|v| x.contains(v)),
            }),
            _ => return Err(Fallback),
        },
    })
}
