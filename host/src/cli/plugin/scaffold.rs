//! `sluice plugin new`: a plugin project per language, complete with sample records and
//! expected results so it builds and passes its own test right away.

use std::path::Path;

/// Languages `sluice plugin new` can scaffold.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Lang {
    /// Rust with the sluice SDK (cargo, wasm32-wasip2).
    Rust,
    /// Python with componentize-py.
    Python,
    /// JavaScript with componentize-js.
    Js,
}

/// Creates the project directory `name`.
pub fn create(_lang: Lang, name: &str) -> anyhow::Result<()> {
    super::ensure_absent(Path::new(name))?;
    anyhow::bail!("not implemented yet")
}
