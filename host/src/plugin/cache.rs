//! On-disk cache of compiled components, keyed by the component's content hash and the
//! engine's compatibility hash, so a restart deserialises instead of recompiling.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::Engine;

/// Where compiled components are kept.
#[derive(Debug, Clone)]
pub struct ComponentCache {
    dir: Option<PathBuf>,
}

impl ComponentCache {
    /// A cache in `dir`; `None` disables caching (always compile).
    pub fn new(dir: Option<PathBuf>) -> Self {
        Self { dir }
    }

    /// The default location: `$SLUICE_CACHE_DIR`, else `$XDG_CACHE_HOME/sluice/components`,
    /// else `$HOME/.cache/sluice/components`.
    pub fn default_dir() -> Option<PathBuf> {
        if let Some(dir) = std::env::var_os("SLUICE_CACHE_DIR") {
            return Some(PathBuf::from(dir));
        }
        let base = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
        Some(base.join("sluice").join("components"))
    }

    /// Compiles `wasm` or loads its cached compilation. Returns the component and whether it
    /// came from the cache.
    pub fn load(&self, engine: &Engine, wasm: &[u8]) -> anyhow::Result<(Component, bool)> {
        let Some(dir) = &self.dir else {
            return Ok((Component::new(engine, wasm)?, false));
        };
        let path = dir.join(format!("{}-{}.cwasm", content_digest(wasm), engine_digest(engine)));
        if path.is_file() {
            // SAFETY: files in this directory are only ever written by `store` below from
            // `Engine::precompile_component` output, and the name binds them to this engine's
            // compatibility hash.
            match unsafe { Component::deserialize_file(engine, &path) } {
                Ok(component) => return Ok((component, true)),
                Err(error) => tracing::warn!(
                    path = %path.display(),
                    error = %error,
                    "Cached component is unusable; recompiling."
                ),
            }
        }
        let compiled = engine.precompile_component(wasm)?;
        if let Err(error) = store(dir, &path, &compiled) {
            tracing::warn!(dir = %dir.display(), error = %format!("{error:#}"),
                "Could not write the component cache; the next start will compile again.");
        }
        // SAFETY: `compiled` was produced just now by this engine.
        let component = unsafe { Component::deserialize(engine, &compiled)? };
        Ok((component, false))
    }
}

fn store(dir: &Path, path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))?;
    Ok(())
}

/// Hex SHA-256 of the component bytes (first 128 bits).
pub fn content_digest(wasm: &[u8]) -> String {
    let digest = Sha256::digest(wasm);
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

fn engine_digest(engine: &Engine) -> String {
    let mut hasher = DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    format!("{:016x}", hasher.finish())
}
