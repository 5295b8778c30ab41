//! The `webeval` binary. The CLI itself (clap) lives in `cli.rs`; it is native-only, and
//! `cargo test --target wasm32-unknown-unknown` still builds every binary target, so on wasm32
//! this is an empty program.

#[cfg(not(target_arch = "wasm32"))]
mod cli;

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    cli::main()
}

#[cfg(target_arch = "wasm32")]
fn main() {}
