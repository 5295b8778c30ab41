//! What the GPU benches share (a module, not a bench target: cargo only builds
//! `benches/*.rs` and `benches/*/main.rs` as targets).

use webeval::runtime::gpu::Gpu;

/// The device, with its adapter printed first; `None` after printing why there is none.
pub fn device() -> Option<Gpu> {
    match Gpu::new_blocking() {
        Ok(g) => {
            let s = g.summary();
            println!("adapter: {} ({}, {}, {})", s.name, s.backend, s.device_type, s.driver);
            Some(g)
        }
        Err(e) => {
            println!("skipped: no adapter ({e})");
            None
        }
    }
}
