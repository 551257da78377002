#!/usr/bin/python3
"""Differential fuzzer, Python half: rebuild each case as the timm / torchvision module (own
definitions that follow timm's code), run it in float64 and float32 (NCHW contiguous, and for
NHWC cases also float32 channels_last), compare with the addon's output stored by gen_and_run.js.

Usage: /usr/bin/python3 scripts/torch-parity/ref.py cases.json results.json
"""
import base64
import json
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

import exact

torch.set_grad_enabled(False)
torch.set_num_threads(1)

ACT = {'relu': nn.ReLU, 'silu': nn.SiLU}
GATE = {'sigmoid': nn.Sigmoid, 'hardsigmoid': nn.Hardsigmoid}  # timm create_act_layer('hard_sigmoid') -> nn.Hardsigmoid


def dec(s):
    return np.frombuffer(base64.b64decode(s), dtype='<f4').copy()


# ---- modules, following timm's code -------------------------------------------------------
class SEModule(nn.Module):  # timm.layers.squeeze_excite.SEModule (bn = Identity)
    def __init__(self, c, rd, bias, act, gate):
        super().__init__()
        self.fc1 = nn.Conv2d(c, rd, 1, bias=bias)
        self.act = ACT[act](inplace=True)
        self.fc2 = nn.Conv2d(rd, c, 1, bias=bias)
        self.gate = GATE[gate]()

    def forward(self, x):
        x_se = x.mean((2, 3), keepdim=True)
        x_se = self.fc1(x_se)
        x_se = self.act(x_se)
        x_se = self.fc2(x_se)
        self.s = self.gate(x_se)
        return x * self.s


class EffectiveSEModule(nn.Module):  # timm EffectiveSEModule (no add_maxpool)
    def __init__(self, c, bias, gate):
        super().__init__()
        self.fc = nn.Conv2d(c, c, 1, padding=0, bias=bias)
        self.gate = GATE[gate]()

    def forward(self, x):
        x_se = x.mean((2, 3), keepdim=True)
        x_se = self.fc(x_se)
        self.s = self.gate(x_se)
        return x * self.s


class EcaModule(nn.Module):  # timm.layers.eca.EcaModule (use_mlp=False)
    def __init__(self, k, gate):
        super().__init__()
        self.conv = nn.Conv1d(1, 1, kernel_size=k, padding=(k - 1) // 2, bias=False)
        self.gate = GATE[gate]()

    def forward(self, x):
        y = x.mean((2, 3)).view(x.shape[0], 1, -1)
        y = self.conv(y)
        y = self.gate(y).view(x.shape[0], -1, 1, 1)
        self.s = y
        return x * y.expand_as(x)


class ChannelAttn(nn.Module):  # timm.layers.cbam.ChannelAttn
    def __init__(self, c, rd, act, gate, b1, b2):
        super().__init__()
        self.fc1 = nn.Conv2d(c, rd, 1, bias=b1)
        self.act = ACT[act](inplace=True)
        self.fc2 = nn.Conv2d(rd, c, 1, bias=b2)
        self.gate = GATE[gate]()

    def forward(self, x):
        x_avg = self.fc2(self.act(self.fc1(x.mean((2, 3), keepdim=True))))
        x_max = self.fc2(self.act(self.fc1(x.amax((2, 3), keepdim=True))))
        return x * self.gate(x_avg + x_max)


class SpatialAttn(nn.Module):  # timm.layers.cbam.SpatialAttn, ConvNormAct with BN folded into conv+bias
    def __init__(self, k, gate, bias):
        super().__init__()
        self.conv = nn.Conv2d(2, 1, k, padding=k // 2, bias=bias)
        self.gate = GATE[gate]()

    def forward(self, x):
        x_attn = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
        x_attn = self.conv(x_attn)
        return x * self.gate(x_attn)


class CbamModule(nn.Module):
    def __init__(self, c, rd, k, act, gate, b1, b2, sb):
        super().__init__()
        self.channel = ChannelAttn(c, rd, act, gate, b1, b2)
        self.spatial = SpatialAttn(k, gate, sb)

    def forward(self, x):
        return self.spatial(self.channel(x))


def build(case):
    op, (N, C, H, W) = case['op'], case['shape']
    o, w = case['opts'], {k: dec(v) for k, v in case['w'].items()}
    t = lambda a, shape: torch.from_numpy(a.astype(np.float64)).reshape(shape)
    if op == 'se':
        if case['twoFc']:
            rd = case['hidden']
            has_b = 'b1' in w or 'b2' in w
            m = SEModule(C, rd, has_b, o.get('activation', 'relu'), o.get('gate', 'sigmoid'))
            m = m.double()
            m.fc1.weight.copy_(t(w['w1'], (rd, C, 1, 1)))
            m.fc2.weight.copy_(t(w['w2'], (C, rd, 1, 1)))
            if has_b:  # the addon's missing bias == zero bias (timm has bias on both or neither)
                m.fc1.bias.copy_(t(w['b1'], (rd,)) if 'b1' in w else torch.zeros(rd, dtype=torch.float64))
                m.fc2.bias.copy_(t(w['b2'], (C,)) if 'b2' in w else torch.zeros(C, dtype=torch.float64))
        else:
            m = EffectiveSEModule(C, 'b1' in w, o.get('gate', 'sigmoid')).double()
            m.fc.weight.copy_(t(w['w1'], (C, C, 1, 1)))
            if 'b1' in w:
                m.fc.bias.copy_(t(w['b1'], (C,)))
    elif op == 'eca':
        m = EcaModule(case['k'], o.get('gate', 'sigmoid')).double()
        m.conv.weight.copy_(t(w['weight'], (1, 1, case['k'])))
    else:
        rd, k = case['hidden'], case['k']
        m = CbamModule(C, rd, k, o.get('activation', 'relu'), o.get('gate', 'sigmoid'),
                       'b1' in w, 'b2' in w, 'spatialBias' in w).double()
        ch = m.channel
        ch.fc1.weight.copy_(t(w['w1'], (rd, C, 1, 1)))
        ch.fc2.weight.copy_(t(w['w2'], (C, rd, 1, 1)))
        if 'b1' in w:
            ch.fc1.bias.copy_(t(w['b1'], (rd,)))
        if 'b2' in w:
            ch.fc2.bias.copy_(t(w['b2'], (C,)))
        m.spatial.conv.weight.copy_(t(w['spatialWeight'], (1, 2, k, k)))
        if 'spatialBias' in w:
            m.spatial.conv.bias.copy_(t(w['spatialBias'], (1,)))
    return m.eval()


def to_nchw(a, shape, layout):
    N, C, H, W = shape
    if layout == 'NCHW':
        return a.reshape(N, C, H, W)
    return a.reshape(N, H, W, C).transpose(0, 3, 1, 2)


def run_torch(m, x, res, case, dtype, channels_last=False):
    mm = m.to(dtype)
    xt = torch.from_numpy(x.astype(np.float64)).to(dtype)
    if channels_last:
        xt = xt.contiguous(memory_format=torch.channels_last)
    y = mm(xt)
    s = getattr(mm, 's', None)
    if res is not None:
        rt = torch.from_numpy(res.astype(np.float64)).to(dtype)
        if channels_last:
            rt = rt.contiguous(memory_format=torch.channels_last)
        y = y + rt
    if case['opts'].get('outputActivation') == 'relu':
        y = torch.relu(y)
    y = y.double().numpy()
    if s is not None:
        s = s.reshape(case['shape'][0], case['shape'][1]).double().numpy()
    m.double()
    return np.ascontiguousarray(y), s


def classify(a, r64, tol=1e-5):
    """a: addon float32 (as float64), r64: float64 reference. Returns dict of problems."""
    r32 = r64.astype(np.float32).astype(np.float64)  # the correctly-rounded float32 answer
    p = {}
    an, rn = np.isnan(a), np.isnan(r32)
    if not np.array_equal(an, rn):
        p['nan_mismatch'] = int((an != rn).sum())
        p['nan_extra'] = int((an & ~rn).sum())
        p['nan_missing'] = int((~an & rn).sum())
    ai, ri_ = np.isinf(a), np.isinf(r32)
    inf_bad = (ai != ri_) | (ai & ri_ & (np.sign(a) != np.sign(r32)))
    inf_bad &= ~(an | rn)
    if inf_bad.any():
        p['inf_mismatch'] = int(inf_bad.sum())
        # where the exact float64 value was finite but rounding to f32 overflows etc
    fin = np.isfinite(a) & np.isfinite(r32)
    if fin.any():
        err = np.abs(a[fin] - r64[fin])
        rel_bad = err > tol * np.abs(r64[fin]) + 1e-45
        maxref = np.abs(r64[np.isfinite(r64)]).max() if np.isfinite(r64).any() else 0
        glob_bad = err > tol * maxref + 1e-45
        if rel_bad.any():
            p['rel_bad'] = int(rel_bad.sum())
            p['rel_worst'] = float((err / np.maximum(np.abs(r64[fin]), 1e-300)).max())
        if glob_bad.any():
            p['glob_bad'] = int(glob_bad.sum())
            p['glob_worst'] = float((err / max(maxref, 1e-300)).max())
        # signed zeros
        z = fin & (a == 0) & (r32 == 0)
        if z.any():
            sb = np.signbit(a[z]) != np.signbit(r32[z])
            if sb.any():
                p['signed_zero'] = int(sb.sum())
    return p


FMAX = float(np.finfo(np.float32).max)


def r32(a):
    with np.errstate(all='ignore'):
        return a.astype(np.float32).astype(np.float64)


def judge(a, t64, t32, ex, trials, tol=1e-5):
    """Buckets per element: a addon, t64/t32 torch, ex exact-sum float64 ref, trials perturbed refs."""
    out = {}
    R = r32(t64)
    special_a = ~np.isfinite(a)
    special_r = ~np.isfinite(R)
    # boundary: elements whose f32 NaN/Inf class differs across the perturbed trials / exact ref
    cls = lambda v: np.where(np.isnan(v), 3, np.where(np.isposinf(v), 1, np.where(np.isneginf(v), 2, 0)))
    cr = cls(R)
    boundary = np.zeros(a.shape, bool)
    for tr in [ex] + trials:
        boundary |= cls(r32(tr)) != cr
    ca = cls(a)
    bad = (ca != cr)
    if (bad & ~boundary).any():
        m = bad & ~boundary
        out['special_mismatch'] = int(m.sum())
        kinds = set()
        for i in np.argwhere(m)[:50]:
            t = tuple(i)
            kinds.add(f"addon={a[t]!r} t64={t64[t]!r}")
        out['special_kinds'] = sorted(kinds)[:6]
    if (bad & boundary).any():
        out['special_boundary'] = int((bad & boundary).sum())
    fin = (ca == 0) & (cr == 0)
    if fin.any():
        with np.errstate(all='ignore'):
            e64 = np.abs(a - t64)
            eex = np.abs(a - ex)
            ok = (e64 <= tol * np.abs(t64)) | (eex <= tol * np.abs(ex)) | (a == t64)
            spread = np.zeros(a.shape)
            for tr in trials:
                spread = np.maximum(spread, np.nan_to_num(np.abs(tr - ex), nan=np.inf))
            spread = np.maximum(spread, np.nan_to_num(np.abs(t64 - ex), nan=np.inf))
            ill = eex <= 4 * spread + tol * np.abs(ex) + 1e-45 * 4
        badf = fin & ~ok
        if (badf & ill).any():
            out['illcond'] = int((badf & ill).sum())
        real = badf & ~ill
        if real.any():
            out['real'] = int(real.sum())
            rel = (eex / np.maximum(np.abs(ex), 1e-300))[real]
            out['real_worst_rel'] = float(rel.max())
            # does torch f32 do any better there?
            out['t32_also_bad'] = int((real & ~(np.abs(t32 - t64) <= tol * np.abs(t64))).sum())
            # tiny absolute (subnormal range)?
            out['real_subnormal_range'] = int((real & (np.abs(ex) < 1.2e-38)).sum())
        z = fin & (a == 0) & (R == 0)
        # deterministic sign: torch f64 and f32 agree, and the exact ref agrees
        det = z & (np.signbit(t64) == np.signbit(t32)) & (t32 == 0) & (ex == 0) & (np.signbit(ex) == np.signbit(t64))
        sz = det & (np.signbit(a) != np.signbit(t64))
        if sz.any():
            out['signed_zero'] = int(sz.sum())
            out['signed_zero_addon_neg'] = int((sz & np.signbit(a)).sum())
    return out


def main():
    cases = json.load(open(sys.argv[1]))
    results = []
    for case in cases:
        rec = {'id': case['id']}
        if 'err' in case:
            rec['addon_error'] = case['err']
            results.append(rec)
            continue
        shape, layout = case['shape'], case['layout']
        x = to_nchw(dec(case['x']), shape, layout)
        res = to_nchw(dec(case['residual']), shape, layout) if 'residual' in case else None
        y = to_nchw(dec(case['y']).astype(np.float64), shape, layout)
        m = build(case)
        try:
            y64, s64 = run_torch(m, x, res, case, torch.float64)
            y32, s32 = run_torch(m, x, res, case, torch.float32)
            y32cl = None
            if layout == 'NHWC':
                y32cl, _ = run_torch(m, x, res, case, torch.float32, channels_last=True)
        except Exception as e:
            rec['torch_error'] = repr(e)
            results.append(rec)
            continue
        wd = {k: dec(v).astype(np.float64) for k, v in case['w'].items()}
        ex, exs = exact.run(case, x.astype(np.float64), None if res is None else res.astype(np.float64), wd)
        rng = np.random.default_rng(case['id'])
        trials, strials = [], []
        for _ in range(4):
            ty, ts = exact.run(case, x.astype(np.float64), None if res is None else res.astype(np.float64), wd, rng)
            trials.append(ty); strials.append(ts)
        rec['J'] = judge(y, y64, y32, ex, trials)
        # sanity: exact reference vs torch f64 NaN/Inf pattern
        rec['exact_vs_t64'] = classify(ex, y64)
        rec['addon_vs_f64'] = classify(y, y64)
        rec['f32_vs_f64'] = classify(y32, y64)
        rec['addon_vs_f32'] = classify(y, y32, tol=1e-5)
        if y32cl is not None:
            rec['f32cl_vs_f64'] = classify(y32cl, y64)
        # torch f32 vs f64 sign agreement on zeros (is the signed zero deterministic?)
        z = (y64 == 0) & (y32 == 0)
        rec['zero_sign_f32_f64_disagree'] = int((np.signbit(y64[z]) != np.signbit(y32[z])).sum())
        if 'scale' in case and s64 is not None:
            s = dec(case['scale']).astype(np.float64).reshape(shape[0], shape[1])
            rec['scale_vs_f64'] = classify(s, s64)
            rec['JS'] = judge(s, s64, s32, exs, strials)
            rec['scale_f32_vs_f64'] = classify(s32, s64)
        results.append(rec)
    json.dump(results, open(sys.argv[2], 'w'))
    print(f"{len(results)} cases checked", file=sys.stderr)


if __name__ == '__main__':
    main()
