//! The shader registry: one WGSL file per kernel family in `shaders/`, each opening with a comment
//! that lists its bindings.

/// A WGSL kernel family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Shader {
    /// `shaders/dense.wgsl`: dense f32 GEMV / GEMM.
    Dense,
    /// `shaders/csr.wgsl`: CSR f32 SpMV / SpMM.
    Csr,
    /// `shaders/eie.wgsl`: EIE-format SpMV / SpMM, f32 (`main_f32`) and fixed point (`main_fixed`).
    Eie,
}

impl Shader {
    /// Every shader.
    pub const ALL: [Shader; 3] = [Shader::Dense, Shader::Csr, Shader::Eie];

    /// The WGSL source.
    pub fn source(self) -> &'static str {
        match self {
            Shader::Dense => include_str!("../../../shaders/dense.wgsl"),
            Shader::Csr => include_str!("../../../shaders/csr.wgsl"),
            Shader::Eie => include_str!("../../../shaders/eie.wgsl"),
        }
    }

    /// The file name, for labels and errors.
    pub fn file(self) -> &'static str {
        match self {
            Shader::Dense => "shaders/dense.wgsl",
            Shader::Csr => "shaders/csr.wgsl",
            Shader::Eie => "shaders/eie.wgsl",
        }
    }

    /// Its entry points.
    pub fn entry_points(self) -> &'static [&'static str] {
        match self {
            Shader::Dense | Shader::Csr => &["main"],
            Shader::Eie => &["main_f32", "main_fixed"],
        }
    }
}
