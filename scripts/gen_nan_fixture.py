#!/usr/bin/env python3
"""Write test/fixtures/nan-*.json: NaN/Inf inputs through the PyTorch modules, float32 and float64.

The modules are timm's and torchvision's own classes (timm.layers.squeeze_excite.SEModule /
EffectiveSEModule, timm.models._efficientnet_blocks.SqueezeExcite, torchvision.ops.SqueezeExcitation,
timm.layers.eca.EcaModule, timm.layers.cbam.CbamModule), constructed as the models construct them.
Every op of their forward has its own NaN rule:

  timm SEModule              x.mean((2,3)) -> Conv2d 1x1 -> act -> Conv2d 1x1 -> gate; x * s
  timm EffectiveSEModule     x.mean((2,3)) -> Conv2d 1x1 (C->C, bias) -> hard_sigmoid; x * s
  timm SqueezeExcite (EfficientNet blocks)   as SEModule, SiLU, biases
  torchvision SqueezeExcitation              AdaptiveAvgPool2d(1) -> fc1 -> act -> fc2 -> scale_act
  timm EcaModule             x.mean((2,3)).view(N,1,C) -> Conv1d(1,1,k,pad=(k-1)//2,no bias) -> gate
  timm CbamModule            ChannelAttn: fc2(act(fc1(mean))) + fc2(act(fc1(amax))) -> gate;
                             SpatialAttn: cat[mean(1), amax(1)] -> Conv2d(2,1,k,pad,no bias) ->
                             BatchNorm2d (eval) -> gate (the library takes the BN folded)
  residual variant           relu(module(x) + residual), as timm's ResNet block ends

Gates: 'sigmoid' is nn.Sigmoid, 'hard_sigmoid' nn.Hardsigmoid (timm's create_act default; the
script also checks it equals timm's fallback F.relu6(x + 3) / 6 on NaN/Inf).

Each fixture runs the same module and inputs in float64 and in float32 (CPU, torch's default
algorithms) and stores both outputs (and the channel gates s for SE/ECA, captured by a forward
hook), plus whether the two agree on every NaN and every +-Inf position ("f32MatchesF64"). They
differ where a convolution weight is NaN/Inf and one of its taps lands on the zero padding: torch's
float64 conv (and its native float32 path: batch 1 and k <= 3) multiplies the padding, 0 * Inf =
NaN; its float32 oneDNN path (batch > 1, or k > 3) skips padded taps. The library follows float64
(see native/dev/NOTES-cpu.md). `python3 scripts/gen_nan_fixture.py --probe` prints that finding.

Arrays: base64 little-endian float32 ({"f32": ..., "length": n}), NCHW only (tests permute).
Usage: /usr/bin/python3 scripts/gen_nan_fixture.py [--out test/fixtures] [--probe]
Needs timm (pip install timm; on Debian 12 without PyPI, scripts/setup-real-timm.sh). Deterministic
(fixed seeds, torch.manual_seed per fixture). Until 2026-11-30 the timm modules were re-implemented
here (timm was not installed on the dev machine); the real classes, fed the same seeds, reproduced
every stored array bit for bit (x, weights, float64 and float32 outputs, gates of all 16 fixtures).
"""
import argparse
import base64
import json
import math
import os
import platform
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_safetensors_fixture import gate_module  # noqa: E402

torch.set_grad_enabled(False)
INF = float('inf')
NAN = float('nan')


def f32(a):
    arr = np.ascontiguousarray(np.asarray(a, dtype='<f4')).ravel()
    return {"f32": base64.b64encode(arr.tobytes()).decode('ascii'), "length": int(arr.size)}


# ---------------------------------------------------------------------------------------------
# The modules themselves: timm's and torchvision's classes, constructed as the models construct them.

def timm_classes():
    try:
        from timm.layers.cbam import CbamModule
        from timm.layers.eca import EcaModule
        from timm.layers.squeeze_excite import EffectiveSEModule, SEModule
        from timm.models._efficientnet_blocks import SqueezeExcite
    except ImportError as e:
        sys.exit(f"needs the real timm ({e}): pip install timm, or on Debian 12 without PyPI "
                 "eval \"$(bash scripts/setup-real-timm.sh TIMM_GIT SAFETENSORS_GIT)\"")
    return SEModule, EffectiveSEModule, SqueezeExcite, EcaModule, CbamModule


SE_CLS = ESE_CLS = EFF_SE_CLS = ECA_CLS = CBAM_CLS = None  # set by main(): --probe needs torch only
GATES = {'sigmoid': 'sigmoid', 'hardsigmoid': 'hard_sigmoid', 'hard_sigmoid': 'hard_sigmoid'}
ACTS = {'relu': nn.ReLU, 'silu': nn.SiLU}


def SEModule(c, rd, bias=True, act='relu', gate='sigmoid'):
    return SE_CLS(c, rd_channels=rd, bias=bias, act_layer=ACTS[act], gate_layer=GATES[gate])


def EffectiveSEModule(c):
    return ESE_CLS(c)  # gate hard_sigmoid, no add_maxpool


def EfficientNetSqueezeExcite(c, rd):
    return EFF_SE_CLS(c, rd_channels=rd, act_layer=nn.SiLU)  # gate sigmoid


def TorchvisionSE(c, sq, hard):
    from torchvision.ops import SqueezeExcitation
    return (SqueezeExcitation(c, sq, activation=nn.ReLU, scale_activation=nn.Hardsigmoid) if hard
            else SqueezeExcitation(c, sq))


def EcaModule(k, gate='sigmoid'):
    return ECA_CLS(kernel_size=k, gate_layer=GATES[gate])


def CbamModule(c, rd, k, act='relu', gate='sigmoid', mlp_bias=False):
    return CBAM_CLS(c, rd_channels=rd, spatial_kernel_size=k, act_layer=ACTS[act], gate_layer=GATES[gate],
                    mlp_bias=mlp_bias)


def qualified(m):
    return type(m).__module__ + '.' + type(m).__name__


def lib_weights(m):
    """The module's weights in the library's layout (CBAM's spatial BatchNorm folded)."""
    if isinstance(m, ESE_CLS):
        return {"w1": conv_w(m.fc), "b1": conv_b(m.fc)}
    if isinstance(m, EFF_SE_CLS):
        return {"w1": conv_w(m.conv_reduce), "b1": conv_b(m.conv_reduce),
                "w2": conv_w(m.conv_expand), "b2": conv_b(m.conv_expand)}
    if isinstance(m, ECA_CLS):
        return {"weight": m.conv.weight.detach().reshape(-1).double().numpy()}
    if isinstance(m, CBAM_CLS):
        ch, conv, bn = m.channel, m.spatial.conv.conv, m.spatial.conv.bn
        inv = (bn.weight / torch.sqrt(bn.running_var + bn.eps)).double()
        wt = conv.weight.double() * inv.reshape(-1, 1, 1, 1)
        bias = bn.bias.double() - bn.running_mean.double() * inv
        return {"w1": conv_w(ch.fc1), "b1": conv_b(ch.fc1), "w2": conv_w(ch.fc2), "b2": conv_b(ch.fc2),
                "spatialWeight": wt.reshape(-1).numpy(), "spatialBias": bias.reshape(-1).numpy()}
    return {"w1": conv_w(m.fc1), "b1": conv_b(m.fc1), "w2": conv_w(m.fc2), "b2": conv_b(m.fc2)}  # SEModule, torchvision


def conv_w(conv):
    return conv.weight.detach().reshape(conv.weight.shape[0], -1).double().numpy()


def conv_b(conv):
    return None if conv.bias is None else conv.bias.detach().double().numpy()


# ---------------------------------------------------------------------------------------------

def randomise(module, gen):
    """float32-representable random parameters (never zero), BN running stats randomised."""
    for p in module.parameters():
        fan_in = p[0].numel() if p.dim() >= 2 else 1
        scale = 1.5 / math.sqrt(fan_in) if p.dim() >= 2 else 0.5
        p.copy_((torch.randn(p.shape, generator=gen, dtype=torch.float64) * scale).float().double())
    for mod in module.modules():
        if isinstance(mod, nn.BatchNorm2d):
            mod.running_mean.copy_((torch.randn(1, generator=gen, dtype=torch.float64) * 0.3).float().double())
            mod.running_var.copy_((torch.rand(1, generator=gen, dtype=torch.float64) + 0.5).float().double())
            mod.weight.copy_((torch.randn(1, generator=gen, dtype=torch.float64) * 0.3 + 1.0).float().double())


def nan_inf_pattern(a):
    a = np.asarray(a, dtype=np.float64)
    return np.isnan(a), np.isposinf(a), np.isneginf(a)


def same_pattern(a, b):
    return all(np.array_equal(p, q) for p, q in zip(nan_inf_pattern(a), nan_inf_pattern(b)))


def run_module(module, x, residual, out_relu, dtype):
    m = module.to(dtype).eval()
    gates = []
    h = gate_module(m).register_forward_hook(lambda _m, _i, o: gates.append(o.detach().clone()))
    y = m(x.to(dtype).clone())
    h.remove()
    if residual is not None:
        y = y + residual.to(dtype)
    if out_relu:
        y = torch.relu(y)
    s = gates[0].reshape(x.shape[0], x.shape[1]).double().numpy() if gates else None
    return y.double().numpy(), s


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--out', default=os.path.join(os.path.dirname(__file__), '..', 'test', 'fixtures'))
    ap.add_argument('--probe', action='store_true', help='print the conv zero-padding findings and exit')
    args = ap.parse_args()
    if args.probe:
        probe()
        return 0
    torch.set_num_threads(1)
    global SE_CLS, ESE_CLS, EFF_SE_CLS, ECA_CLS, CBAM_CLS
    SE_CLS, ESE_CLS, EFF_SE_CLS, ECA_CLS, CBAM_CLS = timm_classes()
    import timm
    versions = {"torch": torch.__version__, "python": platform.python_version(), "numpy": np.__version__,
                "timm": timm.__version__}
    try:
        import torchvision
        versions["torchvision"] = torchvision.__version__
    except Exception as e:  # torchvision fixtures then fail below, loudly
        versions["torchvision"] = f"unavailable: {e}"
    # timm's hard_sigmoid fallback equals nn.Hardsigmoid on NaN/Inf too
    v = torch.tensor([NAN, INF, -INF, -4.0, 0.5, 4.0], dtype=torch.float64)
    assert same_pattern(F.relu6(v + 3.0) / 6.0, nn.Hardsigmoid()(v)), "hard_sigmoid variants disagree"
    written = []

    def emit(name, op, module, shape, seed, options, inject, residual=False, out_relu=False, note=""):
        """inject(gen, x, residual, module): puts NaN/Inf into x / residual / parameters in place."""
        gen = torch.Generator().manual_seed(seed)
        randomise(module, gen)
        x = (torch.randn(shape, generator=gen, dtype=torch.float64) + 0.2).float().double()
        r = (torch.randn(shape, generator=gen, dtype=torch.float64)).float().double() if residual else None
        inject(gen, x, r, module)
        y64, s64 = run_module(module, x, r, out_relu, torch.float64)
        y32, s32 = run_module(module, x, r, out_relu, torch.float32)
        match = same_pattern(y64, y32) and (s64 is None or same_pattern(s64, s32))
        weights = {k: f32(v) for k, v in lib_weights(module.to(torch.float64)).items() if v is not None}
        fx = {"name": name, "module": qualified(module), "op": op, "shape": list(shape), "seed": seed,
              "options": options, "note": note, "weights": weights, "x": f32(x.numpy()),
              "expected": {"float64": f32(y64), "float32": f32(y32)}, "f32MatchesF64": bool(match),
              "versions": versions}
        if r is not None:
            fx["residual"] = f32(r.numpy())
        if s64 is not None and op != 'cbam':
            fx["scale"] = {"float64": f32(s64), "float32": f32(s32)}
        path = os.path.join(args.out, f"nan-{name}.json")
        with open(path, 'w') as f:
            json.dump(fx, f, separators=(',', ':'))
        nan, pinf, ninf = nan_inf_pattern(y64)
        written.append(name)
        print(f"{name:34s} {fx['module']:26s} y64: {nan.sum():4d} NaN {pinf.sum():3d} +Inf {ninf.sum():3d} -Inf "
              f"of {y64.size:4d}; f32 pattern {'==' if match else '!='} f64; {os.path.getsize(path)} bytes")


    def put(t, idx, v):
        t[idx] = v

    # 1. the example of issue 8: one NaN, C = 1, w1 = w2 = [1], no biases
    def ex_inject(gen, x, r, m):
        x.copy_(torch.tensor([NAN, 1.0, 2.0, 3.0], dtype=torch.float64).view(1, 1, 2, 2))
        m.fc1.weight.fill_(1.0)
        m.fc2.weight.fill_(1.0)
    emit('se_issue8_example', 'se', SEModule(1, 1, bias=False), (1, 1, 2, 2), 800,
         {"activation": "relu", "gate": "sigmoid"}, ex_inject,
         note="issue 8: x=[NaN,1,2,3], w1=w2=[1]: PyTorch gives s=[NaN] and y all NaN")

    # 2. SEModule, +Inf and -Inf in x of different channels, residual with +-Inf, output relu
    def se_inf(gen, x, r, m):
        put(x, (0, 1, 2, 3), INF)
        put(x, (1, 4, 0, 0), -INF)
        put(r, (0, 2, 1, 1), INF)
        put(r, (1, 3, 3, 4), -INF)
        put(r, (1, 0, 2, 2), NAN)
    emit('se_inf_x_residual_relu', 'se', SEModule(6, 3), (2, 6, 4, 5), 801,
         {"activation": "relu", "gate": "sigmoid", "outputActivation": "relu"}, se_inf, residual=True, out_relu=True)

    # 3. SEModule SiLU, -Inf pooled channel (silu(-inf) = NaN in the hidden layer), hardsigmoid
    def se_silu(gen, x, r, m):
        put(x, (0, 2, 1, 1), -INF)
        put(x, (1, 0, 3, 2), INF)
    emit('se_silu_hardsigmoid_inf', 'se', SEModule(5, 4, act='silu', gate='hardsigmoid'), (2, 5, 4, 5), 802,
         {"activation": "silu", "gate": "hardsigmoid"}, se_silu)

    # 4. SEModule, +Inf in w2 (0 * Inf where relu zeroed the hidden unit), -Inf in b2, +Inf in x
    def se_w(gen, x, r, m):
        m.fc2.weight[2, 0, 0, 0] = INF
        m.fc2.bias[4] = -INF
        put(x, (1, 4, 1, 1), INF)
    emit('se_inf_w2_b2', 'se', SEModule(6, 3), (2, 6, 3, 4), 803,
         {"activation": "relu", "gate": "sigmoid"}, se_w, note="w2[2,0]=+Inf, b2[4]=-Inf, x[1,4,1,1]=+Inf")

    # 4a. SEModule, NaN in b1: every gate NaN
    def se_b1(gen, x, r, m):
        m.fc1.bias[1] = NAN
    emit('se_nan_b1', 'se', SEModule(4, 2), (1, 4, 2, 3), 815,
         {"activation": "relu", "gate": "sigmoid"}, se_b1, note="b1[1]=NaN")

    # 4b. finite data with Inf in w1 only: which hidden units get Inf depends on the sign of z
    def se_w1(gen, x, r, m):
        m.fc1.weight[0, 2, 0, 0] = INF
        m.fc1.weight[2, 4, 0, 0] = -INF
    emit('se_inf_w1', 'se', SEModule(6, 3), (2, 6, 3, 4), 804,
         {"activation": "relu", "gate": "sigmoid"}, se_w1, note="w1[0,2]=+Inf, w1[2,4]=-Inf")

    # 5. EffectiveSEModule (single FC, hard_sigmoid): an all +Inf channel, a NaN weight, a -Inf
    # and a NaN bias
    def ese(gen, x, r, m):
        x[0, 1] = INF
        m.fc.weight[3, 2, 0, 0] = NAN
        m.fc.bias[1] = -INF
        m.fc.bias[4] = NAN
    emit('effective_se_inf_channel_nan_w', 'se', EffectiveSEModule(5), (2, 5, 3, 3), 805,
         {"gate": "hardsigmoid"}, ese, note="x[0,1,:,:]=+Inf; w1[3,2]=NaN; b1[1]=-Inf; b1[4]=NaN")

    # 6. EfficientNet SqueezeExcite: -Inf bias -> silu(-inf) = NaN
    def eff(gen, x, r, m):
        m.conv_reduce.bias[0] = -INF
        put(x, (1, 3, 2, 2), INF)
    emit('efficientnet_se_silu_neg_inf_b1', 'se', EfficientNetSqueezeExcite(6, 2), (2, 6, 4, 4), 806,
         {"activation": "silu", "gate": "sigmoid"}, eff, note="b1[0]=-Inf: silu(-Inf)=NaN")

    # 7. torchvision SqueezeExcitation with Hardsigmoid: +Inf and -Inf in one channel (mean NaN)
    def tv(gen, x, r, m):
        put(x, (0, 2, 0, 1), INF)
        put(x, (0, 2, 2, 3), -INF)
        put(x, (1, 5, 1, 1), -INF)
    emit('torchvision_se_hardsigmoid_inf_minus_inf', 'se', TorchvisionSE(6, 3, hard=True), (2, 6, 3, 4), 807,
         {"activation": "relu", "gate": "hardsigmoid"}, tv, note="sample 0 channel 2 holds +Inf and -Inf: its mean is NaN")

    # 8. ECA: NaN in x spreads to the k neighbouring channels only
    def eca_x(gen, x, r, m):
        put(x, (0, 3, 1, 2), NAN)
        put(x, (1, 0, 0, 0), INF)
    emit('eca_k3_nan_x', 'eca', EcaModule(3), (2, 8, 3, 3), 808, {"gate": "sigmoid"}, eca_x)

    # 9. ECA: +Inf weight on the first tap, finite x: the tap meets the zero padding at channel 0
    def eca_w(gen, x, r, m):
        m.conv.weight[0, 0, 0] = INF
    emit('eca_k5_inf_weight_padding', 'eca', EcaModule(5, gate='hardsigmoid'), (1, 7, 2, 3), 809,
         {"gate": "hardsigmoid"}, eca_w, note="w[0]=+Inf: channels 0..1 see it on the zero padding (0*Inf=NaN)")

    # 10. CBAM k=7: one NaN in x (all channel gates NaN: whole output NaN)
    def cb_nan(gen, x, r, m):
        put(x, (0, 2, 3, 1), NAN)
    emit('cbam_k7_nan_x', 'cbam', CbamModule(6, 2, 7), (1, 6, 5, 6), 810, {"activation": "relu", "gate": "sigmoid"},
         cb_nan)

    # 11. CBAM k=3, biases, one hidden unit: a +Inf pixel whose channel gate stays finite (its
    # fc1 weight is negative, relu(-Inf) = 0), so the spatial gate meets +Inf in both maps; in
    # the other sample a -Inf pixel
    def cb_inf(gen, x, r, m):
        put(x, (0, 1, 2, 2), INF)
        put(x, (1, 3, 0, 4), -INF)
        m.channel.fc1.weight[0, 1, 0, 0] = -0.7
        m.channel.fc1.weight[0, 3, 0, 0] = 0.6
    emit('cbam_k3_inf_pixels', 'cbam', CbamModule(5, 1, 3, mlp_bias=True), (2, 5, 4, 5), 811,
         {"activation": "relu", "gate": "sigmoid"}, cb_inf)

    # 12. CBAM k=3, batch 1: +Inf spatial weight whose tap lands on the padding
    def cb_w(gen, x, r, m):
        m.spatial.conv.conv.weight[0, 1, 0, 0] = INF
    emit('cbam_k3_inf_spatial_weight_n1', 'cbam', CbamModule(4, 2, 3, act='silu', mlp_bias=True), (1, 4, 4, 5), 812,
         {"activation": "silu", "gate": "sigmoid"}, cb_w,
         note="spatial w[max map, 0, 0]=+Inf: top row and left column meet it on the padding")

    # 13. the same kind at batch 2 and k = 5: torch float32 hands this conv to oneDNN (padding skipped)
    def cb_w2(gen, x, r, m):
        m.spatial.conv.conv.weight[0, 0, 4, 2] = -INF
    emit('cbam_k5_inf_spatial_weight_n2', 'cbam', CbamModule(4, 2, 5, gate='hardsigmoid', mlp_bias=True),
         (2, 4, 4, 5), 813, {"activation": "relu", "gate": "hardsigmoid"}, cb_w2,
         note="spatial w[mean map, 4, 2]=-Inf; torch float32 (oneDNN) skips padded taps, float64 gives 0*Inf=NaN")

    # 14. CBAM: NaN in b2 of channel 1 only, Inf in w1
    def cb_b(gen, x, r, m):
        m.channel.fc2.bias[1] = NAN
        m.channel.fc1.weight[0, 3, 0, 0] = INF
    emit('cbam_k3_nan_b2_inf_w1', 'cbam', CbamModule(5, 2, 3, mlp_bias=True), (1, 5, 3, 4), 814,
         {"activation": "relu", "gate": "sigmoid"}, cb_b)

    print(f"{len(written)} fixtures in {os.path.abspath(args.out)}; torch {torch.__version__}")
    return 0


def probe():
    """What torch does with a NaN/Inf conv weight whose tap falls on the zero padding."""
    print("torch", torch.__version__, "mkldnn", torch.backends.mkldnn.is_available())
    for dt in (torch.float32, torch.float64):
        for n in (1, 2):
            for k in (3, 5):
                w = torch.ones(1, 1, k, dtype=dt)
                w[0, 0, 0] = INF
                y = F.conv1d(torch.arange(1.0, 7.0, dtype=dt).view(1, 1, 6).repeat(n, 1, 1), w, padding=(k - 1) // 2)
                print(f"{str(dt):14s} conv1d N={n} k={k} w[0]=Inf -> {y[0, 0].tolist()}")
            for k in (3, 5, 7):
                w = torch.ones(1, 2, k, k, dtype=dt)
                w[0, 1, 0, 0] = INF
                y = F.conv2d(torch.rand(n, 2, 4, 5, dtype=dt) + 0.5, w, padding=(k - 1) // 2)
                print(f"{str(dt):14s} conv2d N={n} k={k} w[1,0,0]=Inf -> {int(torch.isnan(y).sum())} NaN of {y.numel()}"
                      f" ({'padding multiplied' if torch.isnan(y).any() else 'padding skipped'})")


if __name__ == '__main__':
    sys.exit(main())
