//! lesson 30's device: `detect` never fails, and the CPU path (and the GPU path, where this
//! runs on a machine with CUDA) gives the exact numbers.

use gpu::{Device, elementwise_source, DOUBLE_SRC, SUM_SRC};

fn both() -> Vec<Device> {
    vec![Device::detect(), Device::cpu()]
}

#[test]
fn detect_gives_a_device_and_one_line() {
    let d = Device::detect();
    let line = d.describe();
    assert_eq!(line.lines().count(), 1, "{line}");
    if !d.is_gpu() {
        assert!(line.ends_with(&format!("running on the CPU ({} threads)", rayon::current_num_threads())), "{line}");
    }
}

#[test]
fn cpu_is_named_with_its_threads() {
    let d = Device::cpu();
    assert!(!d.is_gpu());
    assert_eq!(d.name(), format!("CPU ({} threads)", rayon::current_num_threads()));
}

#[test]
fn double_doubles_every_element() {
    let m: Vec<f32> = (0..25).map(|i| i as f32 - 7.5).collect();
    let want: Vec<f32> = m.iter().map(|x| x * 2.0).collect();
    for d in both() {
        assert_eq!(d.double(&m), want, "{}", d.describe());
        assert!(d.double(&[]).is_empty());
    }
}

#[test]
fn elementwise_applies_the_formula_to_each_pair() {
    let a: Vec<f32> = (0..1000).map(|i| i as f32).collect();
    let b: Vec<f32> = (0..1000).map(|i| (i % 7) as f32).collect();
    let want: Vec<f32> = a.iter().zip(&b).map(|(x, y)| x * y + 1.0).collect();
    for d in both() {
        assert_eq!(d.elementwise("a * b + 1.0f", |a, b| a * b + 1.0, &a, &b), want);
    }
}

#[test]
#[should_panic(expected = "same length")]
fn elementwise_refuses_inputs_of_different_lengths() {
    Device::cpu().elementwise("a + b", |a, b| a + b, &[1.0], &[1.0, 2.0]);
}

#[test]
fn sum_is_exact_for_whole_numbers_over_many_blocks() {
    for n in [0u32, 1, 255, 256, 257, 10_000, 1_000_003] {
        let xs: Vec<f64> = (1..=n).map(f64::from).collect();
        let want = f64::from(n) * (f64::from(n) + 1.0) / 2.0;
        for d in both() {
            assert_eq!(d.sum(&xs), want, "n = {n}");
        }
    }
}

#[test]
fn kernel_sources_are_cuda_c_with_the_names_the_launches_use() {
    assert!(DOUBLE_SRC.contains("__global__ void double_them(float *a, int n)"));
    assert!(SUM_SRC.contains("__global__ void block_sums(") && SUM_SRC.contains("__syncthreads()"));
    assert!(SUM_SRC.contains(&format!("s[{}]", gpu::SUM_BLOCK)));
    assert!(elementwise_source("a - b").contains("__global__ void elementwise(") );
}

#[cfg(not(feature = "cuda"))]
#[test]
fn without_the_cuda_feature_the_device_says_why_it_is_the_cpu() {
    let d = Device::detect();
    assert!(!d.is_gpu());
    assert!(d.describe().starts_with("no CUDA support in this build"), "{}", d.describe());
}
