//! The CUDA half of [`super::Device`], compiled only with multiproc's `cuda` feature.
//!
//! Why a feature: with cudarc in the support crate's graph every cell of every lesson compiles
//! and links measurably slower (numbers in `support-crate/Cargo.toml`). Without the feature,
//! `open` says so and the lesson runs on the CPU.

#[cfg(feature = "cuda")]
pub(super) use with_cuda::*;
#[cfg(not(feature = "cuda"))]
pub(super) use without_cuda::*;

#[cfg(not(feature = "cuda"))]
mod without_cuda {
    /// Never built: with no CUDA support there is no CUDA device value.
    pub enum Cuda {}

    pub fn open() -> Result<Cuda, String> {
        Err("no CUDA support in this build (multiproc's `cuda` feature is off)".into())
    }

    impl Cuda {
        pub fn name(&self) -> String {
            match *self {}
        }
        pub fn describe(&self) -> String {
            match *self {}
        }
        pub fn double(&self, _: &[f32]) -> Result<Vec<f32>, String> {
            match *self {}
        }
        pub fn elementwise(&self, _: &str, _: &[f32], _: &[f32]) -> Result<Vec<f32>, String> {
            match *self {}
        }
        pub fn sum(&self, _: &[f64]) -> Result<f64, String> {
            match *self {}
        }
    }
}

#[cfg(feature = "cuda")]
mod with_cuda {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    use cudarc::driver::{CudaContext, CudaStream, LaunchConfig, PushKernelArg};

    use super::super::{DOUBLE_SRC, SUM_BLOCK, SUM_SRC, elementwise_source};

    pub struct Cuda {
        ctx: Arc<CudaContext>,
        stream: Arc<CudaStream>,
        /// Kernels already compiled, by source: NVRTC runs once per kernel, not once per call.
        compiled: Mutex<HashMap<String, cudarc::driver::CudaFunction>>,
    }

    /// The first device, or why not (checked in the order a student would install things).
    pub fn open() -> Result<Cuda, String> {
        let none = || "no CUDA device found".to_string();
        // SAFETY: both only try to open the shared library (dlopen) and close it again.
        if !unsafe { cudarc::driver::sys::is_culib_present() } {
            return Err(none());
        }
        match CudaContext::device_count() {
            Ok(n) if n > 0 => {}
            _ => return Err(none()),
        }
        if !unsafe { cudarc::nvrtc::sys::is_culib_present() } {
            return Err("a CUDA device but no NVRTC library (libnvrtc) found".into());
        }
        let ctx =
            CudaContext::new(0).map_err(|e| format!("CUDA device 0 could not be opened ({e})"))?;
        let stream = ctx.default_stream();
        let cuda = Cuda {
            ctx,
            stream,
            compiled: Mutex::new(HashMap::new()),
        };
        // A first tiny job proves that NVRTC's code runs on this driver.
        match cuda.double(&[1.5]) {
            Ok(v) if v == [3.0] => Ok(cuda),
            Ok(v) => Err(format!("a CUDA device that doubled 1.5 into {v:?}")),
            Err(e) => Err(format!("a CUDA device that could not run a kernel ({e})")),
        }
    }

    fn launch_config(n: usize) -> Result<(LaunchConfig, i32), String> {
        let n32 = i32::try_from(n)
            .map_err(|_| format!("{n} elements are more than one launch handles here"))?;
        Ok((LaunchConfig::for_num_elems(n32 as u32), n32))
    }

    impl Cuda {
        pub fn name(&self) -> String {
            self.ctx.name().unwrap_or_else(|_| "CUDA device".into())
        }

        pub fn describe(&self) -> String {
            let (major, minor) = self.ctx.compute_capability().unwrap_or((0, 0));
            let gib = self.ctx.total_mem().unwrap_or(0) as f64 / (1u64 << 30) as f64;
            let count = CudaContext::device_count().unwrap_or(1);
            format!(
                "CUDA device 0 of {count}: {}, compute capability {major}.{minor}, {gib:.0} GiB",
                self.name()
            )
        }

        /// NVRTC compiles `src` to PTX, the driver loads it: the analogue of PyCUDA's `SourceModule`.
        fn function(&self, src: &str, name: &str) -> Result<cudarc::driver::CudaFunction, String> {
            let mut compiled = self.compiled.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(f) = compiled.get(src) {
                return Ok(f.clone());
            }
            let ptx = cudarc::nvrtc::compile_ptx(src).map_err(|e| format!("NVRTC: {e}"))?;
            let module = self.ctx.load_module(ptx).map_err(|e| e.to_string())?;
            let f = module.load_function(name).map_err(|e| e.to_string())?;
            compiled.insert(src.to_string(), f.clone());
            Ok(f)
        }

        pub fn double(&self, a: &[f32]) -> Result<Vec<f32>, String> {
            if a.is_empty() {
                return Ok(Vec::new());
            }
            let f = self.function(DOUBLE_SRC, "double_them")?;
            let (cfg, n) = launch_config(a.len())?;
            let s = &self.stream;
            let mut dev = s.clone_htod(a).map_err(|e| e.to_string())?;
            let mut launch = s.launch_builder(&f);
            launch.arg(&mut dev).arg(&n);
            // SAFETY: the kernel's parameters are (float*, int), as pushed; it writes only a[0..n).
            unsafe { launch.launch(cfg) }.map_err(|e| e.to_string())?;
            let out = s.clone_dtoh(&dev).map_err(|e| e.to_string())?;
            s.synchronize().map_err(|e| e.to_string())?;
            Ok(out)
        }

        pub fn elementwise(&self, expr: &str, a: &[f32], b: &[f32]) -> Result<Vec<f32>, String> {
            if a.is_empty() {
                return Ok(Vec::new());
            }
            let f = self.function(&elementwise_source(expr), "elementwise")?;
            let (cfg, n) = launch_config(a.len())?;
            let s = &self.stream;
            let da = s.clone_htod(a).map_err(|e| e.to_string())?;
            let db = s.clone_htod(b).map_err(|e| e.to_string())?;
            let mut dc = s.alloc_zeros::<f32>(a.len()).map_err(|e| e.to_string())?;
            let mut launch = s.launch_builder(&f);
            launch.arg(&da).arg(&db).arg(&mut dc).arg(&n);
            // SAFETY: parameters (const float*, const float*, float*, int) as pushed, all n long.
            unsafe { launch.launch(cfg) }.map_err(|e| e.to_string())?;
            let out = s.clone_dtoh(&dc).map_err(|e| e.to_string())?;
            s.synchronize().map_err(|e| e.to_string())?;
            Ok(out)
        }

        pub fn sum(&self, x: &[f64]) -> Result<f64, String> {
            if x.is_empty() {
                return Ok(0.0);
            }
            let f = self.function(SUM_SRC, "block_sums")?;
            let (_, n) = launch_config(x.len())?;
            let blocks = x.len().div_ceil(SUM_BLOCK as usize);
            let cfg = LaunchConfig {
                grid_dim: (blocks as u32, 1, 1),
                block_dim: (SUM_BLOCK, 1, 1),
                shared_mem_bytes: 0,
            };
            let s = &self.stream;
            let dx = s.clone_htod(x).map_err(|e| e.to_string())?;
            let mut partial = s.alloc_zeros::<f64>(blocks).map_err(|e| e.to_string())?;
            let mut launch = s.launch_builder(&f);
            launch.arg(&dx).arg(&mut partial).arg(&n);
            // SAFETY: parameters (const double*, double*, int) as pushed; one partial per block.
            unsafe { launch.launch(cfg) }.map_err(|e| e.to_string())?;
            let partials = s.clone_dtoh(&partial).map_err(|e| e.to_string())?;
            s.synchronize().map_err(|e| e.to_string())?;
            Ok(partials.iter().sum())
        }
    }
}
