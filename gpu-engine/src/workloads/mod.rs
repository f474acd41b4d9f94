//! Model workloads built from the kernel library: a BERT-family sentence encoder (inference), a
//! GPT-2 decoder (generation; its CPU twin so far) and an MLP classifier (training). Each runs as a few command buffers of deterministic kernels, so
//! its outputs are the same bits on every device; each has a CPU twin for tests and referees.
//!
//! Workloads take tensors and token ids, never files or jobs: reading packages, tokenizing and
//! writing outputs is the node's runner.

pub mod challenge;
pub mod decoder;
pub mod encoder;
pub mod mlp;
pub mod tensors;
