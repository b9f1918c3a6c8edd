/* Compiled loops of the fused lifting + max pool, its stem, and the smoothing cascade
 * (see pooled.py, stem.py, cascade.py, pooling.py, norm_pool.py and _native.py).
 *
 * Pure C on raw pointers: no torch headers (a one-second compile), called via ctypes,
 * which releases the GIL. _native.py builds it for the CPU it runs on (-march=native
 * where the compiler takes it; the cache key names the CPU), so the vector types below
 * are the widest the machine has: 64 bytes are one AVX-512 register, two AVX2 ones or
 * four SSE/NEON ones.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Loops of their own (restrict arguments, not inlined), which the compiler vectorises;
 * written inside a loop nest it does not. */
#define INNER static __attribute__((noinline))
/* Inlined helpers on restrict arguments, which it vectorises inside the tile loops. */
#define VEC static inline __attribute__((always_inline))

/* One matrix product Y of the fused lifting (pooled.py) is (d nq, R C): rows (phase, q),
 * columns (r, c), time t = d (R q + r) + phase. Its pooling windows (P times each) are
 * handled TILE at a time: their maxima are formed channels-innermost (the C channels of a
 * time are contiguous in Y) into a small buffer, and written to the output, time
 * contiguous (one run of TILE times per channel instead of one scattered value per
 * channel and time) or channels last (the buffer as it is). The offsets of the maxima
 * keep the window layout of pooled._window, so that both paths share them. */
#define TILE 64
#define PHASE_RUNS 16 /* runs of C channels per pass of phase_max: 16 C values, whole vectors */

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

/* e[k]: where the window of K times from time t0 + k of a row starts in its phases
 * (d rows of U: time d u + phase at phase U + u), k < n */
static void starts(long t0, long n, long d, long U, long *e) {
    long u = t0 / d, phase = t0 - u * d;
    for (long k = 0; k < n; ++k) {
        e[k] = phase * U + u;
        if (++phase == d) { phase = 0; ++u; }
    }
}

static long clamp(long v, long hi) { return v < 0 ? 0 : v > hi ? hi : v; }

/* The maxima: NaN wins, else the first of ties, as max_pool1d. Compares and selects on
 * 64-byte vectors of T, the offsets kept as T (one width throughout); a row of C
 * channels is covered by whole vectors, the last one overlapping the one before (the
 * selects are idempotent), so that no scalar tail with unpredictable branches remains.
 * Rows of fewer channels than a vector take the scalar loop. */
#define MAXV 8 /* accumulators of wn_pool_grad in registers: K up to 8 vectors */
#define DEFINE_VECTORS(T, S, M)                                                      \
typedef T v##S __attribute__((vector_size(64)));                                     \
typedef M m##S __attribute__((vector_size(64)));                                     \
typedef uint8_t u##S __attribute__((vector_size(64 / sizeof(T))));                  \
enum { LANES_##S = 64 / sizeof(T) };                                                 \
VEC v##S load_##S(const T *p) { v##S v; memcpy(&v, p, sizeof v); return v; }        \
VEC void store_##S(T *p, v##S v) { memcpy(p, &v, sizeof v); }                        \
VEC v##S pick_##S(m##S m, v##S a, v##S b) {                                          \
    return (v##S)((m & (m##S)a) | (~m & (m##S)b));                                   \
}                                                                                    \
/* (m, k) <- (x, a) where x is NaN or above m */                                     \
VEC void step_##S(v##S x, v##S a, v##S *m, v##S *k) {                                \
    m##S later = (x > *m) | (x != x);                                                \
    *m = pick_##S(later, x, *m);                                                     \
    *k = pick_##S(later, a, *k);                                                     \
}                                                                                    \
VEC void step_keep_##S(v##S x, v##S a, m##S keep, v##S *m, v##S *k) {                \
    m##S later = ((x > *m) | (x != x)) & keep;                                       \
    *m = pick_##S(later, x, *m);                                                     \
    *k = pick_##S(later, a, *k);                                                     \
}                                                                                    \
VEC int later_##S(T x, T m) { return (x > m) | (x != x); }                           \
                                                                                     \
/* b[c], o[c]: the maximum over the P entries v[a][c] and its a (one byte) */       \
VEC void window_max_##S(const T *const *v, long P, T *b, uint8_t *o, long C) {      \
    if (C < LANES_##S) {                                                             \
        for (long c = 0; c < C; ++c) {                                               \
            T m = v[0][c];                                                           \
            uint8_t k = 0;                                                           \
            for (long a = 1; a < P; ++a)                                             \
                if (later_##S(v[a][c], m)) { m = v[a][c]; k = (uint8_t)a; }         \
            b[c] = m; o[c] = k;                                                      \
        }                                                                            \
        return;                                                                      \
    }                                                                                \
    for (long c0 = 0;; c0 += LANES_##S) {                                            \
        if (c0 + LANES_##S > C) c0 = C - LANES_##S;                                  \
        v##S m = load_##S(v[0] + c0), k = (v##S){0}, one = k + 1, a = k;             \
        for (long e = 1; e < P; ++e) {                                               \
            a += one;                                                                \
            step_##S(load_##S(v[e] + c0), a, &m, &k);                                \
        }                                                                            \
        store_##S(b + c0, m);                                                        \
        /* through the integers: a float-to-byte conversion is not vectorised */     \
        u##S ku = __builtin_convertvector(__builtin_convertvector(k, m##S), u##S);   \
        memcpy(o + c0, &ku, sizeof ku);                                              \
        if (c0 + LANES_##S >= C) break;                                              \
    }                                                                                \
}                                                                                    \
                                                                                     \
/* the same over P2 consecutive rows of v (stride C) of sign * v; where keep[c] == 0   \
 * the first row stays */                                                            \
VEC void window_max_signed_##S(const T *v, long P2, const T *sign, const T *keep,    \
                               T *b, T *g, long C) {                                 \
    if (C < LANES_##S) {                                                             \
        for (long c = 0; c < C; ++c) {                                               \
            T m = sign[c] * v[c], k = 0;                                             \
            for (long a = 1; a < P2; ++a) {                                          \
                T x = sign[c] * v[a * C + c];                                        \
                if (keep[c] != 0 && later_##S(x, m)) { m = x; k = (T)a; }            \
            }                                                                        \
            b[c] = m; g[c] = k;                                                      \
        }                                                                            \
        return;                                                                      \
    }                                                                                \
    for (long c0 = 0;; c0 += LANES_##S) {                                            \
        if (c0 + LANES_##S > C) c0 = C - LANES_##S;                                  \
        v##S s = load_##S(sign + c0), m = s * load_##S(v + c0), k = (v##S){0};       \
        v##S one = k + 1, a = k;                                                     \
        m##S keep_m = load_##S(keep + c0) != 0;                                      \
        for (long e = 1; e < P2; ++e) {                                              \
            a += one;                                                                \
            step_keep_##S(s * load_##S(v + e * C + c0), a, keep_m, &m, &k);         \
        }                                                                            \
        store_##S(b + c0, m);                                                        \
        store_##S(g + c0, k);                                                        \
        if (c0 + LANES_##S >= C) break;                                              \
    }                                                                                \
}                                                                                    \
                                                                                     \
/* t1[c], t2[c]: the sums over w rows (stride C) of v - K and of its squares, in T      \
 * (the overlapping last vector stores the same sums again) */                        \
VEC void partial_sums_##S(const T *v, long w, const T *K, T *t1, T *t2, long C) {    \
    if (C < LANES_##S) {                                                             \
        for (long c = 0; c < C; ++c) {                                               \
            T a1 = 0, a2 = 0;                                                        \
            for (long i = 0; i < w; ++i) {                                           \
                T x = v[i * C + c] - K[c];                                           \
                a1 += x;                                                             \
                a2 += x * x;                                                         \
            }                                                                        \
            t1[c] = a1; t2[c] = a2;                                                  \
        }                                                                            \
        return;                                                                      \
    }                                                                                \
    for (long c0 = 0;; c0 += LANES_##S) {                                            \
        if (c0 + LANES_##S > C) c0 = C - LANES_##S;                                  \
        v##S k = load_##S(K + c0), a1 = (v##S){0}, a2 = a1;                          \
        for (long i = 0; i < w; ++i) {                                               \
            v##S x = load_##S(v + i * C + c0) - k;                                   \
            a1 += x;                                                                 \
            a2 += x * x;                                                             \
        }                                                                            \
        store_##S(t1 + c0, a1);                                                      \
        store_##S(t2 + c0, a2);                                                      \
        if (c0 + LANES_##S >= C) break;                                              \
    }                                                                                \
}                                                                                    \
                                                                                     \
/* sum over t < n of (x[t] - mu)^2: 64-byte vectors summed in T over blocks of 256   \
 * times, the blocks in double */                                                   \
VEC double squared_deviations_##S(const T *x, long n, T mu) {                        \
    double total = 0;                                                                \
    long t = 0;                                                                      \
    for (; t + 256 <= n; t += 256) {                                                 \
        v##S acc = (v##S){0}, m = acc + mu;                                          \
        for (long u = 0; u < 256; u += LANES_##S) {                                  \
            v##S d = load_##S(x + t + u) - m;                                        \
            acc += d * d;                                                            \
        }                                                                            \
        T part[LANES_##S];                                                           \
        store_##S(part, acc);                                                        \
        for (long l = 0; l < LANES_##S; ++l) total += part[l];                       \
    }                                                                                \
    for (; t < n; ++t) { double d = (double)x[t] - mu; total += d * d; }             \
    return total;                                                                    \
}                                                                                    \
                                                                                     \
/* sums[k] += sum over windows i < w of g[i C] z[e[i P + o[at[i]]] + k], k < K: the   \
 * gradients of one channel's windows times the input at their maxima (wn_pool_grad); \
 * nv accumulators (a constant where inlined: kept in registers) */                  \
VEC void window_sums_v_##S(const T *z, const long *e, const long *at, const uint8_t *o, \
                           const T *g, long w, long P, long C, long K, T *sums,      \
                           const long nv) {                                          \
    v##S acc[MAXV];                                                                  \
    for (long j = 0; j + 1 < nv; ++j) acc[j] = load_##S(sums + j * LANES_##S);       \
    acc[nv - 1] = load_##S(sums + K - LANES_##S);                                    \
    for (long i = 0; i < w; ++i) {                                                   \
        T gv = g[i * C];                                                             \
        const T *p = z + e[i * P + o[at[i]]];                                        \
        for (long j = 0; j + 1 < nv; ++j) acc[j] += gv * load_##S(p + j * LANES_##S); \
        acc[nv - 1] += gv * load_##S(p + K - LANES_##S);                             \
    }                                                                                \
    for (long j = 0; j + 1 < nv; ++j) store_##S(sums + j * LANES_##S, acc[j]);       \
    store_##S(sums + K - LANES_##S, acc[nv - 1]);                                    \
}                                                                                    \
                                                                                     \
INNER void window_sums_##S(const T *z, const long *e, const long *at, const uint8_t *o, \
                           const T *g, long w, long P, long C, long K, T *sums) {    \
    long nv = (K + LANES_##S - 1) / LANES_##S;                                       \
    switch (K < LANES_##S ? 0 : nv) {                                                \
    case 1: window_sums_v_##S(z, e, at, o, g, w, P, C, K, sums, 1); return;          \
    case 2: window_sums_v_##S(z, e, at, o, g, w, P, C, K, sums, 2); return;          \
    case 3: window_sums_v_##S(z, e, at, o, g, w, P, C, K, sums, 3); return;          \
    case 4: window_sums_v_##S(z, e, at, o, g, w, P, C, K, sums, 4); return;          \
    case 5: window_sums_v_##S(z, e, at, o, g, w, P, C, K, sums, 5); return;          \
    case 6: window_sums_v_##S(z, e, at, o, g, w, P, C, K, sums, 6); return;          \
    case 7: window_sums_v_##S(z, e, at, o, g, w, P, C, K, sums, 7); return;          \
    case 8: window_sums_v_##S(z, e, at, o, g, w, P, C, K, sums, 8); return;          \
    }                                                                                \
    for (long i = 0; i < w; ++i) { /* short or long kernels */                       \
        T gv = g[i * C];                                                             \
        const T *p = z + e[i * P + o[at[i]]];                                        \
        for (long k = 0; k < K; ++k) sums[k] += gv * p[k];                           \
    }                                                                                \
}                                                                                    \
                                                                                     \
/* p[c] = b[c] where g[c] == a, else 0: entry a of a window in the adjoint */        \
VEC void unmax_##S(const T *b, const T *g, T a, T *p, long C) {                      \
    if (C < LANES_##S) {                                                             \
        for (long c = 0; c < C; ++c) p[c] = g[c] == a ? b[c] : (T)0;                 \
        return;                                                                      \
    }                                                                                \
    for (long c0 = 0;; c0 += LANES_##S) {                                            \
        if (c0 + LANES_##S > C) c0 = C - LANES_##S;                                  \
        v##S zero = (v##S){0};                                                       \
        store_##S(p + c0, pick_##S(load_##S(g + c0) == zero + a, load_##S(b + c0), zero)); \
        if (c0 + LANES_##S >= C) break;                                              \
    }                                                                                \
}

DEFINE_VECTORS(float, f32, int32_t)
DEFINE_VECTORS(double, f64, int64_t)

#define DEFINE(T, S)                                                                 \
VEC void to_u8_##S(const T *restrict g, uint8_t *restrict o, long n) {               \
    for (long c = 0; c < n; ++c) o[c] = (uint8_t)g[c];                               \
}                                                                                    \
                                                                                     \
VEC void from_u8_##S(const uint8_t *restrict o, T *restrict g, long n) {             \
    for (long c = 0; c < n; ++c) g[c] = (T)o[c];                                     \
}                                                                                    \
                                                                                     \
VEC void scaled_##S(const T *restrict g, const T *restrict coef, T *restrict v,      \
                    long C) {                                                        \
    for (long c = 0; c < C; ++c) v[c] = coef[c] * g[c];                              \
}                                                                                    \
                                                                                     \
VEC void affine_##S(const T *restrict m, const T *restrict slope,                    \
                    const T *restrict offset, T *restrict b, long C) {               \
    for (long c = 0; c < C; ++c) b[c] = offset[c] + slope[c] * m[c];                 \
}                                                                                    \
                                                                                     \
/* a second-pool window's P2 entries: += v[c] at the entry at[c] */                  \
VEC void sparse_##S(T *restrict b, const T *restrict v, const T *restrict at,        \
                    long P2, long C) {                                               \
    for (long a = 0; a < P2; ++a)                                                    \
        for (long c = 0; c < C; ++c) b[a * C + c] += at[c] == (T)a ? v[c] : (T)0;     \
}                                                                                    \
                                                                                     \
/* The maxima where P divides d ("phase" layout): entry a of the windows of phase     \
 * group k is the contiguous block y + (k P + a) L, L = nq R C, in the (q, r, c) order \
 * of the offsets, so both stream: window_max runs over PHASE_RUNS runs (q, r) of C    \
 * channels at a time as one row (no lanes lost to a row of C channels) into tmp, whose \
 * run (q, r) is window tau = (d / P)(R q + r) + k, copied to out[tau C] (channels     \
 * last) where tau < n. */                                                           \
INNER void phase_max_##S(const T *y, long d, long nq, long R, long C, long P, long n,  \
                         T *out, uint8_t *off, T *tmp) {                             \
    long L = nq * R * C, g = d / P, runs = nq * R;                                   \
    for (long k = 0; k < g; ++k) {                                                   \
        const T *base = y + k * P * L;                                               \
        for (long r0 = 0; r0 < runs; r0 += PHASE_RUNS) {                             \
            long nr = runs - r0 < PHASE_RUNS ? runs - r0 : PHASE_RUNS;               \
            long x0 = r0 * C, len = nr * C;                                          \
            /* the run's P entries as window_max's "channels": len of them */        \
            const T *v[256];                                                         \
            for (long a = 0; a < P; ++a) v[a] = base + a * L + x0;                   \
            window_max_##S(v, P, tmp, off + k * L + x0, len);                        \
            for (long r = 0; r < nr; ++r) {                                          \
                long tau = g * (r0 + r) + k;                                         \
                if (tau < n) memcpy(out + tau * C, tmp + r * C, sizeof(T) * C);      \
            }                                                                        \
        }                                                                            \
    }                                                                                \
}                                                                                    \
                                                                                     \
/* The tile loops: w windows (P entries each, entry a of window i at y + e[i P + a]),  \
 * the maxima channels-innermost in buf (w x C), the offsets of window i at off + at[i]. */ \
INNER void tile_max_##S(const T *y, const long *e, const long *at, long w, long P,   \
                        long C, T *buf, uint8_t *off) {                              \
    const T *v[256];                                                                 \
    for (long i = 0; i < w; ++i) {                                                   \
        for (long a = 0; a < P; ++a) v[a] = y + e[i * P + a];                        \
        window_max_##S(v, P, buf + i * C, off + at[i], C);                           \
    }                                                                                \
}                                                                                    \
                                                                                     \
/* the adjoint; the offsets of the tile's windows first converted to T (arg, w x C) */ \
INNER void tile_unmax_##S(T *dy, const long *e, const long *at, int run, long w,      \
                          long P, long C, const T *buf, const uint8_t *off, T *arg) { \
    if (run) /* the windows' offsets are one run */                                  \
        from_u8_##S(off + at[0], arg, w * C);                                        \
    else                                                                             \
        for (long i = 0; i < w; ++i) from_u8_##S(off + at[i], arg + i * C, C);       \
    for (long i = 0; i < w; ++i)                                                     \
        for (long a = 0; a < P; ++a)                                                 \
            unmax_##S(buf + i * C, arg + i * C, (T)a, dy + e[i * P + a], C);         \
}                                                                                    \
                                                                                     \
/* s1[c] += sum over the w tile rows of (buf - K), s2[c] += of its squares: in T over   \
 * the tile (t: scratch 2 C), in double across tiles */                               \
INNER void tile_sums_##S(const T *buf, long w, long C, const T *K, double *s1,      \
                         double *s2, T *t) {                                         \
    partial_sums_##S(buf, w, K, t, t + C, C);                                        \
    for (long c = 0; c < C; ++c) {                                                   \
        s1[c] += t[c];                                                               \
        s2[c] += t[C + c];                                                           \
    }                                                                                \
}                                                                                    \
                                                                                     \
/* K[c]: the row's running mean (mean), else that of the product's first w values */   \
INNER void shift_##S(const T *buf, long w, const double *mean, long C, T *K, T *t) {  \
    if (mean) {                                                                      \
        for (long c = 0; c < C; ++c) K[c] = (T)mean[c];                              \
        return;                                                                      \
    }                                                                                \
    for (long c = 0; c < C; ++c) K[c] = 0;                                           \
    partial_sums_##S(buf, w, K, t, t + C, C);                                        \
    for (long c = 0; c < C; ++c) K[c] = t[c] / (T)w;                                 \
}                                                                                    \
                                                                                     \
/* the second pool over nw windows of P2 tile rows */                                \
INNER void tile_max2_##S(const T *buf, long nw, long P2, long C, const T *sign,     \
                         const T *keep, T *best, T *arg) {                           \
    for (long k = 0; k < nw; ++k)                                                    \
        window_max_signed_##S(buf + k * P2 * C, P2, sign, keep, best + k * C,        \
                              arg + k * C, C);                                       \
}                                                                                    \
                                                                                     \
/* buf[i, c] += coef[c] g[k, c] at i = k P2 + off2[k, c], k < nw (g, off2 channels     \
 * last); v, at: scratch C */                                                         \
INNER void tile_sparse_##S(T *buf, long nw, long P2, long C, const T *g,             \
                           const uint8_t *off2, const T *coef, T *v, T *at) {        \
    for (long k = 0; k < nw; ++k) {                                                  \
        scaled_##S(g + k * C, coef, v, C);                                           \
        from_u8_##S(off2 + k * C, at, C);                                            \
        sparse_##S(buf + k * P2 * C, v, at, P2, C);                                  \
    }                                                                                \
}                                                                                    \
                                                                                     \
/* out[c os + i] = buf[i C + c], i < w: the tile into rows of contiguous time */     \
INNER void put_##S(const T *restrict buf, long w, long C, T *restrict out, long os) { \
    for (long c = 0; c < C; ++c)                                                     \
        for (long i = 0; i < w; ++i) out[c * os + i] = buf[i * C + c];               \
}                                                                                    \
                                                                                     \
/* buf[i C + c] = g[c gs + i], i < w: rows of contiguous time into the tile */       \
INNER void get_##S(const T *restrict g, long gs, long w, long C, T *restrict buf) {   \
    for (long c = 0; c < C; ++c)                                                     \
        for (long i = 0; i < w; ++i) buf[i * C + c] = g[c * gs + i];                 \
}                                                                                    \
                                                                                     \
/* buf[i C + c] = offset[c] + slope[c] m1[c, i], i < w; m1 time contiguous (ms: channel \
 * stride) or channels last (ms = 0) */                                              \
INNER void get_affine_##S(const T *restrict m1, long ms, long w, long C,             \
                          const T *restrict slope, const T *restrict offset,         \
                          T *restrict buf) {                                         \
    if (ms == 0) {                                                                   \
        for (long i = 0; i < w; ++i)                                                 \
            affine_##S(m1 + i * C, slope, offset, buf + i * C, C);                   \
        return;                                                                      \
    }                                                                                \
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
 * out2 (C rows of stride o2s) and off2 (channels last); channels where flat[c] take every \
 * window's first entry. Returns 0, or -1 when out of memory. */                     \
int wn_pool_##S(const T *y, long d, long nq, long R, long C, long P, long n, T *out,  \
                long os, long ot, uint8_t *off, long P2, const T *sign, const uint8_t *flat, \
                long count, double *mean, double *msq, long n2, T *out2, long o2s,   \
                uint8_t *off2) {                                                     \
    long total = nq * R * d / P;                                                     \
    long tile = P2 ? P2 * (TILE / P2 ? TILE / P2 : 1) : TILE;                        \
    long m = tile / (P2 ? P2 : 1);                                                   \
    T *buf = malloc(sizeof(T) * (tile * C + 2 * m * C + 6 * C));                     \
    long *e = malloc(sizeof(long) * tile * (P + 1));                                 \
    double *s = calloc(2 * C, sizeof(double));                                       \
    if (!buf || !e || !s) { free(buf); free(e); free(s); return -1; }                \
    T *best2 = buf + tile * C, *arg2 = best2 + m * C;                                \
    T *K = arg2 + m * C, *sg = K + C, *keep = sg + C, *t = keep + C;                 \
    long *at = e + tile * P;                                                         \
    for (long c = 0; c < C; ++c) {                                                   \
        sg[c] = sign ? sign[c] : (T)1;                                               \
        keep[c] = flat && flat[c] ? (T)0 : (T)1;                                     \
    }                                                                                \
    /* "phase" layout (P divides d): the maxima of the whole product first, streaming;   \
     * channels last they go to out, else to a scratch put into out in long runs */   \
    int streamed = d % P == 0 && (ot == 1 || (ot == C && os == 1));                  \
    if (streamed) {                                                                  \
        T *dest = ot == 1 ? malloc(sizeof(T) * total * C) : out;                     \
        if (!dest) { free(buf); free(e); free(s); return -1; }                       \
        phase_max_##S(y, d, nq, R, C, P, n, dest, off, buf);                         \
        if (ot == 1) { put_##S(dest, clamp(n, total), C, out, os); free(dest); }     \
    }                                                                                \
    for (long i0 = 0; i0 < total; i0 += tile) {                                      \
        long w = total - i0 < tile ? total - i0 : tile;                              \
        long kept = clamp(n - i0, w);                                                \
        T *vals = buf;                                                               \
        if (streamed) {                                                              \
            if (!P2) break;                                                          \
            vals = out + i0 * ot; /* the stem's (channels last): its kept rows */      \
        } else {                                                                     \
            addresses(i0 * P, w * P, d, nq, R, C, e);                                \
            windows(i0, w, d, nq, R, P, C, at);                                      \
            /* channels last and the whole tile kept: the maxima go straight to out */ \
            if (ot != 1 && kept == w) vals = out + i0 * ot;                          \
            tile_max_##S(y, e, at, w, P, C, vals, off);                              \
            if (kept && ot == 1)                                                     \
                put_##S(vals, kept, C, out + i0, os);                                \
            else if (kept && vals == buf) /* channels last: the tile's kept part */  \
                memcpy(out + i0 * ot, buf, sizeof(T) * kept * C);                    \
        }                                                                            \
        if (!P2) continue;                                                           \
        if (kept && mean) {                                                          \
            if (i0 == 0) /* the shift: near the mean, so that the sums do not cancel */ \
                shift_##S(vals, kept, count ? mean : NULL, C, K, t);                 \
            tile_sums_##S(vals, kept, C, K, s, s + C, t);                            \
        }                                                                            \
        long nw = clamp(n2 - i0 / P2, w / P2);                                       \
        if (nw) {                                                                    \
            tile_max2_##S(vals, nw, P2, C, sg, keep, best2, arg2);                   \
            put_##S(best2, nw, C, out2 + i0 / P2, o2s);                              \
            to_u8_##S(arg2, off2 + i0 / P2 * C, nw * C);                             \
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
/* The gradient at the pooled values of windows i0 .. i0 + w of a product into buf       \
 * (w x C, channels innermost); windows from `kept` on get zero. P2 == 0: g[c gs + i];   \
 * P2 > 0 (the stem's, stem.py): offset[c] + slope[c] m1[c, i] (zero when slope is     \
 * NULL; m1 time contiguous, mt = 1 and channel stride ms, or channels last, mt = C),  \
 * plus coef[c] g[k, c] where the second pool's window k < n2 took its maximum         \
 * (off2[k, c]; g and off2 channels last). v, at2: scratch of w / P2 x C. */           \
VEC void grad_tile_##S(T *buf, long i0, long w, long kept, long C, const T *g, long gs, \
                       long P2, const T *m1, long ms, long mt, const T *slope,       \
                       const T *offset, const T *coef, long n2, const uint8_t *off2, \
                       T *v, T *at2) {                                               \
    if (!P2)                                                                         \
        get_##S(g + i0, gs, kept, C, buf);                                           \
    else if (slope) /* time contiguous (mt = 1), or channels last (mt = C) */        \
        get_affine_##S(m1 + i0 * mt, mt == 1 ? ms : 0, kept, C, slope, offset, buf); \
    else                                                                             \
        memset(buf, 0, sizeof(T) * kept * C);                                        \
    memset(buf + kept * C, 0, sizeof(T) * (w - kept) * C);                           \
    if (P2) {                                                                        \
        long nw = clamp(n2 - i0 / P2, w / P2);                                       \
        tile_sparse_##S(buf, nw, P2, C, g + i0 / P2 * C, off2 + i0 / P2 * C, coef, v, at2); \
    }                                                                                \
}                                                                                    \
                                                                                     \
/* Adjoint of wn_pool: dy (the product's shape, every entry written) gets, for each  \
 * window, its gradient (see grad_tile; window i < n) at the offset of its maximum   \
 * and zeros elsewhere. */                                                           \
int wn_unpool_##S(T *dy, long d, long nq, long R, long C, long P, long n,            \
                  const uint8_t *off, const T *g, long gs, long P2, const T *m1,      \
                  long ms, long mt, const T *slope, const T *offset, const T *coef,   \
                  long n2, const uint8_t *off2) {                                    \
    long total = nq * R * d / P;                                                     \
    long tile = P2 ? P2 * (TILE / P2 ? TILE / P2 : 1) : TILE;                        \
    long m = tile / (P2 ? P2 : 1);                                                   \
    T *buf = malloc(sizeof(T) * 2 * (tile + m) * C);                                 \
    long *e = malloc(sizeof(long) * tile * (P + 1));                                 \
    if (!buf || !e) { free(buf); free(e); return -1; }                               \
    T *arg = buf + tile * C, *v = arg + tile * C, *at2 = v + m * C;                  \
    long *at = e + tile * P;                                                         \
    for (long i0 = 0; i0 < total; i0 += tile) {                                      \
        long w = total - i0 < tile ? total - i0 : tile;                              \
        grad_tile_##S(buf, i0, w, clamp(n - i0, w), C, g, gs, P2, m1, ms, mt, slope, \
                      offset, coef, n2, off2, v, at2);                               \
        addresses(i0 * P, w * P, d, nq, R, C, e);                                    \
        int run = windows(i0, w, d, nq, R, P, C, at);                                \
        tile_unmax_##S(dy, e, at, run, w, P, C, buf, off, arg);                      \
    }                                                                                \
    free(buf); free(e);                                                              \
    return 0;                                                                        \
}                                                                                    \
                                                                                     \
/* The weight gradient of one product straight from its windows' maxima, instead of  \
 * X^T dY with dY zero but at one entry in P: the output at time t of a row is        \
 * y[t] = sum_{i,k} w[c, i, k] z_i[t + d k], so each window of channel c with         \
 * gradient gv, its maximum at time t, adds gv z_i[t + d k] to dw[c, i, k]: 1/P of     \
 * the dense product's arithmetic, and no dY. z: the row's phases (Cin, d, U), z_i[d u \
 * + phase] at (i, phase, u); t0: the product's first time, d R q0. Window gradients:  \
 * those of grad_tile (windows from n on: zero, skipped). Each tile's sums are formed  \
 * in T (in registers for K >= one vector: ceil(K / LANES) accumulators, the last one  \
 * overlapping the one before) and added to dw (C, Cin, K) in double; where the input \
 * a tile's windows read would not stay in L1 (dilations of P and more), the channels \
 * take the tile's windows a part at a time. */                                      \
int wn_pool_grad_##S(double *dw, const T *z, long U, long Cin, long K, long t0,      \
                     long d, long nq, long R, long C, long P, long n,                \
                     const uint8_t *off, const T *g, long gs, long P2, const T *m1,   \
                     long ms, long mt, const T *slope, const T *offset, const T *coef, \
                     long n2, const uint8_t *off2) {                                 \
    long total = clamp(n, nq * R * d / P);                                           \
    long tile = P2 ? P2 * (TILE / P2 ? TILE / P2 : 1) : TILE;                        \
    long m = tile / (P2 ? P2 : 1);                                                   \
    T *buf = malloc(sizeof(T) * ((tile + 2 * m) * C + C * Cin * K));                 \
    long *e = malloc(sizeof(long) * tile * (P + 1));                                 \
    if (!buf || !e) { free(buf); free(e); return -1; }                               \
    T *v = buf + tile * C, *at2 = v + m * C, *sums = at2 + m * C;                    \
    long *at = e + tile * P;                                                         \
    /* windows per pass over the channels: the input they read stays in L1 (~24 KB) */  \
    long sub = TILE;                                                                 \
    while (sub > 8 && (d < sub * P ? d : sub * P) * (sub * P / d + K) * (long)sizeof(T) > 24576) \
        sub /= 2;                                                                    \
    for (long i0 = 0; i0 < total; i0 += tile) {                                      \
        long w = total - i0 < tile ? total - i0 : tile;                              \
        grad_tile_##S(buf, i0, w, w, C, g, gs, P2, m1, ms, mt, slope, offset, coef,   \
                      n2, off2, v, at2);                                             \
        windows(i0, w, d, nq, R, P, C, at);                                          \
        starts(t0 + i0 * P, w * P, d, U, e);                                         \
        memset(sums, 0, sizeof(T) * C * Cin * K);                                    \
        for (long s0 = 0; s0 < w; s0 += sub) {                                       \
            long ws = w - s0 < sub ? w - s0 : sub;                                   \
            for (long c = 0; c < C; ++c)                                             \
                for (long i = 0; i < Cin; ++i)                                       \
                    window_sums_##S(z + i * d * U, e + s0 * P, at + s0, off + c,     \
                                    buf + s0 * C + c, ws, P, C, K, sums + (c * Cin + i) * K); \
        }                                                                            \
        for (long k = 0; k < C * Cin * K; ++k) dw[k] += sums[k];                     \
    }                                                                                \
    free(buf); free(e);                                                              \
    return 0;                                                                        \
}                                                                                    \

DEFINE(float, f32)
DEFINE(double, f64)

/* The smoothing steps of the "a trous" cascade (cascade.py): a valid correlation
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

/* Max pooling over time (pooling.py): rows of n windows of P contiguous times, the
 * maxima and the window offset of each (uint8), as max_pool1d (NaN wins, else the
 * first of ties); the adjoint writes each window's gradient at its offset and zeros
 * elsewhere, and zeros past the windows. One entry a of every window at a time: a
 * strided vector loop over the windows of a row. Optionally per outer index i0 (the
 * channel, norm_pool.py): the maxima of sign[i0] x, a flat row taking every window's
 * first entry, the sum of (x - mean[i0])^2 over the row's L times added to sq[i0] (the
 * second pass of a two-pass variance, in the same pass as the pool), and an adjoint
 * added to the affine offset[i0] + slope[i0] x of the pooled input x. */
#define DEFINE_TIME_POOL(T, S)                                                       \
INNER void strided_first_##S(const T *restrict x, long P, T s, T *restrict b,        \
                             T *restrict g, long n) {                                \
    for (long t = 0; t < n; ++t) { b[t] = s * x[t * P]; g[t] = 0; }                  \
}                                                                                    \
                                                                                     \
INNER void strided_update_##S(const T *restrict x, long P, T s, T *restrict b,       \
                              T *restrict g, T a, long n) {                          \
    for (long t = 0; t < n; ++t) {                                                   \
        T v = s * x[t * P];                                                          \
        int later = (v > b[t]) | (v != v);                                           \
        b[t] = later ? v : b[t];                                                     \
        g[t] = later ? a : g[t];                                                     \
    }                                                                                \
}                                                                                    \
                                                                                     \
INNER void strided_unmax_##S(const T *restrict gr, const T *restrict g, long P, T a, \
                             T *restrict out, long n) {                              \
    for (long t = 0; t < n; ++t) out[t * P] = g[t] == a ? gr[t] : (T)0;              \
}                                                                                    \
                                                                                     \
INNER void row_affine_##S(const T *restrict x, T slope, T offset, T *restrict out,   \
                          long n) {                                                  \
    for (long t = 0; t < n; ++t) out[t] = offset + slope * x[t];                     \
}                                                                                    \
                                                                                     \
INNER void arg_to_u8_##S(const T *restrict g, uint8_t *restrict o, long n) {         \
    for (long t = 0; t < n; ++t) o[t] = (uint8_t)g[t];                               \
}                                                                                    \
                                                                                     \
INNER void arg_from_u8_##S(const uint8_t *restrict o, T *restrict g, long n) {       \
    for (long t = 0; t < n; ++t) g[t] = (T)o[t];                                     \
}                                                                                    \
                                                                                     \
/* rows: (n0, n1) with strides (x0, x1) (y0, y1), times contiguous; off contiguous    \
 * (n0, n1, n); sign, flat: NULL or per i0. Returns 0, or -1 when out of memory. */  \
int wn_time_max_##S(const T *x, long n0, long n1, long x0, long x1, long n, long P,  \
                    T *y, long y0, long y1, uint8_t *off, const T *sign,             \
                    const uint8_t *flat, const T *mean, double *sq, long L) {        \
    T *g = malloc(sizeof(T) * (n ? n : 1));                                          \
    if (!g) return -1;                                                               \
    for (long i0 = 0; i0 < n0; ++i0)                                                 \
        for (long i1 = 0; i1 < n1; ++i1) {                                           \
            const T *r = x + i0 * x0 + i1 * x1;                                      \
            T *b = y + i0 * y0 + i1 * y1, s = sign ? sign[i0] : (T)1;                \
            strided_first_##S(r, P, s, b, g, n);                                     \
            for (long a = 1; a < P && !(flat && flat[i0]); ++a)                      \
                strided_update_##S(r + a, P, s, b, g, (T)a, n);                      \
            arg_to_u8_##S(g, off + (i0 * n1 + i1) * n, n);                           \
            if (mean) sq[i0] += squared_deviations_##S(r, L, mean[i0]);              \
        }                                                                            \
    free(g);                                                                         \
    return 0;                                                                        \
}                                                                                    \
                                                                                     \
/* gx rows of length L >= n P (strides (x0, x1), contiguous times), grad rows        \
 * (strides (g0, g1)); with slope (per i0): gx = offset + slope x (x: rows of        \
 * strides (b0, b1)) plus each window's gradient at its offset */                    \
int wn_time_unmax_##S(const T *grad, long n0, long n1, long g0, long g1, long n,     \
                      long P, const uint8_t *off, T *gx, long x0, long x1, long L,   \
                      const T *x, long b0, long b1, const T *slope, const T *offset) { \
    T *g = malloc(sizeof(T) * (n ? n : 1));                                          \
    if (!g) return -1;                                                               \
    for (long i0 = 0; i0 < n0; ++i0)                                                 \
        for (long i1 = 0; i1 < n1; ++i1) {                                           \
            const T *gr = grad + i0 * g0 + i1 * g1;                                  \
            const uint8_t *o = off + (i0 * n1 + i1) * n;                             \
            T *r = gx + i0 * x0 + i1 * x1;                                           \
            if (slope) {                                                             \
                row_affine_##S(x + i0 * b0 + i1 * b1, slope[i0], offset[i0], r, L);  \
                for (long t = 0; t < n; ++t) r[t * P + o[t]] += gr[t];              \
                continue;                                                            \
            }                                                                        \
            arg_from_u8_##S(o, g, n);                                                \
            for (long a = 0; a < P; ++a) strided_unmax_##S(gr, g, P, (T)a, r + a, n); \
            for (long t = n * P; t < L; ++t) r[t] = 0;                               \
        }                                                                            \
    free(g);                                                                         \
    return 0;                                                                        \
}

DEFINE_TIME_POOL(float, f32)
DEFINE_TIME_POOL(double, f64)
