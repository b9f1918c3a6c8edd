/* Compiled loops of the fused lifting + max pool, its stem, and the smoothing cascade
 * (see pooled.py, stem.py, smoothing.py and _native.py).
 *
 * Pure C on raw pointers: no torch headers (a one-second compile), called via
 * ctypes, which releases the GIL. The inner loops take restrict pointers and
 * compare and select at one width (the entry index as T), so that the
 * compiler vectorises them.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The inner loops, each a function of its own: inlined into the loop nests
 * around them, gcc 12 no longer vectorises them. On x86-64 each is built three
 * times, for AVX-512 (x86-64-v4), AVX2 (x86-64-v3) and the baseline, and the
 * loader picks one by the CPU it runs on; the build retries with -DWN_NO_CLONES
 * where the compiler cannot. */
#if defined(__x86_64__) && defined(__linux__) && !defined(WN_NO_CLONES)
#define INNER                                                                        \
    __attribute__((noinline, target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default"))) \
    static
#else
#define INNER __attribute__((noinline)) static
#endif

/* One matrix product Y of the fused lifting (pooled.py) is (d nq, R C): rows (phase, q),
 * columns (r, c), time t = d (R q + r) + phase. Its pooling windows (P times each) are
 * handled TILE at a time: their maxima are formed channels-innermost (the C channels of a
 * time are contiguous in Y) into a small buffer, and written to the output, whose time
 * axis is contiguous, one run of TILE times per channel (a 64-byte line for float)
 * instead of one scattered value per channel and time. The offsets of the maxima keep
 * the window layout of pooled._window, so that both paths share them. */
#define TILE 16


/* e[k]: where the C channels of time t0 + k lie in Y, k < n (counters, no divisions) */
static void addresses(long t0, long n, long d, long nq, long R, long C, long *e) {
    long q = t0 / (d * R), rest = t0 - q * d * R;
    long r = rest / d, phase = rest - r * d;
    for (long k = 0; k < n; ++k) {
        e[k] = ((phase * nq + q) * R + r) * C;
        if (++phase == d) {
            phase = 0;
            if (++r == R) { r = 0; ++q; }
        }
    }
}

/* at[i]: where the C offsets of window tau0 + i lie, i < w: layout (d/P, nq, R, C) when
 * P divides d ("phase"), else time order ("block", "time"); returns whether they are
 * one contiguous run */
static int windows(long tau0, long w, long d, long nq, long R, long P, long C, long *at) {
    long k = d % P ? 1 : d / P, j = tau0 % k, u = tau0 / k;
    for (long i = 0; i < w; ++i) {
        at[i] = (j * nq * R + u) * C;
        if (++j == k) { j = 0; ++u; }
    }
    return k == 1;
}

static long clamp(long v, long hi) { return v < 0 ? 0 : v > hi ? hi : v; }

#define DEFINE(T, S)                                                                 \
/* Every vector loop is a function of its own whose restrict arguments let the       \
 * compiler vectorise it (the same loop inside a loop nest it does not vectorise). */ \
INNER void first_##S(const T *restrict v, T *restrict b, T *restrict g, long C) {    \
    for (long c = 0; c < C; ++c) { b[c] = v[c]; g[c] = 0; }                          \
}                                                                                    \
                                                                                     \
/* NaN wins, else the first of ties, as max_pool1d */                                \
INNER void update_##S(const T *restrict v, T *restrict b, T *restrict g, T a,       \
                      long C) {                                                      \
    for (long c = 0; c < C; ++c) {                                                   \
        T x = v[c];                                                                  \
        int later = (x > b[c]) | (x != x);                                           \
        b[c] = later ? x : b[c];                                                     \
        g[c] = later ? a : g[c];                                                     \
    }                                                                                \
}                                                                                    \
                                                                                     \
/* the same on sign * v, where keep[c] != 0 (else the first entry stays) */          \
INNER void first_signed_##S(const T *restrict v, const T *restrict sign,             \
                            T *restrict b, T *restrict g, long C) {                  \
    for (long c = 0; c < C; ++c) { b[c] = sign[c] * v[c]; g[c] = 0; }                \
}                                                                                    \
                                                                                     \
INNER void update_signed_##S(const T *restrict v, const T *restrict sign,            \
                             const T *restrict keep, T *restrict b, T *restrict g,   \
                             T a, long C) {                                          \
    for (long c = 0; c < C; ++c) {                                                   \
        T x = sign[c] * v[c];                                                        \
        int later = ((x > b[c]) | (x != x)) & (keep[c] != 0);                        \
        b[c] = later ? x : b[c];                                                     \
        g[c] = later ? a : g[c];                                                     \
    }                                                                                \
}                                                                                    \
                                                                                     \
/* entry a of a window: its gradient where the window's maximum came from it */      \
INNER void unmax_##S(const T *restrict b, const T *restrict g, T a, T *restrict p,  \
                     long C) {                                                       \
    for (long c = 0; c < C; ++c) p[c] = g[c] == a ? b[c] : (T)0;                     \
}                                                                                    \
                                                                                     \
INNER void to_u8_##S(const T *restrict g, uint8_t *restrict o, long C) {             \
    for (long c = 0; c < C; ++c) o[c] = (uint8_t)g[c];                               \
}                                                                                    \
                                                                                     \
INNER void from_u8_##S(const uint8_t *restrict o, T *restrict g, long C) {           \
    for (long c = 0; c < C; ++c) g[c] = (T)o[c];                                     \
}                                                                                    \
                                                                                     \
/* sums of (v - K) and of its squares per channel, in double */                      \
INNER void sums_##S(const T *restrict v, const T *restrict K, double *restrict s1,   \
                    double *restrict s2, long C) {                                   \
    for (long c = 0; c < C; ++c) {                                                   \
        double x = (double)v[c] - (double)K[c];                                      \
        s1[c] += x;                                                                  \
        s2[c] += x * x;                                                              \
    }                                                                                \
}                                                                                    \
                                                                                     \
/* out[c os + i] = buf[i C + c], i < w: the tile into rows of contiguous time */     \
INNER void put_##S(const T *restrict buf, long w, long C, T *restrict out, long os) { \
    for (long c = 0; c < C; ++c)                                                     \
        for (long i = 0; i < w; ++i) out[c * os + i] = buf[i * C + c];               \
}                                                                                    \
                                                                                     \
INNER void put_u8_##S(const T *restrict arg, long w, long C, uint8_t *restrict out,  \
                      long os) {                                                     \
    for (long c = 0; c < C; ++c)                                                     \
        for (long i = 0; i < w; ++i) out[c * os + i] = (uint8_t)arg[i * C + c];      \
}                                                                                    \
                                                                                     \
/* buf[i C + c] = g[c gs + i], i < w: rows of contiguous time into the tile */       \
INNER void get_##S(const T *restrict g, long gs, long w, long C, T *restrict buf) {   \
    for (long c = 0; c < C; ++c)                                                     \
        for (long i = 0; i < w; ++i) buf[i * C + c] = g[c * gs + i];                 \
}                                                                                    \
                                                                                     \
/* b[c] = offset[c] + slope[c] m[c]: one time of channels-last rows */               \
INNER void affine_##S(const T *restrict m, const T *restrict slope,                  \
                      const T *restrict offset, T *restrict b, long C) {             \
    for (long c = 0; c < C; ++c) b[c] = offset[c] + slope[c] * m[c];                 \
}                                                                                    \
                                                                                     \
/* buf[i C + c] = offset[c] + slope[c] m1[c ms + i], i < w */                         \
INNER void get_affine_##S(const T *restrict m1, long ms, long w, long C,             \
                          const T *restrict slope, const T *restrict offset,         \
                          T *restrict buf) {                                         \
    for (long c = 0; c < C; ++c)                                                     \
        for (long i = 0; i < w; ++i) buf[i * C + c] = offset[c] + slope[c] * m1[c * ms + i]; \
}                                                                                    \
                                                                                     \
/* Max-pool product y over windows of P times into out (C rows of stride os, the      \
 * first n windows) and the offsets of every window's maximum into off (window       \
 * layout). With P2 > 0, the stem's work on the pooled rows too (stem.py): the       \
 * per-channel mean and sum of squared deviations of those n values, merged into      \
 * mean and msq (which hold the row's first `count` values; none when mean is NULL), \
 * and the second max pool of sign * pooled over windows of P2 (the first n2) into   \
 * out2 and off2 (C rows of strides o2s, f2s); channels where flat[c] take every     \
 * window's first entry. Returns 0, or -1 when out of memory. */                     \
int wn_pool_##S(const T *y, long d, long nq, long R, long C, long P, long n, T *out,  \
                long os, long ot, uint8_t *off, long P2, const T *sign, const uint8_t *flat,  \
                long count, double *mean, double *msq, long n2, T *out2, long o2s,   \
                uint8_t *off2, long f2s) {                                           \
    long total = nq * R * d / P;                                                     \
    long tile = P2 ? P2 * (TILE / P2 ? TILE / P2 : 1) : TILE;                        \
    long m = tile / (P2 ? P2 : 1);                                                   \
    T *buf = malloc(sizeof(T) * (2 * tile * C + 2 * m * C + 3 * C));                 \
    long *e = malloc(sizeof(long) * tile * (P + 1));                                 \
    double *s = calloc(2 * C, sizeof(double));                                       \
    if (!buf || !e || !s) { free(buf); free(e); free(s); return -1; }                \
    T *arg = buf + tile * C, *best2 = arg + tile * C, *arg2 = best2 + m * C;          \
    T *K = arg2 + m * C, *sg = K + C, *keep = sg + C;                                \
    long *at = e + tile * P;                                                         \
    for (long c = 0; c < C; ++c) {                                                   \
        sg[c] = sign ? sign[c] : (T)1;                                               \
        keep[c] = flat && flat[c] ? (T)0 : (T)1;                                     \
    }                                                                                \
    for (long i0 = 0; i0 < total; i0 += tile) {                                      \
        long w = total - i0 < tile ? total - i0 : tile;                              \
        addresses(i0 * P, w * P, d, nq, R, C, e);                                    \
        int run = windows(i0, w, d, nq, R, P, C, at);                                \
        for (long i = 0; i < w; ++i) {                                               \
            first_##S(y + e[i * P], buf + i * C, arg + i * C, C);                    \
            for (long a = 1; a < P; ++a)                                             \
                update_##S(y + e[i * P + a], buf + i * C, arg + i * C, (T)a, C);     \
        }                                                                            \
        if (run)                                                                     \
            to_u8_##S(arg, off + at[0], w * C);                                      \
        else                                                                         \
            for (long i = 0; i < w; ++i) to_u8_##S(arg + i * C, off + at[i], C);     \
        long kept = clamp(n - i0, w);                                                \
        if (kept && ot == 1)                                                         \
            put_##S(buf, kept, C, out + i0, os);                                     \
        else if (kept) /* channels last: the tile as it is */                        \
            memcpy(out + i0 * ot, buf, sizeof(T) * kept * C);                        \
        if (!P2) continue;                                                           \
        if (kept && mean) {                                                          \
            if (i0 == 0)                                                             \
                for (long c = 0; c < C; ++c) K[c] = buf[c];                          \
            for (long i = 0; i < kept; ++i) sums_##S(buf + i * C, K, s, s + C, C);   \
        }                                                                            \
        long nw = clamp(n2 - i0 / P2, w / P2);                                       \
        if (nw) {                                                                    \
            for (long k = 0; k < nw; ++k) {                                          \
                const T *v = buf + k * P2 * C;                                       \
                first_signed_##S(v, sg, best2 + k * C, arg2 + k * C, C);             \
                for (long a = 1; a < P2; ++a)                                        \
                    update_signed_##S(v + a * C, sg, keep, best2 + k * C,            \
                                      arg2 + k * C, (T)a, C);                        \
            }                                                                        \
            put_##S(best2, nw, C, out2 + i0 / P2, o2s);                              \
            put_u8_##S(arg2, nw, C, off2 + i0 / P2, f2s);                            \
        }                                                                            \
    }                                                                                \
    long nb = clamp(n, total);                                                       \
    if (P2 && mean && nb) /* Chan et al.'s merge of (count, mean, msq) and the product's */ \
        for (long c = 0; c < C; ++c) {                                               \
            double mu = K[c] + s[c] / nb, sq = s[C + c] - s[c] * s[c] / nb;          \
            if (count == 0) { mean[c] = mu; msq[c] = sq; continue; }                 \
            double all = (double)(count + nb), delta = mu - mean[c];                 \
            mean[c] += delta * nb / all;                                             \
            msq[c] += sq + delta * delta * ((double)count * nb / all);              \
        }                                                                            \
    free(buf); free(e); free(s);                                                     \
    return 0;                                                                        \
}                                                                                    \
                                                                                     \
/* Adjoint of wn_pool: dy (the product's shape, every entry written) gets, for each  \
 * window, its gradient at the offset of its maximum and zeros elsewhere. The        \
 * gradient of window i < n: P2 == 0: g[c gs + i]; P2 > 0 (the stem's, stem.py):     \
 * offset[c] + slope[c] m1[c ms + i] (zero when slope is NULL), plus                 \
 * coef[c] g[c gs + k] where the second pool's window k < n2 took its maximum        \
 * (off2[c f2s + k]); windows from n on get zero. */                                 \
int wn_unpool_##S(T *dy, long d, long nq, long R, long C, long P, long n,            \
                  const uint8_t *off, const T *g, long gs, long P2, const T *m1,      \
                  long ms, long mt, const T *slope, const T *offset, const T *coef, long n2,   \
                  const uint8_t *off2, long f2s) {                                   \
    long total = nq * R * d / P;                                                     \
    long tile = P2 ? P2 * (TILE / P2 ? TILE / P2 : 1) : TILE;                        \
    T *buf = malloc(sizeof(T) * 2 * tile * C);                                       \
    long *e = malloc(sizeof(long) * tile * (P + 1));                                 \
    if (!buf || !e) { free(buf); free(e); return -1; }                               \
    T *arg = buf + tile * C;                                                         \
    long *at = e + tile * P;                                                         \
    for (long i0 = 0; i0 < total; i0 += tile) {                                      \
        long w = total - i0 < tile ? total - i0 : tile;                              \
        long kept = clamp(n - i0, w);                                                \
        if (!P2)                                                                     \
            get_##S(g + i0, gs, kept, C, buf);                                       \
        else if (slope && mt == 1)                                                   \
            get_affine_##S(m1 + i0, ms, kept, C, slope, offset, buf);                \
        else if (slope) /* channels last */                                          \
            for (long i = 0; i < kept; ++i)                                          \
                affine_##S(m1 + (i0 + i) * mt, slope, offset, buf + i * C, C);       \
        else                                                                         \
            for (long i = 0; i < kept * C; ++i) buf[i] = 0;                          \
        for (long i = kept * C; i < w * C; ++i) buf[i] = 0;                          \
        if (P2) {                                                                    \
            long nw = clamp(n2 - i0 / P2, w / P2);                                   \
            for (long k = 0; k < nw; ++k)                                            \
                for (long c = 0; c < C; ++c) {                                       \
                    long at2 = c * f2s + i0 / P2 + k;                                \
                    buf[(k * P2 + off2[at2]) * C + c] += coef[c] * g[c * gs + i0 / P2 + k]; \
                }                                                                    \
        }                                                                            \
        addresses(i0 * P, w * P, d, nq, R, C, e);                                    \
        if (windows(i0, w, d, nq, R, P, C, at))                                      \
            from_u8_##S(off + at[0], arg, w * C);                                    \
        else                                                                         \
            for (long i = 0; i < w; ++i) from_u8_##S(off + at[i], arg + i * C, C);   \
        for (long i = 0; i < w; ++i) {                                               \
            for (long a = 0; a < P; ++a)                                             \
                unmax_##S(buf + i * C, arg + i * C, (T)a, dy + e[i * P + a], C);     \
        }                                                                            \
    }                                                                                \
    free(buf); free(e);                                                              \
    return 0;                                                                        \
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
