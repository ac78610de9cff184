//! Training fast paths for f32 2D convolution and 2x2 max-pooling.
//!
//! **Not upstream burn-flex**: added by the forsaken project (see `PATCH.md` at the crate
//! root). burn-flex 0.21.0 overrides only the forward convolution; the backward passes fell
//! back to burn-backend's generic defaults, which compute the weight gradient as a convolution
//! of the batch-swapped input with the batch-swapped output gradient (two strided copies and a
//! convolution with a huge kernel), the input gradient through a transposed convolution, and
//! the bias gradient through a strided transpose. For the small CNNs that membership-inference
//! research trains by the hundred, those copies cost more than the arithmetic.
//!
//! Here every 2D convolution (f32, any stride, padding, dilation and groups) is lowered per
//! sample to one im2col matrix `cols[K, P]` (`K = C_in/groups * kh * kw` rows, `P = H_out *
//! W_out` columns, NCHW order, so the weight `[C_out, C_in/groups, kh, kw]` is already the
//! `[C_out, K]` matrix) and one GEMM per group:
//!
//! * forward: `out_b = W · cols_b`;
//! * weight gradient: `dW += G_b · cols_bᵀ`, accumulated per thread over its samples;
//! * input gradient: `dcols = Wᵀ · G_b`, scattered back with col2im;
//! * bias gradient: a plain sum over batch and positions.
//!
//! Samples are split into chunks of 8, run in parallel; each chunk reuses one im2col buffer.
//! The weight gradient is summed per chunk and then over chunks in order, so every result is
//! bit-identical whatever the number of threads. 2x2 max-pooling with stride 2 (no padding, no dilation) gets a direct loop
//! with the same index convention and tie-breaking as the generic kernel (first maximum in
//! row-major window order; indices are flat positions within the input plane).

use alloc::vec;
use alloc::vec::Vec;
use burn_backend::DType;
use burn_backend::ops::ConvOptions;
use burn_backend::ops::conv::calculate_conv_output_size;
use burn_std::{Bytes, Shape};

use crate::{FlexTensor, Layout};

/// Geometry of one 2D convolution.
#[derive(Clone, Copy, Debug)]
struct Geom {
    n: usize,
    ci: usize,
    h: usize,
    w: usize,
    co: usize,
    /// Input channels per group.
    cig: usize,
    kh: usize,
    kw: usize,
    ho: usize,
    wo: usize,
    groups: usize,
    stride: [usize; 2],
    pad: [usize; 2],
    dil: [usize; 2],
}

impl Geom {
    fn new(x: &[usize], w: &[usize], o: &ConvOptions<2>) -> Self {
        let (n, ci, h, wd) = (x[0], x[1], x[2], x[3]);
        let (co, cig, kh, kw) = (w[0], w[1], w[2], w[3]);
        let ho = calculate_conv_output_size(kh, o.stride[0], o.padding[0], o.dilation[0], h);
        let wo = calculate_conv_output_size(kw, o.stride[1], o.padding[1], o.dilation[1], wd);
        Self {
            n,
            ci,
            h,
            w: wd,
            co,
            cig,
            kh,
            kw,
            ho,
            wo,
            groups: o.groups,
            stride: o.stride,
            pad: o.padding,
            dil: o.dilation,
        }
    }
    /// Output channels per group.
    fn cog(&self) -> usize {
        self.co / self.groups
    }
    /// Rows of one group's im2col matrix.
    fn k(&self) -> usize {
        self.cig * self.kh * self.kw
    }
    /// Output positions per sample.
    fn p(&self) -> usize {
        self.ho * self.wo
    }
}

/// Whether the fast path serves this convolution: f32 tensors, consistent channel counts.
pub(crate) fn conv2d_supported(x: &FlexTensor, weight: &FlexTensor, options: &ConvOptions<2>) -> bool {
    let xs = x.layout().shape();
    let ws = weight.layout().shape();
    x.dtype() == DType::F32
        && weight.dtype() == DType::F32
        && xs.num_dims() == 4
        && ws.num_dims() == 4
        && options.groups >= 1
        && xs[1] == ws[1] * options.groups
        && ws[0] % options.groups == 0
        && options.stride.iter().all(|&s| s > 0)
        && options.dilation.iter().all(|&d| d > 0)
}

/// Output positions `o` in `[lo, hi)` whose input index `o * stride + off` lies in
/// `[0, size)`, clipped to `[0, out)`.
#[inline]
fn valid_range(off: isize, stride: usize, size: usize, out: usize) -> (usize, usize) {
    let s = stride as isize;
    let lo = if off >= 0 { 0 } else { ((-off) + s - 1) / s };
    let hi = {
        let lim = size as isize - off; // o * s < lim
        if lim <= 0 { 0 } else { (lim + s - 1) / s }
    };
    let lo = (lo as usize).min(out);
    let hi = (hi as usize).min(out).max(lo);
    (lo, hi)
}

/// im2col of one sample and group: `cols[K, P]`, row `(c * kh + ky) * kw + kx`.
fn im2col(x: &[f32], g: &Geom, c0: usize, cols: &mut [f32]) {
    let p = g.p();
    let plane_len = g.h * g.w;
    for c in 0..g.cig {
        let plane = &x[(c0 + c) * plane_len..(c0 + c + 1) * plane_len];
        for ky in 0..g.kh {
            let y_off = (ky * g.dil[0]) as isize - g.pad[0] as isize;
            for kx in 0..g.kw {
                let row = (c * g.kh + ky) * g.kw + kx;
                let dst = &mut cols[row * p..(row + 1) * p];
                let x_off = (kx * g.dil[1]) as isize - g.pad[1] as isize;
                let (lo, hi) = valid_range(x_off, g.stride[1], g.w, g.wo);
                for oy in 0..g.ho {
                    let d = &mut dst[oy * g.wo..(oy + 1) * g.wo];
                    let iy = (oy * g.stride[0]) as isize + y_off;
                    if iy < 0 || iy >= g.h as isize {
                        d.fill(0.0);
                        continue;
                    }
                    let src = &plane[iy as usize * g.w..(iy as usize + 1) * g.w];
                    d[..lo].fill(0.0);
                    d[hi..].fill(0.0);
                    if g.stride[1] == 1 {
                        let ix0 = (lo as isize + x_off) as usize;
                        d[lo..hi].copy_from_slice(&src[ix0..ix0 + (hi - lo)]);
                    } else {
                        for (ox, v) in d.iter_mut().enumerate().take(hi).skip(lo) {
                            *v = src[((ox * g.stride[1]) as isize + x_off) as usize];
                        }
                    }
                }
            }
        }
    }
}

/// col2im of one sample and group: adds `cols[K, P]` into the input gradient `dx`.
fn col2im_add(cols: &[f32], g: &Geom, c0: usize, dx: &mut [f32]) {
    let p = g.p();
    let plane_len = g.h * g.w;
    for c in 0..g.cig {
        let plane = &mut dx[(c0 + c) * plane_len..(c0 + c + 1) * plane_len];
        for ky in 0..g.kh {
            let y_off = (ky * g.dil[0]) as isize - g.pad[0] as isize;
            for kx in 0..g.kw {
                let row = (c * g.kh + ky) * g.kw + kx;
                let src = &cols[row * p..(row + 1) * p];
                let x_off = (kx * g.dil[1]) as isize - g.pad[1] as isize;
                let (lo, hi) = valid_range(x_off, g.stride[1], g.w, g.wo);
                if lo >= hi {
                    continue;
                }
                for oy in 0..g.ho {
                    let iy = (oy * g.stride[0]) as isize + y_off;
                    if iy < 0 || iy >= g.h as isize {
                        continue;
                    }
                    let s = &src[oy * g.wo..(oy + 1) * g.wo];
                    let d = &mut plane[iy as usize * g.w..(iy as usize + 1) * g.w];
                    if g.stride[1] == 1 {
                        let ix0 = (lo as isize + x_off) as usize;
                        for (dv, sv) in d[ix0..ix0 + (hi - lo)].iter_mut().zip(&s[lo..hi]) {
                            *dv += *sv;
                        }
                    } else {
                        for ox in lo..hi {
                            d[((ox * g.stride[1]) as isize + x_off) as usize] += s[ox];
                        }
                    }
                }
            }
        }
    }
}

/// `dst[m, n] (+)= lhs[m, k] · rhs[k, n]` with explicit row and column strides.
#[allow(clippy::too_many_arguments)]
#[inline]
unsafe fn gemm_f32(
    m: usize,
    n: usize,
    k: usize,
    dst: *mut f32,
    dst_rs: usize,
    accumulate: bool,
    lhs: *const f32,
    lhs_rs: usize,
    lhs_cs: usize,
    rhs: *const f32,
    rhs_rs: usize,
    rhs_cs: usize,
) {
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst,
            1,
            dst_rs as isize,
            accumulate,
            lhs,
            lhs_cs as isize,
            lhs_rs as isize,
            rhs,
            rhs_cs as isize,
            rhs_rs as isize,
            if accumulate { 1.0 } else { 0.0 },
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// Samples (or planes) per chunk of work. Fixed, not derived from the thread count, so that
/// the weight gradient (summed per chunk, then over chunks in order) is bit-identical whatever
/// the number of threads.
const CHUNK: usize = 8;

/// Split `0..n` into contiguous chunks of [`CHUNK`] (the last one shorter).
fn chunks(n: usize) -> Vec<(usize, usize)> {
    (0..n.div_ceil(CHUNK)).map(|i| (i * CHUNK, ((i + 1) * CHUNK).min(n))).collect()
}

/// Run `f(start, end)` for every chunk, in parallel where rayon is on; results in chunk order.
fn for_chunks<R: Send>(n: usize, f: impl Fn(usize, usize) -> R + Sync + Send) -> Vec<R> {
    let cs = chunks(n);
    #[cfg(feature = "rayon")]
    {
        use rayon::prelude::*;
        cs.into_par_iter().map(|(a, b)| f(a, b)).collect()
    }
    #[cfg(not(feature = "rayon"))]
    {
        cs.into_iter().map(|(a, b)| f(a, b)).collect()
    }
}

/// A raw pointer that may cross threads; each chunk writes a disjoint range. (burn-flex's own
/// `SendMutPtr` exists only with its `rayon` feature; these kernels also run without it.)
struct SharedMut<T>(*mut T);
impl<T> Clone for SharedMut<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for SharedMut<T> {}
unsafe impl<T> Send for SharedMut<T> {}
unsafe impl<T> Sync for SharedMut<T> {}

fn f32_tensor(data: Vec<f32>, shape: Vec<usize>) -> FlexTensor {
    FlexTensor::new(Bytes::from_elems(data), Layout::contiguous(Shape::from(shape)), DType::F32)
}

/// Forward 2D convolution (see the module docs).
pub(crate) fn conv2d_f32(
    x: FlexTensor,
    weight: FlexTensor,
    bias: Option<FlexTensor>,
    options: &ConvOptions<2>,
) -> FlexTensor {
    let x = x.to_contiguous();
    let weight = weight.to_contiguous();
    let g = Geom::new(&x.layout().shape().to_vec(), &weight.layout().shape().to_vec(), options);
    let (k, p, cog) = (g.k(), g.p(), g.cog());
    let xd: &[f32] = x.storage();
    let wd: &[f32] = weight.storage();
    let mut out = vec![0f32; g.n * g.co * p];
    let optr = SharedMut(out.as_mut_ptr());
    let sample_in = g.ci * g.h * g.w;
    for_chunks(g.n, |a, b| {
        let optr = optr;
        let mut cols = vec![0f32; k * p];
        for s in a..b {
            let xs = &xd[s * sample_in..(s + 1) * sample_in];
            for grp in 0..g.groups {
                im2col(xs, &g, grp * g.cig, &mut cols);
                // SAFETY: sample `s` (owned by this chunk) and group `grp` own the output rows
                // [s * co + grp * cog, + cog), which no other chunk touches.
                unsafe {
                    gemm_f32(
                        cog,
                        p,
                        k,
                        optr.0.add((s * g.co + grp * cog) * p),
                        p,
                        false,
                        wd.as_ptr().add(grp * cog * k),
                        k,
                        1,
                        cols.as_ptr(),
                        p,
                        1,
                    );
                }
            }
        }
    });
    if let Some(bias) = bias {
        let bias = bias.to_contiguous();
        let bd: &[f32] = bias.storage();
        for (i, row) in out.chunks_mut(p).enumerate() {
            let v = bd[i % g.co];
            row.iter_mut().for_each(|o| *o += v);
        }
    }
    f32_tensor(out, vec![g.n, g.co, g.ho, g.wo])
}

/// Gradient of a 2D convolution with respect to its weight.
pub(crate) fn conv2d_weight_backward_f32(
    x: FlexTensor,
    weight: FlexTensor,
    output_grad: FlexTensor,
    options: &ConvOptions<2>,
) -> FlexTensor {
    let x = x.to_contiguous();
    let grad = output_grad.to_contiguous();
    let wshape = weight.layout().shape().to_vec();
    let g = Geom::new(&x.layout().shape().to_vec(), &wshape, options);
    let (k, p, cog) = (g.k(), g.p(), g.cog());
    let xd: &[f32] = x.storage();
    let gd: &[f32] = grad.storage();
    let sample_in = g.ci * g.h * g.w;
    let partial = for_chunks(g.n, |a, b| {
        let mut dw = vec![0f32; g.co * k];
        let mut cols = vec![0f32; k * p];
        for s in a..b {
            let xs = &xd[s * sample_in..(s + 1) * sample_in];
            for grp in 0..g.groups {
                im2col(xs, &g, grp * g.cig, &mut cols);
                // dW_g[cog, K] += G_s,g[cog, P] · cols[K, P]^T
                unsafe {
                    gemm_f32(
                        cog,
                        k,
                        p,
                        dw.as_mut_ptr().add(grp * cog * k),
                        k,
                        true,
                        gd.as_ptr().add((s * g.co + grp * cog) * p),
                        p,
                        1,
                        cols.as_ptr(),
                        1,
                        p,
                    );
                }
            }
        }
        dw
    });
    let mut it = partial.into_iter();
    let mut dw = it.next().unwrap_or_else(|| vec![0f32; g.co * k]);
    for other in it {
        dw.iter_mut().zip(&other).for_each(|(a, b)| *a += *b);
    }
    f32_tensor(dw, wshape)
}

/// Gradient of a 2D convolution with respect to its input.
pub(crate) fn conv2d_x_backward_f32(
    x: FlexTensor,
    weight: FlexTensor,
    output_grad: FlexTensor,
    options: &ConvOptions<2>,
) -> FlexTensor {
    let xshape = x.layout().shape().to_vec();
    let weight = weight.to_contiguous();
    let grad = output_grad.to_contiguous();
    let g = Geom::new(&xshape, &weight.layout().shape().to_vec(), options);
    let (k, p, cog) = (g.k(), g.p(), g.cog());
    let wd: &[f32] = weight.storage();
    let gd: &[f32] = grad.storage();
    let sample_in = g.ci * g.h * g.w;
    let mut dx = vec![0f32; g.n * sample_in];
    let dptr = SharedMut(dx.as_mut_ptr());
    for_chunks(g.n, |a, b| {
        let dptr = dptr;
        let mut dcols = vec![0f32; k * p];
        for s in a..b {
            // SAFETY: sample `s` belongs to this chunk only.
            let dxs = unsafe { core::slice::from_raw_parts_mut(dptr.0.add(s * sample_in), sample_in) };
            for grp in 0..g.groups {
                // dcols[K, P] = W_g[cog, K]^T · G_s,g[cog, P]
                unsafe {
                    gemm_f32(
                        k,
                        p,
                        cog,
                        dcols.as_mut_ptr(),
                        p,
                        false,
                        wd.as_ptr().add(grp * cog * k),
                        1,
                        k,
                        gd.as_ptr().add((s * g.co + grp * cog) * p),
                        p,
                        1,
                    );
                }
                col2im_add(&dcols, &g, grp * g.cig, dxs);
            }
        }
    });
    f32_tensor(dx, xshape)
}

/// Gradient of a 2D convolution with respect to its bias: the sum of the output gradient over
/// batch and positions.
pub(crate) fn conv2d_bias_backward_f32(bias: FlexTensor, output_grad: FlexTensor) -> FlexTensor {
    let grad = output_grad.to_contiguous();
    let gs = grad.layout().shape().to_vec();
    let (n, co) = (gs[0], gs[1]);
    let p: usize = gs[2..].iter().product();
    let gd: &[f32] = grad.storage();
    let mut db = vec![0f32; co];
    for s in 0..n {
        for (c, v) in db.iter_mut().enumerate() {
            *v += gd[(s * co + c) * p..(s * co + c + 1) * p].iter().sum::<f32>();
        }
    }
    f32_tensor(db, bias.layout().shape().to_vec())
}

/// Whether the 2x2, stride-2 max-pool fast path applies.
pub(crate) fn pool2x2_supported(
    x: &FlexTensor,
    kernel_size: [usize; 2],
    stride: [usize; 2],
    padding: [usize; 2],
    dilation: [usize; 2],
    ceil_mode: bool,
) -> bool {
    let s = x.layout().shape();
    x.dtype() == DType::F32
        && s.num_dims() == 4
        && kernel_size == [2, 2]
        && stride == [2, 2]
        && padding == [0, 0]
        && dilation == [1, 1]
        // ceil mode only changes odd sizes
        && (!ceil_mode || (s[2] % 2 == 0 && s[3] % 2 == 0))
}

/// 2x2 stride-2 max-pool with indices (flat positions within each input plane).
pub(crate) fn max_pool2x2_with_indices_f32(x: FlexTensor) -> (FlexTensor, FlexTensor) {
    let x = x.to_contiguous();
    let s = x.layout().shape().to_vec();
    let (n, c, h, w) = (s[0], s[1], s[2], s[3]);
    let (ho, wo) = (h / 2, w / 2);
    let xd: &[f32] = x.storage();
    let planes = n * c;
    let mut out = vec![0f32; planes * ho * wo];
    let mut idx = vec![0i64; planes * ho * wo];
    let optr = SharedMut(out.as_mut_ptr());
    let iptr = SharedMut(idx.as_mut_ptr());
    for_chunks(planes, |a, b| {
        let (optr, iptr) = (optr, iptr);
        for pl in a..b {
            let src = &xd[pl * h * w..(pl + 1) * h * w];
            // SAFETY: plane `pl` belongs to this chunk only.
            let o = unsafe { core::slice::from_raw_parts_mut(optr.0.add(pl * ho * wo), ho * wo) };
            let ix = unsafe { core::slice::from_raw_parts_mut(iptr.0.add(pl * ho * wo), ho * wo) };
            for oy in 0..ho {
                let r0 = 2 * oy * w;
                let r1 = r0 + w;
                for ox in 0..wo {
                    let c0 = 2 * ox;
                    // window order (0,0), (0,1), (1,0), (1,1); the first maximum wins
                    let mut best = src[r0 + c0];
                    let mut bi = r0 + c0;
                    for cand in [r0 + c0 + 1, r1 + c0, r1 + c0 + 1] {
                        if src[cand] > best {
                            best = src[cand];
                            bi = cand;
                        }
                    }
                    o[oy * wo + ox] = best;
                    ix[oy * wo + ox] = bi as i64;
                }
            }
        }
    });
    let shape = vec![n, c, ho, wo];
    let out = f32_tensor(out, shape.clone());
    let idx = FlexTensor::new(Bytes::from_elems(idx), Layout::contiguous(Shape::from(shape)), DType::I64);
    (out, idx)
}

/// Backward of a max-pool whose indices are flat positions within each input plane.
/// Returns `None` when the indices are not i64 (then the generic kernel runs).
pub(crate) fn max_pool2d_backward_planes_f32(
    x_shape: &[usize],
    output_grad: FlexTensor,
    indices: FlexTensor,
) -> Option<FlexTensor> {
    if indices.dtype() != DType::I64 || output_grad.dtype() != DType::F32 || x_shape.len() != 4 {
        return None;
    }
    let grad = output_grad.to_contiguous();
    let indices = indices.to_contiguous();
    let (n, c, h, w) = (x_shape[0], x_shape[1], x_shape[2], x_shape[3]);
    let gs = grad.layout().shape().to_vec();
    let po = gs[2] * gs[3];
    let gd: &[f32] = grad.storage();
    let id: &[i64] = indices.storage();
    let planes = n * c;
    let mut dx = vec![0f32; planes * h * w];
    let dptr = SharedMut(dx.as_mut_ptr());
    for_chunks(planes, |a, b| {
        let dptr = dptr;
        for pl in a..b {
            // SAFETY: plane `pl` belongs to this chunk only.
            let d = unsafe { core::slice::from_raw_parts_mut(dptr.0.add(pl * h * w), h * w) };
            for (gv, &i) in gd[pl * po..(pl + 1) * po].iter().zip(&id[pl * po..(pl + 1) * po]) {
                if i >= 0 {
                    d[i as usize] += *gv;
                }
            }
        }
    });
    Some(f32_tensor(dx, x_shape.to_vec()))
}
