//! The shader registry: one WGSL file per kernel family in `shaders/`, each opening with a comment
//! that lists its bindings.

/// A WGSL kernel family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Shader {
    /// `shaders/dense.wgsl`: dense f32 GEMV (`gemv`) / GEMM (`gemm`).
    Dense,
    /// `shaders/csr.wgsl`: CSR f32 SpMV (`spmv`) / SpMM (`spmm`).
    Csr,
    /// `shaders/eie.wgsl`: EIE-format SpMV: batch 1 in EIE's column dataflow (`compact`, `cols_f32`,
    /// `cols_fixed`), batches row by row (`rows_f32`, `rows_fixed`).
    Eie,
    /// `shaders/subgroup.wgsl`: batch-1 dense GEMV and CSR SpMV with subgroup reductions (`gemv_sg`,
    /// `spmv_sg`), for adapters with the SUBGROUP feature.
    Subgroup,
}

impl Shader {
    /// Every shader.
    pub const ALL: [Shader; 4] = [Shader::Dense, Shader::Csr, Shader::Eie, Shader::Subgroup];

    /// The WGSL source.
    pub fn source(self) -> &'static str {
        match self {
            Shader::Dense => include_str!("../../../shaders/dense.wgsl"),
            Shader::Csr => include_str!("../../../shaders/csr.wgsl"),
            Shader::Eie => include_str!("../../../shaders/eie.wgsl"),
            Shader::Subgroup => include_str!("../../../shaders/subgroup.wgsl"),
        }
    }

    /// The file name, for labels and errors.
    pub fn file(self) -> &'static str {
        match self {
            Shader::Dense => "shaders/dense.wgsl",
            Shader::Csr => "shaders/csr.wgsl",
            Shader::Eie => "shaders/eie.wgsl",
            Shader::Subgroup => "shaders/subgroup.wgsl",
        }
    }

    /// Its entry points.
    pub fn entry_points(self) -> &'static [&'static str] {
        match self {
            Shader::Dense => &["gemv", "gemv_rows", "gemm"],
            Shader::Csr => &["spmv", "spmv_rows", "spmm"],
            Shader::Eie => &[
                "compact",
                "cols_f32",
                "cols_fixed",
                "cols_part_f32",
                "cols_part_fixed",
                "finish_f32_rows",
                "finish_fixed_rows",
                "rows_f32",
                "rows_fixed",
            ],
            Shader::Subgroup => &["gemv_sg", "spmv_sg"],
        }
    }
}
