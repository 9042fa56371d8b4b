//! Builds the guest components in `plugins/` for `wasm32-wasip2` so the built-in parsers
//! can be embedded in the binary and the test plugins are at hand for integration tests.
//! The directory holding the `.wasm` files is exported as `SLUICE_GUEST_DIR`.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest_dir.parent().unwrap().to_path_buf();
    let plugins = root.join("plugins");
    for watched in
        ["plugins/sdk", "plugins/parsers", "plugins/testing", "plugins/Cargo.toml", "plugins/Cargo.lock", "wit"]
    {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
    println!("cargo:rerun-if-env-changed=SLUICE_GUEST_DIR_OVERRIDE");

    if let Some(dir) = std::env::var_os("SLUICE_GUEST_DIR_OVERRIDE") {
        println!("cargo:rustc-env=SLUICE_GUEST_DIR={}", PathBuf::from(dir).display());
        return;
    }

    // Guests build in this checkout's plugins/target, so checkouts sharing a host target
    // directory (CARGO_TARGET_DIR) never overwrite each other's components.
    let guest_target = plugins.join("target");

    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(&plugins)
        .args(["build", "--release", "--locked", "--target", "wasm32-wasip2", "--workspace"])
        .arg("--target-dir")
        .arg(&guest_target);
    // Settings meant for the host build must not leak into the guest build.
    for var in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_PROFILE_RELEASE_DEBUG",
    ] {
        command.env_remove(var);
    }
    let status = command.status().expect("running cargo to build the guest plugins");
    if !status.success() {
        panic!(
            "building the plugins workspace for wasm32-wasip2 failed (see above). \
             The target is installed by rust-toolchain.toml; if rustup is not used, run \
             `rustup target add wasm32-wasip2`."
        );
    }
    let wasm_dir = guest_target.join("wasm32-wasip2").join("release");
    println!("cargo:rustc-env=SLUICE_GUEST_DIR={}", wasm_dir.display());
}
