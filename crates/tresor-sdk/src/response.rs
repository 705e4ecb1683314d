use serde_json::Value;

use crate::Map;

/// A backend's answer. The server wraps it in Vault's envelope.
#[derive(Debug, Clone, Default)]
pub struct Response {
    pub data: Option<Map>,
    pub warnings: Vec<String>,
    /// The envelope's `auth` block, when the answer hands out a token.
    pub auth: Option<Map>,
    /// A status other than 200, where Vault answers one (202 for background work).
    pub status: Option<u16>,
    /// Set by the core when the answer was wrapped: the envelope's `wrap_info`.
    pub wrap_info: Option<Map>,
}

impl Response {
    pub fn data(data: Map) -> Self {
        Response {
            data: Some(data),
            ..Response::default()
        }
    }

    /// The answer to a LIST: `{"keys": [...]}`.
    pub fn list(keys: Vec<String>) -> Self {
        let mut data = Map::new();
        data.insert(
            "keys".into(),
            Value::Array(keys.into_iter().map(Value::String).collect()),
        );
        Response::data(data)
    }

    pub fn with_warning(mut self, w: impl Into<String>) -> Self {
        self.warnings.push(w.into());
        self
    }
}
