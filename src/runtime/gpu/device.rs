//! The one place that talks to wgpu's device: adapter choice, limits, loss, buffers, dispatch.
//!
//! Kernels never create devices or read back on their own; they record into a [`Recorder`]
//! so a whole graph becomes a few command buffers with one upload and one readback. Device
//! loss and validation errors are turned into [`Error`]s here (wgpu would otherwise log or
//! panic), so the caller can retry on the CPU with a message the user can act on.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use crate::error::{Error, Result};

/// What the adapter is and what it allows, for the report and for splitting work.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AdapterSummary {
    pub name: String,
    pub backend: String,
    pub device_type: String,
    pub driver: String,
    /// Largest range of a buffer we may bind to one storage slot, in bytes: kernels given
    /// more split their work into several bindings (GEMM, conv, pooling) or refuse it.
    pub max_binding_bytes: u64,
    /// Largest buffer, hence tensor, in bytes.
    pub max_buffer_bytes: u64,
    /// Byte alignment of a binding's start within its buffer.
    pub binding_align_bytes: u32,
    pub max_workgroups_per_dim: u32,
    pub max_workgroup_storage_bytes: u32,
}

/// A tensor that lives in GPU memory. Shapes are ONNX order (row-major, last axis fastest).
/// Cloning shares the buffer: reshapes are free.
#[derive(Debug, Clone)]
pub struct GpuTensor {
    pub(crate) buf: wgpu::Buffer,
    pub shape: Vec<usize>,
}

impl GpuTensor {
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The same data seen with another shape of equal size (Reshape, Flatten, Squeeze).
    pub fn reshaped(&self, shape: &[usize]) -> Result<GpuTensor> {
        let n: usize = shape.iter().product();
        if n != self.len() {
            return Err(Error::InvalidArgument(format!(
                "cannot reshape a GPU tensor of shape {:?} ({} values) to {:?} ({} values)",
                self.shape,
                self.len(),
                shape,
                n
            )));
        }
        Ok(GpuTensor { buf: self.buf.clone(), shape: shape.to_vec() })
    }
}

/// Shared state the device callbacks write into (they may run on another thread).
#[derive(Default)]
struct Health {
    lost: AtomicBool,
    lost_reason: Mutex<Option<String>>,
    validation: Mutex<Option<String>>,
}

/// A wgpu device with its queue, limits and a cache of compiled kernels. Clones share the
/// device, its health and the kernel cache (sessions of many models on one device).
#[derive(Clone)]
pub struct Gpu {
    device: wgpu::Device,
    queue: wgpu::Queue,
    summary: AdapterSummary,
    limits: wgpu::Limits,
    health: Arc<Health>,
    pipelines: Arc<Mutex<HashMap<String, Kernel>>>,
    /// The last readback's staging buffer, reused by the next one that fits in it.
    staging: Arc<Mutex<Option<wgpu::Buffer>>>,
    /// The GEMM tile forced by tests and the bench (a [`super::gemm::Tiles`] code; 0 = by size).
    gemm_tiles: Arc<AtomicU8>,
}

impl std::fmt::Debug for Gpu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gpu").field("adapter", &self.summary).finish()
    }
}

impl Gpu {
    /// Finds an adapter (high performance first) and opens a device with the adapter's own
    /// limits, so big models are not refused because of WebGPU's conservative defaults.
    /// `Err(GpuUnavailable)` when there is none: the caller runs on the CPU.
    pub async fn new() -> Result<Gpu> {
        Gpu::with_max_binding(None).await
    }

    /// [`Gpu::new`] with the storage-binding size lowered to `bytes` when given (it starts as
    /// the adapter's), so tests and the wasm export's test-only argument exercise the
    /// splitting of tensors over the binding limit on any adapter.
    pub async fn with_max_binding(bytes: Option<u64>) -> Result<Gpu> {
        let mut desc = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
        if cfg!(target_arch = "wasm32") {
            desc.backends = wgpu::Backends::BROWSER_WEBGPU;
        } else if desc.backends == wgpu::Backends::all() {
            desc.backends = wgpu::Backends::VULKAN;
        }
        let instance = wgpu::Instance::new(desc);
        let adapter = instance
            .request_adapter(&wgpu::RequestAdapterOptions {
                power_preference: wgpu::PowerPreference::HighPerformance,
                force_fallback_adapter: false,
                compatible_surface: None,
                apply_limit_buckets: false,
            })
            .await
            .map_err(|e| Error::GpuUnavailable(e.to_string()))?;
        let info = adapter.get_info();
        let mut limits = adapter.limits();
        if let Some(b) = bytes {
            limits.max_storage_buffer_binding_size = limits.max_storage_buffer_binding_size.min(b);
        }
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("webeval"),
                required_features: wgpu::Features::empty(),
                required_limits: limits.clone(),
                experimental_features: wgpu::ExperimentalFeatures::disabled(),
                memory_hints: wgpu::MemoryHints::Performance,
                trace: wgpu::Trace::Off,
            })
            .await
            .map_err(|e| Error::GpuUnavailable(format!("{} refused a device: {e}", info.name)))?;
        let health = Arc::new(Health::default());
        let h = health.clone();
        device.set_device_lost_callback(move |reason, msg| {
            h.lost.store(true, Ordering::SeqCst);
            if let Ok(mut r) = h.lost_reason.lock() {
                *r = Some(format!("{reason:?}: {msg}"));
            }
        });
        let h = health.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            if let Ok(mut v) = h.validation.lock() {
                v.get_or_insert_with(|| e.to_string());
            }
        }));
        let summary = AdapterSummary {
            // Browsers may hide the adapter's name (WebGPU's description is often empty).
            name: if info.name.is_empty() { format!("{:?} adapter", info.backend) } else { info.name.clone() },
            backend: format!("{:?}", info.backend),
            device_type: format!("{:?}", info.device_type),
            driver: format!("{} {}", info.driver, info.driver_info).trim().to_string(),
            max_binding_bytes: limits.max_storage_buffer_binding_size.min(limits.max_buffer_size),
            max_buffer_bytes: limits.max_buffer_size,
            max_workgroups_per_dim: limits.max_compute_workgroups_per_dimension,
            max_workgroup_storage_bytes: limits.max_compute_workgroup_storage_size,
            binding_align_bytes: limits.min_storage_buffer_offset_alignment.max(4),
        };
        Ok(Gpu {
            device,
            queue,
            summary,
            limits,
            health,
            pipelines: Arc::new(Mutex::new(HashMap::new())),
            staging: Arc::default(),
            gemm_tiles: Arc::new(AtomicU8::new(0)),
        })
    }

    /// Blocking [`Gpu::new`] for the CLI and tests.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn new_blocking() -> Result<Gpu> {
        pollster::block_on(Gpu::new())
    }

    /// Blocking [`Gpu::with_max_binding`].
    #[cfg(not(target_arch = "wasm32"))]
    pub fn with_max_binding_blocking(bytes: u64) -> Result<Gpu> {
        pollster::block_on(Gpu::with_max_binding(Some(bytes)))
    }

    pub fn summary(&self) -> &AdapterSummary {
        &self.summary
    }

    /// Simulates losing the device (driver reset, tab backgrounded too long), for tests.
    pub fn destroy_for_test(&self) {
        self.device.destroy();
    }

    /// Fails with a clear message if the device was lost or a kernel was rejected.
    pub fn check(&self) -> Result<()> {
        self.lost()?;
        if let Some(msg) = self.health.validation.lock().ok().and_then(|mut v| v.take()) {
            // After a loss every call fails validation first; wgpu reports the loss itself
            // only from its maintenance step, so run it and prefer that clearer message.
            #[cfg(not(target_arch = "wasm32"))]
            let _ = self.device.poll(wgpu::PollType::Poll);
            self.lost()?;
            return Err(Error::Gpu(msg));
        }
        Ok(())
    }

    fn lost(&self) -> Result<()> {
        if self.health.lost.load(Ordering::SeqCst) {
            let why =
                self.health.lost_reason.lock().ok().and_then(|r| r.clone()).unwrap_or_else(|| "unknown reason".into());
            return Err(Error::GpuDeviceLost(why));
        }
        Ok(())
    }

    /// Forces the GEMM's tile on this device (`Tiles::BySize` restores the choice by size), so
    /// tests check every kernel on any adapter and the bench compares them.
    pub fn force_gemm_tiles(&self, tiles: super::gemm::Tiles) {
        self.gemm_tiles.store(tiles as u8, Ordering::Relaxed);
    }

    pub(crate) fn gemm_tiles(&self) -> super::gemm::Tiles {
        super::gemm::Tiles::from_code(self.gemm_tiles.load(Ordering::Relaxed))
    }

    pub(crate) fn limits(&self) -> &wgpu::Limits {
        &self.limits
    }

    /// Refuses tensors larger than the adapter's largest buffer (those run on the CPU).
    /// Tensors over the binding limit but not the buffer limit are kept: kernels bind them
    /// in parts (see [`View`]).
    pub(crate) fn check_fits(&self, what: &str, elems: usize) -> Result<()> {
        let bytes = (elems as u64).saturating_mul(4);
        if bytes > self.summary.max_buffer_bytes {
            return Err(Error::GpuLimit { tensor: what.to_string(), bytes, limit: self.summary.max_buffer_bytes });
        }
        Ok(())
    }

    /// The most f32 elements a kernel can be sure to reach through one [`View`] whatever its
    /// start: the binding limit less the slack of aligning the start down and the end up.
    pub(crate) fn view_elems(&self) -> usize {
        let slack = u64::from(self.summary.binding_align_bytes) + 16;
        (self.summary.max_binding_bytes.saturating_sub(slack) / 4) as usize
    }

    /// How many units of `unit` elements one dispatch may bind (at least 1, at most `units`):
    /// kernels that split a tensor over the binding limit walk it in ranges of whole units.
    /// A single unit over the limit is refused with `GpuLimit`, naming `what`.
    pub(crate) fn split_count(&self, what: &str, unit: usize, units: usize) -> Result<usize> {
        let room = self.view_elems();
        if unit > room {
            return Err(Error::GpuLimit {
                tensor: what.to_string(),
                bytes: unit as u64 * 4,
                limit: self.summary.max_binding_bytes,
            });
        }
        Ok((room / unit.max(1)).min(units).max(1))
    }

    /// An uninitialised f32 tensor. Sizes are padded to 16 bytes so vec4 kernels may bind it.
    pub fn empty(&self, shape: &[usize]) -> Result<GpuTensor> {
        self.check()?;
        let n: usize = shape.iter().product();
        self.check_fits("output", n)?;
        let buf = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: None,
            size: padded_bytes(n),
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        Ok(GpuTensor { buf, shape: shape.to_vec() })
    }

    /// Uploads host data. The copy is queued and happens before the next submitted work.
    pub fn upload(&self, data: &[f32], shape: &[usize]) -> Result<GpuTensor> {
        let n: usize = shape.iter().product();
        if n != data.len() {
            return Err(Error::InvalidArgument(format!(
                "upload: shape {shape:?} needs {n} values but {} were given",
                data.len()
            )));
        }
        let t = self.empty(shape)?;
        if n > 0 {
            self.queue.write_buffer(&t.buf, 0, bytemuck::cast_slice(data));
        }
        Ok(t)
    }

    pub fn recorder(&self) -> Recorder<'_> {
        Recorder { gpu: self, encoder: None, dispatches: 0, pending: Vec::new(), params: Vec::new() }
    }

    /// Compiles (once) the kernel `entry` of `source` with the given `#if` defines.
    pub(crate) fn pipeline(&self, family: &str, source: &str, defines: &[&str], entry: &str) -> Result<Kernel> {
        self.pipeline_with(family, &|| source.to_string(), defines, entry)
    }

    /// [`Gpu::pipeline`] with the source built only when the kernel is not compiled yet (a
    /// source with the activation snippet prepended is a fresh string).
    pub(crate) fn pipeline_with(
        &self,
        family: &str,
        source: &dyn Fn() -> String,
        defines: &[&str],
        entry: &str,
    ) -> Result<Kernel> {
        let key = format!("{family}/{entry}/{}", defines.join(","));
        let mut cache = self.pipelines.lock().map_err(|_| Error::Gpu("pipeline cache poisoned".into()))?;
        if let Some(p) = cache.get(&key) {
            return Ok(p.clone());
        }
        let code = preprocess(&source(), defines);
        let module = self.device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some(&key),
            source: wgpu::ShaderSource::Wgsl(code.into()),
        });
        let p = self.device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(&key),
            layout: None,
            module: &module,
            entry_point: Some(entry),
            compilation_options: Default::default(),
            cache: None,
        });
        self.check()?;
        let k = Kernel { layout: p.get_bind_group_layout(0), pipeline: p };
        cache.insert(key, k.clone());
        Ok(k)
    }

    /// Copies tensors back to the host in one submission (the batch's single readback).
    pub async fn read_many(&self, rec: Recorder<'_>, tensors: &[&GpuTensor]) -> Result<Vec<Vec<f32>>> {
        self.check()?;
        let mut encoder = rec.take_encoder();
        let mut offsets = Vec::with_capacity(tensors.len());
        let mut total = 0u64;
        for t in tensors {
            offsets.push(total);
            total += padded_bytes(t.len());
        }
        let total = total.max(16);
        // The previous readback's buffer when it is big enough (taken out while mapped, so a
        // concurrent run makes its own), else a new one rounded up to a power of two.
        let reuse = self.staging.lock().ok().and_then(|mut s| s.take_if(|b| b.size() >= total));
        let staging = reuse.unwrap_or_else(|| {
            self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("readback"),
                size: total.max(16).next_power_of_two(),
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })
        });
        for (t, off) in tensors.iter().zip(&offsets) {
            if !t.is_empty() {
                encoder.copy_buffer_to_buffer(&t.buf, 0, &staging, *off, padded_bytes(t.len()));
            }
        }
        self.queue.submit([encoder.finish()]);
        let (tx, rx) = oneshot();
        staging.map_async(wgpu::MapMode::Read, ..total, move |r| tx.send(r.is_ok()));
        #[cfg(not(target_arch = "wasm32"))]
        {
            let _ = self.device.poll(wgpu::PollType::wait_indefinitely());
        }
        let mapped = rx.await;
        self.check()?;
        if !mapped {
            return Err(Error::GpuDeviceLost("reading results back failed".into()));
        }
        let out = {
            let view =
                staging.get_mapped_range(..total).map_err(|e| Error::Gpu(format!("reading results back: {e}")))?;
            let all: &[f32] = bytemuck::cast_slice(&view);
            tensors
                .iter()
                .zip(&offsets)
                .map(|(t, off)| {
                    let s = (*off / 4) as usize;
                    all[s..s + t.len()].to_vec()
                })
                .collect()
        };
        staging.unmap();
        if let Ok(mut slot) = self.staging.lock() {
            if slot.as_ref().is_none_or(|b| b.size() < staging.size()) {
                *slot = Some(staging);
            }
        }
        Ok(out)
    }

    #[cfg(not(target_arch = "wasm32"))]
    pub fn read_blocking(&self, rec: Recorder<'_>, tensors: &[&GpuTensor]) -> Result<Vec<Vec<f32>>> {
        pollster::block_on(self.read_many(rec, tensors))
    }

    /// Submits recorded work and waits for it (benchmarks; normal use ends with a readback).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn finish_blocking(&self, rec: Recorder<'_>) -> Result<()> {
        self.check()?;
        let encoder = rec.take_encoder();
        let idx = self.queue.submit([encoder.finish()]);
        let _ = self.device.poll(wgpu::PollType::Wait { submission_index: Some(idx), timeout: None });
        self.check()
    }
}

/// A compiled kernel and its bind-group layout (fetched once: on the web each fetch is a new
/// JS object).
#[derive(Clone)]
pub(crate) struct Kernel {
    pipeline: wgpu::ComputePipeline,
    layout: wgpu::BindGroupLayout,
}

/// Records many kernel dispatches into one command encoder. Dispatches are kept until the
/// recorder is submitted (or has many), then encoded together: their parameters go into one
/// uniform buffer written once, and consecutive dispatches share one compute pass, so a run's
/// fixed cost does not grow with a buffer and a pass per kernel.
pub struct Recorder<'g> {
    gpu: &'g Gpu,
    encoder: Option<wgpu::CommandEncoder>,
    dispatches: usize,
    pending: Vec<Pending>,
    /// The pending dispatches' parameters, each at a multiple of the uniform-offset alignment.
    params: Vec<u32>,
}

/// A recorded command not yet encoded.
enum Pending {
    Dispatch {
        kernel: Kernel,
        /// Word offset and length of its parameters in `Recorder::params`.
        params: (usize, usize),
        /// Bindings 1.. as (buffer, byte offset, byte size).
        bufs: Vec<(wgpu::Buffer, u64, u64)>,
        groups: [u32; 3],
    },
    Copy {
        src: wgpu::Buffer,
        src_off: u64,
        dst: wgpu::Buffer,
        dst_off: u64,
        bytes: u64,
    },
}

/// One storage binding: `len` f32 elements of `buf` from element `start`. The binding itself
/// starts at the aligned byte below `start` (WebGPU requires it), so the kernel is given
/// [`View::rel`] as its offset into the binding.
#[derive(Clone, Copy)]
pub(crate) struct View<'a> {
    pub buf: &'a wgpu::Buffer,
    pub start: usize,
    pub len: usize,
}

impl<'a> View<'a> {
    /// All of a buffer.
    pub fn whole(buf: &'a wgpu::Buffer) -> View<'a> {
        View { buf, start: 0, len: (buf.size() / 4) as usize }
    }
    /// Elements `start..start + len` of a buffer.
    pub fn range(buf: &'a wgpu::Buffer, start: usize, len: usize) -> View<'a> {
        View { buf, start, len }
    }
    /// The element offset, within the binding, of element `start`.
    pub fn rel(&self, align_bytes: u32) -> usize {
        self.start % (align_bytes as usize / 4).max(1)
    }
    /// (byte offset, byte size) of the binding: start aligned down, end rounded up to 16
    /// bytes (vec4 kernels) but never past the buffer.
    fn bytes(&self, align_bytes: u32) -> (u64, u64) {
        let off = (self.start - self.rel(align_bytes)) as u64 * 4;
        let end = ((self.start + self.len.max(1)) as u64 * 4).div_ceil(16) * 16;
        (off, end.min(self.buf.size()).max(off + 4) - off)
    }
}

impl<'g> Recorder<'g> {
    pub fn gpu(&self) -> &'g Gpu {
        self.gpu
    }
    pub fn dispatches(&self) -> usize {
        self.dispatches
    }

    /// Everything recorded, encoded.
    fn take_encoder(mut self) -> wgpu::CommandEncoder {
        self.encode();
        self.encoder
            .take()
            .unwrap_or_else(|| self.gpu.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None }))
    }

    /// Encodes the pending commands: one uniform buffer for all their parameters, and one
    /// compute pass for each run of dispatches between copies.
    fn encode(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let gpu = self.gpu;
        let uniform = (!self.params.is_empty()).then(|| {
            // Not create_buffer_init: it panics when the device is gone; this reports it instead.
            let u = gpu.device.create_buffer(&wgpu::BufferDescriptor {
                label: None,
                size: (self.params.len() * 4) as u64,
                usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            gpu.queue.write_buffer(&u, 0, bytemuck::cast_slice(&self.params));
            u
        });
        let encoder = self
            .encoder
            .get_or_insert_with(|| gpu.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None }));
        let mut pending = std::mem::take(&mut self.pending).into_iter().peekable();
        while let Some(cmd) = pending.next() {
            match cmd {
                Pending::Copy { src, src_off, dst, dst_off, bytes } => {
                    encoder.copy_buffer_to_buffer(&src, src_off, &dst, dst_off, bytes)
                }
                first @ Pending::Dispatch { .. } => {
                    let mut pass = encoder
                        .begin_compute_pass(&wgpu::ComputePassDescriptor { label: None, timestamp_writes: None });
                    let mut next = Some(first);
                    while let Some(Pending::Dispatch { kernel, params: (at, len), bufs, groups }) = next {
                        let Some(uniform) = &uniform else { break };
                        let mut entries = vec![wgpu::BindGroupEntry {
                            binding: 0,
                            resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                                buffer: uniform,
                                offset: at as u64 * 4,
                                size: wgpu::BufferSize::new(len as u64 * 4),
                            }),
                        }];
                        for (i, (buffer, offset, size)) in bufs.iter().enumerate() {
                            let resource = wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                                buffer,
                                offset: *offset,
                                size: wgpu::BufferSize::new(*size),
                            });
                            entries.push(wgpu::BindGroupEntry { binding: i as u32 + 1, resource });
                        }
                        let bind = gpu.device.create_bind_group(&wgpu::BindGroupDescriptor {
                            label: None,
                            layout: &kernel.layout,
                            entries: &entries,
                        });
                        pass.set_pipeline(&kernel.pipeline);
                        pass.set_bind_group(0, &bind, &[]);
                        pass.dispatch_workgroups(groups[0], groups[1], groups[2]);
                        next = pending.next_if(|c| matches!(c, Pending::Dispatch { .. }));
                    }
                }
            }
        }
        self.params.clear();
    }

    /// Records a copy of `elems` floats between buffers (Gather / Concat on the GPU).
    pub(crate) fn copy(
        &mut self,
        src: &wgpu::Buffer,
        src_off: usize,
        dst: &wgpu::Buffer,
        dst_off: usize,
        elems: usize,
    ) -> Result<()> {
        self.gpu.check()?;
        if elems == 0 {
            return Ok(());
        }
        self.pending.push(Pending::Copy {
            src: src.clone(),
            src_off: src_off as u64 * 4,
            dst: dst.clone(),
            dst_off: dst_off as u64 * 4,
            bytes: elems as u64 * 4,
        });
        Ok(())
    }

    /// Records one dispatch: `params` (u32 words; floats as bits) become binding 0 as a uniform,
    /// `bufs` bindings 1.. in order, each whole. `groups` larger than the per-dimension limit
    /// are folded into y; kernels rebuild the linear id from `num_workgroups`.
    pub(crate) fn dispatch(
        &mut self,
        kernel: &Kernel,
        params: &[u32],
        bufs: &[&wgpu::Buffer],
        groups: [u32; 3],
    ) -> Result<()> {
        let views: Vec<View<'_>> = bufs.iter().map(|b| View::whole(b)).collect();
        self.dispatch_views(kernel, params, &views, groups)
    }

    /// [`Recorder::dispatch`] with bindings that are ranges of buffers. A range over the
    /// binding limit is refused with [`Error::GpuLimit`] (the node then runs on the CPU):
    /// kernels that split their work check [`Gpu::view_elems`] first.
    pub(crate) fn dispatch_views(
        &mut self,
        kernel: &Kernel,
        params: &[u32],
        bufs: &[View<'_>],
        groups: [u32; 3],
    ) -> Result<()> {
        let gpu = self.gpu;
        let align = gpu.summary.binding_align_bytes;
        let ranges: Vec<(u64, u64)> = bufs.iter().map(|v| v.bytes(align)).collect();
        if let Some(&(_, size)) = ranges.iter().find(|r| r.1 > gpu.summary.max_binding_bytes) {
            return Err(Error::GpuLimit {
                tensor: "a kernel operand".into(),
                bytes: size,
                limit: gpu.summary.max_binding_bytes,
            });
        }
        gpu.check()?;
        if groups.contains(&0) {
            return Ok(());
        }
        let max = gpu.limits().max_compute_workgroups_per_dimension.max(1);
        let [mut x, mut y, z] = groups;
        if x > max {
            if y != 1 {
                return Err(Error::Gpu(format!("dispatch of {groups:?} workgroups is over the limit {max}")));
            }
            y = x.div_ceil(max);
            x = max;
        }
        if y > max || z > max {
            return Err(Error::Gpu(format!("dispatch of {groups:?} workgroups is over the limit {max}")));
        }
        // This dispatch's parameters start at the next aligned offset of the shared uniform.
        let step = (gpu.limits().min_uniform_buffer_offset_alignment as usize / 4).max(4);
        let at = self.params.len().div_ceil(step) * step;
        let len = params.len().div_ceil(4).max(1) * 4;
        self.params.resize(at, 0);
        self.params.extend_from_slice(params);
        self.params.resize(at + len, 0);
        let bufs = bufs.iter().zip(ranges).map(|(v, (offset, size))| (v.buf.clone(), offset, size)).collect();
        self.pending.push(Pending::Dispatch { kernel: kernel.clone(), params: (at, len), bufs, groups: [x, y, z] });
        self.dispatches += 1;
        // Keep command buffers bounded: very long graphs are flushed in chunks.
        if self.dispatches.is_multiple_of(512) {
            self.encode();
            if let Some(enc) = self.encoder.take() {
                gpu.queue.submit([enc.finish()]);
            }
        }
        Ok(())
    }
}

pub(crate) fn padded_bytes(elems: usize) -> u64 {
    ((elems as u64 * 4).div_ceil(16) * 16).max(16)
}

/// WGSL source without its full-line `//` comments (`//#` directives kept), as a buffer and
/// the length used, evaluated at compile time by [`wgsl!`]: the comments explain the kernels
/// in the repository but would otherwise ship in the wasm (a quarter of the shaders' bytes).
pub(crate) const fn strip_comments<const N: usize>(src: &str) -> ([u8; N], usize) {
    let s = src.as_bytes();
    let mut out = [0u8; N];
    let (mut i, mut o) = (0, 0);
    while i < s.len() {
        let mut end = i;
        while end < s.len() && s[end] != b'\n' {
            end += 1;
        }
        let mut f = i;
        while f < end && (s[f] == b' ' || s[f] == b'\t') {
            f += 1;
        }
        let comment = f + 1 < end && s[f] == b'/' && s[f + 1] == b'/' && !(f + 2 < end && s[f + 2] == b'#');
        if !comment {
            while i < end {
                out[o] = s[i];
                o += 1;
                i += 1;
            }
            if end < s.len() {
                out[o] = b'\n';
                o += 1;
            }
        }
        i = end + 1;
    }
    (out, o)
}

/// `include_str!` of a WGSL file next to this one, its comments stripped at compile time.
macro_rules! wgsl {
    ($file:literal) => {{
        const SRC: &str = include_str!($file);
        const STRIPPED: ([u8; SRC.len()], usize) = $crate::runtime::gpu::device::strip_comments::<{ SRC.len() }>(SRC);
        match std::str::from_utf8(STRIPPED.0.split_at(STRIPPED.1).0) {
            Ok(s) => s,
            Err(_) => panic!("a WGSL file is not UTF-8"),
        }
    }};
}
pub(crate) use wgsl;

/// Minimal `#if NAME` / `#else` / `#endif` on lines starting with `//#`, so one .wgsl file can
/// hold a kernel's vec4 and scalar variants (WGSL has no preprocessor). `#if !NAME` negates.
pub(crate) fn preprocess(src: &str, defines: &[&str]) -> String {
    let mut out = String::with_capacity(src.len());
    let mut stack: Vec<(bool, bool)> = Vec::new(); // (parent active, this branch active)
    for line in src.lines() {
        let t = line.trim_start();
        let active = stack.last().map(|&(p, b)| p && b).unwrap_or(true);
        if let Some(cond) = t.strip_prefix("//#if ") {
            let cond = cond.trim();
            let (neg, name) = match cond.strip_prefix('!') {
                Some(n) => (true, n),
                None => (false, cond),
            };
            stack.push((active, defines.contains(&name) != neg));
        } else if t.starts_with("//#else") {
            if let Some(top) = stack.last_mut() {
                top.1 = !top.1;
            }
        } else if t.starts_with("//#endif") {
            stack.pop();
        } else if active {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// A one-value channel whose receiver is a future: map_async's callback completes it.
fn oneshot() -> (Sender, Receiver) {
    let slot = Arc::new(Mutex::new((None, None)));
    (Sender(slot.clone()), Receiver(slot))
}
type Slot = Arc<Mutex<(Option<bool>, Option<Waker>)>>;
struct Sender(Slot);
struct Receiver(Slot);
impl Sender {
    fn send(self, v: bool) {
        if let Ok(mut s) = self.0.lock() {
            s.0 = Some(v);
            if let Some(w) = s.1.take() {
                w.wake();
            }
        }
    }
}
impl Future for Receiver {
    type Output = bool;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<bool> {
        match self.0.lock() {
            Ok(mut s) => match s.0 {
                Some(v) => Poll::Ready(v),
                None => {
                    s.1 = Some(cx.waker().clone());
                    Poll::Pending
                }
            },
            Err(_) => Poll::Ready(false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::preprocess;

    #[test]
    fn comments_are_stripped_but_directives_kept() {
        const S: &str = "a // kept\n  // dropped\n//#if V\n\t//\nb";
        let (buf, n) = super::strip_comments::<{ S.len() }>(S);
        assert_eq!(std::str::from_utf8(&buf[..n]), Ok("a // kept\n//#if V\nb"));
        assert!(super::wgsl!("gemm.wgsl").contains("fn main"));
        assert!(!super::wgsl!("gemm.wgsl").contains("// "));
    }

    #[test]
    fn preprocess_selects_branches() {
        let src = "a\n//#if V\nb\n//#else\nc\n//#endif\n//#if !V\nd\n//#endif\ne";
        assert_eq!(preprocess(src, &["V"]), "a\nb\ne\n");
        assert_eq!(preprocess(src, &[]), "a\nc\nd\ne\n");
    }
}
