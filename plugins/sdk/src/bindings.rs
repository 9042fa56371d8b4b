//! Generated bindings; use the re-exports at the crate root instead.
//!
//! Generated from `wit/types.wit` (world `compact-parser`: `parsing` and `compact-parsing`).
//!
//! The export macro is public so that [`crate::export_parser!`] can expand it inside the
//! plugin crate, which is the crate that becomes the component.
#![allow(missing_docs)]

wit_bindgen::generate!({
    path: "../../wit",
    world: "compact-parser",
    pub_export_macro: true,
    export_macro_name: "export",
    default_bindings_module: "sluice_plugin_sdk::bindings",
    additional_derives: [PartialEq],
});
