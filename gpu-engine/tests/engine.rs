//! Integration tests of gpu-engine on a real Vulkan device (llvmpipe in CI).
//!
//! Module map:
//! - `support`: opening the device; a missing device skips, unless GRIDMINT_REQUIRE_VULKAN=1
//!   (set by `make test`) turns the skip into a failure.
//! - `devices`: enumeration and class probing.
//! - `gemm`: the GEMM kernel against the CPU reference, bit for bit.
//! - `determinism`, `bandwidth`: the suite's cases and the copy kernel.
//! - `rows`, `elementwise`: unary, softmax, layer norm, row sums; binary ops, gather, transpose.
//! - `control`: pause, resume, cancel and progress of multi-dispatch runs.
//! - `external`: buyer kernels in WGSL / SPIR-V through naga.
//! - `attention`: batched multi-head attention against its CPU twin, padding invariance.
//! - `workloads`: the sentence encoder against its CPU twin in any batch; MLP training learns and
//!   repeats bit for bit.
//! - `challenge`: a device challenge answered on the device is the CPU's answer, bit for bit; its
//!   sampled rows open and check; a fill over the device's memory is refused before it allocates.
//! - `recovery`: a lost device is reopened and the work repeated; an overrun one takes no more work.
//! - `hostile_input`: safetensors headers of any claim parsed or refused, never a panic.
//! - `decoder`: a GPT-2 written by transformers (scripts/reference/gpt2.py) loads, and the
//!   decoder's CPU twin gives transformers' logits and greedy tokens.
//! - `decoder_device`: the decoder on the device (prefill, decode over the key-value cache, greedy
//!   generation of a batch, sampled generation in slots) against its CPU twin, bit for bit.
//! - `finetune`: the backward kernels and AdamW against their CPU twins; fine-tuning a small
//!   seeded encoder on the device gives its twin's losses and weights, bit for bit; a run resumed
//!   from its state as files gives the uninterrupted run's bits; bad batches and options refused,
//!   the learning-rate schedule.
//! - `llama`: Llama and Qwen2 checkpoints written by transformers (scripts/reference/lm_job.py):
//!   the CPU twin gives transformers' logits and greedy tokens, the device its twin's bits.

mod support {
    use gpu_engine::{DeviceChoice, Gpu, GpuOptions, Vulkan};

    /// Opens the best device, or explains why the test is skipped.
    pub fn gpu() -> Option<Gpu> {
        gpu_with(GpuOptions::default())
    }

    pub fn gpu_with(options: GpuOptions) -> Option<Gpu> {
        let required = std::env::var("GRIDMINT_REQUIRE_VULKAN").is_ok_and(|v| v == "1");
        let opened = Vulkan::load().and_then(|vk| Gpu::open(&vk, DeviceChoice::Best, options));
        match opened {
            Ok(gpu) => Some(gpu),
            Err(e) if !required => {
                eprintln!("SKIPPED: no Vulkan device ({e})");
                None
            }
            Err(e) => panic!("GRIDMINT_REQUIRE_VULKAN=1 but no Vulkan device could be opened: {e}"),
        }
    }

    /// `n` seeded values of every kind (zeros, negatives, large and tiny magnitudes), canonical.
    pub fn mixed(seed: u64, n: usize) -> Vec<f32> {
        let mut v = gpu_engine::seeded::mixed(seed, n);
        gpu_engine::numeric::canonicalize_all(&mut v);
        v
    }

    /// First index where two float slices differ in bits, with both values.
    pub fn first_difference(got: &[f32], want: &[f32]) -> Option<(usize, f32, f32)> {
        got.iter().zip(want).enumerate().find(|(_, (g, w))| g.to_bits() != w.to_bits()).map(|(i, (g, w))| (i, *g, *w))
    }
}

mod devices {
    use gpu_engine::{ReproClass, Vulkan};

    #[test]
    fn enumeration_reports_names_drivers_and_limits() {
        let Some(gpu) = super::support::gpu() else { return };
        let devices = Vulkan::load().and_then(|vk| vk.devices()).expect("devices enumerate once a device opened");
        assert!(devices.iter().any(|d| d.name == gpu.info().name), "the opened device is in the list");
        for d in &devices {
            assert!(!d.name.is_empty(), "device {} has no name", d.index);
            assert!(d.api_version.starts_with("1."), "{}: Vulkan API {}", d.name, d.api_version);
            assert!(d.max_shared_memory_bytes >= 16 * 1024, "{}: Vulkan guarantees 16 KiB of shared memory", d.name);
        }
    }

    #[test]
    fn every_device_reproduces_the_unfused_class() {
        let Some(gpu) = super::support::gpu() else { return };
        assert!(gpu.supports(ReproClass::Unfused));
        assert_eq!(gpu.classes()[0], ReproClass::Unfused);
    }

    #[test]
    fn llvmpipe_does_not_claim_the_fused_class() {
        // determinism.md: llvmpipe computes fma() unfused. If this starts failing, a Mesa upgrade
        // changed that and the fused class gains a CPU driver: update determinism.md.
        let Some(gpu) = super::support::gpu() else { return };
        if gpu.info().name.contains("llvmpipe") {
            assert!(!gpu.supports(ReproClass::Fused), "llvmpipe claimed a fused fma");
        }
    }
}

mod gemm {
    use gpu_engine::{
        ReproClass,
        kernels::{
            Gemm,
            gemm::{GemmShape, GemmVariant},
        },
        reference,
    };

    use super::support::{first_difference, gpu, mixed};

    fn check(class: ReproClass, shape: GemmShape, seed: u64) {
        for variant in GemmVariant::ALL {
            check_variant(class, variant, shape, seed);
        }
    }

    fn check_variant(class: ReproClass, variant: GemmVariant, shape: GemmShape, seed: u64) {
        let Some(gpu) = gpu() else { return };
        if !gpu.supports(class) {
            eprintln!("SKIPPED: {} does not reproduce {}", gpu.info().name, class.as_str());
            return;
        }
        let GemmShape { m, n, k } = shape;
        let (a, b) = (mixed(seed, m * k), mixed(seed ^ 0xb, k * n));
        let want = reference::gemm(class, &a, &b, m, n, k);
        let kernel = Gemm::with_variant(&gpu, class, variant).expect("pipeline builds");
        let (ba, bb) = (gpu.upload(&a).expect("upload A"), gpu.upload(&b).expect("upload B"));
        let bc = gpu.output::<f32>((m * n) as u64).expect("allocate C");
        kernel.run(&gpu, &ba, &bb, &bc, shape).expect("GEMM runs");
        let got = gpu.download(&bc).expect("read C");
        if let Some((i, g, w)) = first_difference(&got, &want) {
            panic!(
                "{:?} {variant:?} GEMM {m}x{k} * {k}x{n} (seed {seed}) differs from the CPU reference at C[{}][{}]: gpu {g:e} ({:#010x}) cpu {w:e} ({:#010x})",
                class,
                i / n,
                i % n,
                g.to_bits(),
                w.to_bits()
            );
        }
    }

    /// Device-only buffers filled and read through staging buffers (what discrete GPUs use) hold
    /// the same bits as host-visible ones.
    #[test]
    fn staged_memory_gives_the_same_bits() {
        let Some(gpu) =
            super::support::gpu_with(gpu_engine::GpuOptions { staged_memory: Some(true), ..Default::default() })
        else {
            return;
        };
        assert!(gpu.staged_memory());
        // Ragged, then texel-shaped (K and N multiples of 4: device-only buffers viewed as texels).
        for (m, n, k) in [(65, 131, 47), (65, 132, 48)] {
            let (a, b) = (mixed(3, m * k), mixed(4, k * n));
            let (ba, bb) = (gpu.upload(&a).expect("upload A"), gpu.upload(&b).expect("upload B"));
            assert_eq!(gpu.download(&ba).expect("read A back"), a, "a staged round trip changes nothing");
            let bc = gpu.output::<f32>((m * n) as u64).expect("allocate C");
            let kernel = Gemm::new(&gpu, ReproClass::Unfused).expect("pipeline builds");
            kernel.run(&gpu, &ba, &bb, &bc, GemmShape { m, n, k }).expect("GEMM runs");
            let want = reference::gemm(ReproClass::Unfused, &a, &b, m, n, k);
            assert!(first_difference(&gpu.download(&bc).expect("read C"), &want).is_none(), "{m}x{k} * {k}x{n}");
        }
    }

    #[test]
    fn matches_reference_on_tile_multiples() {
        check(ReproClass::Unfused, GemmShape { m: 128, n: 64, k: 96 }, 1);
    }

    #[test]
    fn matches_reference_on_ragged_shapes() {
        // Sizes that are not multiples of the 64x64x16 or 128x128x8 tiles, including 1-wide edges.
        for (i, (m, n, k)) in
            [(1, 1, 1), (3, 130, 17), (65, 7, 33), (100, 100, 1), (31, 257, 70), (257, 131, 45)].into_iter().enumerate()
        {
            check(ReproClass::Unfused, GemmShape { m, n, k }, 100 + i as u64);
        }
    }

    #[test]
    fn matches_reference_on_random_shapes() {
        let mut rng = gpu_engine::seeded::SplitMix64::new(7);
        for case in 0..8 {
            let shape = GemmShape {
                m: 1 + rng.below(150) as usize,
                n: 1 + rng.below(150) as usize,
                k: 1 + rng.below(300) as usize,
            };
            check(ReproClass::Unfused, shape, 1000 + case);
        }
    }

    /// Shapes the texel layout takes (K and N multiples of 4): single texels, one run of columns
    /// short of a workgroup, workgroups past N and rows past M.
    #[test]
    fn matches_reference_where_texels_fit() {
        for (i, (m, n, k)) in
            [(1, 4, 4), (33, 8, 12), (70, 260, 36), (31, 516, 128), (65, 1028, 8)].into_iter().enumerate()
        {
            check(ReproClass::Unfused, GemmShape { m, n, k }, 200 + i as u64);
        }
    }

    /// A layout measured fastest for this device and driver (what the node stores after a
    /// benchmark) is the one `Gemm::new` builds in that class; one stored for another driver is not.
    #[test]
    fn a_measured_layout_for_this_device_and_driver_is_used() {
        let Some(plain) = gpu() else { return };
        let default = plain.gemm_layout(ReproClass::Unfused);
        assert_eq!(default, GemmVariant::for_device(&plain, ReproClass::Unfused), "nothing measured: the default");
        let other = if default == GemmVariant::Streaming { GemmVariant::Tiled } else { GemmVariant::Streaming };
        let choice = |driver: &str| gpu_engine::GemmLayoutChoice {
            device: plain.info().name.clone(),
            driver: driver.to_owned(),
            class: ReproClass::Unfused,
            layout: other,
        };
        let options =
            |driver: &str| gpu_engine::GpuOptions { gemm_layouts: vec![choice(driver)], ..Default::default() };
        let measured = super::support::gpu_with(options(&plain.info().driver_version)).expect("opens again");
        assert_eq!(measured.gemm_layout(ReproClass::Unfused), other);
        let kernel = Gemm::new(&measured, ReproClass::Unfused).expect("pipeline builds");
        assert_eq!(kernel.variant(), other);
        let stale = super::support::gpu_with(options("another driver")).expect("opens again");
        assert_eq!(stale.gemm_layout(ReproClass::Unfused), default, "measured under another driver: not used");
        assert_eq!(
            measured.gemm_layout(ReproClass::Fused),
            GemmVariant::for_device(&measured, ReproClass::Fused),
            "other classes keep theirs"
        );
    }

    /// Views that start mid-buffer: on a texel (16 bytes in) the texel layout reads them, off one it
    /// falls back to streaming (and the wide layout's 16-byte loads to its 4-byte ones); all give
    /// the reference's bits.
    #[test]
    fn matches_reference_on_views_into_larger_buffers() {
        let Some(gpu) = gpu() else { return };
        let (m, n, k) = (40, 68, 24);
        let (a, b) = (mixed(31, m * k), mixed(32, k * n));
        let want = reference::gemm(ReproClass::Unfused, &a, &b, m, n, k);
        for skip in [4u64, 1] {
            let pad = |x: &[f32]| [vec![7.0f32; skip as usize], x.to_vec()].concat();
            let ba = gpu.upload(&pad(&a)).expect("upload A").slice(skip..);
            let bb = gpu.upload(&pad(&b)).expect("upload B").slice(skip..);
            let bc = gpu.output::<f32>((m * n) as u64).expect("allocate C");
            let wide_vector = GemmVariant::Wide { depth: 8, stages: 1, vector: true };
            for variant in [GemmVariant::Texel, GemmVariant::Streaming, wide_vector] {
                let kernel = Gemm::with_variant(&gpu, ReproClass::Unfused, variant).expect("pipeline builds");
                kernel.run(&gpu, &ba, &bb, &bc, GemmShape { m, n, k }).expect("GEMM runs");
                let got = gpu.download(&bc).expect("read C");
                assert!(
                    first_difference(&got, &want).is_none(),
                    "{variant:?}, inputs {skip} floats into their buffers"
                );
            }
        }
    }

    /// A bias (and GELU) added as the texel layout stores C equals the GEMM followed by the
    /// row-broadcast add (and the GELU kernel), bit for bit; other layouts refuse to fuse.
    #[test]
    fn fused_bias_and_gelu_equal_the_separate_kernels() {
        use gpu_engine::kernels::{elementwise::BinaryOp, gemm::Epilogue};
        let Some(gpu) = gpu() else { return };
        let (m, n, k) = (37, 264, 20);
        let (a, b, bias) = (mixed(41, m * k), mixed(42, k * n), mixed(43, n));
        let biased =
            reference::binary(BinaryOp::Add, &reference::gemm(ReproClass::Unfused, &a, &b, m, n, k), &bias, n, true);
        let gelu = reference::unary(reference::UnaryOp::Gelu, &biased);
        let (ba, bb, bbias) =
            (gpu.upload(&a).expect("A"), gpu.upload(&b).expect("B"), gpu.upload(&bias).expect("bias"));
        let bc = gpu.output::<f32>((m * n) as u64).expect("C");
        let shape = GemmShape { m, n, k };
        let texel = Gemm::with_variant(&gpu, ReproClass::Unfused, GemmVariant::Texel).expect("pipeline builds");
        assert!(texel.fuses(&gpu, &ba, &bb, shape));
        for (epilogue, want) in [(Epilogue::Bias, &biased), (Epilogue::BiasGelu, &gelu)] {
            let mut rec = gpu.recorder().expect("recorder");
            texel.record_fused(&gpu, &mut rec, &ba, &bb, &bbias, epilogue, &bc, shape).expect("records");
            gpu.submit("fused gemm", rec).expect("runs");
            let got = gpu.download(&bc).expect("read C");
            if let Some((i, g, w)) = first_difference(&got, want) {
                panic!("{epilogue:?} differs at C[{}][{}]: {g:e} vs {w:e}", i / n, i % n);
            }
        }
        let stream = Gemm::with_variant(&gpu, ReproClass::Unfused, GemmVariant::Streaming).expect("pipeline builds");
        assert!(!stream.fuses(&gpu, &ba, &bb, shape));
        let mut rec = gpu.recorder().expect("recorder");
        let err =
            stream.record_fused(&gpu, &mut rec, &ba, &bb, &bbias, Epilogue::Bias, &bc, shape).expect_err("no epilogue");
        assert!(err.to_string().contains("cannot add a bias in the GEMM"), "{err}");
    }

    #[test]
    fn fused_class_matches_mul_add_where_supported() {
        check(ReproClass::Fused, GemmShape { m: 70, n: 90, k: 130 }, 9);
    }

    #[test]
    fn a_shape_that_does_not_match_the_buffers_is_an_error() {
        let Some(gpu) = gpu() else { return };
        let kernel = Gemm::new(&gpu, ReproClass::Unfused).expect("pipeline builds");
        let a = gpu.upload(&[1.0f32; 6]).expect("upload");
        let c = gpu.output::<f32>(4).expect("allocate");
        let err = kernel.run(&gpu, &a, &a, &c, GemmShape { m: 2, n: 2, k: 4 }).expect_err("A has 6, not 8");
        assert!(err.to_string().contains("A has 6 elements, expected 8"), "{err}");
        let err = kernel.run(&gpu, &a, &a, &c, GemmShape { m: 0, n: 2, k: 3 }).expect_err("M = 0");
        assert!(err.to_string().contains("M must be at least 1"), "{err}");
    }
}

mod determinism {
    use gpu_engine::bench::{determinism_reference, determinism_suite};

    #[test]
    fn the_device_prints_the_reference_hashes() {
        let Some(gpu) = super::support::gpu() else { return };
        let on_device = determinism_suite(&gpu).expect("suite runs");
        let reference = determinism_reference();
        assert_eq!(on_device.len(), reference.len());
        for (got, want) in on_device.iter().zip(&reference) {
            assert_eq!(got.name, want.name);
            if let Some(hash) = &got.hash {
                assert_eq!(Some(hash), want.hash.as_ref(), "{} differs from the CPU reference", got.name);
            }
        }
        assert!(on_device.iter().filter(|c| c.hash.is_some()).count() >= 6, "the unfused class always runs");
    }
}

mod bandwidth {
    #[test]
    fn copy_moves_every_value() {
        let Some(gpu) = super::support::gpu() else { return };
        let src: Vec<f32> = (0..4096).map(|i| i as f32).collect();
        let kernel = gpu_engine::kernels::copy::Copy::new(&gpu).expect("pipeline");
        let (s, d) = (gpu.upload(&src).expect("upload"), gpu.output::<f32>(4096).expect("alloc"));
        kernel.run(&gpu, &s, &d).expect("copy runs");
        assert_eq!(gpu.download(&d).expect("read"), src);
    }
}

mod rows {
    use gpu_engine::{
        kernels::rows::{LayerNormRows, RowsShape, SoftmaxRows, SumRows, Unary},
        numeric::canonicalize_all,
        reference::{self, UnaryOp},
        seeded::SplitMix64,
    };

    use super::support::{first_difference, gpu};

    fn values(seed: u64, n: usize, lo: f32, hi: f32) -> Vec<f32> {
        let mut rng = SplitMix64::new(seed);
        let mut v: Vec<f32> = (0..n).map(|_| rng.range(lo, hi)).collect();
        canonicalize_all(&mut v);
        v
    }

    fn same(what: &str, got: &[f32], want: &[f32]) {
        if let Some((i, g, w)) = first_difference(got, want) {
            panic!(
                "{what} differs from the CPU reference at {i}: gpu {g:e} ({:#010x}) cpu {w:e} ({:#010x})",
                g.to_bits(),
                w.to_bits()
            );
        }
    }

    #[test]
    fn unary_functions_match_the_reference() {
        let Some(gpu) = gpu() else { return };
        let cases = [
            (UnaryOp::Exp, -100.0, 90.0),
            (UnaryOp::Tanh, -12.0, 12.0),
            (UnaryOp::Gelu, -10.0, 10.0),
            (UnaryOp::GeluTanh, -10.0, 10.0),
            (UnaryOp::Silu, -100.0, 100.0),
            (UnaryOp::Recip, 1e-3, 1e6),
            (UnaryOp::Rsqrt, 1e-9, 1e9),
        ];
        for (i, (op, lo, hi)) in cases.into_iter().enumerate() {
            let x = values(50 + i as u64, 10_007, lo, hi);
            let kernel = Unary::new(&gpu, op).expect("pipeline");
            let (bx, by) = (gpu.upload(&x).expect("upload"), gpu.output::<f32>(x.len() as u64).expect("alloc"));
            kernel.run(&gpu, &bx, &by).expect("runs");
            same(&format!("{op:?}"), &gpu.download(&by).expect("read"), &reference::unary(op, &x));
        }
        // NaN and the infinities (a hostile model's overflowed scores reach exp): the same bits.
        let special = [f32::from_bits(0x7fc0_0000), f32::INFINITY, f32::NEG_INFINITY, 0.0, 1.0];
        for op in [UnaryOp::Exp, UnaryOp::Tanh, UnaryOp::Gelu, UnaryOp::GeluTanh, UnaryOp::Silu] {
            let kernel = Unary::new(&gpu, op).expect("pipeline");
            let (bx, by) = (gpu.upload(&special).expect("upload"), gpu.output::<f32>(5).expect("alloc"));
            kernel.run(&gpu, &bx, &by).expect("runs");
            same(
                &format!("{op:?} of NaN and infinities"),
                &gpu.download(&by).expect("read"),
                &reference::unary(op, &special),
            );
        }
    }

    #[test]
    fn softmax_rows_match_the_reference() {
        let Some(gpu) = gpu() else { return };
        for (rows, n, spread) in [(1, 1, 1.0), (7, 384, 30.0), (130, 33, 200.0)] {
            let x = values(rows as u64 * 31 + n as u64, rows * n, -spread, spread);
            let kernel = SoftmaxRows::new(&gpu).expect("pipeline");
            let (bx, by) = (gpu.upload(&x).expect("upload"), gpu.output::<f32>((rows * n) as u64).expect("alloc"));
            kernel.run(&gpu, &bx, &by, rows, n).expect("runs");
            let got = gpu.download(&by).expect("read");
            same(&format!("softmax {rows}x{n}"), &got, &reference::softmax_rows(&x, rows, n));
            let row_sum: f32 = got[..n].iter().sum();
            assert!((row_sum - 1.0).abs() < 1e-4, "a softmax row sums to 1, not {row_sum}");
        }
    }

    #[test]
    fn tree_row_sums_match_the_reference() {
        let Some(gpu) = gpu() else { return };
        for (rows, n) in [(1, 1), (3, 255), (2, 256), (5, 257), (4, 10_000), (70_000, 3)] {
            let x = super::support::mixed(rows as u64 * 13 + n as u64, rows * n);
            let kernel = SumRows::new(&gpu).expect("pipeline");
            let (bx, out) = (gpu.upload(&x).expect("upload"), gpu.output::<f32>(rows as u64).expect("alloc"));
            kernel.run(&gpu, &bx, &out, RowsShape { rows, n }).expect("runs");
            same(
                &format!("sum_rows {rows}x{n}"),
                &gpu.download(&out).expect("read"),
                &reference::sum_rows(&x, rows, n),
            );
        }
    }

    #[test]
    fn layernorm_rows_match_the_reference() {
        let Some(gpu) = gpu() else { return };
        for (rows, n) in [(1, 1), (5, 384), (65, 17)] {
            let x = values(rows as u64 + 7 * n as u64, rows * n, -50.0, 50.0);
            let g = values(11, n, 0.5, 1.5);
            let b = values(12, n, -0.1, 0.1);
            let kernel = LayerNormRows::new(&gpu).expect("pipeline");
            let bufs = [&x, &g, &b].map(|v| gpu.upload(v).expect("upload"));
            let by = gpu.output::<f32>((rows * n) as u64).expect("alloc");
            kernel.run(&gpu, &bufs[0], &bufs[1], &bufs[2], &by, RowsShape { rows, n }, 1e-12).expect("runs");
            same(
                &format!("layernorm {rows}x{n}"),
                &gpu.download(&by).expect("read"),
                &reference::layernorm_rows(&x, &g, &b, rows, n, 1e-12),
            );
        }
    }
}

mod elementwise {
    use gpu_engine::{
        kernels::elementwise::{Binary, BinaryOp, Gather, Transpose},
        reference,
    };

    use super::support::{first_difference, gpu, mixed};

    #[test]
    fn binary_ops_match_the_reference_with_and_without_broadcast() {
        let Some(gpu) = gpu() else { return };
        let (rows, n) = (37, 384);
        let a = mixed(1, rows * n);
        for (op, broadcast) in
            [(BinaryOp::Add, false), (BinaryOp::Mul, false), (BinaryOp::Add, true), (BinaryOp::Mul, true)]
        {
            let b = mixed(2, if broadcast { n } else { rows * n });
            let kernel = Binary::new(&gpu, op, broadcast).expect("pipeline");
            let (ba, bb) = (gpu.upload(&a).expect("upload"), gpu.upload(&b).expect("upload"));
            let out = gpu.output::<f32>(a.len() as u64).expect("alloc");
            kernel.run(&gpu, &ba, &bb, &out, n).expect("runs");
            let got = gpu.download(&out).expect("read");
            if let Some((i, g, w)) = first_difference(&got, &reference::binary(op, &a, &b, n, broadcast)) {
                panic!("{op:?} broadcast={broadcast} differs at {i}: {g:e} vs {w:e}");
            }
        }
    }

    #[test]
    fn gather_copies_rows_and_rejects_ids_past_the_table() {
        let Some(gpu) = gpu() else { return };
        let (vocab, dim) = (1000, 384);
        let table = mixed(3, vocab * dim);
        let ids: Vec<u32> = vec![101, 7592, 2088, 102].into_iter().map(|i| i % vocab as u32).chain([0, 999]).collect();
        let kernel = Gather::new(&gpu).expect("pipeline");
        let bt = gpu.upload(&table).expect("upload");
        let out = gpu.output::<f32>((ids.len() * dim) as u64).expect("alloc");
        kernel.run(&gpu, &bt, &ids, &out, dim).expect("runs");
        assert_eq!(gpu.download(&out).expect("read"), reference::gather(&table, &ids, dim));
        let err = kernel
            .run(&gpu, &bt, &[5, 1000], &gpu.output::<f32>(2 * dim as u64).expect("alloc"), dim)
            .expect_err("id 1000 is past the table");
        assert!(err.to_string().contains("token 1 has id 1000, but the table has 1000 rows"), "{err}");
    }

    #[test]
    fn transpose_matches_the_reference() {
        let Some(gpu) = gpu() else { return };
        for (rows, cols) in [(1, 1), (3, 257), (128, 64)] {
            let x = mixed(4, rows * cols);
            let kernel = Transpose::new(&gpu).expect("pipeline");
            let (bx, out) = (gpu.upload(&x).expect("upload"), gpu.output::<f32>((rows * cols) as u64).expect("alloc"));
            kernel.run(&gpu, &bx, &out, rows, cols).expect("runs");
            assert_eq!(gpu.download(&out).expect("read"), reference::transpose(&x, rows, cols), "{rows}x{cols}");
        }
    }
}

mod control {
    use std::{
        sync::{
            Arc,
            atomic::{AtomicUsize, Ordering},
        },
        time::Duration,
    };

    use gpu_engine::{
        EngineError, ReproClass,
        commitment::{output_hash, root},
        control::{Control, Progress, run_steps},
        kernels::{Gemm, gemm::GemmShape},
        seeded,
    };

    use super::support::gpu;

    /// 12 GEMM dispatches of 128³, each hashed; the steering thread pauses, checks that nothing
    /// runs while paused, resumes, and the run's root equals an unsteered run's.
    #[test]
    fn pause_holds_at_a_dispatch_boundary_and_resume_finishes_identically() {
        let Some(gpu) = gpu() else { return };
        let n = 128;
        let kernel = Gemm::new(&gpu, ReproClass::Unfused).expect("pipeline");
        let a = gpu.upload(&seeded::uniform(1, n * n)).expect("upload");
        let c = gpu.output::<f32>((n * n) as u64).expect("alloc");
        let shape = GemmShape { m: n, n, k: n };
        let run = |control: &Control, done: &AtomicUsize| {
            run_steps(
                12,
                control,
                |p: Progress| done.store(p.done, Ordering::SeqCst),
                |i| {
                    let b = gpu.upload(&seeded::uniform(100 + i as u64, n * n))?;
                    kernel.run(&gpu, &a, &b, &c, shape)?;
                    Ok(output_hash(&gpu.download(&c)?))
                },
            )
        };
        let reference = root(&run(&Control::new(), &AtomicUsize::new(0)).expect("plain run"));

        let control = Control::new();
        let done = Arc::new(AtomicUsize::new(0));
        control.pause();
        let steering = {
            let (control, done) = (control.clone(), done.clone());
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(300));
                let while_paused = done.load(Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(300));
                assert_eq!(done.load(Ordering::SeqCst), while_paused, "no dispatch runs while paused");
                control.resume();
                while_paused
            })
        };
        let hashes = run(&control, &done).expect("resumed run finishes");
        assert_eq!(steering.join().expect("steering thread"), 0, "paused before the first dispatch");
        assert_eq!(done.load(Ordering::SeqCst), 12, "progress reaches the total");
        assert_eq!(root(&hashes), reference, "pausing changes no bit of the result");
    }

    /// The yield path: a pause while a dispatch is on the device; `wait_idle` returns when that
    /// dispatch ends (not a step later), and no dispatch starts until the resume.
    #[test]
    fn wait_idle_returns_when_the_dispatch_in_flight_ends() {
        let control = Control::new();
        let started = Arc::new(AtomicUsize::new(0));
        let steering = {
            let (control, started) = (control.clone(), started.clone());
            std::thread::spawn(move || {
                while started.load(Ordering::SeqCst) < 3 {
                    std::thread::sleep(Duration::from_millis(5));
                }
                control.pause(); // a step is on the "device"
                // A step may have passed its checkpoint and not yet counted itself.
                let at_pause = started.load(Ordering::SeqCst);
                let idle = control.wait_idle(Duration::from_secs(5));
                let at_idle = started.load(Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(200));
                let later = started.load(Ordering::SeqCst);
                control.resume();
                (idle.is_some(), at_pause, at_idle, later)
            })
        };
        let hashes = run_steps(
            8,
            &control,
            |_| {},
            |i| {
                started.fetch_add(1, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(60));
                Ok([i as u8; 32])
            },
        )
        .expect("the run finishes after the resume");
        let (idle, at_pause, at_idle, later) = steering.join().expect("steering thread");
        assert!(idle, "the device is handed back within the timeout");
        assert!(at_idle == at_pause || at_idle == at_pause + 1, "idle once the dispatch in flight ends");
        assert_eq!(later, at_idle, "nothing starts while paused");
        assert_eq!(hashes.len(), 8);
        assert!(control.wait_idle(Duration::ZERO).is_some(), "no run: idle at once");
    }

    /// A device under a Control: a paused owner holds every submission (any workload's) until the
    /// resume; a cancel fails the next one with `Cancelled`.
    #[test]
    fn a_steered_device_holds_submissions_while_paused_and_refuses_them_once_cancelled() {
        let Some(gpu) = gpu() else { return };
        let n = 64;
        let kernel = Gemm::new(&gpu, ReproClass::Unfused).expect("pipeline");
        let a = gpu.upload(&seeded::uniform(1, n * n)).expect("upload");
        let c = gpu.output::<f32>((n * n) as u64).expect("alloc");
        let shape = GemmShape { m: n, n, k: n };
        let control = Control::new();
        gpu.set_control(Some(control.clone()));
        assert!(gpu.is_steered());
        control.pause();
        let done = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            let worker = scope.spawn(|| {
                kernel.run(&gpu, &a, &a, &c, shape).expect("runs after the resume");
                done.store(1, Ordering::SeqCst);
            });
            std::thread::sleep(Duration::from_millis(300));
            assert_eq!(done.load(Ordering::SeqCst), 0, "held while paused");
            assert!(control.wait_idle(Duration::ZERO).is_some(), "nothing on the device while held");
            control.resume();
            worker.join().expect("worker");
        });
        assert_eq!(done.load(Ordering::SeqCst), 1);
        control.cancel();
        match kernel.run(&gpu, &a, &a, &c, shape) {
            Err(EngineError::Cancelled { .. }) => {}
            other => panic!("expected Cancelled, got {other:?}"),
        }
        gpu.set_control(None);
        kernel.run(&gpu, &a, &a, &c, shape).expect("unsteered again");
    }

    /// A pinned run ignores pauses (a job near its deadline), and a paused one resumes when pinned.
    #[test]
    fn a_pinned_control_ignores_pauses_until_unpinned() {
        let control = Control::new();
        control.pause();
        control.pin(true);
        assert_eq!(control.state(), gpu_engine::control::RunState::Running, "pinning resumes a paused run");
        control.pause();
        assert_eq!(control.state(), gpu_engine::control::RunState::Running, "a pause is ignored while pinned");
        control.pin(false);
        control.pause();
        assert_eq!(control.state(), gpu_engine::control::RunState::Paused, "unpinned, pauses hold again");
        control.cancel();
        control.pin(true);
        assert_eq!(control.state(), gpu_engine::control::RunState::Cancelled, "a cancel stays final");
    }

    /// The owner's memory share: a job over the cap is refused up front with the figures.
    #[test]
    fn a_memory_cap_refuses_bigger_work_up_front() {
        let Some(gpu) = gpu() else { return };
        gpu.check_memory("a 64 MiB job", 64 << 20).expect("fits the device");
        gpu.set_memory_cap(Some(32 << 20));
        match gpu.check_memory("a 64 MiB job", 64 << 20) {
            Err(EngineError::OverMemoryLimit { needed_bytes, limit_bytes, .. }) => {
                assert_eq!((needed_bytes, limit_bytes), (64 << 20, 32 << 20));
            }
            other => panic!("expected OverMemoryLimit, got {other:?}"),
        }
        gpu.set_memory_cap(None);
        gpu.check_memory("a 64 MiB job", 64 << 20).expect("the cap is lifted");
    }

    #[test]
    fn cancel_stops_at_the_next_boundary_with_a_clear_error() {
        let control = Control::new();
        let mut ran = 0;
        let result = run_steps(
            10,
            &control,
            |_| {},
            |i| {
                ran += 1;
                if i == 3 {
                    control.cancel();
                }
                Ok([i as u8; 32])
            },
        );
        match result {
            Err(EngineError::Cancelled { completed_dispatches }) => assert_eq!(completed_dispatches, 4),
            other => panic!("expected a cancellation, got {other:?}"),
        }
        assert_eq!(ran, 4, "nothing runs after the cancel");
        control.resume();
        assert_eq!(control.state(), gpu_engine::control::RunState::Cancelled, "a cancelled run stays cancelled");
    }
}

mod external {
    use gpu_engine::{
        ReproClass,
        external::{BufferSpec, ExternalKernel, KernelSource, KernelSpec, Tier, compile, compile_bounded},
    };

    use super::support::gpu;

    const AXPY: &str = r#"
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    let i = id.x;
    if (i < arrayLength(&x)) {
        y[i] = x[i] * 2.5 + y[i];
    }
}
"#;

    fn spec(n: u64, tier: Tier) -> KernelSpec {
        KernelSpec {
            entry_point: "main".into(),
            buffers: vec![BufferSpec { binding: 0, len: n }, BufferSpec { binding: 1, len: n }],
            workgroups: [n.div_ceil(64) as u32, 1, 1],
            tier,
            loop_budget: 1 << 16,
        }
    }

    fn reject(source: &str, tier: Tier) -> String {
        compile(&KernelSource::Wgsl(source.into()), &spec(64, tier)).expect_err("must be rejected").to_string()
    }

    #[test]
    fn a_valid_wgsl_kernel_runs_and_matches_an_unfused_cpu_loop() {
        let Some(gpu) = gpu() else { return };
        let n = 1000u64;
        let x: Vec<f32> = (0..n).map(|i| (i as f32).mul_add(0.37, -100.0) * 1.000_001).collect();
        let y0: Vec<f32> = (0..n).map(|i| 1.0 / (i as f32 + 3.0)).collect();
        let kernel =
            ExternalKernel::new(&gpu, &KernelSource::Wgsl(AXPY.into()), spec(n, Tier::Verifiable(ReproClass::Unfused)))
                .expect("a valid kernel is accepted");
        let (bx, by) = (gpu.upload(&x).expect("upload"), gpu.upload(&y0).expect("upload"));
        kernel.run(&gpu, &[bx, by.clone()]).expect("runs");
        let got = gpu.download(&by).expect("read");
        for i in 0..n as usize {
            let want = x[i] * 2.5 + y0[i];
            assert_eq!(got[i].to_bits(), want.to_bits(), "value {i}: {} vs {want}", got[i]);
        }
    }

    /// A chain of products of canonical values that goes subnormal mid-dispatch ((2^-37)^4 =
    /// 2^-148) and comes back to 2^52 after two multiplies by 2^100 where a device keeps it: a
    /// scalar chain, a vector-by-scalar one with a negative lane, and the smallest subnormal made
    /// from an integer's bits (2^-49 after one multiply by 2^100); `y` holds three values per
    /// value of `x`.
    const SUBNORMAL_CHAIN: &str = r#"
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    let i = id.x;
    if (i < arrayLength(&x)) {
        let a = x[i];
        let t = a * a * a * a;
        y[3u * i] = t * 1.2676506e30 * 1.2676506e30;
        let v = vec4<f32>(a, -a, a, a) * a * a * a;
        let w = v * 1.2676506e30 * 1.2676506e30;
        // A vector of u32 and one of bool of the kernel's own: the pass reuses them.
        let kept = select(vec4<f32>(7.0), w, vec4<u32>(i) < vec4<u32>(1000000u));
        y[3u * i + 1u] = kept.y;
        // The smallest subnormal from an integer's bits, known only when it runs.
        y[3u * i + 2u] = bitcast<f32>(i / 1000000u + 1u) * 1.2676506e30;
    }
}
"#;

    fn chain_spec(n: u64, tier: Tier) -> KernelSpec {
        KernelSpec {
            buffers: vec![BufferSpec { binding: 0, len: n }, BufferSpec { binding: 1, len: 3 * n }],
            ..spec(n, tier)
        }
    }

    /// Issue #24's subnormal hole: [`SUBNORMAL_CHAIN`] gives 2^52 (2^-49 from the bits) on a
    /// device that keeps subnormals (llvmpipe) and 0 on one that flushes them (the H100). The
    /// verifiable tier makes every float operation's subnormal (or zero) result +0, so every
    /// device gives +0 in all three places (a flushing device's zero of a negative lane too). That llvmpipe keeps the
    /// subnormal without the pass is the engine's unit test `external::tests`.
    #[test]
    fn a_subnormal_made_mid_dispatch_is_flushed_to_zero_on_every_device() {
        let Some(gpu) = gpu() else { return };
        let n = 64u64;
        let kernel = ExternalKernel::new(
            &gpu,
            &KernelSource::Wgsl(SUBNORMAL_CHAIN.into()),
            chain_spec(n, Tier::Verifiable(ReproClass::Unfused)),
        )
        .expect("accepted");
        let x = gpu.upload(&vec![2f32.powi(-37); n as usize]).expect("x");
        let y = gpu.upload(&vec![7.0f32; 3 * n as usize]).expect("y");
        kernel.run(&gpu, &[x, y.clone()]).expect("runs");
        for (k, v) in gpu.download(&y).expect("read").iter().enumerate() {
            assert_eq!(v.to_bits(), 0, "value {k} (place {} of 3) is +0: {v:e}", k % 3);
        }
    }

    /// The flush pass's output is valid SPIR-V for Vulkan (spirv-tools' validator, installed by
    /// make setup) for kernels that make it declare what they lack or reuse what they have:
    /// scalar, vec2, vec3 and vec4 operations, a subtraction, fma in the fused class, a kernel
    /// with no comparison; and subnormal constants, in a function or a module constant, are
    /// refused. No device needed.
    #[test]
    fn the_flushed_spirv_validates_and_subnormal_constants_are_refused() {
        const SHAPES: &str = r#"
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    let a = x[0];
    let b = x[1];
    let two = vec2<f32>(a, b) * vec2<f32>(b, a) - vec2<f32>(a);
    let three = vec3<f32>(a, b, a) * b + vec3<f32>(b);
    y[0] = two.x - two.y + three.z * FUSED;
}
"#;
        let validate = |name: &str, words: Vec<u32>| {
            let dir = tempfile::tempdir().expect("tmp");
            let file = dir.path().join(format!("{name}.spv"));
            std::fs::write(&file, words.iter().flat_map(|w| w.to_le_bytes()).collect::<Vec<u8>>()).expect("write");
            let checked = std::process::Command::new("spirv-val")
                .args(["--target-env", "vulkan1.1"])
                .arg(&file)
                .output()
                .expect("spirv-val (spirv-tools: make setup)");
            assert!(checked.status.success(), "{name}: spirv-val: {}", String::from_utf8_lossy(&checked.stderr));
        };
        let verifiable = Tier::Verifiable(ReproClass::Unfused);
        validate(
            "chain",
            compile(&KernelSource::Wgsl(SUBNORMAL_CHAIN.into()), &chain_spec(64, verifiable)).expect("compiles"),
        );
        let unfused = SHAPES.replace("FUSED", "a");
        validate("shapes", compile(&KernelSource::Wgsl(unfused), &spec(64, verifiable)).expect("compiles"));
        let fused = SHAPES.replace("three.z * FUSED", "fma(three.z, a, b)");
        let fused_tier = Tier::Verifiable(ReproClass::Fused);
        validate("fused", compile(&KernelSource::Wgsl(fused), &spec(64, fused_tier)).expect("compiles"));
        let in_function = AXPY.replace("x[i] * 2.5 + y[i]", "x[i] * 1e-40");
        let err = reject(&in_function, verifiable);
        assert!(err.contains("subnormal constant"), "in a function: {err}");
        let in_module = format!("const TINY: f32 = 1e-41;\n{}", AXPY.replace("x[i] * 2.5 + y[i]", "x[i] + TINY"));
        let err = reject(&in_module, verifiable);
        assert!(err.contains("subnormal constant"), "a module constant: {err}");
    }

    /// Two variables at one binding (one unused, of another type) would let a kernel read a
    /// buffer the runner canonicalized by the other's type: refused.
    #[test]
    fn a_second_variable_at_a_binding_is_refused() {
        let twice = format!("@group(0) @binding(1) var<storage, read_write> d: array<u32>;\n{AXPY}");
        for tier in [Tier::Verifiable(ReproClass::Unfused), Tier::Open] {
            let err = reject(&twice, tier);
            assert!(err.contains("second variable at @group(0) @binding(1)"), "{err}");
        }
    }

    #[test]
    fn verifiable_kernels_get_no_contraction_on_every_float_op() {
        let words = compile(&KernelSource::Wgsl(AXPY.into()), &spec(64, Tier::Verifiable(ReproClass::Unfused)))
            .expect("compiles");
        let open = compile(&KernelSource::Wgsl(AXPY.into()), &spec(64, Tier::Open)).expect("compiles");
        let decorations = |w: &[u32]| w.windows(3).filter(|d| d[0] == (3 << 16 | 71) && d[2] == 42).count();
        assert!(decorations(&words) >= 2, "the multiply and the add are NoContraction");
        assert_eq!(decorations(&open), 0, "the open tier is left as written");
    }

    #[test]
    fn transcendental_functions_and_float_division_are_refused_in_the_verifiable_tier() {
        let exp = AXPY.replace("x[i] * 2.5 + y[i]", "exp(x[i])");
        let err = reject(&exp, Tier::Verifiable(ReproClass::Unfused));
        assert!(err.contains("Exp") && err.contains("drivers compute differently"), "{err}");
        assert!(compile(&KernelSource::Wgsl(exp), &spec(64, Tier::Open)).is_ok(), "the open tier allows exp");
        let div = AXPY.replace("x[i] * 2.5 + y[i]", "x[i] / y[i]");
        let err = reject(&div, Tier::Verifiable(ReproClass::Unfused));
        assert!(err.contains("Divide"), "{err}");
        let fma = AXPY.replace("x[i] * 2.5 + y[i]", "fma(x[i], 2.5, y[i])");
        assert!(reject(&fma, Tier::Verifiable(ReproClass::Unfused)).contains("Fma"));
        assert!(
            compile(&KernelSource::Wgsl(fma), &spec(64, Tier::Verifiable(ReproClass::Fused))).is_ok(),
            "fma is the fused class"
        );
    }

    /// Issue #24 point 6, what a buyer's kernel could use to make honest devices disagree: min,
    /// max, clamp and sign of floats (a NaN's is the driver's), a float's bits or its conversion to
    /// an integer, atomics (their order), matrix products (their sums' order), shifts by a runtime
    /// amount (past 31 drivers differ), a storage type larger than its buffer (reads past its end
    /// are the driver's): all refused in the verifiable tier, with the reason; on integers, min
    /// and a conversion to float pass.
    #[test]
    fn attack_what_drivers_answer_differently_is_refused_in_the_verifiable_tier() {
        let verifiable = Tier::Verifiable(ReproClass::Unfused);
        for (body, want) in [
            ("min(x[i], 1.0)", "Min"),
            ("clamp(x[i], 0.0, 1.0)", "Clamp"),
            ("sign(x[i])", "Sign"),
            ("f32(bitcast<u32>(x[i]) & 1u)", "reads its bits"),
            ("f32(u32(x[i]))", "converts a float to an integer"),
            ("(mat2x2<f32>(x[0], x[1], x[2], x[3]) * vec2<f32>(1.0, 2.0)).x", "multiplies by a matrix"),
            ("f32(i << u32(x[0] > 0.0))", "shifts by an amount"),
        ] {
            let src = AXPY.replace("x[i] * 2.5 + y[i]", body);
            let err = reject(&src, verifiable);
            assert!(err.contains(want), "{body}: {err}");
        }
        let fine = AXPY.replace(
            "x[i] * 2.5 + y[i]",
            "f32(min(i, 5u) << 2u) + floor(abs(x[i])) + f32((vec2<u32>(i, 1u) << vec2<u32>(2u)).x)",
        );
        compile(&KernelSource::Wgsl(fine), &spec(64, verifiable)).expect("integer min, constant shifts, abs, floor");
        let atomic = AXPY
            .replace("var<storage, read_write> y: array<f32>;", "var<storage, read_write> y: array<atomic<u32>>;")
            .replace("y[i] = x[i] * 2.5 + y[i];", "atomicAdd(&y[0], 1u);")
            .replace("arrayLength(&y)", "arrayLength(&x)");
        assert!(reject(&atomic, verifiable).contains("atomic"), "atomics");
        let big = AXPY
            .replace("var<storage, read> x: array<f32>;", "var<storage, read> x: array<f32, 100000>;")
            .replace("arrayLength(&x)", "arrayLength(&y)");
        let err = reject(&big, verifiable);
        assert!(err.contains("type holds 400000 bytes"), "a type past its buffer: {err}");
        // The work a dispatch is bounded by counts what one statement copies.
        let small = compile_bounded(&KernelSource::Wgsl(AXPY.into()), &spec(64, verifiable)).expect("axpy").work_bound;
        let copies = r#"
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
var<workgroup> a: array<f32, 4096>;
var<workgroup> b: array<f32, 4096>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    b = a;
    let i = id.x;
    if (i < arrayLength(&y)) { y[i] = x[i] + b[i]; }
}
"#;
        let copying = compile_bounded(&KernelSource::Wgsl(copies.into()), &spec(64, verifiable)).expect("copies");
        assert!(
            copying.work_bound >= small + 64 * 4096,
            "{} vs {small}: an array copy is per element",
            copying.work_bound
        );
    }

    /// A buyer's kernel declares 2^62 values in a buffer: 2^64 bytes, which `len * 4` wrapped to
    /// 0 in a release build, so the size check passed (a debug build panicked on the overflow).
    #[test]
    fn attack_a_buffer_length_whose_byte_count_wraps_is_refused() {
        let mut wraps = spec(64, Tier::Open);
        wraps.buffers[0].len = 1 << 62;
        let err = compile(&KernelSource::Wgsl(AXPY.into()), &wraps).expect_err("a wrapping length").to_string();
        assert!(err.contains("buffer 0 has 4611686018427387904 values"), "{err}");
    }

    /// A buyer's kernel that never ends (`loop {}`, or loops nested so deep they may as well not)
    /// passed validation and held the device until the dispatch timeout, every time it was run.
    /// Now every loop runs under the declared budget: the kernel ends, with the same bits on
    /// every device (here: each invocation counts the iterations it was allowed).
    #[test]
    fn attack_a_kernel_that_never_ends_stops_at_its_loop_budget() {
        let Some(gpu) = gpu() else { return };
        let forever = r#"
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
fn spin(n: ptr<function, u32>) {
    loop { *n = *n + 1u; }
}
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    var n: u32 = 0u;
    loop {
        n = n + 1u;
        spin(&n);
        loop { loop { n = n + 0u; } }
    }
    y[id.x] = f32(n) + x[id.x];
}
"#;
        let mut spec = spec(64, Tier::Verifiable(ReproClass::Unfused));
        spec.loop_budget = 1000;
        let kernel = ExternalKernel::new(&gpu, &KernelSource::Wgsl(forever.into()), spec.clone()).expect("accepted");
        let (bx, by) = (gpu.upload(&[0.5f32; 64]).expect("upload"), gpu.upload(&[0.0f32; 64]).expect("upload"));
        let started = std::time::Instant::now();
        kernel.run(&gpu, &[bx, by.clone()]).expect("it ends");
        // The budget is spent in order: one iteration of the outer loop, then the other 999 in
        // spin's; every loop after that breaks at once. n counts all 1000.
        let got = gpu.download(&by).expect("read");
        assert!(got.iter().all(|v| v.to_bits() == (1000.5f32).to_bits()), "{:?}", &got[..4]);
        assert!(started.elapsed() < std::time::Duration::from_secs(10), "{:?}", started.elapsed());
        // A budget over the dispatch's share is refused up front.
        spec.loop_budget = u32::MAX;
        spec.workgroups = [65_535, 4, 1];
        let err = compile(&KernelSource::Wgsl(forever.into()), &spec).expect_err("too much").to_string();
        assert!(err.contains("loop budget of 4294967295"), "{err}");
    }

    /// Work without loops: calls nest, each function calling the one before twice, 2^n work in n
    /// lines (and a driver that inlines them spends it compiling). Refused by its size with every
    /// call written out.
    #[test]
    fn attack_calls_nested_to_exponential_work_are_refused() {
        let mut source = String::from(
            "@group(0) @binding(0) var<storage, read> x: array<f32>;\n\
             @group(0) @binding(1) var<storage, read_write> y: array<f32>;\n\
             fn f0(v: f32) -> f32 { return v * 1.5 + 0.25; }\n",
        );
        for n in 1..=24 {
            source += &format!("fn f{n}(v: f32) -> f32 {{ return f{m}(f{m}(v)); }}\n", m = n - 1);
        }
        source += "@compute @workgroup_size(64)\nfn main(@builtin(global_invocation_id) id: vec3<u32>) { y[id.x] = f24(x[id.x]); }\n";
        let err =
            compile(&KernelSource::Wgsl(source), &spec(64, Tier::Open)).expect_err("too big written out").to_string();
        assert!(err.contains("statements with every call written out"), "{err}");
    }

    /// A barrier inside a loop: invocations that spend their budgets unevenly would leave the
    /// loop at different iterations and wait at the barrier forever (undefined behaviour, which
    /// each driver resolves its own way: replicas that disagree). Refused in the verifiable tier.
    #[test]
    fn a_barrier_inside_a_loop_is_refused_in_the_verifiable_tier() {
        let tiled = r#"
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
var<workgroup> tile: array<f32, 64>;
@compute @workgroup_size(64)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(global_invocation_id) id: vec3<u32>) {
    var s: f32 = 0.0;
    for (var t: u32 = 0u; t < 4u; t = t + 1u) {
        tile[lid.x] = x[(id.x + t * 7u) % 64u];
        workgroupBarrier();
        s = s + tile[(lid.x + 1u) % 64u];
        workgroupBarrier();
    }
    y[id.x] = s;
}
"#;
        let err = reject(tiled, Tier::Verifiable(ReproClass::Unfused));
        assert!(err.contains("a barrier inside a loop"), "{err}");
        assert!(compile(&KernelSource::Wgsl(tiled.into()), &spec(64, Tier::Open)).is_ok(), "the open tier allows it");
    }

    /// A kernel whose loops end on their own never notices the budget.
    #[test]
    fn a_kernel_that_ends_on_its_own_is_not_cut_short() {
        let Some(gpu) = gpu() else { return };
        let sums = r#"
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    var s: f32 = 0.0;
    for (var j: u32 = 0u; j <= id.x; j = j + 1u) { s = s + x[j]; }
    y[id.x] = s;
}
"#;
        let mut spec = spec(64, Tier::Verifiable(ReproClass::Unfused));
        spec.loop_budget = 64; // exactly enough for the last invocation
        let kernel = ExternalKernel::new(&gpu, &KernelSource::Wgsl(sums.into()), spec).expect("accepted");
        let x: Vec<f32> = (0..64).map(|i| i as f32 * 0.25).collect();
        let (bx, by) = (gpu.upload(&x).expect("upload"), gpu.upload(&[0.0f32; 64]).expect("upload"));
        kernel.run(&gpu, &[bx, by.clone()]).expect("runs");
        let got = gpu.download(&by).expect("read");
        let mut s = 0.0f32;
        for (i, v) in x.iter().enumerate() {
            s += v;
            assert_eq!(got[i].to_bits(), s.to_bits(), "invocation {i}");
        }
    }

    #[test]
    fn bad_kernels_are_refused_with_the_validators_message() {
        let err = reject("fn main( {", Tier::Open);
        assert!(err.starts_with("kernel rejected: WGSL:"), "{err}");
        let atomic = r#"
@group(0) @binding(0) var<storage, read_write> x: array<atomic<f32>>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) { atomicAdd(&x[id.x], 1.0); y[0] = 0.0; }
"#;
        let err = reject(atomic, Tier::Open);
        assert!(err.contains("kernel rejected"), "float atomics need a capability we never grant: {err}");
        let undeclared = AXPY.replace("@binding(1)", "@binding(5)");
        assert!(reject(&undeclared, Tier::Open).contains("@binding(5), which was not declared"));
        let mut too_big = spec(64, Tier::Open);
        too_big.workgroups = [70_000, 1, 1];
        let err = compile(&KernelSource::Wgsl(AXPY.into()), &too_big).expect_err("dispatch too large").to_string();
        assert!(err.contains("dispatch [70000, 1, 1]"), "{err}");
        let huge = format!("{AXPY}{}", " ".repeat(gpu_engine::external::MAX_SOURCE_BYTES));
        assert!(reject(&huge, Tier::Open).contains("at most 1048576"), "a source over the limit is not parsed");
        let err = compile(&KernelSource::Spirv(vec![1, 2, 3, 4, 5, 6, 7, 8]), &spec(64, Tier::Open))
            .expect_err("not SPIR-V")
            .to_string();
        assert!(err.starts_with("kernel rejected: SPIR-V:"), "{err}");
    }
}

mod attention {
    use gpu_engine::{
        ReproClass,
        attention::{self, Attention, AttentionShape},
        numeric::canonicalize_all,
        seeded,
    };

    use super::support::{first_difference, gpu};

    #[test]
    fn batched_attention_matches_the_reference_and_ignores_padding() {
        check_batched(false);
        check_batched(true);
    }

    /// QKV read as a storage buffer or fetched as texels.
    fn check_batched(texels: bool) {
        let Some(gpu) = gpu() else { return };
        let s = AttentionShape { batch: 3, seq: 9, heads: 12, head_dim: 32 };
        let mut qkv: Vec<f32> = seeded::uniform(7, s.rows() * 3 * s.width()).iter().map(|x| x * 3.0).collect();
        canonicalize_all(&mut qkv);
        let lens = [9u32, 4, 1];
        let scale = gpu_engine::detmath::rsqrt(s.head_dim as f32);
        let kernel = Attention::with_texels(&gpu, ReproClass::Unfused, s.head_dim, texels).expect("pipeline");
        let input = gpu.upload(&qkv).expect("upload");
        let out = gpu.output::<f32>((s.rows() * s.width()) as u64).expect("alloc");
        kernel.run(&gpu, &input, &lens, &out, s, scale).expect("runs");
        let got = gpu.download(&out).expect("read");
        let want = attention::reference(ReproClass::Unfused, &qkv, &lens, s, scale);
        if let Some((i, g, w)) = first_difference(&got, &want) {
            panic!(
                "attention (texels: {texels}) differs at row {} column {}: {g:e} vs {w:e}",
                i / s.width(),
                i % s.width()
            );
        }
        // Padding rows are +0; real rows are finite and not all zero.
        let row = |r: usize| &got[r * s.width()..(r + 1) * s.width()];
        assert!(row(9 + 5).iter().all(|v| v.to_bits() == 0), "a padding query row is +0");
        assert!(row(9 + 3).iter().any(|v| *v != 0.0) && got.iter().all(|v| v.is_finite()));
        // Sequence 1 alone, unpadded, gives the same bits as inside the padded batch.
        let alone_shape = AttentionShape { batch: 1, seq: 4, ..s };
        let alone_in: Vec<f32> = qkv[9 * 3 * s.width()..(9 + 4) * 3 * s.width()].to_vec();
        let alone = attention::reference(ReproClass::Unfused, &alone_in, &[4], alone_shape, scale);
        assert!(first_difference(&alone, &got[9 * s.width()..13 * s.width()]).is_none(), "padding changed a row");
    }

    #[test]
    fn lengths_over_the_padded_length_are_refused() {
        let Some(gpu) = gpu() else { return };
        let s = AttentionShape { batch: 1, seq: 2, heads: 1, head_dim: 4 };
        let kernel = Attention::new(&gpu, ReproClass::Unfused, 4).expect("pipeline");
        let input = gpu.upload(&[0.0f32; 24]).expect("upload");
        let out = gpu.output::<f32>(8).expect("alloc");
        let err = kernel.run(&gpu, &input, &[3], &out, s, 0.5).expect_err("3 > 2").to_string();
        assert!(err.contains("sequence 0 has 3 tokens, more than the padded length 2"), "{err}");
        assert!(Attention::new(&gpu, ReproClass::Unfused, 129).is_err(), "head_dim over 128");
        let err = Attention::with_texels(&gpu, ReproClass::Unfused, 6, true).expect_err("6 floats are no texels");
        assert!(err.to_string().contains("head_dim 6 is not a multiple of 4"), "{err}");
        assert!(Attention::new(&gpu, ReproClass::Unfused, 6).is_ok(), "an odd width reads a storage buffer");
    }
}

mod workloads {
    use gpu_engine::{
        Gpu, ReproClass,
        kernels::{gemm::GemmVariant, train::SgdParams},
        workloads::{
            encoder::{self, Encoder, EncoderConfig, EncoderWeights},
            mlp::{self, Activation, MlpParams, TrainOptions, Trainer},
        },
    };

    use super::support::{first_difference, gpu};

    fn tiny() -> EncoderConfig {
        EncoderConfig {
            vocab_size: 50,
            hidden: 64,
            layers: 2,
            heads: 2,
            intermediate: 128,
            max_positions: 40,
            type_vocab_size: 2,
            layer_norm_eps: 1e-12,
        }
    }

    #[test]
    fn encoder_matches_its_cpu_twin_in_any_batch() {
        let Some(gpu) = gpu() else { return };
        let layouts = [GemmVariant::for_device(&gpu, ReproClass::Unfused), GemmVariant::Streaming];
        for layout in layouts {
            check_encoder(&gpu, layout);
        }
    }

    /// In `layout`: the device's (bias and GELU added as the GEMM stores, on a CPU driver) and the
    /// streaming one (GEMM, then the separate bias add and GELU kernels, as GPUs run them).
    fn check_encoder(gpu: &Gpu, layout: GemmVariant) {
        let weights = EncoderWeights::seeded(tiny(), 3).expect("weights");
        let sequences: Vec<Vec<u32>> =
            [vec![1, 7, 9, 2], vec![1, 2], (0..33).map(|i| (i * 7 % 50) as u32).collect(), vec![5]].to_vec();
        let encoder = Encoder::with_layout(gpu, weights.clone(), ReproClass::Unfused, layout).expect("encoder");
        let mut seen = Vec::new();
        let together = encoder.encode(gpu, &sequences, 4096, |done| seen.push(done)).expect("encodes");
        assert_eq!(seen.last(), Some(&4), "progress reaches every sequence");
        // One sequence per batch: the same bits as all of them padded together.
        let alone = encoder.encode(gpu, &sequences, 1, |_| {}).expect("encodes one by one");
        for (s, ids) in sequences.iter().enumerate() {
            let want = encoder::reference(&weights, ReproClass::Unfused, ids).expect("reference");
            assert_eq!(together[s].len(), 64);
            if let Some((i, g, w)) = first_difference(&together[s], &want) {
                panic!("{layout:?}: sequence {s} column {i}: device {g:e}, CPU twin {w:e}");
            }
            assert!(first_difference(&alone[s], &together[s]).is_none(), "batching changed sequence {s}");
            let norm: f32 = want.iter().map(|v| v * v).sum::<f32>().sqrt();
            assert!((norm - 1.0).abs() < 1e-5, "sequence {s} is L2-normalized ({norm})");
        }
        // Steered (one submission per layer, each a yield point): the same bits.
        gpu.set_control(Some(gpu_engine::control::Control::new()));
        let steered = encoder.encode(gpu, &sequences, 4096, |_| {}).expect("encodes steered");
        gpu.set_control(None);
        for s in 0..sequences.len() {
            assert!(first_difference(&steered[s], &together[s]).is_none(), "steering changed sequence {s}");
        }
    }

    #[test]
    fn encoder_refuses_bad_ids_and_weights() {
        let Some(gpu) = gpu() else { return };
        let encoder = Encoder::new(&gpu, EncoderWeights::seeded(tiny(), 3).expect("weights"), ReproClass::Unfused)
            .expect("encoder");
        let err = encoder.encode(&gpu, &[vec![1, 2], vec![3, 50]], 64, |_| {}).expect_err("id 50").to_string();
        assert!(err.contains("sequence 1, token 1: id 50 is outside the vocabulary"), "{err}");
        let err = encoder.encode(&gpu, &[vec![1; 41]], 64, |_| {}).expect_err("too long").to_string();
        assert!(err.contains("41 tokens, more than the 40 positions"), "{err}");
        let err = EncoderWeights::from_safetensors(b"not a file", tiny()).expect_err("garbage").to_string();
        assert!(err.starts_with("model weights: tensor `(header)`"), "{err}");
    }

    fn blobs(samples: usize) -> (Vec<f32>, Vec<u32>) {
        // Three well-separated clusters in 4 dimensions.
        let mut rng = gpu_engine::seeded::SplitMix64::new(11);
        let mut x = Vec::new();
        let mut y = Vec::new();
        for s in 0..samples {
            let class = (s % 3) as u32;
            for f in 0..4 {
                let centre = if f as u32 == class { 2.0 } else { 0.0 };
                x.push(centre + rng.range(-0.5, 0.5));
            }
            y.push(class);
        }
        (x, y)
    }

    fn train(activation: Activation) -> (MlpParams, f32) {
        let gpu = gpu().expect("checked by the caller");
        let (x, y) = blobs(90);
        let params = MlpParams::seeded(&[4, 8, 3], 5).expect("params");
        let options = TrainOptions { activation, sgd: SgdParams { learning_rate: 0.1, momentum: 0.9 }, batch_size: 16 };
        let trainer = Trainer::new(&gpu, &params, options, ReproClass::Unfused).expect("trainer");
        for epoch in 0..15 {
            trainer.epoch(&gpu, &x, &y, &mlp::epoch_order(90, 5, epoch), |_| {}).expect("epoch");
        }
        let probs = trainer.predict(&gpu, &x).expect("predict");
        let correct = y
            .iter()
            .enumerate()
            .filter(|(s, l)| {
                let row = &probs[s * 3..s * 3 + 3];
                let best = (0..3).fold(0, |b, c| if row[c] > row[b] { c } else { b });
                best == **l as usize
            })
            .count();
        (trainer.params(&gpu).expect("read back"), correct as f32 / 90.0)
    }

    #[test]
    fn mlp_training_learns_and_repeats_bit_for_bit() {
        if gpu().is_none() {
            return;
        }
        for activation in [Activation::Relu, Activation::Tanh] {
            let (first, accuracy) = train(activation);
            let (second, _) = train(activation);
            assert!(accuracy > 0.95, "{activation:?}: accuracy {accuracy} on separable clusters");
            assert_eq!(first.to_safetensors().expect("bytes"), second.to_safetensors().expect("bytes"));
            let start = MlpParams::seeded(&[4, 8, 3], 5).expect("params");
            assert_ne!(first, start, "training moved the weights");
            let round = MlpParams::from_safetensors(&first.to_safetensors().expect("bytes"), &[4, 8, 3]).expect("load");
            assert_eq!(round, first, "checkpoints round-trip");
        }
    }
}

mod challenge {
    use gpu_engine::{
        EngineError, GpuOptions, ReproClass,
        workloads::challenge::{ChallengeProver, ChallengeSpec, Transcript, check_answer},
    };

    use super::support::{gpu, gpu_with};

    #[test]
    fn the_device_answers_as_the_cpu_does_and_its_samples_check() {
        let Some(gpu) = gpu() else { return };
        for class in gpu.classes() {
            let spec = ChallengeSpec::new([3; 32], 32, 10, 12, class).expect("a valid shape");
            let prover = ChallengeProver::new(&gpu, class).expect("the kernels build");
            let answer = prover.answer(&gpu, &spec).expect("the device answers");
            let cpu = Transcript::compute(&spec);
            assert_eq!(answer.leaves, cpu.leaves, "{class:?}: every matrix, bit for bit");
            assert_eq!(answer.root, cpu.root);
            let samples = spec.samples([9; 32], 24);
            assert!(samples.iter().any(|s| s.step >= 10) && samples.iter().any(|s| s.step < 10));
            let openings = prover.open(&gpu, &spec, &answer, &samples).expect("the device opens its answer");
            assert_eq!(openings, samples.iter().map(|&s| cpu.open(&spec, s)).collect::<Vec<_>>());
            let mut opened = openings.into_iter();
            check_answer(&spec, &answer.root, &answer.origin_proof(), &samples, |_| opened.next().expect("one each"))
                .expect("an honest device passes");
        }
    }

    #[test]
    fn a_fill_beyond_the_device_memory_is_refused_before_anything_runs() {
        let options = GpuOptions { memory_limit_bytes: Some(8 << 20), ..GpuOptions::default() };
        let Some(gpu) = gpu_with(options) else { return };
        let spec = ChallengeSpec::for_fill([1; 32], 64 << 20, ReproClass::Unfused).expect("a valid fill");
        let prover = ChallengeProver::new(&gpu, ReproClass::Unfused).expect("the kernels build");
        match prover.answer(&gpu, &spec) {
            Err(EngineError::OverMemoryLimit { needed_bytes, limit_bytes, .. }) => {
                assert!(needed_bytes > 64 << 20 && limit_bytes == 8 << 20, "{needed_bytes} over {limit_bytes}");
            }
            other => panic!("a 64 MiB fill on an 8 MiB device answered {other:?}"),
        }
    }
}

mod recovery {
    use std::{cell::Cell, time::Duration};

    use gpu_engine::{
        DeviceChoice, DeviceSlot, EngineError, GpuOptions, ReproClass, Vulkan,
        kernels::{Gemm, gemm::GemmShape},
        reference, seeded,
    };

    fn slot(options: GpuOptions) -> Option<DeviceSlot> {
        super::support::gpu()?;
        Some(DeviceSlot::open(&Vulkan::load().expect("loader"), DeviceChoice::Best, options).expect("opens"))
    }

    fn small_gemm(gpu: &gpu_engine::Gpu) -> Result<Vec<f32>, EngineError> {
        let (a, b) = (seeded::uniform(1, 16 * 8), seeded::uniform(2, 8 * 4));
        let (ba, bb, bc) = (gpu.upload(&a)?, gpu.upload(&b)?, gpu.output::<f32>(16 * 4)?);
        Gemm::new(gpu, ReproClass::Unfused)?.run(gpu, &ba, &bb, &bc, GemmShape { m: 16, n: 4, k: 8 })?;
        gpu.download(&bc)
    }

    /// A lost device (reported by the driver; injected here, since no driver loses one on
    /// request) is reopened, and the work runs again on the new device with the same bits.
    #[test]
    fn a_lost_device_is_reopened_and_the_work_repeated() {
        let Some(slot) = slot(GpuOptions::default()) else { return };
        let first = slot.gpu();
        let calls = Cell::new(0);
        let out = slot
            .run(|gpu| {
                calls.set(calls.get() + 1);
                if calls.get() == 1 {
                    return Err(EngineError::DeviceLost { kernel: "gemm" });
                }
                small_gemm(gpu)
            })
            .expect("the second run succeeds");
        assert_eq!(calls.get(), 2);
        assert_eq!(slot.reopened(), 1);
        assert!(!std::sync::Arc::ptr_eq(&first, &slot.gpu()), "a new device was opened");
        let want =
            reference::gemm(ReproClass::Unfused, &seeded::uniform(1, 16 * 8), &seeded::uniform(2, 8 * 4), 16, 4, 8);
        assert_eq!(out, want);
    }

    /// A real overrun: a 1024³ GEMM under a 20 ms bound times out on llvmpipe (about 0.1 s).
    /// The work cannot be taken back, so the device takes no more (the work after it fails at
    /// once, without running) and no second device is opened on the same GPU behind it: the
    /// attack was a buyer's kernel that overran, was rerun on a second device, and overran again,
    /// leaking a device per try.
    #[test]
    fn attack_an_overrun_leaves_the_device_hung_and_opens_no_second_one() {
        let options = GpuOptions { dispatch_timeout: Duration::from_millis(20), ..GpuOptions::default() };
        let Some(slot) = slot(options) else { return };
        if slot.gpu().info().device_type != gpu_engine::DeviceType::Cpu {
            eprintln!("SKIPPED: a GPU may finish the GEMM within the bound");
            return;
        }
        let n = 1024;
        let err = slot
            .run(|gpu| {
                let (a, b) = (gpu.upload(&seeded::uniform(1, n * n))?, gpu.upload(&seeded::uniform(2, n * n))?);
                let c = gpu.output::<f32>((n * n) as u64)?;
                Gemm::new(gpu, ReproClass::Unfused)?.run(gpu, &a, &b, &c, GemmShape { m: n, n, k: n })
            })
            .expect_err("a 0.1 s GEMM overruns a 20 ms bound");
        assert!(matches!(err, EngineError::Timeout { .. }), "{err}");
        assert_eq!(slot.reopened(), 0, "no second device");
        assert!(slot.is_hung());
        let ran = Cell::new(false);
        let err = slot
            .run(|gpu| {
                ran.set(true);
                small_gemm(gpu)
            })
            .expect_err("a hung device takes no work");
        assert!(matches!(err, EngineError::Hung { .. }), "{err}");
        assert!(err.to_string().contains("until this program restarts"), "{err}");
        assert!(!ran.get(), "the work did not run");
        let direct = small_gemm(&slot.gpu()).expect_err("nor is anything submitted to it directly");
        assert!(matches!(direct, EngineError::Hung { .. }), "{direct}");
        let reopened = slot.reopen().expect_err("no second device behind it, even when asked");
        assert!(matches!(reopened, EngineError::Hung { .. }), "{reopened}");
        assert_eq!(slot.reopened(), 0);
    }
}

mod hostile_input {
    use gpu_engine::{
        ReproClass,
        external::{BufferSpec, KernelSource, KernelSpec, Tier, compile},
        workloads::tensors::TensorFile,
    };
    use proptest::prelude::*;

    fn spec() -> KernelSpec {
        KernelSpec {
            entry_point: "main".into(),
            buffers: vec![BufferSpec { binding: 0, len: 64 }, BufferSpec { binding: 1, len: 64 }],
            workgroups: [1, 1, 1],
            tier: Tier::Verifiable(ReproClass::Unfused),
            loop_budget: 1000,
        }
    }

    /// Pieces a kernel is written with, in any order: parsed and validated, or refused; never a
    /// panic.
    fn wgsl() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            Just("@group(0) @binding(0) var<storage, read> x: array<f32>;\n".to_owned()),
            Just("@group(0) @binding(1) var<storage, read_write> y: array<f32>;\n".to_owned()),
            Just("@compute @workgroup_size(64)\n".to_owned()),
            Just("fn main(@builtin(global_invocation_id) id: vec3<u32>) {".to_owned()),
            Just("fn f(v: f32) -> f32 {".to_owned()),
            Just("loop {".to_owned()),
            Just("for (var i: u32 = 0u; i < 4u; i = i + 1u) {".to_owned()),
            Just("if (id.x < 3u) {".to_owned()),
            Just("}".to_owned()),
            Just("break;".to_owned()),
            Just("continue;".to_owned()),
            Just("workgroupBarrier();".to_owned()),
            Just("y[id.x] = x[id.x] * 2.0;".to_owned()),
            Just("return f(1.0);".to_owned()),
            Just("var n: u32 = 0u;".to_owned()),
            Just("n = n + 1u;".to_owned()),
            Just("let z = 1.0 / 0.0;".to_owned()),
            "[a-z0-9(){}<>;:,.=+*/@ \n-]{0,12}".prop_map(String::from),
        ];
        proptest::collection::vec(piece, 0..40).prop_map(|v| v.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn wgsl_of_any_shape_is_compiled_or_refused(source in wgsl()) {
            let _ = compile(&KernelSource::Wgsl(source), &spec());
        }

        #[test]
        fn spirv_of_any_bytes_is_compiled_or_refused(words in proptest::collection::vec(any::<u32>(), 0..120)) {
            let mut bytes: Vec<u8> = [0x0723_0203u32, 0x0001_0000, 0, 100, 0].iter().flat_map(|w| w.to_le_bytes()).collect();
            bytes.extend(words.iter().flat_map(|w| w.to_le_bytes()));
            let _ = compile(&KernelSource::Spirv(bytes), &spec());
        }
    }

    proptest! {
        /// A model's weights from a package: parsed or refused, never a panic, whatever the
        /// header claims (sizes, offsets past the end, shapes whose product overflows).
        #[test]
        fn safetensors_of_any_shape_are_read_or_refused(
            shape in proptest::collection::vec(prop_oneof![0usize..8, any::<usize>()], 0..4),
            offsets in (any::<u64>(), any::<u64>()),
            dtype in prop_oneof![Just("F32"), Just("F16"), Just("I64"), Just("X")],
            tail in proptest::collection::vec(any::<u8>(), 0..64),
            junk in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let _ = TensorFile::parse(&junk);
            let shape_text: Vec<String> = shape.iter().map(ToString::to_string).collect();
            let header = format!(
                r#"{{"w":{{"dtype":"{dtype}","shape":[{}],"data_offsets":[{},{}]}}}}"#,
                shape_text.join(","),
                offsets.0 % 80,
                offsets.1 % 80
            );
            let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
            bytes.extend_from_slice(header.as_bytes());
            bytes.extend_from_slice(&tail);
            if let Ok(file) = TensorFile::parse(&bytes) {
                let _ = file.f32("w", &shape);
            }
        }
    }
}

mod decoder {
    use gpu_engine::{
        ReproClass,
        workloads::decoder::{DecoderConfig, DecoderWeights, Head, KvCache, reference_greedy, reference_step},
    };

    /// The reference: `scripts/reference/gpt2.py` writes a small GPT-2 with seeded weights through
    /// transformers and prints what transformers computes with it. A skip without Python's
    /// packages, unless GRIDMINT_REQUIRE_REFERENCE=1 (set by `make test`).
    fn transformers(dir: &std::path::Path) -> Option<serde_json::Value> {
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/reference/gpt2.py");
        let out = std::process::Command::new("python3").arg(&script).arg(dir).output().expect("python3 runs");
        if out.status.success() {
            return Some(serde_json::from_slice(&out.stdout).expect("the reference prints JSON"));
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            std::env::var("GRIDMINT_REQUIRE_REFERENCE").as_deref() != Ok("1"),
            "GRIDMINT_REQUIRE_REFERENCE=1 but gpt2.py failed: {stderr}"
        );
        eprintln!("SKIPPED: gpt2.py failed (pip install torch transformers): {stderr}");
        None
    }

    /// The decoder's shapes from a GPT-2 `config.json`.
    fn config(dir: &std::path::Path) -> DecoderConfig {
        let text = std::fs::read_to_string(dir.join("config.json")).expect("config.json");
        let c: serde_json::Value = serde_json::from_str(&text).expect("JSON");
        let n = |key: &str| c[key].as_u64().unwrap_or_else(|| panic!("config.json: {key}")) as usize;
        assert_eq!(c["activation_function"], "gelu_new", "GPT-2's tanh GELU");
        DecoderConfig {
            vocab_size: n("vocab_size"),
            hidden: n("n_embd"),
            layers: n("n_layer"),
            heads: n("n_head"),
            intermediate: c["n_inner"].as_u64().map_or(4 * n("n_embd"), |i| i as usize),
            max_positions: n("n_positions"),
            layer_norm_eps: c["layer_norm_epsilon"].as_f64().expect("layer_norm_epsilon") as f32,
        }
    }

    /// Issue #24 point 4, on the CPU twin: a GPT-2 written by transformers loads; its
    /// teacher-forced logits agree with transformers' within 1e-4 (of the larger of the logit and
    /// 1) in both classes, and greedy decoding gives `model.generate`'s tokens.
    #[test]
    fn the_cpu_twin_matches_transformers_logits_and_greedy_tokens() {
        let dir = tempfile::tempdir().expect("temp");
        let Some(reference) = transformers(dir.path()) else { return };
        let config = config(dir.path());
        let bytes = std::fs::read(dir.path().join("model.safetensors")).expect("weights");
        let weights = DecoderWeights::from_safetensors(&bytes, config, Head::Tied).expect("a GPT-2 checkpoint loads");
        let prompts = reference["prompts"].as_array().expect("prompts");
        for class in [ReproClass::Unfused, ReproClass::Fused] {
            for (p, prompt) in prompts.iter().enumerate() {
                let ids: Vec<u32> =
                    prompt.as_array().expect("ids").iter().map(|v| v.as_u64().expect("id") as u32).collect();
                let want: Vec<f64> =
                    reference["logits"][p].as_array().expect("logits").iter().map(|v| v.as_f64().expect("f")).collect();
                let got = reference_step(&weights, class, &mut KvCache::default(), &ids, true).expect("forward");
                assert_eq!(got.len(), want.len(), "prompt {p}: rows x vocab");
                let worst = got
                    .iter()
                    .zip(&want)
                    .map(|(&g, &w)| (g as f64 - w).abs() / w.abs().max(1.0))
                    .fold(0.0f64, f64::max);
                eprintln!("{class:?} prompt {p}: logits within {worst:e} of transformers' (relative)");
                assert!(worst < 1e-4, "{class:?} prompt {p}: logits differ by {worst:e} (relative)");
                let greedy: Vec<u32> = reference["greedy"][p]
                    .as_array()
                    .expect("greedy")
                    .iter()
                    .map(|v| v.as_u64().expect("id") as u32)
                    .collect();
                let ours = reference_greedy(&weights, class, &ids, greedy.len(), None).expect("greedy");
                assert_eq!(ours, greedy, "{class:?} prompt {p}: greedy tokens");
            }
        }
        // And on the device, every prompt in one batch.
        let Some(gpu) = super::support::gpu() else { return };
        let ids = |v: &serde_json::Value| -> Vec<u32> {
            v.as_array().expect("ids").iter().map(|v| v.as_u64().expect("id") as u32).collect()
        };
        let prompts: Vec<Vec<u32>> = prompts.iter().map(ids).collect();
        let want: Vec<Vec<u32>> = reference["greedy"].as_array().expect("greedy").iter().map(ids).collect();
        let decoder =
            gpu_engine::workloads::decoder::Decoder::new(&gpu, weights, ReproClass::Unfused).expect("decoder");
        let got = decoder.greedy(&gpu, &prompts, want[0].len(), None).expect("greedy on the device");
        assert_eq!(got, want, "the device's greedy tokens are transformers'");
    }

    /// A config over the limits is refused before any tensor is read, and a weight of the wrong
    /// shape is an error naming it, never a panic.
    #[test]
    fn a_checkpoint_of_the_wrong_shapes_is_refused_with_the_tensor() {
        let dir = tempfile::tempdir().expect("temp");
        let Some(_) = transformers(dir.path()) else { return };
        let bytes = std::fs::read(dir.path().join("model.safetensors")).expect("weights");
        let config = config(dir.path());
        let wider = DecoderConfig { intermediate: config.intermediate + 1, ..config };
        let err = DecoderWeights::from_safetensors(&bytes, wider, Head::Tied).expect_err("wrong shape");
        assert!(err.to_string().contains("h.0.mlp.c_fc.weight"), "{err}");
        let huge = DecoderConfig { layers: 1 << 40, ..config };
        let err = DecoderWeights::from_safetensors(&bytes, huge, Head::Tied).expect_err("over the limits");
        assert!(err.to_string().contains("n_layer"), "{err}");
        // A subnormal epsilon: a row of zeros would normalize differently where a device flushes.
        let tiny = DecoderConfig { layer_norm_eps: 1e-39, ..config };
        let err = DecoderWeights::from_safetensors(&bytes, tiny, Head::Tied).expect_err("a subnormal epsilon");
        assert!(err.to_string().contains("from 2^-100"), "{err}");
        let odd = DecoderConfig { heads: 3, ..config };
        assert!(DecoderWeights::from_safetensors(&bytes, odd, Head::Tied).is_err(), "64 is not a multiple of 3 heads");
    }
}

mod decoder_device {
    use gpu_engine::{
        ReproClass,
        seeded::SplitMix64,
        workloads::{
            decoder::{Decoder, DecoderConfig, DecoderWeights, KvCache, reference_greedy, reference_step},
            generation::{Next, Sampling, choose, generate},
        },
    };

    use super::support::first_difference;

    fn tiny() -> DecoderWeights {
        let config = DecoderConfig {
            vocab_size: 301,
            hidden: 64,
            layers: 2,
            heads: 4,
            intermediate: 256,
            max_positions: 48,
            layer_norm_eps: 1e-5,
        };
        DecoderWeights::seeded(config, 11).expect("weights")
    }

    /// Issue #24 point 3: a batch of prompts of different lengths in one prefill, then decode
    /// steps with some sequences finished, on the device: every sequence's logits are the CPU
    /// twin's bits for that sequence alone, step by step, in both classes the device computes.
    #[test]
    fn prefill_and_decode_on_the_device_are_the_cpu_twins_bits_in_any_batch() {
        let Some(gpu) = super::support::gpu() else { return };
        let w = tiny();
        let prompts: Vec<Vec<u32>> = vec![vec![7, 300, 12, 5, 9, 1, 2], vec![42], vec![3, 3, 3, 200]];
        for class in [ReproClass::Unfused, ReproClass::Fused].into_iter().filter(|c| gpu.supports(*c)) {
            let decoder = Decoder::new(&gpu, w.clone(), class).expect("decoder");
            let mut cache = decoder.cache(&gpu, prompts.len(), 20).expect("cache");
            let work: Vec<(usize, &[u32])> = prompts.iter().enumerate().map(|(s, p)| (s, p.as_slice())).collect();
            let got = decoder.step(&gpu, &mut cache, &work).expect("prefill");
            let mut twins: Vec<KvCache> = vec![KvCache::default(); prompts.len()];
            for (s, p) in prompts.iter().enumerate() {
                let want = reference_step(&w, class, &mut twins[s], p, false).expect("twin");
                if let Some((j, g, c)) = first_difference(&got[s], &want) {
                    panic!("{class:?} prefill of prompt {s}: logit {j} is {g:e} on the device, {c:e} on the CPU");
                }
            }
            // Decode: sequence 1 alone, then sequences 2 and 0 together (another batch, order).
            for step in [vec![(1usize, 17u32)], vec![(2, 250), (0, 4)], vec![(0, 8), (1, 9), (2, 10)]] {
                let ids: Vec<[u32; 1]> = step.iter().map(|(_, t)| [*t]).collect();
                let work: Vec<(usize, &[u32])> = step.iter().zip(&ids).map(|((s, _), t)| (*s, &t[..])).collect();
                let got = decoder.step(&gpu, &mut cache, &work).expect("decode");
                for ((s, t), row) in step.iter().zip(&got) {
                    let want = reference_step(&w, class, &mut twins[*s], &[*t], false).expect("twin");
                    if let Some((j, g, c)) = first_difference(row, &want) {
                        panic!("{class:?} decode of {s} after {step:?}: logit {j}: {g:e} vs {c:e}");
                    }
                }
            }
            // Greedy generation of the batch is each prompt's own greedy continuation.
            let greedy = decoder.greedy(&gpu, &prompts, 6, None).expect("greedy");
            for (s, p) in prompts.iter().enumerate() {
                assert_eq!(greedy[s], reference_greedy(&w, class, p, 6, None).expect("twin"), "{class:?} prompt {s}");
            }
            // Generation two slots at a time, a slot taking the next prompt as one ends, sampled:
            // each prompt's tokens are its own sampled continuation on the CPU twin.
            let sampling = Sampling { temperature: 0.8, top_k: Some(50), top_p: Some(0.9) };
            let lengths = [6usize, 2, 9, 4];
            let prompts4: Vec<Vec<u32>> = prompts.iter().chain([&vec![11u32, 12]]).cloned().collect();
            let mut got: Vec<Vec<u32>> = vec![Vec::new(); 4];
            let mut draws: Vec<SplitMix64> = (0..4).map(|p| SplitMix64::new(p as u64)).collect();
            generate(&decoder, &gpu, &prompts4, 2, 20, |p, logits| -> Result<Next, gpu_engine::EngineError> {
                let token = choose(logits, &sampling, draws[p].next_u64());
                got[p].push(token);
                Ok(if got[p].len() == lengths[p] { Next::End } else { Next::Feed(token) })
            })
            .expect("generate");
            for (p, prompt) in prompts4.iter().enumerate() {
                let (mut twin, mut rng, mut ids) = (KvCache::default(), SplitMix64::new(p as u64), prompt.clone());
                let mut want = Vec::new();
                while want.len() < lengths[p] {
                    let logits = reference_step(&w, class, &mut twin, &ids, false).expect("twin");
                    let token = choose(&logits, &sampling, rng.next_u64());
                    want.push(token);
                    ids = vec![token];
                }
                assert_eq!(got[p], want, "{class:?} prompt {p}: sampled in slots of two");
            }
            // A row past its cache is refused with where, before anything runs.
            let mut small = decoder.cache(&gpu, 1, 2).expect("cache");
            let err = decoder.step(&gpu, &mut small, &[(0, &[1, 2, 3][..])]).expect_err("over the cache");
            assert!(err.to_string().contains("its cache holds 2"), "{err}");
            let err = decoder.step(&gpu, &mut small, &[(3, &[1][..])]).expect_err("no such slot");
            assert!(err.to_string().contains("slot 3"), "{err}");
        }
    }
}

mod llama {
    use gpu_engine::{
        ReproClass,
        seeded::SplitMix64,
        workloads::{
            decoder::{Head, KvCache},
            generation::{Next, Sampling, choose, generate},
            llama::{Biases, Llama, LlamaConfig, LlamaWeights, reference_step},
            tensors::Tensors,
        },
    };

    use super::support::first_difference;

    /// The reference: `scripts/reference/lm_job.py` writes a small Llama-family model with seeded
    /// weights through transformers and prints what transformers computes with it.
    fn transformers(dir: &std::path::Path, family: &str) -> Option<serde_json::Value> {
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/reference/lm_job.py");
        let out =
            std::process::Command::new("python3").arg(&script).arg(dir).arg(family).output().expect("python3 runs");
        if out.status.success() {
            return Some(serde_json::from_slice(&out.stdout).expect("the reference prints JSON"));
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            std::env::var("GRIDMINT_REQUIRE_REFERENCE").as_deref() != Ok("1"),
            "GRIDMINT_REQUIRE_REFERENCE=1 but lm_job.py failed: {stderr}"
        );
        eprintln!("SKIPPED: lm_job.py failed (pip install torch transformers): {stderr}");
        None
    }

    /// The model's shapes from its `config.json` (rope_theta in `rope_parameters`, as
    /// transformers 5 writes it).
    fn config(dir: &std::path::Path) -> (LlamaConfig, bool) {
        let c: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).expect("config")).expect("JSON");
        let n = |key: &str| c[key].as_u64().unwrap_or_else(|| panic!("config.json: {key}")) as usize;
        let config = LlamaConfig {
            vocab_size: n("vocab_size"),
            hidden: n("hidden_size"),
            layers: n("num_hidden_layers"),
            heads: n("num_attention_heads"),
            kv_heads: n("num_key_value_heads"),
            head_dim: n("hidden_size") / n("num_attention_heads"),
            intermediate: n("intermediate_size"),
            max_positions: n("max_position_embeddings"),
            rms_norm_eps: c["rms_norm_eps"].as_f64().expect("eps") as f32,
            rope_theta: c["rope_parameters"]["rope_theta"].as_f64().expect("rope_theta") as f32,
        };
        (config, c["tie_word_embeddings"].as_bool().unwrap_or(false))
    }

    fn ids(v: &serde_json::Value) -> Vec<u32> {
        v.as_array().expect("ids").iter().map(|i| i.as_u64().expect("id") as u32).collect()
    }

    /// Issue #24 points 2 and 4, on the CPU twin: a Llama (grouped-query attention, its own head)
    /// and a Qwen2 (q/k/v biases, tied head, rope_theta 1e6) written by transformers load; their
    /// teacher-forced logits agree with transformers' within 1e-4 (of the larger of the logit
    /// and 1) in both classes, and greedy decoding gives `model.generate`'s tokens. Then on the
    /// device, every prompt at once in slots of two: the same greedy tokens.
    #[test]
    fn the_cpu_twin_matches_transformers_for_llama_and_qwen2() {
        for (family, biases) in [("llama", Biases::default()), ("qwen2", Biases { qkv: true, o: false, mlp: false })] {
            let dir = tempfile::tempdir().expect("temp");
            let Some(reference) = transformers(dir.path(), family) else { return };
            let model = dir.path().join(format!("tiny-{family}"));
            let (config, tied) = config(&model);
            assert_eq!(config.kv_heads * 2, config.heads, "grouped-query attention is exercised");
            let bytes = std::fs::read(model.join("model.safetensors")).expect("weights");
            let tensors = Tensors::parse(&[&bytes]).expect("parses");
            let head = if tied { Head::Tied } else { Head::Own };
            let weights = LlamaWeights::from_tensors(&tensors, config, biases, head).expect("a checkpoint loads");
            let eos = reference["eos"].as_u64().map(|e| e as u32);
            let completions = reference["completions"].as_array().expect("completions");
            for class in [ReproClass::Unfused, ReproClass::Fused] {
                for (p, c) in completions.iter().enumerate() {
                    let prompt = ids(&c["prompt_ids"]);
                    let want: Vec<f64> =
                        c["logits"].as_array().expect("logits").iter().map(|v| v.as_f64().expect("f")).collect();
                    let got = reference_step(&weights, class, &mut KvCache::default(), &prompt, true).expect("forward");
                    assert_eq!(got.len(), want.len(), "{family} prompt {p}: rows x vocab");
                    let worst = got
                        .iter()
                        .zip(&want)
                        .map(|(&g, &w)| (g as f64 - w).abs() / w.abs().max(1.0))
                        .fold(0.0f64, f64::max);
                    eprintln!("{family} {class:?} prompt {p}: logits within {worst:e} of transformers' (relative)");
                    assert!(worst < 1e-4, "{family} {class:?} prompt {p}: logits differ by {worst:e} (relative)");
                    let greedy = ids(&c["token_ids"]);
                    let mut cache = KvCache::default();
                    let mut logits = reference_step(&weights, class, &mut cache, &prompt, false).expect("prefill");
                    let mut ours = Vec::new();
                    while ours.len() < greedy.len() {
                        let token = choose(&logits, &Sampling::GREEDY, 0);
                        ours.push(token);
                        if Some(token) == eos || ours.len() == greedy.len() {
                            break;
                        }
                        logits = reference_step(&weights, class, &mut cache, &[token], false).expect("step");
                    }
                    assert_eq!(ours, greedy, "{family} {class:?} prompt {p}: greedy tokens");
                }
            }
            let Some(gpu) = super::support::gpu() else { return };
            let llama = Llama::new(&gpu, weights, ReproClass::Unfused).expect("on the device");
            let prompts: Vec<Vec<u32>> = completions.iter().map(|c| ids(&c["prompt_ids"])).collect();
            let lengths: Vec<usize> = completions.iter().map(|c| ids(&c["token_ids"]).len()).collect();
            let mut got: Vec<Vec<u32>> = vec![Vec::new(); prompts.len()];
            generate(&llama, &gpu, &prompts, 2, 64, |p, logits| -> Result<Next, gpu_engine::EngineError> {
                let token = choose(logits, &Sampling::GREEDY, 0);
                got[p].push(token);
                Ok(if got[p].len() == lengths[p] || Some(token) == eos { Next::End } else { Next::Feed(token) })
            })
            .expect("generates");
            for (p, c) in completions.iter().enumerate() {
                assert_eq!(got[p], ids(&c["token_ids"]), "{family} prompt {p} on the device");
            }
        }
    }

    /// A Llama with grouped-query attention on the device: a batched prefill of prompts of
    /// different lengths, decode steps in other batches, and sampled generation in two slots are
    /// the CPU twin's bits for each sequence alone, in both classes the device computes.
    #[test]
    fn a_llama_on_the_device_is_the_cpu_twins_bits_in_any_batch() {
        let Some(gpu) = super::support::gpu() else { return };
        let config = LlamaConfig {
            vocab_size: 301,
            hidden: 64,
            layers: 2,
            heads: 8,
            kv_heads: 2,
            head_dim: 8,
            intermediate: 96,
            max_positions: 48,
            rms_norm_eps: 1e-6,
            rope_theta: 10_000.0,
        };
        let w = LlamaWeights::seeded(config, 5).expect("weights");
        let prompts: Vec<Vec<u32>> = vec![vec![7, 300, 12, 5, 9, 1, 2], vec![42], vec![3, 3, 3, 200]];
        for class in [ReproClass::Unfused, ReproClass::Fused].into_iter().filter(|c| gpu.supports(*c)) {
            let llama = Llama::new(&gpu, w.clone(), class).expect("llama");
            let mut cache = llama.cache(&gpu, prompts.len(), 20).expect("cache");
            let work: Vec<(usize, &[u32])> = prompts.iter().enumerate().map(|(s, p)| (s, p.as_slice())).collect();
            let got = llama.step(&gpu, &mut cache, &work).expect("prefill");
            let mut twins: Vec<KvCache> = vec![KvCache::default(); prompts.len()];
            for (s, p) in prompts.iter().enumerate() {
                let want = reference_step(&w, class, &mut twins[s], p, false).expect("twin");
                if let Some((j, g, c)) = first_difference(&got[s], &want) {
                    panic!("{class:?} prefill of prompt {s}: logit {j} is {g:e} on the device, {c:e} on the CPU");
                }
            }
            for step in [vec![(1usize, 17u32)], vec![(2, 250), (0, 4)], vec![(0, 8), (1, 9), (2, 10)]] {
                let ids: Vec<[u32; 1]> = step.iter().map(|(_, t)| [*t]).collect();
                let work: Vec<(usize, &[u32])> = step.iter().zip(&ids).map(|((s, _), t)| (*s, &t[..])).collect();
                let got = llama.step(&gpu, &mut cache, &work).expect("decode");
                for ((s, t), row) in step.iter().zip(&got) {
                    let want = reference_step(&w, class, &mut twins[*s], &[*t], false).expect("twin");
                    if let Some((j, g, c)) = first_difference(row, &want) {
                        panic!("{class:?} decode of {s} after {step:?}: logit {j}: {g:e} vs {c:e}");
                    }
                }
            }
            let sampling = Sampling { temperature: 0.8, top_k: Some(50), top_p: Some(0.9) };
            let lengths = [6usize, 2, 9];
            let mut got: Vec<Vec<u32>> = vec![Vec::new(); 3];
            let mut draws: Vec<SplitMix64> = (0..3).map(|p| SplitMix64::new(p as u64)).collect();
            generate(&llama, &gpu, &prompts, 2, 20, |p, logits| -> Result<Next, gpu_engine::EngineError> {
                let token = choose(logits, &sampling, draws[p].next_u64());
                got[p].push(token);
                Ok(if got[p].len() == lengths[p] { Next::End } else { Next::Feed(token) })
            })
            .expect("generate");
            for (p, prompt) in prompts.iter().enumerate() {
                let (mut twin, mut rng, mut ids) = (KvCache::default(), SplitMix64::new(p as u64), prompt.clone());
                let mut want = Vec::new();
                while want.len() < lengths[p] {
                    let logits = reference_step(&w, class, &mut twin, &ids, false).expect("twin");
                    let token = choose(&logits, &sampling, rng.next_u64());
                    want.push(token);
                    ids = vec![token];
                }
                assert_eq!(got[p], want, "{class:?} prompt {p}: sampled in slots of two");
            }
        }
    }
}

mod finetune {
    use gpu_engine::{
        ReproClass,
        attention::{
            AttentionShape,
            backward::{AttentionBackward, attention_backward},
        },
        kernels::{
            backward::{LayerNormBackward, RowLists, ScatterRows, layernorm_backward, record_zero, scatter_rows},
            elementwise::{Binary, BinaryOp},
            rows::RowsShape,
            train::{AdamW, AdamWStep, adamw},
        },
        reference,
        workloads::{
            encoder::{EncoderConfig, EncoderWeights},
            finetune::{ClassifierHead, FinetuneOptions, Finetuner, ReferenceFinetuner},
        },
    };

    use super::support::{first_difference, gpu, mixed};

    fn same(what: &str, got: &[f32], want: &[f32]) {
        assert_eq!(got.len(), want.len(), "{what}: lengths");
        if let Some((i, g, w)) = first_difference(got, want) {
            panic!("{what} differs at {i}: {g:e} (device) vs {w:e} (twin)");
        }
    }

    /// Values in the range activations and gradients take (mixed() has 2^20 and 2^-36 magnitudes
    /// too, which a layer norm's statistics turn into infinities and zeros on both sides alike).
    fn moderate(seed: u64, n: usize) -> Vec<f32> {
        let mut rng = gpu_engine::seeded::SplitMix64::new(seed);
        (0..n).map(|_| gpu_engine::numeric::canonicalize(rng.range(-2.0, 2.0))).collect()
    }

    #[test]
    fn backward_kernels_and_adamw_match_their_twins() {
        let Some(gpu) = gpu() else { return };
        let run = |record: &dyn Fn(&mut gpu_engine::Recorder)| {
            let mut rec = gpu.recorder().expect("recorder");
            record(&mut rec);
            gpu.submit("test", rec).expect("runs");
        };
        // The layer norm's backward, on moderate and on mixed values.
        for (rows, n, seed) in [(5, 384, 1), (3, 7, 2)] {
            for x in [moderate(seed, rows * n), mixed(seed, rows * n)] {
                let (g, dy) = (moderate(seed + 10, n), moderate(seed + 20, rows * n));
                let (bx, bg, bdy) =
                    (gpu.upload(&x).expect("up"), gpu.upload(&g).expect("up"), gpu.upload(&dy).expect("up"));
                let (dx, xdy) = (
                    gpu.output::<f32>((rows * n) as u64).expect("a"),
                    gpu.output::<f32>((rows * n) as u64).expect("a"),
                );
                let kernel = LayerNormBackward::new(&gpu).expect("pipeline");
                let shape = RowsShape { rows, n };
                run(&|rec| kernel.record(&gpu, rec, &bx, &bg, &bdy, &dx, &xdy, shape, 1e-12).expect("records"));
                let (want_dx, want_xdy) = layernorm_backward(&x, &g, &dy, rows, n, 1e-12);
                same("layernorm dx", &gpu.download(&dx).expect("read"), &want_dx);
                same("layernorm x^ dy", &gpu.download(&xdy).expect("read"), &want_xdy);
            }
        }
        // Attention's backward with padding: sequences of 5, 1 and 3 tokens padded to 5.
        let s = AttentionShape { batch: 3, seq: 5, heads: 2, head_dim: 8 };
        let lens = [5u32, 1, 3];
        let (qkv, dctx) = (moderate(3, s.rows() * 3 * s.width()), moderate(4, s.rows() * s.width()));
        let kernel = AttentionBackward::new(&gpu, s.head_dim).expect("pipeline");
        let scratch = AttentionBackward::scratch_len(s);
        let (p, ds) = (gpu.output::<f32>(scratch).expect("a"), gpu.output::<f32>(scratch).expect("a"));
        let dqkv = gpu.output::<f32>(qkv.len() as u64).expect("a");
        let (bq, bd) = (gpu.upload(&qkv).expect("up"), gpu.upload(&dctx).expect("up"));
        run(&|rec| kernel.record(&gpu, rec, &bq, &lens, &bd, (&p, &ds), &dqkv, s, 0.353_553_4).expect("records"));
        let mut rec = gpu.recorder().expect("recorder");
        let err = kernel.record(&gpu, &mut rec, &bq, &[5, 6, 3], &bd, (&p, &ds), &dqkv, s, 0.5).expect_err("6 > 5");
        assert!(err.to_string().contains("sequence 1 has 6 tokens, more than the padded length 5"), "{err}");
        let want = attention_backward(&qkv, &lens, &dctx, s, 0.353_553_4);
        same("attention dqkv", &gpu.download(&dqkv).expect("read"), &want);
        assert!(want.iter().any(|v| *v != 0.0), "the gradient is not all zeros");
        let padded = (s.seq + 1) * 3 * s.width(); // sequence 1's second row: padding
        assert!(want[padded..padded + 3 * s.width()].iter().all(|v| *v == 0.0), "a padding row's gradient is zero");

        // Row lists into a table, the rows no list names kept.
        let n = 6;
        let x = moderate(5, 7 * n);
        let lists = RowLists::group([Some(3), None, Some(0), Some(3), Some(9), None, Some(0)]);
        assert_eq!(lists.dest, vec![0, 3, 9]);
        assert_eq!((lists.start.clone(), lists.src.clone()), (vec![0, 2, 4, 5], vec![2, 6, 0, 3, 4]));
        let kernel = ScatterRows::new(&gpu).expect("pipeline");
        let (bx, table) = (gpu.upload(&x).expect("up"), gpu.upload(&vec![7.0f32; 10 * n]).expect("up"));
        run(&|rec| {
            record_zero(rec, &table).expect("zero");
            kernel.record(&gpu, rec, &bx, &lists, &table, n).expect("records");
        });
        let mut want = vec![0.0f32; 10 * n];
        scatter_rows(&x, &lists, &mut want, n);
        same("scatter", &gpu.download(&table).expect("read"), &want);
        let twice = RowLists { start: vec![0, 1, 2], src: vec![0, 1], dest: vec![3, 3] };
        let mut rec = gpu.recorder().expect("recorder");
        let err = kernel.record(&gpu, &mut rec, &bx, &twice, &table, n).expect_err("row 3 twice would race");
        assert!(err.to_string().contains("strictly increasing"), "{err}");
        let bad = RowLists { start: vec![0, 1], src: vec![7], dest: vec![0] };
        let mut rec = gpu.recorder().expect("recorder");
        let err = kernel.record(&gpu, &mut rec, &bx, &bad, &table, n).expect_err("row 7 is past x");
        assert!(err.to_string().contains("row 7 is outside x's 7 rows"), "{err}");

        // GELU's gradient and AdamW, gradients from 1e-9 to 1e3.
        let (pre, dy) = (moderate(6, 999), mixed(7, 999));
        let kernel = Binary::new(&gpu, BinaryOp::GeluGrad, false).expect("pipeline");
        let (ba, bb, out) =
            (gpu.upload(&dy).expect("up"), gpu.upload(&pre).expect("up"), gpu.output::<f32>(999).expect("a"));
        run(&|rec| kernel.record(&gpu, rec, &ba, &bb, &out, 999).expect("records"));
        same(
            "gelu grad",
            &gpu.download(&out).expect("read"),
            &reference::binary(BinaryOp::GeluGrad, &dy, &pre, 999, false),
        );
        let mut rng = gpu_engine::seeded::SplitMix64::new(8);
        let grad: Vec<f32> = (0..999).map(|_| rng.range(-1.0, 1.0) * 10f32.powi(rng.below(13) as i32 - 9)).collect();
        let grad: Vec<f32> = grad.into_iter().map(gpu_engine::numeric::canonicalize).collect();
        let (mut w, mut m, mut v) = (moderate(9, 999), vec![0.0f32; 999], vec![0.0f32; 999]);
        let bufs = [&w, &m, &v, &grad].map(|t| gpu.upload(t).expect("up"));
        let kernel = AdamW::new(&gpu).expect("pipeline");
        for t in 1..=3 {
            let step = AdamWStep::new(5e-5 * f64::from(t), 0.01, (0.9, 0.999), 1e-8, t);
            run(&|rec| kernel.record(&gpu, rec, &bufs[0], (&bufs[1], &bufs[2]), &bufs[3], step).expect("records"));
            adamw(&mut w, &mut m, &mut v, &grad, step);
        }
        same("adamw w", &gpu.download(&bufs[0]).expect("read"), &w);
        same("adamw m", &gpu.download(&bufs[1]).expect("read"), &m);
        same("adamw v", &gpu.download(&bufs[2]).expect("read"), &v);
        // A gradient past 2^40 makes v infinite: no step (m / inf is 0), the weight only decayed,
        // on the device as on the CPU.
        let huge = vec![3e12f32, -3e12, f32::from_bits(0x7fc0_0000), 1.0];
        let (mut w2, mut m2, mut v2) = (vec![1.0f32; 4], vec![0.0f32; 4], vec![0.0f32; 4]);
        let bufs2 = [&w2, &m2, &v2, &huge].map(|t| gpu.upload(t).expect("up"));
        let step = AdamWStep::new(1e-3, 0.01, (0.9, 0.999), 1e-8, 1);
        run(&|rec| kernel.record(&gpu, rec, &bufs2[0], (&bufs2[1], &bufs2[2]), &bufs2[3], step).expect("records"));
        adamw(&mut w2, &mut m2, &mut v2, &huge, step);
        same("adamw w past 2^40", &gpu.download(&bufs2[0]).expect("read"), &w2);
        assert_eq!(&w2[..3], &[step.decay; 3], "decayed, no step");
        assert!(w2[3] < step.decay, "a finite gradient steps");
        // A gradient of 1e-6 moves its weight by about the learning rate, as in PyTorch (without
        // the moments' scaling, its square would be flushed and the step 100 times larger).
        let (mut w1, mut m1, mut v1) = (vec![1.0f32], vec![0.0f32], vec![0.0f32]);
        adamw(&mut w1, &mut m1, &mut v1, &[1e-6], AdamWStep::new(1e-3, 0.0, (0.9, 0.999), 1e-8, 1));
        assert!((1.0 - w1[0] - 1e-3).abs() < 2e-5, "a step of {}", 1.0 - w1[0]);
    }

    fn small() -> EncoderConfig {
        EncoderConfig {
            vocab_size: 40,
            hidden: 16,
            layers: 2,
            heads: 2,
            intermediate: 32,
            max_positions: 12,
            type_vocab_size: 2,
            layer_norm_eps: 1e-12,
        }
    }

    #[test]
    fn fine_tuning_on_the_device_gives_its_twins_losses_and_weights() {
        let Some(gpu) = gpu() else { return };
        let config = small();
        let weights = EncoderWeights::seeded(config, 11).expect("weights");
        let mut rng = gpu_engine::seeded::SplitMix64::new(12);
        let pooler = (0..16 * 16).map(|_| rng.range(-0.2, 0.2)).collect();
        let head = ClassifierHead::new(pooler, vec![0.01; 16], 3, 13).expect("head");
        // Sequences of 1 to 9 tokens, [CLS] = 1 first, the padding id 0 inside one of them.
        let batches: Vec<(Vec<Vec<u32>>, Vec<u32>)> = (0..3u32)
            .map(|b| {
                let seqs: Vec<Vec<u32>> = (0..4u32)
                    .map(|s| {
                        let len = 1 + ((b * 4 + s) * 5 % 9) as usize;
                        std::iter::once(1).chain((1..len).map(|t| (b * 7 + s * 3 + t as u32 * 5) % 40)).collect()
                    })
                    .collect();
                let labels = (0..4).map(|s| (b + s) % 3).collect();
                (seqs, labels)
            })
            .collect();
        for (trained_layers, class) in [(2, ReproClass::Unfused), (1, ReproClass::Unfused), (2, ReproClass::Fused)] {
            if !gpu.supports(class) {
                eprintln!("SKIPPED: {} does not reproduce the {} class", gpu.info().name, class.as_str());
                continue;
            }
            let options = FinetuneOptions {
                labels: 3,
                learning_rate: 1e-2,
                weight_decay: 0.01,
                warmup_steps: 1,
                total_steps: 3,
                trained_layers,
                betas: FinetuneOptions::BETAS,
                eps: FinetuneOptions::EPS,
                pad_id: 0,
            };
            let mut device = Finetuner::new(&gpu, weights.clone(), head.clone(), options, class).expect("finetuner");
            let mut twin = ReferenceFinetuner::new(weights.clone(), head.clone(), options, class).expect("twin");
            for (seqs, labels) in &batches {
                let got = device.step(&gpu, seqs, labels).expect("a device step");
                let want = twin.step(seqs, labels).expect("a twin step");
                assert_eq!(got.to_bits(), want.to_bits(), "loss {got} vs {want} ({trained_layers} layers, {class:?})");
            }
            let (dw, dh) = device.weights(&gpu).expect("weights");
            let (tw, th) = twin.weights();
            assert_eq!(&dh, th, "the head");
            for (l, (a, b)) in dw.layers.iter().zip(&tw.layers).enumerate() {
                let (mut a, mut b) = (a.clone(), b.clone());
                for (n, ((x, _), (y, _))) in a.tensors_mut().into_iter().zip(b.tensors_mut()).enumerate() {
                    same(&format!("layer {l} tensor {n}"), x, y);
                }
            }
            for (n, (x, y)) in [(&dw.word, &tw.word), (&dw.position, &tw.position), (&dw.emb_ln_g, &tw.emb_ln_g)]
                .into_iter()
                .enumerate()
            {
                same(&format!("embedding tensor {n}"), x, y);
            }
            // What was trained moved; what was not did not.
            assert_ne!(tw.layers[1].qkv_w, weights.layers[1].qkv_w, "the top layer trained");
            assert_eq!(tw.layers[0].qkv_w != weights.layers[0].qkv_w, trained_layers == 2);
            assert_eq!(tw.word != weights.word, trained_layers == 2);
            // The padding id's row: weight decay only, no gradient step.
            if trained_layers == 2 {
                let decayed: f32 = (0..3).fold(weights.word[0], |w, t| {
                    gpu_engine::numeric::canonicalize(w * (1.0 - options.learning_rate_at(t) * 0.01) as f32)
                });
                assert_eq!(tw.word[0], decayed, "row 0 ([PAD]) is only decayed");
            }
        }
    }

    /// Issue #25 point 2: a run stopped after a step and resumed from its state as files (the
    /// weights in transformers' names, the optimizer's steps and moments) gives the uninterrupted
    /// run's losses, weights and moments, bit for bit; a state with a moment that no run leaves
    /// (NaN) is refused naming the tensor.
    #[test]
    fn a_run_resumed_from_its_state_as_files_gives_the_uninterrupted_runs_bits() {
        use gpu_engine::workloads::finetune::{self, Moments};
        let Some(gpu) = gpu() else { return };
        let config = small();
        let weights = EncoderWeights::seeded(config, 21).expect("weights");
        let head = ClassifierHead::drawn(16, 2, 22).expect("head");
        let batches: Vec<(Vec<Vec<u32>>, Vec<u32>)> = (0..3u32)
            .map(|b| {
                let seqs = (0..3u32)
                    .map(|s| (0..2 + (b + s) % 5).map(|t| 1 + (b * 5 + s * 3 + t * 7) % 39).collect())
                    .collect();
                (seqs, (0..3).map(|s| (b + s) % 2).collect())
            })
            .collect();
        for trained_layers in [2, 1] {
            let options = FinetuneOptions {
                labels: 2,
                learning_rate: 1e-2,
                weight_decay: 0.01,
                warmup_steps: 1,
                total_steps: 3,
                trained_layers,
                betas: FinetuneOptions::BETAS,
                eps: FinetuneOptions::EPS,
                pad_id: 0,
            };
            let class = ReproClass::Unfused;
            let mut whole = Finetuner::new(&gpu, weights.clone(), head.clone(), options, class).expect("finetuner");
            let losses: Vec<f64> = batches.iter().map(|(s, l)| whole.step(&gpu, s, l).expect("a step")).collect();
            let mut first = Finetuner::new(&gpu, weights.clone(), head.clone(), options, class).expect("finetuner");
            assert_eq!(first.step(&gpu, &batches[0].0, &batches[0].1).expect("a step").to_bits(), losses[0].to_bits());
            let (w, h) = first.weights(&gpu).expect("weights");
            let model = finetune::to_safetensors(&w, &h).expect("model file");
            let optimizer = first.moments(&gpu).expect("moments").to_safetensors().expect("optimizer file");
            let (w, h) = finetune::from_safetensors(&model, config, 2).expect("read back");
            let moments = Moments::from_safetensors(&optimizer, &w, &h, &options).expect("read back");
            assert_eq!(moments.steps, 1);
            let mut rest =
                Finetuner::resume(&gpu, w.clone(), h.clone(), options, class, moments.clone()).expect("resumes");
            for ((s, l), want) in batches[1..].iter().zip(&losses[1..]) {
                assert_eq!(rest.step(&gpu, s, l).expect("a step").to_bits(), want.to_bits(), "{trained_layers} layers");
            }
            let end = |t: &Finetuner| {
                let (w, h) = t.weights(&gpu).expect("weights");
                (
                    finetune::to_safetensors(&w, &h).expect("file"),
                    t.moments(&gpu).expect("moments").to_safetensors().expect("file"),
                )
            };
            assert!(end(&rest) == end(&whole), "{trained_layers} layers: the same weights and moments, byte for byte");

            let mut poisoned = moments.clone();
            poisoned.head.0[2][0] = f32::NAN;
            let err = Moments::from_safetensors(&poisoned.to_safetensors().expect("file"), &w, &h, &options)
                .expect_err("NaN is no run's moment");
            assert!(err.to_string().contains("adamw.m.head.classifier_w"), "{err}");
        }
    }

    #[test]
    fn bad_batches_and_options_are_refused_with_what_is_wrong() {
        let config = small();
        let weights = EncoderWeights::seeded(config, 11).expect("weights");
        let head = ClassifierHead::new(vec![0.0; 256], vec![0.0; 16], 2, 1).expect("head");
        let options = FinetuneOptions {
            labels: 2,
            learning_rate: 1e-3,
            weight_decay: 0.0,
            warmup_steps: 0,
            total_steps: 1,
            trained_layers: 3,
            betas: FinetuneOptions::BETAS,
            eps: FinetuneOptions::EPS,
            pad_id: 0,
        };
        let err = ReferenceFinetuner::new(weights.clone(), head.clone(), options, ReproClass::Unfused)
            .expect_err("3 > 2 layers");
        assert!(err.to_string().contains("3 layers to train, but the model has 2"), "{err}");
        let mut twin = ReferenceFinetuner::new(
            weights,
            head,
            FinetuneOptions { trained_layers: 1, ..options },
            ReproClass::Unfused,
        )
        .expect("twin");
        for (seqs, labels, message) in [
            (vec![vec![1, 2]], vec![2], "sequence 0 has label 2, but the classifier has 2 classes"),
            (vec![vec![1, 40]], vec![0], "sequence 0: id 40 is outside the vocabulary"),
            (vec![vec![1; 13]], vec![0], "sequence 0 has 13 tokens (1 to 12)"),
            (vec![vec![]], vec![0], "sequence 0 has 0 tokens"),
            (vec![vec![1]], vec![0, 1], "a batch of 1 sequences and 2 labels"),
        ] {
            let err = twin.step(&seqs, &labels).expect_err(message);
            assert!(err.to_string().contains(message), "{err}");
        }
        assert_eq!(twin.steps(), 0, "a refused batch takes no step");
        // The schedule: warm-up from 0, then down to 0.
        let o = FinetuneOptions { learning_rate: 1.0, warmup_steps: 2, total_steps: 6, ..options };
        let lrs: Vec<f64> = (0..7).map(|t| o.learning_rate_at(t)).collect();
        assert_eq!(lrs, vec![0.0, 0.5, 1.0, 0.75, 0.5, 0.25, 0.0]);
    }
}
