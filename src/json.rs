//! The layout of the `--json` documents both binaries print: `schema` and
//! `command` first, then the fields of the document.

/// A `--json` document of `command`: `schema` and `command`, then the
/// fields of `body` (an object).
pub(crate) fn document(schema: u32, command: &str, body: serde_json::Value) -> serde_json::Value {
    let mut doc = serde_json::Map::new();
    doc.insert("schema".into(), schema.into());
    doc.insert("command".into(), command.into());
    if let serde_json::Value::Object(fields) = body {
        doc.extend(fields);
    }
    serde_json::Value::Object(doc)
}
