//! A JS-shaped input value, so validation can tell `undefined`, `NaN`, a
//! function or a BigInt apart from JSON, and name them in its messages.

use serde::Serialize;

/// A value as it came from the caller, before validation.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// `undefined` (only ever at the top level or in arrays: object keys whose
    /// value is `undefined` are dropped during conversion, as if absent).
    Undefined,
    Null,
    Bool(bool),
    /// Any JS number, including NaN and the infinities.
    Number(f64),
    String(String),
    Array(Vec<Input>),
    /// Keys in the caller's order.
    Object(Vec<(String, Input)>),
    /// A Buffer / Uint8Array's bytes.
    Bytes(Vec<u8>),
    /// Anything else (function, symbol, bigint, ...), by its `typeof` name.
    Other(String),
}

impl Input {
    /// The word validation messages use for the received type.
    pub fn type_name(&self) -> &str {
        match self {
            Input::Undefined => "undefined",
            Input::Null => "null",
            Input::Bool(_) => "boolean",
            Input::Number(n) if n.is_nan() => "nan",
            Input::Number(_) => "number",
            Input::String(_) => "string",
            Input::Array(_) => "array",
            Input::Object(_) => "object",
            Input::Bytes(_) => "buffer",
            Input::Other(name) => name,
        }
    }

    /// Look up a key of an object.
    pub fn get(&self, key: &str) -> Option<&Input> {
        match self {
            Input::Object(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
}

impl From<serde_json::Value> for Input {
    fn from(value: serde_json::Value) -> Self {
        use serde_json::Value;
        match value {
            Value::Null => Input::Null,
            Value::Bool(b) => Input::Bool(b),
            Value::Number(n) => Input::Number(n.as_f64().unwrap_or(f64::NAN)),
            Value::String(s) => Input::String(s),
            Value::Array(items) => Input::Array(items.into_iter().map(Input::from).collect()),
            Value::Object(map) => {
                Input::Object(map.into_iter().map(|(k, v)| (k, Input::from(v))).collect())
            }
        }
    }
}

/// One step of the path to a bad field: an object key or an array index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum PathSegment {
    Key(String),
    Index(usize),
}

impl From<&str> for PathSegment {
    fn from(key: &str) -> Self {
        PathSegment::Key(key.to_string())
    }
}

impl From<usize> for PathSegment {
    fn from(index: usize) -> Self {
        PathSegment::Index(index)
    }
}

/// Render a path the way messages show it: `network.allow[2]`.
pub fn display_path(path: &[PathSegment]) -> String {
    let mut out = String::new();
    for segment in path {
        match segment {
            PathSegment::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            PathSegment::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_render_like_property_access() {
        let path = vec![
            PathSegment::from("network"),
            PathSegment::from("allow"),
            PathSegment::from(2usize),
        ];
        assert_eq!(display_path(&path), "network.allow[2]");
        assert_eq!(
            serde_json::to_string(&path).unwrap(),
            r#"["network","allow",2]"#
        );
    }

    #[test]
    fn json_converts_to_input() {
        let v: Input = serde_json::json!({"a": [1, "x", null, true]}).into();
        assert_eq!(
            v,
            Input::Object(vec![(
                "a".into(),
                Input::Array(vec![
                    Input::Number(1.0),
                    Input::String("x".into()),
                    Input::Null,
                    Input::Bool(true)
                ])
            )])
        );
        assert_eq!(Input::Number(f64::NAN).type_name(), "nan");
    }
}
