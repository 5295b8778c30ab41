//! Sorting f32 keys on the GPU (bitonic), measured against the CPU's sort for the metric
//! engine's AUC / curve sorts (benches/gpu_sort.rs checks it equals the CPU sort and times
//! both). Not wired into metrics: on lavapipe it was 78x (10^7 keys) to 144x (10^6) slower
//! than `metrics::sort`, and no hardware adapter was there to measure; see ARCHITECTURE.md.

use super::device::{GpuTensor, Recorder};
use super::elementwise::groups;
use crate::error::{Error, Result};

const SOURCE: &str = super::device::wgsl!("sort.wgsl");

/// Sorts `x` ascending in place. Its length must be a power of two >= 512: pad with +inf.
pub fn sort_padded(rec: &mut Recorder<'_>, x: &GpuTensor) -> Result<()> {
    let n = x.len();
    if n < 512 || !n.is_power_of_two() {
        return Err(Error::InvalidArgument(format!("sort_padded: length {n} is not a power of two >= 512")));
    }
    let gpu = rec.gpu();
    let global = gpu.pipeline("sort", SOURCE, &[], "global_step")?;
    let local = gpu.pipeline("sort", SOURCE, &[], "local_steps")?;
    let blocks = groups(n / 512, 1);
    let u = |v: usize| v as u32;
    rec.dispatch(&local, &[u(n), 0, 0, 0], &[&x.buf], blocks)?;
    let mut k = 1024;
    while k <= n {
        let mut j = k / 2;
        while j >= 512 {
            rec.dispatch(&global, &[u(n), u(k), u(j), 0], &[&x.buf], groups(n / 2, 256))?;
            j /= 2;
        }
        rec.dispatch(&local, &[u(n), u(k), 0, 0], &[&x.buf], blocks)?;
        k *= 2;
    }
    Ok(())
}
