//! Compiles every kernel in `shaders/` (GLSL compute) to SPIR-V with `glslc` at build time.
//! The kernels are part of the verifiable tier: what is compiled here is what every provider runs.

use std::{
    env, fs,
    path::{Path, PathBuf},
    process::Command,
};

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let shaders = PathBuf::from("shaders");
    println!("cargo:rerun-if-changed=shaders");
    let glslc = env::var("GLSLC").unwrap_or_else(|_| "glslc".to_owned());
    let mut entries: Vec<_> = fs::read_dir(&shaders)
        .expect("gpu-engine/shaders exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "comp"))
        .collect();
    entries.sort();
    for src in entries {
        let name = src.file_stem().expect("file name").to_string_lossy().into_owned();
        for (suffix, defines) in variants(&name) {
            compile(&glslc, &shaders, &src, &defines, &out.join(format!("{name}{suffix}.spv")));
        }
    }
}

/// The SPIR-V modules made from one kernel file: (file-name suffix, -D defines). Most kernels are
/// one module; the wide GEMM is one per class, slice depth, stage count and load width, so that
/// each module holds only its own code path (see the comment in shaders/gemm_wide.comp).
fn variants(name: &str) -> Vec<(String, Vec<String>)> {
    if name != "gemm_wide" {
        return vec![(String::new(), Vec::new())];
    }
    let mut out = Vec::new();
    for fused in [false, true] {
        for depth in [8, 16] {
            for stages in [1, 2] {
                for vector in [false, true] {
                    let suffix =
                        format!("-{}{depth}s{stages}{}", if fused { "f" } else { "u" }, if vector { "v" } else { "" });
                    let defines = vec![
                        format!("-DGEMM_FUSED={}", u8::from(fused)),
                        format!("-DGEMM_BK={depth}"),
                        format!("-DGEMM_STAGES={stages}"),
                        format!("-DGEMM_VEC={}", u8::from(vector)),
                    ];
                    out.push((suffix, defines));
                }
            }
        }
    }
    out
}

fn compile(glslc: &str, shaders: &Path, src: &Path, defines: &[String], spv: &Path) {
    let status = Command::new(glslc)
        // -O0: glslc's optimizer (spirv-opt) turned the `precise` multiply-then-add of the
        // unrolled GEMM loops into fma() (measured with glslc from shaderc 2023.2: 511 of 512
        // in gemm.comp), which the H200 then fused and llvmpipe did not, so the unfused class
        // lost its bits. Drivers optimize SPIR-V themselves; the kernel tests in shaders.rs
        // check that every float op keeps NoContraction and that fma() appears only as written
        // (in gemm_wide.comp, once per expansion of the macro that writes it).
        .args(["--target-env=vulkan1.1", "-fshader-stage=compute", "-O0", "-Werror"])
        .args(defines)
        .arg("-I")
        .arg(shaders)
        .arg(src)
        .arg("-o")
        .arg(spv)
        .status()
        .unwrap_or_else(|e| {
            panic!(
                "could not run `{glslc}` to compile {}: {e}. Install it: `apt-get install glslc` (or `make setup`)",
                src.display()
            )
        });
    assert!(status.success(), "glslc failed on {} ({})", src.display(), defines.join(" "));
}
