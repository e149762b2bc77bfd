// Fused CPPN forward and backward on the CPU (see fused.py, which compiles this file once per machine).
//
// Pixels are independent, so a block of `nb` pixels goes through every layer while it stays in cache. Hidden
// activations are units-first, (units, pixels): a row of a block is nb contiguous floats, 16 pixels per vector, and an
// activation group is a run of rows, transformed in one pass. A layer is a register-tiled product: each tile keeps
// MO output units x NV pixel vectors in registers and broadcasts one weight per FMA. For gradients the forward pass
// of a block keeps every layer's activations and activation derivatives (in cache), then goes back through the block;
// weight gradients accumulate as 16-lane partial sums per weight (one horizontal sum per weight at the end).
//
// Flat weights are FER's: Dense_l is an (in, out) row-major kernel at offset off[l]. Activation kinds below.
#include <cmath>
#include <type_traits>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE__)
#include <xmmintrin.h>
#endif

typedef float vf __attribute__((vector_size(64)));
typedef int32_t vi __attribute__((vector_size(64)));
enum { VL = 16 };
enum { K_LINEAR = 0, K_SIN = 1, K_COS = 2, K_TANH = 3, K_SIGMOID = 4, K_GAUSSIAN = 5, K_RELU = 6 };

#if defined(__AVX512F__)
enum { MO = 6, NV = 4, GM = 4, GK = 5 };   // 32 vector registers
#else
enum { MO = 3, NV = 2, GM = 2, GK = 3 };   // 16 (AVX2: each vf is two registers)
#endif

static inline vf bc(float x) { return (vf){x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x}; }
static inline vf vmax(vf a, vf b) { return a > b ? a : b; }
static inline vf vmin(vf a, vf b) { return a < b ? a : b; }
static inline vf vround(vf x) { return (x + 12582912.0f) - 12582912.0f; }  // to nearest, |x| < 2^22

// exp, as Cephes expf: x = n ln2 + r, a degree-6 polynomial for e^r, then scale by 2^n.
static inline vf vexp(vf x) {
    x = vmin(vmax(x, bc(-87.0f)), bc(88.0f));
    vf n = vround(x * 1.44269504088896341f);
    vf r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    vf p = bc(1.9875691500e-4f);
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    vf e = p * (r * r) + r + 1.0f;
    vi bits = (__builtin_convertvector(n, vi) + 127) << 23;
    return e * (vf)bits;
}

// sin and cos of x together: x = q pi/2 + r (three-part Cody-Waite), Cephes polynomials on |r| <= pi/4.
static inline void vsincos(vf x, vf* s, vf* c) {
    vf q = vround(x * 0.636619772367581343f);
    vf r = x - q * 1.5703125f;
    r = r - q * 4.837512969970703125e-4f;
    r = r - q * 7.54978995489188216e-8f;
    vf z = r * r;
    vf ps = ((bc(-1.9515295891e-4f) * z + 8.3321608736e-3f) * z - 1.6666654611e-1f) * z * r + r;
    vf pc = ((bc(2.443315711809948e-5f) * z - 1.388731625493765e-3f) * z + 4.166664568298827e-2f) * z * z
            - 0.5f * z + 1.0f;
    vi qi = __builtin_convertvector(q, vi);
    vi swap = (qi & 1) != 0;
    vf sv = swap ? pc : ps, cv = swap ? ps : pc;
    vi sneg = (qi & 2) != 0, cneg = ((qi + 1) & 2) != 0;
    *s = sneg ? -sv : sv;
    *c = cneg ? -cv : cv;
    // Beyond |x| 4e6 the quadrant q leaves vround's exact range (2^22) and the polynomials would run on a large r
    // (sin(1e20) came out -inf, and its NaN gradient was hidden by to_rgb's clamps): libm's exact reduction there,
    // lane by lane. Only nets whose units reach millions (deep Picbreeder chains at FER's init) get here.
    vi far = (vf)((vi)x & 0x7fffffff) > 4.0e6f;
    for (int i = 0; i < VL; i++) {
        if (far[i]) {
            double xd = x[i];
            (*s)[i] = (float)std::sin(xd);
            (*c)[i] = (float)std::cos(xd);
        }
    }
}

// Activation a and its derivative d = da/dz of one vector z, for kind K (the compiler drops d where it is not
// stored).
template <int K>
static inline void act(vf z, vf* a, vf* d) {
    if (K == K_SIN) {
        vsincos(z, a, d);
    } else if (K == K_COS) {
        vf s, c;
        vsincos(z, &s, &c);
        *a = c;
        *d = -s;
    } else if (K == K_TANH) {
        vf ax = (vf)((vi)z & 0x7fffffff);
        vf big = 1.0f - 2.0f / (vexp(2.0f * ax) + 1.0f);
        big = (vf)(((vi)big) | ((vi)z & (int32_t)0x80000000));
        vf zz = z * z;  // Cephes tanhf below |x| 0.625
        vf small = ((((bc(-5.70498872745e-3f) * zz + 2.06390887954e-2f) * zz - 5.37397155531e-2f) * zz
                     + 1.33314422036e-1f) * zz - 3.33332819422e-1f) * zz * z + z;
        vf t = ax < 0.625f ? small : big;
        *a = t;
        *d = 1.0f - t * t;
    } else if (K == K_SIGMOID) {
        vf s = 1.0f / (1.0f + vexp(-z));
        *a = 2.0f * s - 1.0f;
        *d = 2.0f * s * (1.0f - s);
    } else if (K == K_GAUSSIAN) {
        vf zz = z * z;  // vexp clamps at -87: past it e^{-z^2} is 0, so the derivative is 0 as torch's, not -4 z e^{-87}
        vf e = zz < 87.0f ? vexp(-zz) : vf{};
        *a = 2.0f * e - 1.0f;
        *d = -4.0f * (z * e);  // z e first: 0 where e is, for any finite z
    } else if (K == K_RELU) {
        vi pos = z > 0.0f;
        *a = pos ? z : vf{};
        *d = pos ? bc(1.0f) : vf{};
    } else {
        *a = z;
        *d = bc(1.0f);
    }
}

template <int K>
static void act_row(vf* row, vf* drow, int nv) {
    if (drow) {
        for (int j = 0; j < nv; j++) act<K>(row[j], row + j, drow + j);
    } else {
        for (int j = 0; j < nv; j++) {
            vf d;
            act<K>(row[j], row + j, &d);
        }
    }
}

// f(std::integral_constant<int, K>{}) for the activation kind K of a group: one place maps a runtime kind to the
// templated vector functions.
template <class F>
static inline void with_kind(int kind, F&& f) {
    switch (kind) {
    case K_SIN: f(std::integral_constant<int, K_SIN>{}); break;
    case K_COS: f(std::integral_constant<int, K_COS>{}); break;
    case K_TANH: f(std::integral_constant<int, K_TANH>{}); break;
    case K_SIGMOID: f(std::integral_constant<int, K_SIGMOID>{}); break;
    case K_GAUSSIAN: f(std::integral_constant<int, K_GAUSSIAN>{}); break;
    case K_RELU: f(std::integral_constant<int, K_RELU>{}); break;
    default: f(std::integral_constant<int, K_LINEAR>{});
    }
}

// FER's output rule (color.py to_rgb) on one vector of pixels: h = remainder(raw_h + 1, 1) as torch computes it (fmod,
// then + 1 where negative), s = clip(raw_s, 0, 1), v = clip(|raw_v|, 0, 1); k_c = remainder(n_c + 6h, 6) for
// n_c = 5, 3, 1 (n_c + 6h < 12, so one subtraction), f_c = clip(min(k_c, 4 - k_c), 0, 1), rgb_c = v - v s f_c.
static inline vf hue(vf raw_h) {
    vf hh = raw_h + 1.0f;
    vf ah = (vf)((vi)hh & 0x7fffffff);
    vf tr = ah < 8388608.0f ? __builtin_convertvector(__builtin_convertvector(hh, vi), vf) : hh;
    vf h = hh - tr;
    return h < 0.0f ? h + 1.0f : h;
}
static const float HSV_N[3] = {5.0f, 3.0f, 1.0f};
static inline vf hsv_k(int c, vf h) {
    vf k = HSV_N[c] + 6.0f * h;
    return k >= 6.0f ? k - 6.0f : k;
}

// Rows raw (3 rows of stride rs) -> rgb in place, over nv pixel vectors.
static void to_rgb(float* raw, long rs, int nv) {
    for (int j = 0; j < nv; j++) {
        vf* ph = (vf*)raw + j;
        vf* ps = (vf*)(raw + rs) + j;
        vf* pv = (vf*)(raw + 2 * rs) + j;
        vf h = hue(*ph);
        vf sv = vmin(vmax(*ps, vf{}), bc(1.0f));
        vf vv = vmin((vf)((vi)*pv & 0x7fffffff), bc(1.0f));
        vf out[3];
        for (int c = 0; c < 3; c++) {
            vf k = hsv_k(c, h);
            vf f = vmin(vmax(vmin(k, 4.0f - k), vf{}), bc(1.0f));
            out[c] = vv - vv * sv * f;
        }
        *ph = out[0];
        *ps = out[1];
        *pv = out[2];
    }
}

// Y[m, :] = sum_k K[m*sm + k*sk] X[k, :] for one tile of TM rows x TV pixel vectors.
template <int TM, int TV>
static inline void mm_tile(const float* K, long sm, long sk, int kd, const float* X, long xs, float* Y, long ys) {
    vf acc[TM][TV];
    for (int m = 0; m < TM; m++)
        for (int j = 0; j < TV; j++) acc[m][j] = vf{};
    for (int k = 0; k < kd; k++) {
        const vf* x = (const vf*)(X + k * xs);
        vf xv[TV];
        for (int j = 0; j < TV; j++) xv[j] = x[j];
        const float* kk = K + k * sk;
        for (int m = 0; m < TM; m++) {
            vf w = bc(kk[m * sm]);
            for (int j = 0; j < TV; j++) acc[m][j] += w * xv[j];
        }
    }
    for (int m = 0; m < TM; m++)
        for (int j = 0; j < TV; j++) ((vf*)(Y + m * ys))[j] = acc[m][j];
}

template <int TM>
static inline void mm_rows(const float* K, long sm, long sk, int kd, const float* X, long xs, float* Y, long ys,
                           int nv) {
    int j = 0;
    for (; j + NV <= nv; j += NV) mm_tile<TM, NV>(K, sm, sk, kd, X + j * VL, xs, Y + j * VL, ys);
    for (; j < nv; j++) mm_tile<TM, 1>(K, sm, sk, kd, X + j * VL, xs, Y + j * VL, ys);
}

// Y (M rows, stride ys) = K (M x kd, strides sm, sk) X (kd rows, stride xs) over nv pixel vectors.
static void matmul(const float* K, long sm, long sk, int M, int kd, const float* X, long xs, float* Y, long ys,
                   int nv) {
    int m = 0;
    for (; m + MO <= M; m += MO) mm_rows<MO>(K + m * sm, sm, sk, kd, X, xs, Y + m * ys, ys, nv);
    const float* K1 = K + m * sm;
    float* Y1 = Y + m * ys;
    switch (M - m) {
    case 1: mm_rows<1>(K1, sm, sk, kd, X, xs, Y1, ys, nv); break;
    case 2: mm_rows<2>(K1, sm, sk, kd, X, xs, Y1, ys, nv); break;
    case 3: mm_rows<3>(K1, sm, sk, kd, X, xs, Y1, ys, nv); break;
#if defined(__AVX512F__)
    case 4: mm_rows<4>(K1, sm, sk, kd, X, xs, Y1, ys, nv); break;
    case 5: mm_rows<5>(K1, sm, sk, kd, X, xs, Y1, ys, nv); break;
#endif
    }
}

// G[m*gs + k] += sum_j Z[m, j] X[k, j] (16-lane partial sums) for a tile of TM x TK.
template <int TM, int TK>
static inline void g_tile(const float* Z, long zs, const float* X, long xs, int nv, vf* G, long gs) {
    vf acc[TM][TK];
    for (int m = 0; m < TM; m++)
        for (int k = 0; k < TK; k++) acc[m][k] = G[m * gs + k];
    for (int j = 0; j < nv; j++) {
        vf z[TM], x[TK];
        for (int m = 0; m < TM; m++) z[m] = ((const vf*)(Z + m * zs))[j];
        for (int k = 0; k < TK; k++) x[k] = ((const vf*)(X + k * xs))[j];
        for (int m = 0; m < TM; m++)
            for (int k = 0; k < TK; k++) acc[m][k] += z[m] * x[k];
    }
    for (int m = 0; m < TM; m++)
        for (int k = 0; k < TK; k++) G[m * gs + k] = acc[m][k];
}

template <int TM>
static inline void g_rows(const float* Z, long zs, const float* X, long xs, int K, int nv, vf* G, long gs) {
    int k = 0;
    for (; k + GK <= K; k += GK) g_tile<TM, GK>(Z, zs, X + k * xs, xs, nv, G + k, gs);
    switch (K - k) {
    case 1: g_tile<TM, 1>(Z, zs, X + k * xs, xs, nv, G + k, gs); break;
    case 2: g_tile<TM, 2>(Z, zs, X + k * xs, xs, nv, G + k, gs); break;
#if defined(__AVX512F__)
    case 3: g_tile<TM, 3>(Z, zs, X + k * xs, xs, nv, G + k, gs); break;
    case 4: g_tile<TM, 4>(Z, zs, X + k * xs, xs, nv, G + k, gs); break;
#endif
    }
}

// G (M x K partial sums, row stride K) += Z (M rows) X (K rows)^T over nv pixel vectors.
static void gradmm(const float* Z, long zs, int M, const float* X, long xs, int K, int nv, vf* G) {
    int m = 0;
    for (; m + GM <= M; m += GM) g_rows<GM>(Z + m * zs, zs, X, xs, K, nv, G + m * K, K);
    const float* Z1 = Z + m * zs;
    vf* G1 = G + m * K;
    switch (M - m) {
    case 1: g_rows<1>(Z1, zs, X, xs, K, nv, G1, K); break;
#if defined(__AVX512F__)
    case 2: g_rows<2>(Z1, zs, X, xs, K, nv, G1, K); break;
    case 3: g_rows<3>(Z1, zs, X, xs, K, nv, G1, K); break;
#endif
    }
}

struct Net {
    int L, W, ng;
    const int64_t* off;    // L+1 kernel offsets in the flat vector
    const int32_t* groups; // ng x (kind, lo, hi) over a hidden layer's units
    int n_in(int l) const { return l == 0 ? 4 : W; }
    int n_out(int l) const { return l == L ? 3 : W; }
    // Derivatives are stored for the non-linear units only (n_nl rows per layer; unit lo + i of a non-linear group
    // at row dbase(g) + i), which keeps a block's stored layers small enough for more pixels per block.
    int n_nl() const {
        int n = 0;
        for (int g = 0; g < ng; g++) n += groups[3 * g] == K_LINEAR ? 0 : groups[3 * g + 2] - groups[3 * g + 1];
        return n;
    }
    int dbase(int g) const {
        int n = 0;
        for (int h = 0; h < g; h++) n += groups[3 * h] == K_LINEAR ? 0 : groups[3 * h + 2] - groups[3 * h + 1];
        return n;
    }
};

// Activations of layer rows h (W rows of stride hs), in place; derivatives into d (rows as Net::dbase, stride hs)
// when d != NULL.
// live: the rows to compute (NULL: all).
static void activate(const Net& net, float* h, float* d, long hs, int nv, const uint8_t* live) {
    for (int g = 0; g < net.ng; g++) {
        int kind = net.groups[3 * g], lo = net.groups[3 * g + 1], hi = net.groups[3 * g + 2];
        if (kind == K_LINEAR) continue;
        int base = d ? net.dbase(g) : 0;
        for (int r = lo; r < hi; r++) {
            if (live && !live[r]) continue;
            vf* row = (vf*)(h + r * hs);
            vf* drow = d ? (vf*)(d + (base + r - lo) * hs) : 0;
            with_kind(kind, [&](auto k) { act_row<decltype(k)::value>(row, drow, nv); });
        }
    }
}

static float* scratch(size_t n_floats, int which) {  // per-thread, grown on demand, 64-byte aligned
    static thread_local float* buf[4] = {0, 0, 0, 0};
    static thread_local size_t cap[4] = {0, 0, 0, 0};
    if (cap[which] < n_floats) {
        free(buf[which]);
        size_t bytes = ((n_floats * sizeof(float) + 63) / 64) * 64;
        buf[which] = (float*)aligned_alloc(64, bytes);
        cap[which] = n_floats;
    }
    return buf[which];
}

// A kernel in compressed rows, for mostly-zero kernels (layerized Picbreeder genomes are 2-3 % non-zero): output m
// sums weights w[e] times input rows ix[e] for e in [st[m], st[m + 1]). st == NULL: use the dense kernel. live[m]:
// whether output m is read by the next layer (rows that no weight reads are neither computed nor activated).
struct Sparse {
    const int32_t* st;
    const int32_t* ix;
    const float* w;
    const uint8_t* live;
};

static void sp_matmul(const Sparse& k, int M, const float* X, long xs, float* Y, long ys, int nv) {
    for (int m = 0; m < M; m++) {
        if (!k.live[m]) continue;
        int j = 0;
        for (; j + 8 <= nv; j += 8) {
            vf acc[8] = {};
            for (int e = k.st[m]; e < k.st[m + 1]; e++) {
                const vf* x = (const vf*)(X + k.ix[e] * xs) + j;
                vf w = bc(k.w[e]);
                for (int q = 0; q < 8; q++) acc[q] += w * x[q];
            }
            for (int q = 0; q < 8; q++) ((vf*)(Y + m * ys))[j + q] = acc[q];
        }
        for (; j < nv; j++) {
            vf acc = {};
            for (int e = k.st[m]; e < k.st[m + 1]; e++) acc += k.w[e] * ((const vf*)(X + k.ix[e] * xs))[j];
            ((vf*)(Y + m * ys))[j] = acc;
        }
    }
}

// Compressed rows of Dense_l of the flat weights p into sp (arrays st, ix, w) when at most a third of the kernel is
// non-zero (where the tiled dense product stops being the faster one); else sp->st = NULL. Marks in used_in the
// inputs (rows of layer l) that a non-zero weight reads: all of them for a dense kernel.
static void compress(const Net& net, const float* p, int l, Sparse* sp, int32_t* st, int32_t* ix, float* w,
                     uint8_t* used_in) {
    int ni = net.n_in(l), no = net.n_out(l);
    const float* k = p + net.off[l];
    int nnz = 0;
    for (int i = 0; i < ni * no; i++) nnz += k[i] != 0.0f;
    if (3 * nnz > ni * no) {
        sp->st = 0;
        memset(used_in, 1, ni);
        return;
    }
    memset(used_in, 0, ni);
    int e = 0;
    for (int m = 0; m < no; m++) {
        st[m] = e;
        for (int i = 0; i < ni; i++)
            if (k[i * no + m] != 0.0f) {
                ix[e] = i;
                w[e++] = k[i * no + m];
                used_in[i] = 1;
            }
    }
    st[no] = e;
    sp->st = st;
    sp->ix = ix;
    sp->w = w;
}

// Forward of one net over one block: A holds layers 1..L (W rows each) when keep, else two ping-pong layers; D the
// derivatives of layers 1..L when keep. Writes the 3 raw outputs to out (stride os). sp: per-layer compressed
// kernels, or NULL.
static void block_forward(const Net& net, const float* p, const Sparse* sp, const float* x, long xs, float* A,
                          float* D, bool keep, int nb, float* out, long os) {
    int nv = nb / VL, W = net.W;
    const float* h = x;
    long hs = xs;
    for (int l = 0; l <= net.L; l++) {
        int no = net.n_out(l);
        float* z = l == net.L ? out : keep ? A + (long)l * W * nb : A + (long)(l & 1) * W * nb;
        long zs = l == net.L ? os : nb;
        if (sp && sp[l].st)
            sp_matmul(sp[l], no, h, hs, z, zs, nv);
        else
            matmul(p + net.off[l], 1, no, no, net.n_in(l), h, hs, z, zs, nv);
        if (l == net.L) break;
        activate(net, z, keep ? D + (long)l * net.n_nl() * nb : 0, nb, nv, sp ? sp[l].live : 0);
        h = z;
        hs = nb;
    }
}

// Denormals flushed to zero while the engine runs (saturated gaussians and sigmoids make them; each costs a
// microcode assist): differences below 1e-38.
struct FlushDenormals {
#if defined(__SSE__)
    unsigned int saved = _mm_getcsr();
    FlushDenormals() { _mm_setcsr(saved | 0x8040); }
    ~FlushDenormals() { _mm_setcsr(saved); }
#endif
};

extern "C" {

// Raw (h, s, v) of B nets, or their RGB when rgb: params (B, P), x (4, N) units-first with N a multiple of nb
// (a multiple of 16), out (B, 3, N).
void fl_forward(int L, int W, const int64_t* off, int ng, const int32_t* groups, int B, const float* params, long P,
                const float* x, long N, int nb, int rgb, float* out) {
    FlushDenormals ftz;
    Net net{L, W, ng, off, groups};
    float* A = scratch(2L * W * nb, 0);
    Sparse* sp = (Sparse*)malloc((L + 1) * sizeof(Sparse));
    int32_t* st = (int32_t*)malloc(((L + 1) * (W + 1) + P) * sizeof(int32_t));
    int32_t* ix = st + (L + 1) * (W + 1);
    float* w = (float*)malloc(P * sizeof(float));
    uint8_t* live = (uint8_t*)malloc((L + 2) * (W + 4));  // live[l]: rows of layer l that Dense_l reads
    for (int b = 0; b < B; b++) {
        const float* p = params + b * P;
        for (int l = 0; l <= L; l++)
            compress(net, p, l, sp + l, st + l * (W + 1), ix + off[l], w + off[l], live + l * (W + 4));
        memset(live + (L + 1) * (W + 4), 1, 3);  // the outputs
        for (int l = 0; l <= L; l++) sp[l].live = live + (l + 1) * (W + 4);  // Dense_l's outputs: layer l+1
        for (long s = 0; s < N; s += nb) {
            block_forward(net, p, sp, x + s, N, A, 0, false, nb, out + b * 3 * N + s, N);
            if (rgb) to_rgb(out + b * 3 * N + s, N, nb / VL);
        }
    }
    free(sp);
    free(st);
    free(w);
    free(live);
}

// Gradients of B nets. With gout (B, 3, N) != NULL: grad = d(sum gout * raw)/dparams. Otherwise the loss of FER's
// SGD recipe: loss[b] = sum_px wt[px] sum_c (rgb_c - target_c)^2 with rgb = to_rgb(raw) (color.py), target (3, N)
// at target + b * tstride. grad (B, P) is overwritten.
void fl_backward(int L, int W, const int64_t* off, int ng, const int32_t* groups, int B, const float* params,
                 long P, const float* x, long N, int nb, const float* gout, const float* target, long tstride,
                 const float* wt, float* loss, float* grad) {
    FlushDenormals ftz;
    Net net{L, W, ng, off, groups};
    int nv = nb / VL;
    long lw = (long)W * nb;
    float* A = scratch((long)L * lw, 0);       // layers 1..L
    long dw = (long)net.n_nl() * nb;
    float* D = scratch((long)L * dw + 3L * nb, 1);
    float* raw = D + (long)L * dw;            // 3 rows
    float* dh = scratch(2 * lw + 3L * nb, 2);  // two ping-pong rows of W, and the output gradient
    float* g = dh + 2 * lw;
    vf* G = (vf*)scratch(P * VL, 3);

    for (int b = 0; b < B; b++) {
        const float* p = params + b * P;
        memset(G, 0, P * sizeof(vf));
        vf lacc = vf{};
        for (long s = 0; s < N; s += nb) {
            block_forward(net, p, 0, x + s, N, A, D, true, nb, raw, nb);
            if (gout) {
                for (int c = 0; c < 3; c++) memcpy(g + c * nb, gout + (b * 3 + c) * N + s, nb * sizeof(float));
            } else {
                const float* t = target + b * tstride + s;
                for (int j = 0; j < nv; j++) {
                    vf rh = ((vf*)raw)[j], rs = ((vf*)(raw + nb))[j], rv = ((vf*)(raw + 2 * nb))[j];
                    vf h = hue(rh);
                    vi sin_ = (rs >= 0.0f) & (rs <= 1.0f);
                    vf sv = vmin(vmax(rs, vf{}), bc(1.0f));
                    vf av = (vf)((vi)rv & 0x7fffffff);
                    vi vin = av <= 1.0f;
                    vf vv = vmin(av, bc(1.0f));
                    vf vsign = rv > 0.0f ? bc(1.0f) : (rv < 0.0f ? bc(-1.0f) : vf{});
                    vf w = ((const vf*)(wt + s))[j];
                    vf dv = vf{}, ds = vf{}, dhh = vf{};
                    for (int c = 0; c < 3; c++) {  // the chain rule through to_rgb, as torch's autograd
                        vf k = hsv_k(c, h);
                        vf k2 = 4.0f - k;
                        vf u = vmin(k, k2);
                        vf du = k < k2 ? bc(1.0f) : (k > k2 ? bc(-1.0f) : vf{});
                        vi uin = (u >= 0.0f) & (u <= 1.0f);
                        vf f = vmin(vmax(u, vf{}), bc(1.0f));
                        vf rgb = vv - vv * sv * f;
                        vf e = rgb - ((const vf*)(t + c * N))[j];
                        lacc += w * e * e;
                        vf gc = 2.0f * w * e;
                        dv += gc * (1.0f - sv * f);
                        ds -= gc * vv * f;
                        dhh -= gc * vv * sv * (uin ? du : vf{}) * 6.0f;
                    }
                    ((vf*)g)[j] = dhh;
                    ((vf*)(g + nb))[j] = sin_ ? ds : vf{};
                    ((vf*)(g + 2 * nb))[j] = vin ? dv * vsign : vf{};
                }
            }
            // Dense_L: G += g A[L]^T; dh = W_L g (rows = the W inputs of Dense_L)
            const float* AL = A + (long)(L - 1) * lw;
            gradmm(g, nb, 3, AL, nb, W, nv, G + off[L]);
            float* cur = dh;
            matmul(p + off[L], 3, 1, W, 3, g, nb, cur, nb, nv);
            for (int l = L - 1; l >= 0; l--) {  // Dense_l maps layer l to layer l+1 (A + l*lw, D + l*lw)
                const float* Dl = D + (long)l * dw;
                for (int gi = 0; gi < ng; gi++) {
                    if (groups[3 * gi] == K_LINEAR) continue;
                    int lo = groups[3 * gi + 1], base = net.dbase(gi);
                    for (int r = lo; r < groups[3 * gi + 2]; r++) {
                        vf* row = (vf*)(cur + r * nb);
                        const vf* drow = (const vf*)(Dl + (base + r - lo) * nb);
                        for (int j = 0; j < nv; j++) row[j] *= drow[j];
                    }
                }
                const float* in = l ? A + (long)(l - 1) * lw : x + s;
                long ins = l ? nb : N;
                gradmm(cur, nb, W, in, ins, net.n_in(l), nv, G + off[l]);
                if (l) {
                    float* nxt = cur == dh ? dh + lw : dh;
                    matmul(p + off[l], W, 1, W, W, cur, nb, nxt, nb, nv);
                    cur = nxt;
                }
            }
        }
        // G holds, per weight, 16 partial sums laid out (out, in) within each kernel; FER's layout is (in, out).
        float* gb = grad + b * P;
        for (int l = 0; l <= L; l++) {
            int ni = net.n_in(l), no = net.n_out(l);
            for (int o = 0; o < no; o++)
                for (int i = 0; i < ni; i++) {
                    vf v = G[off[l] + (long)o * ni + i];
                    float sum = 0.0f;
                    for (int q = 0; q < VL; q++) sum += v[q];
                    gb[off[l] + (long)i * no + o] = sum;
                }
        }
        if (loss) {
            double sum = 0.0;
            for (int q = 0; q < VL; q++) sum += lacc[q];
            loss[b] = (float)sum;
        }
    }
}

}  // extern "C"

extern "C" {

// One Adam step on R rows of P weights, as torch.optim.Adam / AdamW's single-tensor loop, each row with its own
// learning rate: row r's gradient first scaled to unit L2 norm when normalize[r] (FER's recipe; normalize may be
// NULL: never), its weights multiplied by decay[r] = 1 - lr_r * weight_decay_r (AdamW's decoupled decay; decay may be
// NULL: Adam), then its update with step_size[r] = lr_r / (1 - b1^t); bc2_sqrt = sqrt(1 - b2^t) (the step count t is
// shared: rows start together). Rounded as torch rounds: no fused multiply-adds here, hyperparameters formed in
// float64 by the caller (c1 = 1 - b1, c2 = 1 - b2), the update as (step_size * m) / denom.
__attribute__((optimize("fp-contract=off")))
void fl_adam(int R, long P, float* p, float* g, float* m, float* v, const int* normalize, const float* decay,
             float c1, float b2, float c2, const float* step_size, float bc2_sqrt, float eps) {
    for (int r = 0; r < R; r++) {
        float* pr = p + r * P;
        float* gr = g + r * P;
        float* mr = m + r * P;
        float* vr = v + r * P;
        float dr = decay ? decay[r] : 1.0f;  // x 1 is exact: Adam's rows round as before
        if (normalize && normalize[r]) {
            double sq = 0.0;
            for (long i = 0; i < P; i++) sq += (double)gr[i] * gr[i];
            float scale = 1.0f / ((float)__builtin_sqrt(sq) + 1e-12f);
            for (long i = 0; i < P; i++) gr[i] *= scale;
        }
        for (long i = 0; i < P; i++) {
            mr[i] += c1 * (gr[i] - mr[i]);
            vr[i] = vr[i] * b2 + c2 * gr[i] * gr[i];
            pr[i] = pr[i] * dr - step_size[r] * mr[i] / (__builtin_sqrtf(vr[i]) / bc2_sqrt + eps);
        }
    }
}

}  // extern "C"

// Grouped activations of row-major z (rows, W): a = each group's activation of its columns, d = da/dz (for
// autograd's backward). groups: ng triples (kind, lo, hi) over the W columns. A group's columns go 16 at a time
// through the same vector functions as the engine (act<K>), the last partial vector padded with zeros.
template <int K>
static void act_cols(const float* z, float* a, float* d, int n) {
    int c = 0;
    for (; c + VL <= n; c += VL) {  // whole vectors: fixed-size copies are plain unaligned vector loads and stores
        vf zv, av, dv;
        __builtin_memcpy(&zv, z + c, sizeof(vf));
        act<K>(zv, &av, &dv);
        __builtin_memcpy(a + c, &av, sizeof(vf));
        __builtin_memcpy(d + c, &dv, sizeof(vf));
    }
    if (c < n) {
        int m = n - c;
        vf zv{}, av, dv;
        __builtin_memcpy(&zv, z + c, m * sizeof(float));
        act<K>(zv, &av, &dv);
        __builtin_memcpy(a + c, &av, m * sizeof(float));
        __builtin_memcpy(d + c, &dv, m * sizeof(float));
    }
}

extern "C" {

void fl_act(long rows, int W, int ng, const int32_t* groups, const float* z, float* a, float* d) {
    FlushDenormals ftz;
    for (long r = 0; r < rows; r++) {
        const float* zr = z + r * W;
        float* ar = a + r * W;
        float* dr = d + r * W;
        for (int g = 0; g < ng; g++) {
            int kind = groups[3 * g], lo = groups[3 * g + 1], n = groups[3 * g + 2] - lo;
            with_kind(kind, [&](auto k) { act_cols<decltype(k)::value>(zr + lo, ar + lo, dr + lo, n); });
        }
    }
}

}  // extern "C"
