//! Deterministic "model output" derived from a request: prompt size, reply text, tool arguments.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// Output tokens reported for every generated answer (text, tool call or both).
pub const OUTPUT_TOKENS: u64 = 12;

/// Input tokens the stand-in reports for a prompt of `chars` characters: `ceil(chars / 4)`.
pub fn input_tokens(chars: u64) -> u64 {
    chars.div_ceil(4)
}

/// The reply text for a prompt of `chars` characters.
pub fn reply_text(chars: u64) -> String {
    format!("stand-in reply to a {chars}-character prompt")
}

/// The thinking text (Anthropic extended thinking) for a prompt of `chars` characters.
pub fn thinking_text(chars: u64) -> String {
    format!("stand-in thinking about a {chars}-character prompt")
}

/// The signature sent with a thinking block.
pub const THINKING_SIGNATURE: &str = "c3RhbmQtaW4gdGhpbmtpbmcgc2lnbmF0dXJl";

/// Splits text into word deltas, each word but the first keeping its leading space.
pub(crate) fn word_deltas(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let skip = rest.len() - rest.trim_start_matches(' ').len();
        let end = rest[skip..].find(' ').map_or(rest.len(), |i| i + skip);
        let (piece, tail) = rest.split_at(end);
        rest = tail;
        Some(piece)
    })
}

/// Splits a JSON argument string into pieces of about `size` bytes (on char boundaries).
pub(crate) fn json_pieces(text: &str, size: usize) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut end = size.min(rest.len());
        while !rest.is_char_boundary(end) {
            end += 1;
        }
        let (piece, tail) = rest.split_at(end);
        rest = tail;
        Some(piece)
    })
}

/// Counts the characters of the text in a prompt-bearing JSON value (messages, system, input,
/// instructions) while it is deserialized, without building a `serde_json::Value`.
///
/// Strings count fully; in arrays every element counts; in objects only the values of the keys
/// `text`, `content`, `input`, `output`, `thinking` and `instructions` count (so roles, types,
/// ids and tool-call inputs keyed by argument name do not).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct PromptChars(pub u64);

impl<'de> Deserialize<'de> for PromptChars {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(CharsVisitor)
    }
}

struct CharsVisitor;

impl<'de> Visitor<'de> for CharsVisitor {
    type Value = PromptChars;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string, an array or an object")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<PromptChars, E> {
        Ok(PromptChars(v.chars().count() as u64))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<PromptChars, E> {
        Ok(PromptChars(0))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<PromptChars, E> {
        Ok(PromptChars(0))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<PromptChars, E> {
        Ok(PromptChars(0))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<PromptChars, E> {
        Ok(PromptChars(0))
    }
    fn visit_unit<E: de::Error>(self) -> Result<PromptChars, E> {
        Ok(PromptChars(0))
    }
    fn visit_none<E: de::Error>(self) -> Result<PromptChars, E> {
        Ok(PromptChars(0))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<PromptChars, A::Error> {
        let mut total = 0;
        while let Some(PromptChars(n)) = seq.next_element()? {
            total += n;
        }
        Ok(PromptChars(total))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<PromptChars, A::Error> {
        let mut total = 0;
        while let Some(TextKey(counts)) = map.next_key()? {
            if counts {
                total += map.next_value::<PromptChars>()?.0;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(PromptChars(total))
    }
}

/// An object key, reduced to whether its value holds prompt text.
struct TextKey(bool);

impl<'de> Deserialize<'de> for TextKey {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = TextKey;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object key")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<TextKey, E> {
                Ok(TextKey(matches!(
                    v,
                    "text" | "content" | "input" | "output" | "thinking" | "instructions"
                )))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

/// Whether the conversation ends by handing tool results back: an OpenAI `tool` message, or
/// a user message with a `tool_result` block (Anthropic). The stand-in then answers with text,
/// as a model closes an agent's tool loop, instead of calling a tool again (an agent such as
/// Claude Code would otherwise loop forever).
pub(crate) fn ends_with_tool_result(body: &[u8]) -> bool {
    #[derive(Deserialize)]
    struct Conversation {
        messages: Vec<Turn>,
    }
    #[derive(Deserialize)]
    struct Turn {
        role: Option<String>,
        content: Option<TurnContent>,
    }
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum TurnContent {
        Parts(Vec<Part>),
        Other(IgnoredAny),
    }
    #[derive(Deserialize)]
    struct Part {
        #[serde(rename = "type")]
        kind: Option<String>,
    }
    let Ok(conversation) = serde_json::from_slice::<Conversation>(body) else {
        return false;
    };
    let Some(last) = conversation.messages.last() else {
        return false;
    };
    match last.role.as_deref() {
        Some("tool") => true,
        Some("user") => matches!(&last.content, Some(TurnContent::Parts(parts))
            if parts.iter().any(|p| p.kind.as_deref() == Some("tool_result"))),
        _ => false,
    }
}

/// A tool the stand-in decided to call.
#[derive(Debug, Clone)]
pub(crate) struct ToolCall {
    pub name: String,
    pub input: Value,
}

impl ToolCall {
    pub fn arguments(&self) -> String {
        serde_json::to_string(&self.input).unwrap_or_else(|_| "{}".to_owned())
    }
}

/// The tool-calling style of a provider's request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ToolStyle {
    /// `{"type":"function","function":{"name","parameters"}}`
    OpenAiChat,
    /// `{"type":"function","name","parameters"}`
    OpenAiResponses,
    /// `{"name","input_schema"}` (custom tools; server tools have another `type`)
    Anthropic,
}

/// Picks the tool to call: none when there are no callable tools or `tool_choice` says none;
/// the named tool when `tool_choice` names one; else the first callable tool.
pub(crate) fn choose_tool(
    style: ToolStyle,
    tools: Option<&[Value]>,
    tool_choice: Option<&Value>,
) -> Option<ToolCall> {
    let tools = tools?;
    let mut wanted: Option<&str> = None;
    if let Some(choice) = tool_choice {
        match choice {
            Value::String(s) if s == "none" => return None,
            Value::Object(o) => {
                if o.get("type").and_then(Value::as_str) == Some("none") {
                    return None;
                }
                wanted = o
                    .get("name")
                    .and_then(Value::as_str)
                    .or_else(|| o.get("function")?.get("name")?.as_str());
            }
            _ => {}
        }
    }
    let callable = tools.iter().filter_map(|tool| {
        let (name, schema) = match style {
            ToolStyle::OpenAiChat => {
                if tool.get("type").and_then(Value::as_str) != Some("function") {
                    return None;
                }
                let f = tool.get("function")?;
                (f.get("name")?.as_str()?, f.get("parameters"))
            }
            ToolStyle::OpenAiResponses => {
                if tool.get("type").and_then(Value::as_str) != Some("function") {
                    return None;
                }
                (tool.get("name")?.as_str()?, tool.get("parameters"))
            }
            ToolStyle::Anthropic => {
                match tool.get("type").and_then(Value::as_str) {
                    None | Some("custom") => {}
                    Some(_) => return None,
                }
                (tool.get("name")?.as_str()?, tool.get("input_schema"))
            }
        };
        Some((name, schema))
    });
    let mut first = None;
    for (name, schema) in callable {
        if wanted.is_none_or(|w| w == name) {
            first = Some((name, schema));
            break;
        }
    }
    let (name, schema) = first?;
    let input = match schema {
        Some(schema) => sample_object(schema, 0),
        None => Value::Object(Map::new()),
    };
    Some(ToolCall {
        name: name.to_owned(),
        input,
    })
}

/// An object with a sample value for every property of an object schema.
fn sample_object(schema: &Value, depth: usize) -> Value {
    let mut out = Map::new();
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        for (key, prop) in props {
            out.insert(key.clone(), sample_value(prop, depth + 1));
        }
    }
    Value::Object(out)
}

/// A deterministic value that satisfies the simple parts of a JSON schema.
fn sample_value(schema: &Value, depth: usize) -> Value {
    if depth > 6 {
        return Value::Null;
    }
    if let Some(first) = schema
        .get("enum")
        .and_then(Value::as_array)
        .and_then(|e| e.first())
    {
        return first.clone();
    }
    if let Some(c) = schema.get("const") {
        return c.clone();
    }
    let ty = match schema.get("type") {
        Some(Value::String(s)) => s.as_str(),
        Some(Value::Array(types)) => types
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or("null"),
        _ if schema.get("properties").is_some() => "object",
        _ => "string",
    };
    match ty {
        "object" => sample_object(schema, depth),
        "array" => match schema.get("items") {
            Some(items) => Value::Array(vec![sample_value(items, depth + 1)]),
            None => Value::Array(Vec::new()),
        },
        "integer" | "number" => Value::from(1),
        "boolean" => Value::Bool(true),
        "null" => Value::Null,
        _ => Value::String("stand-in".to_owned()),
    }
}

/// A deterministic unit vector of `dims` floats for an input (FNV-1a seed, xorshift64*).
pub(crate) fn embedding(seed_bytes: &[u8], dims: usize) -> Vec<f32> {
    let mut seed: u64 = 0xcbf2_9ce4_8422_2325;
    for b in seed_bytes {
        seed ^= u64::from(*b);
        seed = seed.wrapping_mul(0x0000_0100_0000_01b3);
    }
    let mut state = seed | 1;
    let mut out = Vec::with_capacity(dims);
    let mut norm = 0f64;
    for _ in 0..dims {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        let r = state.wrapping_mul(0x2545_f491_4f6c_dd1d);
        // 24 random bits mapped onto [-1, 1).
        let v = ((r >> 40) as f64 / f64::from(1u32 << 23)) - 1.0;
        norm += v * v;
        out.push(v as f32);
    }
    let norm = norm.sqrt();
    if norm > 0.0 {
        for v in &mut out {
            *v = (f64::from(*v) / norm) as f32;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_deltas_rebuild_the_text() {
        let text = reply_text(1234);
        let parts: Vec<&str> = word_deltas(&text).collect();
        assert_eq!(
            parts,
            [
                "stand-in",
                " reply",
                " to",
                " a",
                " 1234-character",
                " prompt"
            ]
        );
        assert_eq!(parts.concat(), text);
    }

    #[test]
    fn json_pieces_respect_char_boundaries() {
        let s = r#"{"city":"Zürich"}"#;
        let parts: Vec<&str> = json_pieces(s, 3).collect();
        assert_eq!(parts.concat(), s);
        assert!(parts.len() > 3);
    }

    #[test]
    fn prompt_chars_count_text_only() {
        let v: PromptChars = serde_json::from_str(
            r#"[{"role":"user","content":"héllo"},
                {"role":"user","content":[{"type":"text","text":"abc"},{"type":"image_url","image_url":{"url":"x"}}]},
                {"role":"assistant","tool_calls":[{"function":{"arguments":"{}"}}]}]"#,
        )
        .unwrap();
        assert_eq!(v.0, 8);
    }

    #[test]
    fn tool_arguments_follow_the_schema() {
        let tools: Vec<Value> = serde_json::from_str(
            r#"[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object",
                "properties":{"city":{"type":"string"},"unit":{"type":"string","enum":["c","f"]},
                "days":{"type":"integer"}}}}}]"#,
        )
        .unwrap();
        let call = choose_tool(ToolStyle::OpenAiChat, Some(&tools), None).unwrap();
        assert_eq!(call.name, "get_weather");
        // Compared as values: key order depends on serde_json's `preserve_order`, which other
        // workspace crates turn on.
        let arguments: Value = serde_json::from_str(&call.arguments()).unwrap();
        assert_eq!(
            arguments,
            serde_json::json!({"city": "stand-in", "days": 1, "unit": "c"})
        );
        let none = serde_json::json!("none");
        assert!(choose_tool(ToolStyle::OpenAiChat, Some(&tools), Some(&none)).is_none());
    }

    #[test]
    fn tool_results_end_the_tool_loop() {
        let ends = |body: Value| ends_with_tool_result(body.to_string().as_bytes());
        let anthropic = serde_json::json!({"messages": [
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "w", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": "sunny"}]}]});
        assert!(ends(anthropic));
        let openai = serde_json::json!({"messages": [
            {"role": "user", "content": "weather?"},
            {"role": "tool", "tool_call_id": "c", "content": "sunny"}]});
        assert!(ends(openai));
        assert!(!ends(
            serde_json::json!({"messages": [{"role": "user", "content": "weather?"}]})
        ));
        assert!(!ends(serde_json::json!({"messages": [
            {"role": "user", "content": [{"type": "text", "text": "weather?"}]}]})));
        assert!(!ends(serde_json::json!({"messages": []})));
    }

    #[test]
    fn embeddings_are_deterministic_unit_vectors() {
        let a = embedding(b"hello", 64);
        assert_eq!(a, embedding(b"hello", 64));
        assert_ne!(a, embedding(b"hellp", 64));
        let norm: f32 = a.iter().map(|v| v * v).sum();
        assert!((norm - 1.0).abs() < 1e-4);
    }
}
