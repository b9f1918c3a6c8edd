/* Compiled loops of the fused lifting + max pool (see pooled.py and _native.py).
 *
 * A pooling window's P entries are P strided views of one matrix product, all
 * of shape (n0, n1, n2, C) with the same strides (s0, s1, s2, 1) and their own
 * offsets; the windows, in that (n0, n1, n2, C) order, are contiguous arrays
 * here. Every loop runs over the C contiguous channels, innermost, and
 * streams the P entries once: the torch tournament it replaces passes over
 * them log2(P) times and writes temporaries.
 * Pure C on raw pointers: no torch headers (a one-second compile), called via
 * ctypes, which releases the GIL. The inner loops take restrict pointers and
 * compare and select at one width (the entry index as T), so that the
 * compiler vectorises them.
 */
#include <stdint.h>

/* The inner loops, each a function of its own: inlined into the loop nests
 * around them, gcc 12 no longer vectorises them. On x86-64 each is built twice,
 * for AVX2 (x86-64-v3) and for the baseline, and the loader picks one by the
 * CPU it runs on (AVX2 compares and selects eight floats per instruction, the
 * x86-64 baseline four); the build retries with -DWN_NO_CLONES where the
 * compiler cannot. */
#if defined(__x86_64__) && defined(__linux__) && !defined(WN_NO_CLONES)
#define INNER __attribute__((noinline, target_clones("arch=x86-64-v3", "default"))) static
#else
#define INNER __attribute__((noinline)) static
#endif

#define CHUNK 64 /* channels per pass: the running maxima stay in registers or L1 */

#define DEFINE(T, S)                                                                 \
INNER void first_##S(const T *restrict e, T *restrict best, T *restrict arg,        \
                      long w) {                                                      \
    for (long c = 0; c < w; ++c) { best[c] = e[c]; arg[c] = 0; }                     \
}                                                                                    \
                                                                                     \
/* NaN wins, else the first of ties, as max_pool1d */                                \
INNER void update_##S(const T *restrict e, T *restrict best, T *restrict arg,       \
                       T a, long w) {                                                \
    for (long c = 0; c < w; ++c) {                                                   \
        T v = e[c];                                                                  \
        int later = (v > best[c]) | (v != v);                                        \
        best[c] = later ? v : best[c];                                               \
        arg[c] = later ? a : arg[c];                                                 \
    }                                                                                \
}                                                                                    \
                                                                                     \
INNER void store_##S(const T *restrict best,               \
                                                const T *restrict arg, T *restrict b, \
                                                long bc, uint8_t *restrict o,        \
                                                long w) {                            \
    for (long c = 0; c < w; ++c) { b[c * bc] = best[c]; o[c] = (uint8_t)arg[c]; }    \
}                                                                                    \
                                                                                     \
INNER void load_##S(const T *restrict g, long gc,          \
                                               const uint8_t *restrict o,            \
                                               T *restrict grad, T *restrict arg,    \
                                               long w) {                             \
    for (long c = 0; c < w; ++c) { grad[c] = g[c * gc]; arg[c] = (T)o[c]; }          \
}                                                                                    \
                                                                                     \
INNER void scatter_##S(const T *restrict g,                \
                                                  const T *restrict arg,             \
                                                  T *restrict e, T a, long w) {      \
    for (long c = 0; c < w; ++c) { T v = g[c]; e[c] = arg[c] == a ? v : (T)0; }       \
}                                                                                    \
                                                                                     \
/* best = max over the entries (written at best + i0 b0 + i1 b1 + i2 b2 + c bc),     \
 * off = the entry it came from (contiguous) */                                      \
void wn_max_##S(const T *y, const long *entry, long P, long n0, long n1, long n2,    \
                long s0, long s1, long s2, long C, T *best, long b0, long b1,        \
                long b2, long bc, uint8_t *off) {                                    \
    T bb[CHUNK], aa[CHUNK];                                                          \
    for (long i0 = 0; i0 < n0; ++i0)                                                 \
        for (long i1 = 0; i1 < n1; ++i1)                                             \
            for (long i2 = 0; i2 < n2; ++i2) {                                       \
                const T *p = y + i0 * s0 + i1 * s1 + i2 * s2;                        \
                long at = ((i0 * n1 + i1) * n2 + i2) * C;                            \
                for (long c0 = 0; c0 < C; c0 += CHUNK) {                             \
                    long w = C - c0 < CHUNK ? C - c0 : CHUNK;                        \
                    first_##S(p + entry[0] + c0, bb, aa, w);                         \
                    for (long a = 1; a < P; ++a)                                     \
                        update_##S(p + entry[a] + c0, bb, aa, (T)a, w);              \
                    store_##S(bb, aa, best + i0 * b0 + i1 * b1 + i2 * b2 + c0 * bc, bc, \
                              off + at + c0, w);                                     \
                }                                                                    \
            }                                                                        \
}                                                                                    \
                                                                                     \
/* Adjoint: entry a of dy gets g (at g + i0 g0 + i1 g1 + i2 g2 + c gc) where         \
 * off == a, zero elsewhere */                                                       \
void wn_unmax_##S(const T *g, long g0, long g1, long g2, long gc, const uint8_t *off, \
                  long P, long n0, long n1, long n2, long C, T *dy,                  \
                  const long *entry, long s0, long s1, long s2) {                    \
    T gg[CHUNK], aa[CHUNK];                                                          \
    for (long i0 = 0; i0 < n0; ++i0)                                                 \
        for (long i1 = 0; i1 < n1; ++i1)                                             \
            for (long i2 = 0; i2 < n2; ++i2) {                                       \
                T *p = dy + i0 * s0 + i1 * s1 + i2 * s2;                             \
                long at = ((i0 * n1 + i1) * n2 + i2) * C;                            \
                for (long c0 = 0; c0 < C; c0 += CHUNK) {                             \
                    long w = C - c0 < CHUNK ? C - c0 : CHUNK;                        \
                    load_##S(g + i0 * g0 + i1 * g1 + i2 * g2 + c0 * gc, gc,          \
                             off + at + c0, gg, aa, w);                              \
                    for (long a = 0; a < P; ++a)                                     \
                        scatter_##S(gg, aa, p + entry[a] + c0, (T)a, w);             \
                }                                                                    \
            }                                                                        \
}

DEFINE(float, f32)
DEFINE(double, f64)

/* The smoothing steps of the "a trous" cascade (smoothing.py): a valid correlation
 * of every row with a few taps h at time shifts shift[i], and its adjoint. Row by
 * row, in blocks of BLOCK_T times that stay in L1 while the taps pass over them:
 * one pass through memory where torch operations take one per tap. Rows:
 * (n0, n1, n2) with strides, times contiguous. */
#define BLOCK_T 2048

#define DEFINE_SMOOTH(T, S)                                                          \
INNER void scale_##S(const T *restrict x, T *restrict y, T a, long n) {              \
    for (long t = 0; t < n; ++t) y[t] = a * x[t];                                    \
}                                                                                    \
                                                                                     \
INNER void axpy_##S(const T *restrict x, T *restrict y, T a, long n) {               \
    for (long t = 0; t < n; ++t) y[t] += a * x[t];                                   \
}                                                                                    \
                                                                                     \
INNER void zero_##S(T *restrict y, long n) {                                         \
    for (long t = 0; t < n; ++t) y[t] = 0;                                           \
}                                                                                    \
                                                                                     \
/* out[r, t] = sum_i h[i] x[r, t + shift[i]], t < n; out contiguous (rows, n) */      \
void wn_smooth_##S(const T *x, long n0, long n1, long n2, long s0, long s1, long s2, \
                   const double *h, const long *shift, long taps, long n, T *out) {  \
    for (long i0 = 0; i0 < n0; ++i0)                                                 \
        for (long i1 = 0; i1 < n1; ++i1)                                             \
            for (long i2 = 0; i2 < n2; ++i2) {                                       \
                const T *row = x + i0 * s0 + i1 * s1 + i2 * s2;                      \
                T *o = out + ((i0 * n1 + i1) * n2 + i2) * n;                         \
                for (long t0 = 0; t0 < n; t0 += BLOCK_T) {                           \
                    long w = n - t0 < BLOCK_T ? n - t0 : BLOCK_T;                    \
                    scale_##S(row + t0 + shift[0], o + t0, (T)h[0], w);              \
                    for (long i = 1; i < taps; ++i)                                  \
                        axpy_##S(row + t0 + shift[i], o + t0, (T)h[i], w);           \
                }                                                                    \
            }                                                                        \
}                                                                                    \
                                                                                     \
/* target[r, t + shift[i]] += h[i] g[r, t] for all i, t < n, after zeroing the       \
 * first `length` times of each target row (0: accumulate). g contiguous (rows, n),  \
 * target rows strided */                                                            \
void wn_smooth_adjoint_##S(const T *g, long n0, long n1, long n2, long n,            \
                           const double *h, const long *shift, long taps, T *target, \
                           long t0s, long t1s, long t2s, long length) {              \
    for (long i0 = 0; i0 < n0; ++i0)                                                 \
        for (long i1 = 0; i1 < n1; ++i1)                                             \
            for (long i2 = 0; i2 < n2; ++i2) {                                       \
                T *row = target + i0 * t0s + i1 * t1s + i2 * t2s;                    \
                const T *gr = g + ((i0 * n1 + i1) * n2 + i2) * n;                    \
                if (length) zero_##S(row, length);                                   \
                for (long t0 = 0; t0 < n; t0 += BLOCK_T) {                           \
                    long w = n - t0 < BLOCK_T ? n - t0 : BLOCK_T;                    \
                    for (long i = 0; i < taps; ++i)                                  \
                        axpy_##S(gr + t0, row + t0 + shift[i], (T)h[i], w);          \
                }                                                                    \
            }                                                                        \
}

DEFINE_SMOOTH(float, f32)
DEFINE_SMOOTH(double, f64)

/* The fused stem's per-row work (stem.py), one row = one batch item and scale of
 * the pooled lifting, (C, n) with channel stride rs. Forward: each channel's
 * mean and variance (two passes, summed in double) and the second max pool of
 * sign * row over windows of p2 (a flat channel takes each window's first
 * entry). Backward: the gradient at the pooled lifting, an affine function of
 * the row plus the sparse term where the second pool took its maximum. */
#define DEFINE_STEM(T, S)                                                            \
/* eight running sums: a single one would wait on each addition's latency */        \
INNER double sum_##S(const T *restrict x, long n) {                                  \
    double s[8] = {0}, r = 0;                                                        \
    long t = 0;                                                                      \
    for (; t + 8 <= n; t += 8)                                                       \
        for (int l = 0; l < 8; ++l) s[l] += x[t + l];                                \
    for (; t < n; ++t) r += x[t];                                                    \
    for (int l = 0; l < 8; ++l) r += s[l];                                           \
    return r;                                                                        \
}                                                                                    \
                                                                                     \
INNER double squares_##S(const T *restrict x, double mu, long n) {                   \
    double s[8] = {0}, r = 0;                                                        \
    long t = 0;                                                                      \
    for (; t + 8 <= n; t += 8)                                                       \
        for (int l = 0; l < 8; ++l) {                                                \
            double v = x[t + l] - mu;                                                \
            s[l] += v * v;                                                           \
        }                                                                            \
    for (; t < n; ++t) { double v = x[t] - mu; r += v * v; }                         \
    for (int l = 0; l < 8; ++l) r += s[l];                                           \
    return r;                                                                        \
}                                                                                    \
                                                                                     \
INNER void pool4_##S(const T *restrict x, T sign, long n2, T *restrict m,            \
                     uint8_t *restrict off) {                                        \
    for (long t = 0; t < n2; ++t) {                                                  \
        T b = sign * x[4 * t], v;                                                    \
        uint8_t o = 0;                                                               \
        v = sign * x[4 * t + 1]; if (v > b || v != v) { b = v; o = 1; }              \
        v = sign * x[4 * t + 2]; if (v > b || v != v) { b = v; o = 2; }              \
        v = sign * x[4 * t + 3]; if (v > b || v != v) { b = v; o = 3; }              \
        m[t] = b; off[t] = o;                                                        \
    }                                                                                \
}                                                                                    \
                                                                                     \
INNER void pool_##S(const T *restrict x, T sign, long p, long n2, T *restrict m,     \
                    uint8_t *restrict off) {                                         \
    for (long t = 0; t < n2; ++t) {                                                  \
        T b = sign * x[p * t];                                                       \
        uint8_t o = 0;                                                               \
        for (long a = 1; a < p; ++a) {                                               \
            T v = sign * x[p * t + a];                                               \
            if (v > b || v != v) { b = v; o = (uint8_t)a; }                          \
        }                                                                            \
        m[t] = b; off[t] = o;                                                        \
    }                                                                                \
}                                                                                    \
                                                                                     \
void wn_stem_row_##S(const T *row, long C, long rs, long n, long p2, const T *sign,   \
                     const uint8_t *flat, int stats, double *mean, double *var,      \
                     T *m2, long ms, uint8_t *off2, long os) {                       \
    long n2 = n / p2;                                                                \
    for (long c = 0; c < C; ++c) {                                                   \
        const T *x = row + c * rs;                                                   \
        if (stats) {                                                                 \
            double mu = sum_##S(x, n) / n;                                           \
            mean[c] = mu;                                                            \
            var[c] = squares_##S(x, mu, n) / n;                                      \
        }                                                                            \
        T sg = sign ? sign[c] : (T)1;                                                \
        if (flat && flat[c])  /* gamma = 0: every window's first entry */            \
            for (long t = 0; t < n2; ++t) {                                          \
                m2[c * ms + t] = sg * x[p2 * t];                                     \
                off2[c * os + t] = 0;                                                \
            }                                                                        \
        else if (p2 == 4)                                                            \
            pool4_##S(x, sg, n2, m2 + c * ms, off2 + c * os);                        \
        else                                                                         \
            pool_##S(x, sg, p2, n2, m2 + c * ms, off2 + c * os);                     \
    }                                                                                \
}                                                                                    \
                                                                                     \
INNER void affine_##S(const T *restrict x, T slope, T offset, T *restrict y, long n) { \
    for (long t = 0; t < n; ++t) y[t] = offset + slope * x[t];                       \
}                                                                                    \
                                                                                     \
/* g1[c, t] = offset[c] + slope[c] m1[c, t] (zero without slope), then               \
 * g1[c, p2 tau + off2[c, tau]] += coef[c] g[c, tau] */                              \
void wn_stem_grad_row_##S(const T *m1, long rs, long C, long n, const T *slope,      \
                          const T *offset, const T *g, long gs, const uint8_t *off2, \
                          long os, long n2, long p2, const T *coef, T *g1, long g1s) { \
    for (long c = 0; c < C; ++c) {                                                   \
        T *out = g1 + c * g1s;                                                       \
        if (slope)                                                                   \
            affine_##S(m1 + c * rs, slope[c], offset[c], out, n);                    \
        else                                                                         \
            for (long t = 0; t < n; ++t) out[t] = 0;                                 \
        const T *gc = g + c * gs;                                                    \
        const uint8_t *oc = off2 + c * os;                                           \
        for (long t = 0; t < n2; ++t) out[p2 * t + oc[t]] += coef[c] * gc[t];        \
    }                                                                                \
}

DEFINE_STEM(float, f32)
DEFINE_STEM(double, f64)
