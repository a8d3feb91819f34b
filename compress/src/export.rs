//! `eie export`: a compressed layer as `.npy` files (plus `meta.json`) that numpy/scipy users can check.
//!
//! | file | dtype, shape | content |
//! |---|---|---|
//! | `csr_indptr.npy`, `csr_indices.npy`, `csr_data.npy` | i64 (outputs+1), i32 (nnz), f32 (nnz) | decoded W as CSR: `scipy.sparse.csr_matrix((data, indices, indptr), shape)` |
//! | `csr_codes.npy` | u8 (nnz) | W's codebook indices, aligned with `csr_data` |
//! | `codebook.npy` | f32 (entries) | shared weights, entry 0 = 0.0 |
//! | `bias.npy`, `bias_codes.npy` | f32 / u8 (outputs) | decoded bias and its indices (absent without a bias) |
//! | `input.npy` | f32 (inputs) | the input activations |
//! | `output_f64.npy` | f64 (outputs) | the f64 reference `f(W a + v)` |
//! | `codebook_q.npy`, `input_q.npy`, `output_q.npy` | i16 | fixed-point codebook (padded), activations of every encoded column (bias column last, = 1.0), and the fixed-point reference output |
//! | `eie_v.npy`, `eie_z.npy` | u8 (entries) | every PE's `v` and `z`, PE 0 first |
//! | `eie_pe_ptr.npy` | i64 (pes+1) | where each PE's entries start in `eie_v` / `eie_z` |
//! | `eie_col_ptr.npy` | u32 (pes, cols+1) | each PE's column pointers (relative to its own entries) |

use crate::error::{CompressError, Result};
use crate::layer::CompressedLayer;
use crate::npy::write;
use std::path::Path;

/// Writes `layer` into `dir` (created if needed); returns the file names written.
pub fn export_layer(layer: &CompressedLayer, dir: &Path) -> Result<Vec<String>> {
    std::fs::create_dir_all(dir).map_err(|e| CompressError::io(dir, "creating the folder", e))?;
    let mut written = Vec::new();
    let mut put = |name: &str, r: Result<()>| -> Result<()> {
        r?;
        written.push(name.to_string());
        Ok(())
    };
    let csr = layer.csr_arrays();
    let f = |n: &str| dir.join(n);
    let indptr: Vec<i64> = csr.indptr.iter().map(|&p| p as i64).collect();
    let indices: Vec<i32> = csr.indices.iter().map(|&j| j as i32).collect();
    put(
        "csr_indptr.npy",
        write(&f("csr_indptr.npy"), &[indptr.len()], &indptr),
    )?;
    put(
        "csr_indices.npy",
        write(&f("csr_indices.npy"), &[indices.len()], &indices),
    )?;
    put(
        "csr_data.npy",
        write(&f("csr_data.npy"), &[csr.data.len()], &csr.data),
    )?;
    let codes = layer.codes().codes();
    put(
        "csr_codes.npy",
        write(&f("csr_codes.npy"), &[codes.len()], codes),
    )?;
    let cb = layer.codebook().values();
    put("codebook.npy", write(&f("codebook.npy"), &[cb.len()], cb))?;
    if let (Some(b), Some(bc)) = (layer.bias(), layer.bias_codes()) {
        put("bias.npy", write(&f("bias.npy"), &[b.len()], &b))?;
        put(
            "bias_codes.npy",
            write(&f("bias_codes.npy"), &[bc.len()], bc),
        )?;
    }
    put(
        "input.npy",
        write(&f("input.npy"), &[layer.inputs()], layer.input()),
    )?;
    let (y, _) = layer.reference_f64();
    put(
        "output_f64.npy",
        write(&f("output_f64.npy"), &[y.len()], &y),
    )?;
    let cq = layer.fixed_codebook();
    put(
        "codebook_q.npy",
        write(&f("codebook_q.npy"), &[cq.len()], &cq),
    )?;
    let aq = layer.fixed_input();
    put("input_q.npy", write(&f("input_q.npy"), &[aq.len()], &aq))?;
    let yq = layer.fixed_reference();
    put("output_q.npy", write(&f("output_q.npy"), &[yq.len()], &yq))?;
    let e = layer.eie();
    let v: Vec<u8> = e
        .slices()
        .iter()
        .flat_map(|s| s.v.iter().copied())
        .collect();
    let z: Vec<u8> = e
        .slices()
        .iter()
        .flat_map(|s| s.z.iter().copied())
        .collect();
    let mut pe_ptr = vec![0i64];
    for s in e.slices() {
        pe_ptr.push(pe_ptr.last().unwrap() + s.v.len() as i64);
    }
    let col_ptr: Vec<u32> = e
        .slices()
        .iter()
        .flat_map(|s| s.col_ptr.iter().copied())
        .collect();
    put("eie_v.npy", write(&f("eie_v.npy"), &[v.len()], &v))?;
    put("eie_z.npy", write(&f("eie_z.npy"), &[z.len()], &z))?;
    put(
        "eie_pe_ptr.npy",
        write(&f("eie_pe_ptr.npy"), &[pe_ptr.len()], &pe_ptr),
    )?;
    put(
        "eie_col_ptr.npy",
        write(&f("eie_col_ptr.npy"), &[e.pes(), e.cols() + 1], &col_ptr),
    )?;
    let meta = serde_json::json!({
        "name": layer.name(),
        "outputs": layer.outputs(),
        "inputs": layer.inputs(),
        "relu": layer.relu(),
        "has_bias": layer.bias_codes().is_some(),
        "weight_bits": e.weight_bits(),
        "index_bits": e.index_bits(),
        "pes": e.pes(),
        "eie_cols": e.cols(),
        "row_of_pe": "row i belongs to PE i % pes, local row i / pes",
        "fixed_point": layer.fixed(),
        "content_hash": layer.content_hash(),
        "storage": layer.storage(),
    });
    let text = serde_json::to_string_pretty(&meta).expect("meta serializes");
    std::fs::write(f("meta.json"), text)
        .map_err(|e| CompressError::io(f("meta.json"), "writing", e))?;
    written.push("meta.json".into());
    Ok(written)
}
