//! Values of entity attributes and request contexts, built once and used both by the native
//! evaluator and (converted) by Cedar, so both see exactly the same data.

use std::collections::BTreeMap;
use std::sync::Arc;

use cedar_policy::{EntityUid, RestrictedExpression as Rx};

#[derive(Debug, Clone)]
pub(crate) enum Value {
    Bool(bool),
    Long(i64),
    Str(Arc<str>),
    Entity(EntityUid),
    Set(Arc<[Value]>),
    Record(Arc<BTreeMap<String, Value>>),
}

impl Value {
    pub(crate) fn str(s: &str) -> Value {
        Value::Str(s.into())
    }

    pub(crate) fn long(v: u64) -> Value {
        Value::Long(i64::try_from(v).unwrap_or(i64::MAX))
    }

    pub(crate) fn strings<'a>(v: impl IntoIterator<Item = &'a String>) -> Value {
        Value::Set(v.into_iter().map(|s| Value::str(s)).collect())
    }

    pub(crate) fn record(fields: Vec<(&str, Value)>) -> Value {
        Value::Record(Arc::new(
            fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
        ))
    }

    /// The same value as a Cedar restricted expression.
    pub(crate) fn to_cedar(&self) -> Rx {
        match self {
            Value::Bool(b) => Rx::new_bool(*b),
            Value::Long(n) => Rx::new_long(*n),
            Value::Str(s) => Rx::new_string(s.to_string()),
            Value::Entity(e) => Rx::new_entity_uid(e.clone()),
            Value::Set(items) => Rx::new_set(items.iter().map(Value::to_cedar)),
            Value::Record(fields) => {
                Rx::new_record(fields.iter().map(|(k, v)| (k.clone(), v.to_cedar())))
                    .expect("record keys are unique")
            }
        }
    }
}

/// Cedar's equality: structural, sets compare as sets, values of different types are unequal.
impl PartialEq for Value {
    fn eq(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Long(a), Value::Long(b)) => a == b,
            (Value::Str(a), Value::Str(b)) => a == b,
            (Value::Entity(a), Value::Entity(b)) => a == b,
            (Value::Set(a), Value::Set(b)) => {
                a.iter().all(|x| b.contains(x)) && b.iter().all(|x| a.contains(x))
            }
            (Value::Record(a), Value::Record(b)) => a == b,
            _ => false,
        }
    }
}
