//! The GPU lesson's device: a CUDA GPU when this machine has one, else the CPU with rayon.
//!
//! [`Device::detect`] finds out at run time whether a CUDA driver, a device and the NVRTC
//! compiler are there (through `cudarc`, built with dynamic loading, so nothing CUDA is
//! needed to build this crate). Each job ([`Device::double`], [`Device::elementwise`],
//! [`Device::sum`]) then runs as a CUDA C kernel compiled by NVRTC, or as the same
//! computation with rayon's `par_iter` on every CPU thread, and gives the same numbers.
//!
//! Why a small wrapper instead of teaching cudarc's API in the cells: the lesson is about what
//! a GPU does (many small identical jobs, copies to and from its memory, a reduction in
//! steps with a barrier), and it must run everywhere; the wrapper keeps the "no GPU" branch in
//! one place, and shows the real CUDA C source ([`DOUBLE_SRC`], [`SUM_SRC`],
//! [`elementwise_source`]) the student would otherwise write beside cudarc's calls.
//!
//! ```
//! let device = multiproc::gpu::Device::detect();
//! println!("{}", device.describe());
//! assert_eq!(device.double(&[1.0, 2.5]), vec![2.0, 5.0]);
//! ```

use std::sync::Arc;

use cudarc::driver::{CudaContext, CudaStream, LaunchConfig, PushKernelArg};
use rayon::prelude::*;

/// CUDA C source of the kernel that doubles every element in place (one GPU thread each).
pub const DOUBLE_SRC: &str = r#"extern "C" __global__ void double_them(float *a, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;   // which element is mine?
    if (i < n) {
        a[i] = a[i] * 2.0f;
    }
}"#;

/// Threads per block of the sum kernel (a power of two: the halving loop needs it).
pub const SUM_BLOCK: u32 = 256;

/// CUDA C source of the reduction: each block of [`SUM_BLOCK`] threads adds its part in
/// shared memory, halving the number of busy threads each step (with a barrier,
/// `__syncthreads()`, between steps), and writes one partial sum; the host adds the partials.
pub const SUM_SRC: &str = r#"extern "C" __global__ void block_sums(const double *x, double *partial, int n) {
    __shared__ double s[256];
    int t = threadIdx.x;
    int i = blockIdx.x * blockDim.x + t;
    s[t] = (i < n) ? x[i] : 0.0;
    __syncthreads();
    for (int half = blockDim.x / 2; half > 0; half = half / 2) {
        if (t < half) {
            s[t] = s[t] + s[t + half];
        }
        __syncthreads();
    }
    if (t == 0) {
        partial[blockIdx.x] = s[0];
    }
}"#;

/// CUDA C source of an element-wise kernel computing `c[i] = expr` where `expr` uses `a` and
/// `b` (this element of each input), e.g. `"a * b + 1.0f"`.
///
/// ```
/// let src = multiproc::gpu::elementwise_source("a + b");
/// assert!(src.contains("c[i] = a + b;"));
/// ```
pub fn elementwise_source(expr: &str) -> String {
    format!(
        "extern \"C\" __global__ void elementwise(const float *xa, const float *xb, float *c, int n) {{\n    \
         int i = blockIdx.x * blockDim.x + threadIdx.x;\n    \
         if (i < n) {{\n        float a = xa[i];\n        float b = xb[i];\n        c[i] = {expr};\n    }}\n}}"
    )
}

/// Where the jobs run: a CUDA GPU, or the CPU's threads (with the reason there is no GPU).
pub struct Device {
    cuda: Option<Cuda>,
    why_cpu: String,
}

struct Cuda {
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
}

impl Device {
    /// The first CUDA device if there is one that can compile and run a kernel, else the CPU.
    /// Never fails: whatever is missing (driver, device, NVRTC) becomes the CPU's reason.
    ///
    /// ```
    /// let device = multiproc::gpu::Device::detect();
    /// assert!(device.describe().len() > 10);
    /// ```
    pub fn detect() -> Device {
        // cudarc panics when a library it needs cannot be loaded; ask first, and catch any
        // other panic so a half-installed CUDA still leaves a working (CPU) device.
        match std::panic::catch_unwind(try_cuda) {
            Ok(Ok(cuda)) => Device { cuda: Some(cuda), why_cpu: String::new() },
            Ok(Err(why)) => Device { cuda: None, why_cpu: why },
            Err(_) => Device { cuda: None, why_cpu: "the CUDA libraries could not be used".into() },
        }
    }

    /// The CPU, even when there is a GPU (to time one against the other).
    ///
    /// ```
    /// assert!(!multiproc::gpu::Device::cpu().is_gpu());
    /// ```
    pub fn cpu() -> Device {
        Device { cuda: None, why_cpu: "asked for the CPU".into() }
    }

    /// `true` when the jobs run on a CUDA GPU.
    ///
    /// ```
    /// let _on_gpu = multiproc::gpu::Device::detect().is_gpu();
    /// ```
    pub fn is_gpu(&self) -> bool {
        self.cuda.is_some()
    }

    /// The device's name: the GPU's (`"NVIDIA H200"`) or `"CPU (N threads)"`.
    ///
    /// ```
    /// assert!(multiproc::gpu::Device::cpu().name().starts_with("CPU ("));
    /// ```
    pub fn name(&self) -> String {
        match &self.cuda {
            Some(c) => c.ctx.name().unwrap_or_else(|_| "CUDA device".into()),
            None => format!("CPU ({} threads)", rayon::current_num_threads()),
        }
    }

    /// One line for the device query: the GPU's name, compute capability and memory, or
    /// `no CUDA device found: running on the CPU (N threads)`.
    ///
    /// ```
    /// let line = multiproc::gpu::Device::cpu().describe();
    /// assert!(line.contains("running on the CPU"));
    /// ```
    pub fn describe(&self) -> String {
        match &self.cuda {
            Some(c) => {
                let (major, minor) = c.ctx.compute_capability().unwrap_or((0, 0));
                let gib = c.ctx.total_mem().unwrap_or(0) as f64 / (1u64 << 30) as f64;
                let count = CudaContext::device_count().unwrap_or(1);
                format!("CUDA device 0 of {count}: {}, compute capability {major}.{minor}, {gib:.0} GiB", self.name())
            }
            None => format!("{}: running on the {}", self.why_cpu, self.name()),
        }
    }

    /// Every element times two (the Cookbook's first kernel, [`DOUBLE_SRC`]).
    ///
    /// ```
    /// let device = multiproc::gpu::Device::cpu();
    /// assert_eq!(device.double(&[0.5, -3.0]), vec![1.0, -6.0]);
    /// ```
    pub fn double(&self, a: &[f32]) -> Vec<f32> {
        self.on_gpu_or_cpu("double", |c| c.double(a), || a.par_iter().map(|x| x * 2.0).collect())
    }

    /// `c[i] = f(a[i], b[i])` for every `i`: on a GPU the CUDA C expression `cuda_expr`
    /// (see [`elementwise_source`]), on the CPU the Rust closure `cpu` (write the same formula
    /// twice). Panics if `a` and `b` differ in length.
    ///
    /// ```
    /// let device = multiproc::gpu::Device::detect();
    /// let c = device.elementwise("a * b + 1.0f", |a, b| a * b + 1.0, &[1.0, 2.0], &[3.0, 4.0]);
    /// assert_eq!(c, vec![4.0, 9.0]);
    /// ```
    pub fn elementwise(&self, cuda_expr: &str, cpu: impl Fn(f32, f32) -> f32 + Sync, a: &[f32], b: &[f32]) -> Vec<f32> {
        assert_eq!(a.len(), b.len(), "elementwise needs two inputs of the same length");
        self.on_gpu_or_cpu("elementwise", |c| c.elementwise(cuda_expr, a, b), || a.par_iter().zip(b).map(|(x, y)| cpu(*x, *y)).collect())
    }

    /// The sum of all elements (a reduction, [`SUM_SRC`] on a GPU). `f64`, so that whole
    /// numbers below 2^53 add up exactly in whatever order the threads combine them.
    ///
    /// ```
    /// let xs: Vec<f64> = (1..=10_000).map(f64::from).collect();
    /// assert_eq!(multiproc::gpu::Device::detect().sum(&xs), 50_005_000.0);
    /// ```
    pub fn sum(&self, x: &[f64]) -> f64 {
        self.on_gpu_or_cpu("sum", |c| c.sum(x), || x.par_iter().sum())
    }

    /// Runs `gpu` on the GPU if there is one; on a GPU error says so in one line and runs `cpu`.
    fn on_gpu_or_cpu<T>(&self, job: &str, gpu: impl FnOnce(&Cuda) -> Result<T, String>, cpu: impl FnOnce() -> T) -> T {
        if let Some(c) = &self.cuda {
            match gpu(c) {
                Ok(v) => return v,
                Err(e) => eprintln!("GPU {job} failed ({e}): running it on the CPU"),
            }
        }
        cpu()
    }
}

/// The first device, or why not (checked in the order a student would install things).
fn try_cuda() -> Result<Cuda, String> {
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
    let ctx = CudaContext::new(0).map_err(|e| format!("CUDA device 0 could not be opened ({e})"))?;
    let stream = ctx.default_stream();
    let cuda = Cuda { ctx, stream };
    // A first tiny job proves that NVRTC's code runs on this driver.
    match cuda.double(&[1.5]) {
        Ok(v) if v == [3.0] => Ok(cuda),
        Ok(v) => Err(format!("a CUDA device that doubled 1.5 into {v:?}")),
        Err(e) => Err(format!("a CUDA device that could not run a kernel ({e})")),
    }
}

fn launch_config(n: usize) -> Result<(LaunchConfig, i32), String> {
    let n32 = i32::try_from(n).map_err(|_| format!("{n} elements are more than one launch handles here"))?;
    Ok((LaunchConfig::for_num_elems(n32 as u32), n32))
}

impl Cuda {
    /// NVRTC compiles `src` to PTX, the driver loads it: the analogue of PyCUDA's `SourceModule`.
    fn function(&self, src: &str, name: &str) -> Result<cudarc::driver::CudaFunction, String> {
        let ptx = cudarc::nvrtc::compile_ptx(src).map_err(|e| format!("NVRTC: {e}"))?;
        let module = self.ctx.load_module(ptx).map_err(|e| e.to_string())?;
        module.load_function(name).map_err(|e| e.to_string())
    }

    fn double(&self, a: &[f32]) -> Result<Vec<f32>, String> {
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

    fn elementwise(&self, expr: &str, a: &[f32], b: &[f32]) -> Result<Vec<f32>, String> {
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

    fn sum(&self, x: &[f64]) -> Result<f64, String> {
        if x.is_empty() {
            return Ok(0.0);
        }
        let f = self.function(SUM_SRC, "block_sums")?;
        let (_, n) = launch_config(x.len())?;
        let blocks = x.len().div_ceil(SUM_BLOCK as usize);
        let cfg = LaunchConfig { grid_dim: (blocks as u32, 1, 1), block_dim: (SUM_BLOCK, 1, 1), shared_mem_bytes: 0 };
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
