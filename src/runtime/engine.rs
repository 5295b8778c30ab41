//! Which device runs a model, and the one `run` that callers (CLI, page, benches) use.
//!
//! Why a layer above the executor: the GPU path is asynchronous (a browser readback is a
//! promise) and runs whole graphs, while the CPU [`Session`] is synchronous; the choice
//! between them, the reason for it, the nodes the GPU handed to the CPU and the retry on
//! the CPU after a lost device all belong in one place, so that the CLI and the page report
//! the same thing. Without the `gpu` feature this is a thin wrapper over the CPU session.

use std::sync::{Mutex, OnceLock};

use super::executor::Session;
use super::tensor::Tensor;
use crate::error::{Error, Result};
use crate::model::Model;

/// Which device the user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DevicePref {
    /// The GPU when there is an adapter and it has a kernel for every node, else the CPU.
    #[default]
    Auto,
    Cpu,
    /// The GPU, with the nodes it has no kernel for on the CPU.
    Gpu,
}

impl std::str::FromStr for DevicePref {
    type Err = Error;
    fn from_str(s: &str) -> Result<DevicePref> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" | "" => Ok(DevicePref::Auto),
            "cpu" => Ok(DevicePref::Cpu),
            "gpu" | "webgpu" => Ok(DevicePref::Gpu),
            other => Err(Error::InvalidArgument(format!("unknown device '{other}': expected auto, cpu or gpu"))),
        }
    }
}

/// Which device ran, why, and what it handed elsewhere: the report's `device*` keys.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DeviceInfo {
    /// "gpu" or "cpu": where the batches ran (the last batch, after any CPU retry).
    pub device: String,
    /// Why that device (adapter, coverage, the user's choice, a lost device).
    pub reason: String,
    /// The GPU adapter's name, when one was used.
    pub adapter: Option<String>,
    /// One line per node that ran on the CPU although the GPU ran the model, and per retry.
    pub notes: Vec<String>,
}

/// A compiled model on the chosen device.
pub struct Engine {
    cpu: OnceLock<Session>,
    #[cfg(feature = "gpu")]
    gpu: Option<super::gpu::GpuSession>,
    state: Mutex<DeviceInfo>,
    inputs: Vec<String>,
    outputs: Vec<String>,
    class_labels: Option<Vec<String>>,
}

impl Engine {
    /// The CPU executor only.
    pub fn cpu(model: &Model, reason: &str) -> Result<Engine> {
        let s = Session::new(model)?;
        let info = DeviceInfo { device: "cpu".into(), reason: reason.into(), adapter: None, notes: Vec::new() };
        let (inputs, outputs, class_labels) = (s.input_names(), s.output_names(), s.class_labels.clone());
        let cpu = OnceLock::new();
        let _ = cpu.set(s);
        Ok(Engine {
            cpu,
            #[cfg(feature = "gpu")]
            gpu: None,
            state: Mutex::new(info),
            inputs,
            outputs,
            class_labels,
        })
    }

    /// Compiles `model` for the device `pref` picks (see [`DevicePref`]).
    pub async fn new(model: &Model, pref: DevicePref) -> Result<Engine> {
        #[cfg(feature = "gpu")]
        {
            let sel = match super::gpu::select(pref, model).await {
                Ok(sel) => sel,
                // Forced but absent: the CPU runs it, and the report says why.
                Err(e @ Error::GpuUnavailable(_)) => return Engine::cpu(model, &format!("CPU: {e}")),
                Err(e) => return Err(e),
            };
            if let Some(g) = sel.session {
                let info = DeviceInfo {
                    device: "gpu".into(),
                    reason: sel.reason,
                    adapter: Some(g.gpu().summary().name.clone()),
                    notes: g.notes(),
                };
                return Ok(Engine {
                    cpu: OnceLock::new(),
                    inputs: g.input_names().to_vec(),
                    outputs: g.output_names().to_vec(),
                    class_labels: g.class_labels.clone(),
                    gpu: Some(g),
                    state: Mutex::new(info),
                });
            }
            Engine::cpu(model, &sel.reason)
        }
        #[cfg(not(feature = "gpu"))]
        match pref {
            DevicePref::Gpu => Err(Error::GpuUnavailable("this build of webeval has no GPU support".into())),
            _ => Engine::cpu(model, "CPU: this build of webeval has no GPU support"),
        }
    }

    #[cfg(not(target_arch = "wasm32"))]
    pub fn new_blocking(model: &Model, pref: DevicePref) -> Result<Engine> {
        block_on(Engine::new(model, pref))
    }

    pub fn input_names(&self) -> &[String] {
        &self.inputs
    }
    pub fn output_names(&self) -> &[String] {
        &self.outputs
    }
    /// Class labels declared by a scikit-learn classifier node, if any.
    pub fn class_labels(&self) -> Option<&[String]> {
        self.class_labels.as_deref()
    }

    /// Which device runs, why, and the notes so far.
    pub fn info(&self) -> DeviceInfo {
        let info = self.state.lock().map(|s| s.clone()).unwrap_or_else(|p| p.into_inner().clone());
        #[cfg(feature = "gpu")]
        if let (Some(g), "gpu") = (&self.gpu, info.device.as_str()) {
            return DeviceInfo { notes: g.notes(), ..info };
        }
        info
    }

    /// Runs one batch on the chosen device. If the GPU fails (device lost, a kernel rejected,
    /// a buffer over its limits) the batch is rerun on the CPU, which then runs the rest.
    pub async fn run(&self, model: &Model, feeds: Vec<(String, Tensor)>) -> Result<Vec<(String, Tensor)>> {
        #[cfg(feature = "gpu")]
        if let Some(g) = &self.gpu {
            if self.info().device == "gpu" {
                match g.run_tensors(feeds.clone()).await {
                    Ok(out) => return Ok(out),
                    Err(e @ (Error::GpuDeviceLost(_) | Error::Gpu(_) | Error::GpuLimit { .. })) => {
                        if let Ok(mut s) = self.state.lock() {
                            s.notes = g.notes();
                            s.notes.push(format!("the GPU failed ({e}); this batch and the rest ran on the CPU"));
                            s.reason = format!("{}; then the GPU failed and the CPU took over", s.reason);
                            s.device = "cpu".into();
                        }
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        if self.cpu.get().is_none() {
            let _ = self.cpu.set(Session::new(model)?);
        }
        let cpu = self.cpu.get().ok_or_else(|| Error::Runtime("the CPU runtime did not compile".into()))?;
        cpu.run(feeds)
    }
}

/// Drives a future on the calling thread: natively it blocks; code that never waits (the
/// CPU executor) completes on the first poll on any target.
pub fn block_on<F: std::future::Future>(fut: F) -> F::Output {
    #[cfg(all(feature = "gpu", not(target_arch = "wasm32")))]
    {
        pollster::block_on(fut)
    }
    #[cfg(not(all(feature = "gpu", not(target_arch = "wasm32"))))]
    {
        let mut fut = std::pin::pin!(fut);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        loop {
            if let std::task::Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
                return v;
            }
        }
    }
}
