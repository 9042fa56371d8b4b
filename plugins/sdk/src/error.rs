//! Constructors for [`PluginError`].

use crate::PluginError;

impl PluginError {
    /// An error with a machine-readable `code` (e.g. `invalid-json`) and a human message.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        PluginError { code: code.into(), message: message.into(), field: None }
    }

    /// The same error, about `field` (a record field, or a setting key in `configure`).
    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_errors() {
        let err = PluginError::new("missing-field", "id is required").with_field("id");
        assert_eq!(err.code, "missing-field");
        assert_eq!(err.message, "id is required");
        assert_eq!(err.field.as_deref(), Some("id"));
        assert!(err.to_string().contains("missing-field"));
    }
}
