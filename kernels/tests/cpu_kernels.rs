//! Every CPU kernel, at every ISA level this CPU has, sequential and on 2 threads, at batch 1, 7, 64 and
//! 107, against the f64 reference within DESIGN.md's bound (f32) or bit for bit (fixed point).

mod common;

use common::{check, dense, nearest, small_layers};
use eie_compress::real::{load_real_fc8, real_fc8_dir};
use eie_compress::{
    Arithmetic, Backend, CompressOptions, CompressedLayer, Data, DataMut, build_layer,
};
use eie_kernels::cpu::{CpuKernel, EieF32, EieFixed, EieWalk, IsaLevel, Par};

fn run_all(layers: &[CompressedLayer], batches: &[usize]) {
    let mut failures = Vec::new();
    for level in IsaLevel::available() {
        for par in [Par::Seq, Par::Threads(2)] {
            for kernel in CpuKernel::ALL {
                let mut b = kernel.backend(level, par);
                for l in layers {
                    for &batch in batches {
                        if let Err(e) = check(b.as_mut(), l, batch) {
                            failures.push(e);
                        }
                    }
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn small_layers_every_kernel_every_level() {
    // 107 = 64 + 32 + 8 + 3: the batch-B walks' blocks of 8 vectors, of 4, of 1 and single samples at
    // 8 lanes (at 16 lanes: 64 + 32 + 11).
    run_all(&small_layers(), &[1, 7, 64, 107]);
}

/// Zero runs longer than the 12-bit relative index (4095): padding entries in the batch-1 column
/// layout; in the batch-B layout 512-column tiles, the last one partial.
#[test]
fn runs_longer_than_4095_need_padding() {
    let l = dense(
        "tall",
        9000,
        5000,
        |i, j| {
            if (i == 8999 && j % 2 == 0) || (i == 3 && j == 4999) || (i == 4100 && j == 1) {
                1.5
            } else {
                0.0
            }
        },
        |j| (j % 5) as f32,
        true,
        true,
    );
    run_all(&[l], &[1, 64]);
}

#[test]
fn benchmark_layers_and_the_real_fc8() {
    let mut layers: Vec<CompressedLayer> = ["Alex-8", "NT-We", "NT-LSTM"]
        .iter()
        .map(|n| build_layer(n, CompressOptions::default()).unwrap())
        .collect();
    match real_fc8_dir() {
        Some(dir) => layers.push(load_real_fc8(&dir, CompressOptions::default()).unwrap()),
        None => eprintln!("SKIP alexnet-fc8-real: data folder not found (set EIE_DATA_DIR)"),
    }
    run_all(&layers, &[1, 64]);
}

/// Round-to-nearest fixed point: every fixed-point kernel follows the layer's rounding bit for bit.
#[test]
fn nearest_rounding_every_kernel_every_level() {
    let mut layers = small_layers();
    layers.push(build_layer("Alex-8", CompressOptions::default()).unwrap());
    run_all(&nearest(layers), &[1, 7, 64]);
    // The batch-B fixed-point walk adds a rounding bias of up to 2^14 inside `pmaddwd` and a larger
    // one apart: the small layers' weights have at most 15 fraction bits, these small weights 20 (and
    // every output of this layer changes with the rounding).
    let mut layers = small_layers();
    layers.push(dense(
        "small-weights",
        33,
        300,
        |i, j| {
            let h = (i * 31 + j * 17) % 23;
            if h < 9 { (h as f32 - 4.3) / 237.0 } else { 0.0 }
        },
        |j| ((j * 37) % 101) as f32 / 97.0 - 0.3,
        true,
        false,
    ));
    run_all(&nearest(layers), &[107]);
}

#[test]
fn wrong_lengths_are_errors_not_panics() {
    let l = &small_layers()[1];
    for kernel in CpuKernel::ALL {
        let mut b = kernel.backend(IsaLevel::Portable, Par::Seq);
        let x = vec![0.0f32; l.inputs() + 1];
        let mut y = vec![0.0f32; l.outputs()];
        let e = b
            .run(Data::F32(&x), DataMut::F32(&mut y))
            .unwrap_err()
            .to_string();
        assert!(e.contains("before prepare"), "{e}");
        b.prepare(l, 1).unwrap();
        let (xq, mut yq) = (vec![0i16; l.inputs() + 1], vec![0i16; l.outputs()]);
        let e = match b.arithmetic() {
            Arithmetic::F32 => b.run(Data::F32(&x), DataMut::F32(&mut y)),
            Arithmetic::Fixed16 => b.run(Data::Fixed(&xq), DataMut::Fixed(&mut yq)),
        }
        .unwrap_err()
        .to_string();
        assert!(e.contains("input has 10 values"), "{}: {e}", kernel.name());
        assert!(b.prepare(l, 0).is_err());
    }
}

/// The CSR kernel at batch 1: rows of 0 to 40 entries (every length of a row's last vector, at 8 and 16
/// lanes; the last vector reads into the next row's entries), and infinite inputs, each used by one row
/// at most: a row that does not use one stays finite and within DESIGN.md's bound, one that does is
/// infinite, as it is in f64.
#[test]
fn csr_row_tails_and_non_finite_inputs() {
    let (rows, inputs) = (41, 300);
    let uses_inf = |i: usize| i % 4 == 1;
    let w = |i: usize, j: usize| {
        let real = j < 250 && (0..i).any(|k| (i * 7 + 13 * k) % 250 == j);
        if real || (j == 250 + i && uses_inf(i)) {
            [1.5, -0.5, 0.25][(i + j) % 3]
        } else {
            0.0
        }
    };
    let l = dense(
        "tails",
        rows,
        inputs,
        w,
        |j| (j % 7) as f32 + 1.0,
        false,
        false,
    );
    let x: Vec<f32> = (0..inputs)
        .map(|j| {
            if j < 250 {
                (j % 7) as f32 + 1.0
            } else {
                f32::INFINITY
            }
        })
        .collect();
    let (r, bound) = eie_compress::backend::reference_f64(&l, &x, 1);
    for level in IsaLevel::available() {
        for par in [Par::Seq, Par::Threads(2)] {
            let mut b = CpuKernel::Csr.backend(level, par);
            b.prepare(&l, 1).unwrap();
            let mut y = vec![f32::NAN; rows];
            b.run(Data::F32(&x), DataMut::F32(&mut y)).unwrap();
            for i in 0..rows {
                let ok = if uses_inf(i) {
                    y[i].is_infinite() && y[i] as f64 == r[i]
                } else {
                    y[i].is_finite() && (y[i] as f64 - r[i]).abs() <= bound[i]
                };
                assert!(ok, "{}: row {i}: {} vs {}", b.detail(), y[i], r[i]);
            }
        }
    }
}

/// The EIE kernels' batch-1 column walk, which walks the non-zero inputs' columns two at a time and,
/// in f32, reads each column's entries four at a time while both columns of the pair have four left
/// (at AVX2 eight at a time, their products from registers, then one at a time):
/// columns of 0-28 entries (pairs of unequal lengths, lengths of every residue mod 8, one walked
/// column empty), padding entries (zero runs over 4095 rows) among them, an odd number of non-zero
/// inputs (the last column alone), at every ISA level, on 1 and 2 threads, in f32 and bit for bit in
/// fixed point.
#[test]
fn eie_column_walk_pairs_of_any_length() {
    let (rows, cols) = (9000, 400);
    let w = |i: usize, j: usize| {
        // Column 40 (a non-zero input) is empty.
        let n = if j == 40 { 0 } else { (j * 7) % 29 };
        let hit = (0..n).any(|k| i == (j * 131 + k * 317) % rows)
            || (j.is_multiple_of(3) && i == rows - 1);
        if hit {
            [1.5, -0.5, 0.25, -2.0][(i + j) % 4]
        } else {
            0.0
        }
    };
    // 31 of 400 inputs are non-zero: the cost model takes the column walk.
    let a = |j: usize| {
        if j % 13 == 1 {
            (j % 7) as f32 * 0.5 + 0.25
        } else {
            0.0
        }
    };
    let l = dense("columns", rows, cols, w, a, false, false);
    let x: Vec<f32> = (0..cols).map(a).collect();
    let xq = eie_compress::backend::quantize_input(&l, &x);
    let (r, bound) = eie_compress::backend::reference_f64(&l, &x, 1);
    let rq = eie_compress::backend::reference_fixed(&l, &xq, 1);
    let stored: usize = (0..cols)
        .filter(|&j| j != 40)
        .map(|j| (j * 7) % 29 + usize::from(j.is_multiple_of(3)))
        .sum();
    for level in IsaLevel::available() {
        for par in [Par::Seq, Par::Threads(2)] {
            let (mut b, mut f) = (
                CpuKernel::EieF32.backend(level, par),
                CpuKernel::EieFixed.backend(level, par),
            );
            for (k, input) in [(&mut b, Data::F32(&x)), (&mut f, Data::Fixed(&xq))] {
                k.prepare(&l, 1).unwrap();
                let work = k.work(input);
                assert!(
                    (work.entries as usize) < stored / 4,
                    "{}: the column walk walks the 31 non-zero inputs' columns only ({work:?})",
                    k.detail()
                );
            }
            let mut y = vec![f32::NAN; rows];
            b.run(Data::F32(&x), DataMut::F32(&mut y)).unwrap();
            let (err, ok) = eie_compress::backend::compare_f32(&y, &r, &bound);
            assert!(ok, "{}: {err:e}", b.detail());
            let mut yq = vec![i16::MIN; rows];
            f.run(Data::Fixed(&xq), DataMut::Fixed(&mut yq)).unwrap();
            assert_eq!(yq, rq, "{}", f.detail());
        }
    }
}

/// The EIE kernels' batch-1 row walk (f32 and fixed point), forced at every level, and the walk their
/// cost model picks (the row walk at the portable level; at AVX2 the row or the window walk, at
/// AVX-512 the window walk) for a wide layer with a dense input: 21 rows of different lengths, 50-90 %
/// dense (so that every level's cost model, on one thread and on two, prices a walk of every row well
/// under the column walk: at 10-50 % the refitted AVX2 costs put two threads' row walk within a few
/// per cent of the column walk, and the pick would hang on the constants), in groups of 8 rows padded
/// to their longest, a last group of 5, and on 2 threads blocks of 11 and 10 rows, spanning eighteen
/// 512-column tiles, and non-finite inputs that no real entry uses, one at a tile's
/// column 0 (their products fill the table; the padding must still add exactly 0), then the column
/// walk on the same layer (at AVX2 the plane walk, below the column walk's cost there). Each kernel runs twice on its buffers (the first tile overwrites the
/// outputs, the others add).
#[test]
fn eie_row_walk_tiles_and_non_finite_inputs() {
    let w = |i: usize, j: usize| {
        if j == 4094 || j == 4096 || (j * 31 + i * 17) % 10 > i % 5 + 4 {
            0.0
        } else {
            [1.5, -0.5, 0.25][(i + j) % 3]
        }
    };
    let l = dense("wide", 21, 9000, w, |j| (j % 7) as f32 + 1.0, true, false);
    let mut x: Vec<f32> = (0..9000).map(|j| (j % 7) as f32 + 1.0).collect();
    x[4094] = f32::INFINITY;
    x[4096] = f32::NEG_INFINITY;
    let sparse: Vec<f32> = (0..9000)
        .map(|j| {
            if j == 4094 || j == 4096 || j == 8999 {
                x[j]
            } else {
                0.0
            }
        })
        .collect();
    for (level, par, forced) in IsaLevel::available()
        .into_iter()
        .flat_map(|l| [(l, Par::Seq), (l, Par::Threads(2))])
        .flat_map(|(l, p)| [(l, p, false), (l, p, true)])
    {
        let (f32_kernel, fixed_kernel): (Box<dyn Backend>, Box<dyn Backend>) = if forced {
            (
                Box::new(EieF32::new(level, par).with_walk(EieWalk::Row)),
                Box::new(EieFixed::new(level, par).with_walk(EieWalk::Row)),
            )
        } else {
            (
                CpuKernel::EieF32.backend(level, par),
                CpuKernel::EieFixed.backend(level, par),
            )
        };
        {
            let mut b = f32_kernel;
            b.prepare(&l, 1).unwrap();
            assert_eq!(b.detail().contains("row walk"), forced, "{}", b.detail());
            for (xi, dense_walk) in [(&x, true), (&sparse, false)] {
                // The row and window layouts pad (rows of different lengths in one group): they read
                // more entries than they multiply. The column walk does not. At AVX2 the model prices
                // the sparse input's 4 columns (the bias's included) in code planes, one block of 64
                // rows each, under the column walk.
                let work = b.work(Data::F32(xi));
                if level == IsaLevel::Avx2 && !forced && !dense_walk {
                    assert_eq!(work.entries, 4 * 64, "{}: the plane walk", b.detail());
                } else {
                    // Not the plane walk (9001 columns of one block), which would also read more
                    // entries than it multiplies.
                    assert_ne!(work.entries, 9001 * 64, "{}", b.detail());
                    assert_eq!(
                        work.entries > work.macs,
                        dense_walk || forced,
                        "{}: a walk of every row, or the column walk ({work:?})",
                        b.detail(),
                    );
                }
                let (r, bound) = eie_compress::backend::reference_f64(&l, xi, 1);
                for _ in 0..2 {
                    let mut y = vec![f32::NAN; 21];
                    b.run(Data::F32(xi), DataMut::F32(&mut y)).unwrap();
                    let (err, ok) = eie_compress::backend::compare_f32(&y, &r, &bound);
                    assert!(
                        ok && y.iter().all(|v| v.is_finite()),
                        "{}: {y:?} vs {r:?}: {err:e}",
                        b.detail()
                    );
                }
            }
            // The fixed-point kernel walks the same layout with integer products: bit for bit.
            let mut f = fixed_kernel;
            f.prepare(&l, 1).unwrap();
            assert_eq!(f.detail().contains("row walk"), forced, "{}", f.detail());
            let finite: Vec<f32> = (0..9000).map(|j| (j % 7) as f32 * 0.25 + 0.5).collect();
            let xq = eie_compress::backend::quantize_input(&l, &finite);
            let work = f.work(Data::Fixed(&xq));
            assert!(
                work.entries > work.macs && work.entries != 9001 * 64,
                "{}: a walk of every row, not the plane walk ({work:?})",
                f.detail()
            );
            let r = eie_compress::backend::reference_fixed(&l, &xq, 1);
            for _ in 0..2 {
                let mut y = vec![i16::MIN; 21];
                f.run(Data::Fixed(&xq), DataMut::Fixed(&mut y)).unwrap();
                assert_eq!(y, r, "{}", f.detail());
            }
        }
    }
}

/// The EIE kernels' batch-1 plane walk (dense 4-bit code planes in blocks of 64 rows), forced at every
/// level, on one thread and two: 150 rows (two whole blocks and one of 22; on two threads 128 and 22
/// rows), about 30 % dense with codes from both halves of the 16-entry table, a bias, 40 % zero
/// inputs and an infinite input in a column without weights (a zero weight's product must still add
/// exactly 0). f32 within the reference's bound and bit for bit the one-thread column walk's outputs
/// (the same columns in the same order per row, plus exact zeros); fixed point bit for bit. Then 128
/// rows (two whole blocks) without a bias, with an input of zeros (no column to walk) and a dense one.
/// Then the pick: at AVX2 the cost model takes the plane walk on a 1000-row layer of 30 % density with
/// half its inputs non-zero, and builds no planes at 8 % density; the portable level never does.
#[test]
fn eie_plane_walk_blocks_threads_and_non_finite_inputs() {
    let values = [1.5, -0.5, 0.25, -2.0, 0.75, -1.25, 3.0, -0.125, 2.5, -3.5];
    let w = |i: usize, j: usize| {
        if j == 77 || (i * 7 + j * 13) % 10 >= 3 {
            0.0
        } else {
            values[(i * 3 + j) % values.len()]
        }
    };
    let a = |j: usize| {
        if j % 5 < 2 {
            0.0
        } else {
            (j % 9) as f32 * 0.25 - 0.75
        }
    };
    let l = dense("planes", 150, 700, w, a, true, true);
    let mut x: Vec<f32> = (0..700).map(a).collect();
    x[77] = f32::INFINITY;
    let finite: Vec<f32> = (0..700).map(a).collect();
    let xq = eie_compress::backend::quantize_input(&l, &finite);
    let (r, bound) = eie_compress::backend::reference_f64(&l, &x, 1);
    let rq = eie_compress::backend::reference_fixed(&l, &xq, 1);
    let nz_cols = x.iter().filter(|&&v| v != 0.0).count() as u64 + 1;
    for level in IsaLevel::available() {
        let mut column = EieF32::new(level, Par::Seq).with_walk(EieWalk::Column);
        column.prepare(&l, 1).unwrap();
        let mut by_columns = vec![f32::NAN; 150];
        column
            .run(Data::F32(&x), DataMut::F32(&mut by_columns))
            .unwrap();
        for par in [Par::Seq, Par::Threads(2)] {
            let mut b = EieF32::new(level, par).with_walk(EieWalk::Plane);
            b.prepare(&l, 1).unwrap();
            assert!(b.detail().contains("plane walk"), "{}", b.detail());
            let work = b.work(Data::F32(&x));
            assert_eq!(work.entries, nz_cols * 3 * 64, "{}: {work:?}", b.detail());
            for _ in 0..2 {
                let mut y = vec![f32::NAN; 150];
                b.run(Data::F32(&x), DataMut::F32(&mut y)).unwrap();
                let (err, ok) = eie_compress::backend::compare_f32(&y, &r, &bound);
                assert!(
                    ok && y.iter().all(|v| v.is_finite()),
                    "{}: {y:?} vs {r:?}: {err:e}",
                    b.detail()
                );
                // Each row adds its columns in the column walk's order, on any number of threads.
                let same = y
                    .iter()
                    .zip(&by_columns)
                    .all(|(p, c)| p.to_bits() == c.to_bits());
                assert!(
                    same,
                    "{}: {y:?} vs the column walk's {by_columns:?}",
                    b.detail()
                );
            }
            let mut f = EieFixed::new(level, par).with_walk(EieWalk::Plane);
            f.prepare(&l, 1).unwrap();
            for _ in 0..2 {
                let mut y = vec![i16::MIN; 150];
                f.run(Data::Fixed(&xq), DataMut::Fixed(&mut y)).unwrap();
                assert_eq!(y, rq, "{}", f.detail());
            }
        }
    }
    let l = dense("planes-nobias", 128, 300, w, a, false, false);
    for xs in [
        vec![0.0f32; 300],
        (0..300).map(|j| (j % 5) as f32 - 2.0).collect(),
    ] {
        let xq = eie_compress::backend::quantize_input(&l, &xs);
        let (r, bound) = eie_compress::backend::reference_f64(&l, &xs, 1);
        let rq = eie_compress::backend::reference_fixed(&l, &xq, 1);
        for level in IsaLevel::available() {
            for par in [Par::Seq, Par::Threads(2)] {
                let mut b = EieF32::new(level, par).with_walk(EieWalk::Plane);
                b.prepare(&l, 1).unwrap();
                let mut y = vec![f32::NAN; 128];
                b.run(Data::F32(&xs), DataMut::F32(&mut y)).unwrap();
                let (err, ok) = eie_compress::backend::compare_f32(&y, &r, &bound);
                assert!(ok, "{}: {y:?} vs {r:?}: {err:e}", b.detail());
                let mut f = EieFixed::new(level, par).with_walk(EieWalk::Plane);
                f.prepare(&l, 1).unwrap();
                let mut yq = vec![i16::MIN; 128];
                f.run(Data::Fixed(&xq), DataMut::Fixed(&mut yq)).unwrap();
                assert_eq!(yq, rq, "{}", f.detail());
            }
        }
    }
    let half = |j: usize| {
        if j.is_multiple_of(2) {
            0.0
        } else {
            (j % 7) as f32 + 0.5
        }
    };
    for (tenths, planes) in [(3, true), (0, false)] {
        let w = |i: usize, j: usize| {
            let h = (i * 31 + j * 17) % 100;
            let dense_enough = if tenths == 0 { h < 8 } else { h < tenths * 10 };
            if dense_enough {
                values[(i + j) % values.len()]
            } else {
                0.0
            }
        };
        let l = dense("pick", 1000, 512, w, half, false, true);
        let x: Vec<f32> = (0..512).map(half).collect();
        let (r, bound) = eie_compress::backend::reference_f64(&l, &x, 1);
        let mut portable = CpuKernel::EieF32.backend(IsaLevel::Portable, Par::Seq);
        portable.prepare(&l, 1).unwrap();
        assert_ne!(portable.work(Data::F32(&x)).entries, 256 * 16 * 64);
        if !IsaLevel::Avx2.is_available() {
            continue;
        }
        for par in [Par::Seq, Par::Threads(2)] {
            let mut b = CpuKernel::EieF32.backend(IsaLevel::Avx2, par);
            b.prepare(&l, 1).unwrap();
            let work = b.work(Data::F32(&x));
            assert_eq!(
                work.entries == 256 * 16 * 64,
                planes,
                "{}: {work:?}",
                b.detail()
            );
            let mut y = vec![f32::NAN; 1000];
            b.run(Data::F32(&x), DataMut::F32(&mut y)).unwrap();
            let (err, ok) = eie_compress::backend::compare_f32(&y, &r, &bound);
            assert!(ok, "{}: {err:e}", b.detail());
        }
    }
}
