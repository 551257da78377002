"""An independent float64 reference with correctly rounded sums (math.fsum), plus a perturbation
model: each reduction result moved by up to n*2^-53*sum|terms| (any double summation order) and
each float32 storage point (s, x*s, x1, the spatial gate) by up to 2^-24 relative. The spread of
a few perturbed runs tells which output elements are ill-conditioned (order/rounding sensitive).
NaN rules are torch's (relu/max/clamp keep NaN, silu(-inf)=nan, 0*inf=nan on padding)."""
import math

import numpy as np

U64 = 2.0 ** -53
U32 = 2.0 ** -24


class Ctx:
    def __init__(self, rng=None):
        self.rng = rng  # None: exact, no perturbation

    def esum(self, terms):
        terms = np.asarray(terms, dtype=np.float64).ravel()
        if terms.size == 0:
            return 0.0
        if not np.isfinite(terms).all():
            with np.errstate(all='ignore'):
                return float(np.sum(terms))
        try:
            s = math.fsum(terms)
        except OverflowError:
            with np.errstate(all='ignore'):
                s = float(np.sum(terms))
        if self.rng is not None:
            s += self.rng.uniform(-1, 1) * terms.size * U64 * float(np.abs(terms).sum())
        return s

    def f32(self, a):
        """A float32 storage point: perturbed by up to u32 relative."""
        a = np.asarray(a, dtype=np.float64)
        if self.rng is None:
            return a
        with np.errstate(all='ignore'):
            return a + self.rng.uniform(-1, 1, size=a.shape) * np.maximum(np.abs(a) * U32, 2.0 ** -150)


def relu(v):
    return np.where(np.isnan(v), np.nan, np.maximum(v, 0.0))


def act(v, a):
    if a == 'relu':
        return relu(v)
    with np.errstate(all='ignore'):
        return v / (1 + np.exp(-v))


def gate(v, g):
    with np.errstate(all='ignore'):
        if g == 'sigmoid':
            return 1 / (1 + np.exp(-v))
        t = np.minimum(np.maximum(v + 3, 0), 6) / 6
        return np.where(np.isnan(v), np.nan, t)


def matvec(cx, W, b, v):
    rows, cols = W.shape
    with np.errstate(all='ignore'):
        out = np.array([cx.esum(W[r] * v) for r in range(rows)])
    if b is not None:
        out = out + b
    return out


def se(cx, x, w, o, twoFc, res):
    N, C, H, W = x.shape
    z = np.array([[cx.esum(x[n, c]) / (H * W) for c in range(C)] for n in range(N)])
    s = np.empty((N, C))
    for n in range(N):
        if twoFc:
            rd = w['w1'].size // C
            h = act(matvec(cx, w['w1'].reshape(rd, C), w.get('b1'), z[n]), o.get('activation', 'relu'))
            v = matvec(cx, w['w2'].reshape(C, rd), w.get('b2'), h)
        else:
            v = matvec(cx, w['w1'].reshape(C, C), w.get('b1'), z[n])
        s[n] = gate(v, o.get('gate', 'sigmoid'))
    s = cx.f32(s)
    with np.errstate(all='ignore'):
        y = x * s[:, :, None, None]
        if res is not None:
            y = cx.f32(y) + res
    if o.get('outputActivation') == 'relu':
        y = relu(y)
    return y, s


def eca(cx, x, w, o):
    N, C, H, W = x.shape
    wt = w['weight']
    k = wt.size
    pad = (k - 1) // 2
    z = np.array([[cx.esum(x[n, c]) / (H * W) for c in range(C)] for n in range(N)])
    s = np.empty((N, C))
    with np.errstate(all='ignore'):
        for n in range(N):
            zp = np.concatenate([np.zeros(pad), z[n], np.zeros(pad)])
            v = np.array([cx.esum(wt * zp[c:c + k]) for c in range(C)])
            s[n] = gate(v, o.get('gate', 'sigmoid'))
        s = cx.f32(s)
        y = x * s[:, :, None, None]
    return y, s


def cbam(cx, x, w, o, k):
    N, C, H, W = x.shape
    rd = w['w1'].size // C
    W1, W2 = w['w1'].reshape(rd, C), w['w2'].reshape(C, rd)
    a, g = o.get('activation', 'relu'), o.get('gate', 'sigmoid')
    sw = w['spatialWeight'].reshape(2, k, k)
    sb = float(w['spatialBias'][0]) if 'spatialBias' in w else None
    pad = k // 2
    y = np.empty_like(x)
    with np.errstate(all='ignore'):
        for n in range(N):
            avg = np.array([cx.esum(x[n, c]) / (H * W) for c in range(C)])
            mx = np.array([np.max(x[n, c]) for c in range(C)])  # NaN propagates
            mlp = lambda v: matvec(cx, W2, w.get('b2'), act(matvec(cx, W1, w.get('b1'), v), a))
            s = cx.f32(gate(mlp(avg) + mlp(mx), g))
            x1 = cx.f32(x[n] * s[:, None, None])
            mean_c = np.array([[cx.esum(x1[:, i, j]) / C for j in range(W)] for i in range(H)])
            max_c = np.max(x1, axis=0)
            maps = np.zeros((2, H + 2 * pad, W + 2 * pad))
            maps[0, pad:pad + H, pad:pad + W] = mean_c
            maps[1, pad:pad + H, pad:pad + W] = max_c
            conv = np.empty((H, W))
            for i in range(H):
                for j in range(W):
                    terms = (sw * maps[:, i:i + k, j:j + k]).ravel()
                    if sb is not None:
                        terms = np.append(terms, sb)
                    conv[i, j] = cx.esum(terms)
            gg = cx.f32(gate(conv, g))
            y[n] = x1 * gg[None]
    return y, None


def run(case, x, res, w, rng=None):
    cx = Ctx(rng)
    o = case['opts']
    if case['op'] == 'se':
        y, s = se(cx, x, w, o, case['twoFc'], res)
    elif case['op'] == 'eca':
        y, s = eca(cx, x, w, o)
    else:
        y, s = cbam(cx, x, w, o, case['k'])
    return cx.f32(y), s
