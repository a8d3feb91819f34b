//! The kernels' uniform parameters: one `#[repr(C)]` struct per shader, each the mirror of the `Params`
//! struct its WGSL file declares (binding 0): the same members, by name and in order, all `u32`, padded to
//! a multiple of 16 bytes. The names come from the Rust fields themselves ([`ShaderParams::FIELDS`], written
//! by the macro that declares the struct), and a test checks them, and the sizes, against each shader as
//! naga parses it, with no adapter.

use super::shaders::Shader;

/// A uniform parameter struct and the shader whose `Params` it mirrors.
/// (Only the mirror test reads the constants.)
#[cfg_attr(not(test), allow(dead_code))]
pub(super) trait ShaderParams: bytemuck::Pod {
    /// The shader that declares the WGSL side.
    const SHADER: Shader;
    /// The field names, in order.
    const FIELDS: &'static [&'static str];
}

/// Declares a struct of `u32` fields mirroring `$shader`'s `Params`, with its [`ShaderParams`] impl.
macro_rules! shader_params {
    ($(#[$doc:meta])* $name:ident for $shader:expr => { $($(#[$fdoc:meta])* $field:ident),+ $(,)? }) => {
        $(#[$doc])*
        #[repr(C)]
        #[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
        pub(super) struct $name {
            $($(#[$fdoc])* pub(super) $field: u32,)+
        }

        impl ShaderParams for $name {
            const SHADER: Shader = $shader;
            const FIELDS: &'static [&'static str] = &[$(stringify!($field)),+];
        }
    };
}

shader_params! {
    /// `shaders/dense.wgsl`: `gemv`, `gemv_rows`, `gemm`, `gemm_tiled`, `gemm_sum`.
    DenseParams for Shader::Dense => {
        /// Rows of this weight block (`gemm_sum`: of the layer).
        rows,
        /// Input features.
        cols,
        batch,
        /// 1: ReLU after the bias.
        relu,
        /// First row of this block.
        row0,
        /// Workgroups along x (the grid's width).
        groups_x,
        /// vec4s of x per feature (1 at batch 1, the padded batch / 4 above).
        xstride,
        /// Feature ranges (split-K) of `gemm_tiled` / `gemm_sum`.
        splits,
        /// Rows of the whole layer (the partial sums' layout).
        all_rows,
        _pad0,
        _pad1,
        _pad2,
    }
}

shader_params! {
    /// `shaders/csr.wgsl`: `spmv`, `spmv_rows`, `spmm`.
    CsrParams for Shader::Csr => {
        rows,
        batch,
        /// 1: ReLU after the bias.
        relu,
        /// Workgroups along x (the grid's width).
        groups_x,
        /// vec4s of x per feature (batch > 1).
        xstride,
        _pad0,
        _pad1,
        _pad2,
    }
}

shader_params! {
    /// `shaders/eie.wgsl`: every entry point, batch 1 (`compact`, `cols_*`, `finish_*`) and batches (`rows_*`).
    EieParams for Shader::Eie => {
        rows,
        /// Input features.
        cols,
        batch,
        /// 1: ReLU after the bias.
        relu,
        /// Workgroups along x (the grid's width).
        groups_x,
        /// Fixed point: the weights' fraction bits.
        wfrac,
        /// vec4s of x per feature (1 at batch 1).
        xstride,
        /// GPU PEs of the batch-1 kernels (0 in the row kernels).
        pes,
        /// 1 for f32 (`compact` tests f32 bits for zero, fixed point i32).
        is_f32,
        /// Parts of the columns in the batch-1 kernels (1 in the row kernels).
        chunks,
        /// 1: the batch-1 walk skips zero activations itself, no non-zero list ([`super::EieZeros::Walk`]).
        direct,
        /// Fixed point: added to each product before the shift by `wfrac` (0: floor; `2^(wfrac-1)`:
        /// nearest).
        wround,
    }
}

shader_params! {
    /// `shaders/subgroup.wgsl`: `gemv_sg` (for the dense family) and `spmv_sg` (for CSR).
    SubgroupParams for Shader::Subgroup => {
        rows,
        /// Input features (`gemv_sg`).
        cols,
        /// 1: ReLU after the bias.
        relu,
        /// First row of this dense block (`gemv_sg`; 0 for `spmv_sg`).
        row0,
        /// Workgroups along x (the grid's width).
        groups_x,
        _pad0,
        _pad1,
        _pad2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The mirrored struct's names and size, for every shader (a new shader must add its own).
    fn rust_side(shader: Shader) -> (&'static [&'static str], usize) {
        fn of<P: ShaderParams>(shader: Shader) -> (&'static [&'static str], usize) {
            assert_eq!(P::SHADER, shader);
            (P::FIELDS, size_of::<P>())
        }
        match shader {
            Shader::Dense => of::<DenseParams>(shader),
            Shader::Csr => of::<CsrParams>(shader),
            Shader::Eie => of::<EieParams>(shader),
            Shader::Subgroup => of::<SubgroupParams>(shader),
        }
    }

    /// Each shader's uniform at group 0, binding 0: its members' names and types, and its size.
    fn wgsl_side(shader: Shader) -> (Vec<String>, usize) {
        let module = naga::front::wgsl::parse_str(shader.source())
            .unwrap_or_else(|e| panic!("{}: {}", shader.file(), e.emit_to_string(shader.source())));
        let (_, var) = module
            .global_variables
            .iter()
            .find(|(_, v)| {
                v.binding
                    .as_ref()
                    .is_some_and(|b| b.group == 0 && b.binding == 0)
            })
            .unwrap_or_else(|| panic!("{}: nothing at binding 0", shader.file()));
        assert_eq!(
            var.space,
            naga::AddressSpace::Uniform,
            "{}: binding 0 is not a uniform",
            shader.file()
        );
        let naga::TypeInner::Struct { members, span } = &module.types[var.ty].inner else {
            panic!("{}: binding 0 is not a struct", shader.file());
        };
        let mut names = Vec::new();
        for (i, m) in members.iter().enumerate() {
            let name = m.name.clone().unwrap_or_default();
            assert_eq!(
                module.types[m.ty].inner,
                naga::TypeInner::Scalar(naga::Scalar::U32),
                "{}: Params.{name} is not a u32",
                shader.file()
            );
            assert_eq!(m.offset as usize, 4 * i, "{}: Params.{name}", shader.file());
            names.push(name);
        }
        (names, *span as usize)
    }

    #[test]
    fn params_mirror_each_shader() {
        for shader in Shader::ALL {
            let (fields, size) = rust_side(shader);
            let (names, span) = wgsl_side(shader);
            assert_eq!(fields, names, "{}: Params members", shader.file());
            assert_eq!(size, span, "{}: Params size", shader.file());
            assert_eq!(size, 4 * fields.len(), "{}: no padding", shader.file());
            assert_eq!(size % 16, 0, "{}: padded to 16 bytes", shader.file());
        }
    }
}
