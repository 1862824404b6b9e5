//! The GPU lesson's device: a CUDA GPU when this machine has one, else the CPU with rayon.
//!
//! [`Device::detect`] finds out at run time whether a CUDA driver, a device and the NVRTC
//! compiler are there (through `cudarc`, built with dynamic loading, so nothing CUDA is
//! needed to build this crate; only with the crate's `cuda` feature, see `gpu/cuda.rs`). Each job ([`Device::double`], [`Device::elementwise`],
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
//! let device = gpu::Device::detect();
//! println!("{}", device.describe());
//! assert_eq!(device.double(&[1.0, 2.5]), vec![2.0, 5.0]);
//! ```

use rayon::prelude::*;

mod cuda;
use cuda::Cuda;

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
/// let src = gpu::elementwise_source("a + b");
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

impl Device {
    /// The first CUDA device if there is one that can compile and run a kernel, else the CPU.
    /// Never fails: whatever is missing (driver, device, NVRTC) becomes the CPU's reason.
    ///
    /// ```
    /// let device = gpu::Device::detect();
    /// assert!(device.describe().len() > 10);
    /// ```
    pub fn detect() -> Device {
        // cudarc panics when a library it needs cannot be loaded; ask first, and catch any
        // other panic so a half-installed CUDA still leaves a working (CPU) device.
        match std::panic::catch_unwind(cuda::open) {
            Ok(Ok(cuda)) => Device { cuda: Some(cuda), why_cpu: String::new() },
            Ok(Err(why)) => Device { cuda: None, why_cpu: why },
            Err(_) => Device { cuda: None, why_cpu: "the CUDA libraries could not be used".into() },
        }
    }

    /// The CPU, even when there is a GPU (to time one against the other).
    ///
    /// ```
    /// assert!(!gpu::Device::cpu().is_gpu());
    /// ```
    pub fn cpu() -> Device {
        Device { cuda: None, why_cpu: "asked for the CPU".into() }
    }

    /// `true` when the jobs run on a CUDA GPU.
    ///
    /// ```
    /// let _on_gpu = gpu::Device::detect().is_gpu();
    /// ```
    pub fn is_gpu(&self) -> bool {
        self.cuda.is_some()
    }

    /// The device's name: the GPU's (`"NVIDIA H200"`) or `"CPU (N threads)"`.
    ///
    /// ```
    /// assert!(gpu::Device::cpu().name().starts_with("CPU ("));
    /// ```
    pub fn name(&self) -> String {
        match &self.cuda {
            Some(c) => c.name(),
            None => format!("CPU ({} threads)", rayon::current_num_threads()),
        }
    }

    /// One line for the device query: the GPU's name, compute capability and memory, or
    /// `no CUDA device found: running on the CPU (N threads)`.
    ///
    /// ```
    /// let line = gpu::Device::cpu().describe();
    /// assert!(line.contains("running on the CPU"));
    /// ```
    pub fn describe(&self) -> String {
        match &self.cuda {
            Some(c) => c.describe(),
            None => format!("{}: running on the {}", self.why_cpu, self.name()),
        }
    }

    /// Every element times two (the Cookbook's first kernel, [`DOUBLE_SRC`]).
    ///
    /// ```
    /// let device = gpu::Device::cpu();
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
    /// let device = gpu::Device::detect();
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
    /// assert_eq!(gpu::Device::detect().sum(&xs), 50_005_000.0);
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

