//! Builds the guest components in `plugins/` for `wasm32-wasip2` so the built-in parsers
//! can be embedded in the binary and the test plugins are at hand for integration tests.
//! The directory holding the `.wasm` files is exported as `SLUICE_GUEST_DIR`.
//!
//! Two things keep this cheap and reliable:
//! - the `wasm32-wasip2` target is added through rustup when it is missing (rustup installs a
//!   toolchain's `targets` from `rust-toolchain.toml` only when it installs the toolchain
//!   itself, so a toolchain installed earlier lacks it);
//! - the guests are rebuilt only when their sources change: a digest of every guest source
//!   file is kept next to the components, so re-running this script (an IDE's `cargo check`,
//!   a changed environment) does not invoke the guest build at all.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::Command;

const WASM_TARGET: &str = "wasm32-wasip2";

/// Paths (relative to the repository root) whose contents decide the guest build.
const GUEST_INPUTS: &[&str] =
    &["plugins/sdk", "plugins/parsers", "plugins/testing", "plugins/Cargo.toml", "plugins/Cargo.lock", "wit"];

/// The components the guest build produces (the built-in parsers the binary embeds, and the
/// plugins the tests and benchmarks load).
const GUEST_COMPONENTS: &[&str] = &[
    "sluice_parser_json",
    "sluice_parser_tdengine",
    "sluice_parser_maxcompute",
    "sluice_test_hostile",
    "sluice_test_tagger",
    "sluice_test_future_contract",
    "sluice_test_contract_0_1",
];

/// Settings meant for the host build that must not leak into the guest build.
const HOST_ONLY_ENV: &[&str] = &[
    "RUSTFLAGS",
    "CARGO_ENCODED_RUSTFLAGS",
    "CARGO_BUILD_RUSTFLAGS",
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_TARGET",
    "RUSTC_WORKSPACE_WRAPPER",
    "RUSTC_WRAPPER",
    "CARGO_PROFILE_RELEASE_DEBUG",
];

fn main() {
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest_dir.parent().unwrap().to_path_buf();
    for input in GUEST_INPUTS {
        println!("cargo:rerun-if-changed={}", root.join(input).display());
    }
    println!("cargo:rerun-if-env-changed=SLUICE_GUEST_DIR_OVERRIDE");

    if let Some(dir) = std::env::var_os("SLUICE_GUEST_DIR_OVERRIDE") {
        println!("cargo:rustc-env=SLUICE_GUEST_DIR={}", PathBuf::from(dir).display());
        return;
    }

    // Guests build in this checkout's plugins/target, so checkouts sharing a host target
    // directory (CARGO_TARGET_DIR) never overwrite each other's components.
    let plugins = root.join("plugins");
    let guest_target = plugins.join("target");
    let wasm_dir = guest_target.join(WASM_TARGET).join("release");
    println!("cargo:rustc-env=SLUICE_GUEST_DIR={}", wasm_dir.display());

    // Deleting the outputs (`rm -rf plugins/target`, `cargo clean` there) re-runs this script.
    let stamp_path = guest_target.join("sluice-guest-sources.digest");
    let components: Vec<PathBuf> = GUEST_COMPONENTS.iter().map(|c| wasm_dir.join(format!("{c}.wasm"))).collect();
    println!("cargo:rerun-if-changed={}", stamp_path.display());
    for component in &components {
        println!("cargo:rerun-if-changed={}", component.display());
    }
    let digest = sources_digest(&root);
    let up_to_date = std::fs::read_to_string(&stamp_path).is_ok_and(|stamp| stamp == digest)
        && components.iter().all(|c| c.is_file());
    if up_to_date {
        return;
    }

    ensure_wasm_target();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(&plugins)
        .args(["build", "--release", "--locked", "--target", WASM_TARGET, "--workspace"])
        .arg("--target-dir")
        .arg(&guest_target);
    for var in HOST_ONLY_ENV {
        command.env_remove(var);
    }
    let status = command.status().expect("running cargo to build the guest plugins");
    if !status.success() {
        panic!(
            "building the plugins workspace for {WASM_TARGET} failed (see above). If the error says the \
             `{WASM_TARGET}` target may not be installed, run: rustup target add {WASM_TARGET}"
        );
    }
    std::fs::write(&stamp_path, digest).expect("writing the guest source digest");
}

/// Adds the wasm target through rustup when the active toolchain lacks it. Without rustup
/// the guest build reports the missing target and the panic above says what to run.
fn ensure_wasm_target() {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let sysroot = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    let installed = sysroot.as_ref().is_some_and(|s| s.join("lib/rustlib").join(WASM_TARGET).is_dir());
    if installed {
        return;
    }
    // rustup's proxies name the toolchain they run; add the target to exactly that one.
    let Some(toolchain) = std::env::var_os("RUSTUP_TOOLCHAIN") else {
        println!(
            "cargo:warning=the Rust toolchain has no {WASM_TARGET} target and is not managed by rustup; \
             install the target for your toolchain (with rustup: rustup target add {WASM_TARGET})"
        );
        return;
    };
    println!("cargo:warning=adding the {WASM_TARGET} target to the toolchain (rustup target add {WASM_TARGET})");
    let added = Command::new("rustup").args(["target", "add", WASM_TARGET, "--toolchain"]).arg(&toolchain).status();
    match added {
        Ok(status) if status.success() => {}
        _ => panic!(
            "the {WASM_TARGET} target is missing and `rustup target add {WASM_TARGET}` failed (see above); \
             run it yourself, then build again"
        ),
    }
}

/// A digest of every guest input file (path and contents) plus the compiler version.
fn sources_digest(root: &Path) -> String {
    let mut files = Vec::new();
    for input in GUEST_INPUTS {
        collect_files(&root.join(input), &mut files);
    }
    files.sort();
    let mut hasher = DefaultHasher::new();
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    if let Ok(output) = Command::new(rustc).arg("-V").output() {
        output.stdout.hash(&mut hasher);
    }
    for file in &files {
        file.strip_prefix(root).unwrap_or(file).hash(&mut hasher);
        std::fs::read(file).unwrap_or_default().hash(&mut hasher);
    }
    format!("{:016x} {} files\n", hasher.finish(), files.len())
}

fn collect_files(path: &Path, files: &mut Vec<PathBuf>) {
    if path.is_file() {
        files.push(path.to_path_buf());
    } else if let Ok(entries) = std::fs::read_dir(path) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.file_name().is_some_and(|n| n == "target") {
                continue;
            }
            collect_files(&path, files);
        }
    }
}
