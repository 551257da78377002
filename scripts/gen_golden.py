#!/usr/bin/env python3
"""Generate golden fixtures for the squeeze-excite tests from the real PyTorch modules.

Each fixture runs a real module (timm / torchvision) in eval mode, in float64 on the CPU, with
randomised weights (not the default init, so biases and BatchNorm statistics matter), and stores
x, the weights in OUR layout (w1 [hidden, C] squeezed from the 1x1 conv weights), the options, and
the module's output rounded to float32, for both NCHW and NHWC (permuted here, independently of
the JS converters).

Arrays are stored as base64 of little-endian float32 ({"f32": "..."}) to keep the files small and
exact. Inputs and weights are drawn as float32 values first, so the library sees exactly the
numbers the module saw.

Every fixture is also checked against a numpy float64 implementation of the library's documented
semantics (the same as test/reference.ts); the relative error is stored as selfCheckRelErr, and a
mismatch is printed, so a fixture that does not mean what we think it means is caught here rather
than in the JS tests. (CBAM's is ~1e-8, not ~1e-16: the folded spatial weights are stored as
float32 while the module ran with the unfolded float64 BatchNorm.)

The files are deterministic (fixed seeds): two runs on the H100 host gave byte-identical output.
Run it on a machine with torch, timm and torchvision (the GPU is not used; everything runs in
float64 on the CPU), e.g. `python3 scripts/gen_golden.py --out test/fixtures`.

Usage: python3 scripts/gen_golden.py --out DIR
The ECA kernel-size table (timm's formula) needs no torch and is always written.
"""
import argparse
import base64
import json
import math
import os
import platform
import sys
import traceback

import numpy as np


def f32(a):
    """numpy array -> {"f32": base64 of little-endian float32}."""
    arr = np.ascontiguousarray(np.asarray(a, dtype='<f4')).ravel()
    return {"f32": base64.b64encode(arr.tobytes()).decode('ascii'), "length": int(arr.size)}


# ---------------------------------------------------------------------------------------------
# numpy float64 reference of the library's semantics (the self-check)

def act_np(v, act):
    if act == 'relu':
        return np.maximum(v, 0.0)
    if act == 'silu':
        return v / (1.0 + np.exp(-v))
    raise ValueError(act)


def gate_np(v, gate):
    if gate == 'sigmoid':
        return 1.0 / (1.0 + np.exp(-v))
    if gate == 'hardsigmoid':
        return np.minimum(np.maximum(v + 3.0, 0.0), 6.0) / 6.0
    raise ValueError(gate)


def ref_se(x, w, o, residual=None):
    z = x.mean(axis=(2, 3))  # [N, C]
    w1 = w['w1']
    b1 = w.get('b1')
    if w.get('w2') is not None:
        h = z @ w1.T + (b1 if b1 is not None else 0.0)
        h = act_np(h, o['activation'])
        v = h @ w['w2'].T + (w['b2'] if w.get('b2') is not None else 0.0)
    else:
        v = z @ w1.T + (b1 if b1 is not None else 0.0)
    s = gate_np(v, o['gate'])
    y = x * s[:, :, None, None]
    if residual is not None:
        y = y + residual
    if o.get('outputActivation') == 'relu':
        y = np.maximum(y, 0.0)
    return y


def ref_eca(x, w, o):
    z = x.mean(axis=(2, 3))
    k = w['weight'].size
    p = (k - 1) // 2
    n, c = z.shape
    zp = np.zeros((n, c + 2 * p))
    zp[:, p:p + c] = z
    v = np.zeros((n, c))
    for j in range(k):
        v += w['weight'][j] * zp[:, j:j + c]
    s = gate_np(v, o['gate'])
    return x * s[:, :, None, None]


def ref_cbam(x, w, o):
    def mlp(z):
        h = z @ w['w1'].T + (w['b1'] if w.get('b1') is not None else 0.0)
        h = act_np(h, o['activation'])
        return h @ w['w2'].T + (w['b2'] if w.get('b2') is not None else 0.0)

    s = gate_np(mlp(x.mean(axis=(2, 3))) + mlp(x.max(axis=(2, 3))), o['gate'])
    x1 = x * s[:, :, None, None]
    m = np.stack([x1.mean(axis=1), x1.max(axis=1)], axis=1)  # [N, 2, H, W]
    sw = w['spatialWeight'].reshape(2, -1)
    k = int(round(math.sqrt(sw.shape[1])))
    sw = sw.reshape(2, k, k)
    p = (k - 1) // 2
    n, _, hh, ww = m.shape
    mp = np.zeros((n, 2, hh + 2 * p, ww + 2 * p))
    mp[:, :, p:p + hh, p:p + ww] = m
    g = np.full((n, hh, ww), float(w['spatialBias'][0]) if w.get('spatialBias') is not None else 0.0)
    for ci in range(2):
        for dy in range(k):
            for dx in range(k):
                g += sw[ci, dy, dx] * mp[:, ci, dy:dy + hh, dx:dx + ww]
    g = gate_np(g, o['gate'])
    return x1 * g[:, None, :, :]


# ---------------------------------------------------------------------------------------------

def import_first(*candidates):
    """(module path, attribute) pairs; returns (object, 'path.attr') of the first that imports
    (timm moved its modules across versions)."""
    errs = []
    for mod, attr in candidates:
        try:
            m = __import__(mod, fromlist=[attr])
            return getattr(m, attr), f"{mod}.{attr}"
        except Exception as e:  # try the next location
            errs.append(f"{mod}.{attr}: {e}")
    raise ImportError("; ".join(errs))


def timm_eca_kernel_size(channels, gamma=2, beta=1):
    """timm.layers.eca.EcaModule's formula, verbatim in behaviour."""
    t = int(abs(math.log(channels, 2) + beta) / gamma)
    return max(t if t % 2 else t + 1, 3)


def write_eca_table(out_dir, torch_ok):
    """k for many channel counts, as parallel arrays per (gamma, beta), to stay small."""
    default_channels = list(range(1, 1025)) + [1536, 2048, 3072, 4096, 8192, 16384, 65536]
    groups = []
    # Powers of two with a gamma/beta that put the quotient on an integer: math.log(2**29, 2) is
    # 29.000000000000004, not 29, and int() of that quotient decides the parity.
    powers = [2 ** e for e in range(53)]
    for gamma, beta, chans in ((2, 1, default_channels), (2, 2, list(range(1, 257))),
                               (1, 1, list(range(1, 257))), (3, 0, list(range(1, 257))),
                               (0.25, -31, powers), (0.5, -29, powers), (1, -51, powers)):
        groups.append({"gamma": gamma, "beta": beta, "channels": chans,
                       "k": [timm_eca_kernel_size(c, gamma, beta) for c in chans]})
    meta = {"source": "timm.layers.eca.EcaModule formula: t=int(abs(log(C,2)+beta)/gamma); k=max(t if t%2 else t+1, 3)"}
    # Where timm is importable, take k from the module itself for the default gamma/beta.
    if torch_ok:
        try:
            from timm.layers.eca import EcaModule
            g = groups[0]
            mismatches = []
            for i, c in enumerate(g["channels"]):
                k_mod = EcaModule(channels=c).conv.kernel_size[0]
                if k_mod != g["k"][i]:
                    mismatches.append((c, k_mod, g["k"][i]))
                    g["k"][i] = k_mod
            meta["checkedAgainstModule"] = len(g["channels"])
            meta["moduleMismatches"] = mismatches
            print(f"eca table: {len(g['channels'])} sizes checked against timm EcaModule, mismatches {mismatches}")
        except Exception:
            traceback.print_exc()
    with open(os.path.join(out_dir, 'eca_kernel_sizes.json'), 'w') as f:
        json.dump({"meta": meta, "groups": groups}, f, separators=(',', ':'))


# ---------------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--out', required=True)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)

    try:
        import torch
        torch_ok = True
    except Exception:
        torch_ok = False
        print("torch not importable: writing the ECA kernel-size table only")
    write_eca_table(args.out, torch_ok)
    if not torch_ok:
        return 0

    import torch.nn as nn
    torch.set_grad_enabled(False)
    versions = {"torch": torch.__version__, "python": platform.python_version(), "numpy": np.__version__}
    try:
        import timm
        versions["timm"] = timm.__version__
    except Exception as e:
        versions["timm"] = f"unavailable: {e}"
    try:
        import torchvision
        versions["torchvision"] = torchvision.__version__
    except Exception as e:
        versions["torchvision"] = f"unavailable: {e}"
    print("versions", versions)

    def rand32(gen, shape, scale=1.0, offset=0.0):
        # float32-representable values, returned as float64 tensors
        t = torch.randn(*shape, generator=gen, dtype=torch.float64) * scale + offset
        return t.float().double()

    def randomise(module, gen, bias_scale=0.5):
        for name, p in module.named_parameters():
            if p.dim() >= 2:
                fan_in = p[0].numel()
                p.copy_(rand32(gen, p.shape, 2.0 / math.sqrt(fan_in)))
            else:
                p.copy_(rand32(gen, p.shape, bias_scale))
        for name, mod in module.named_modules():
            if isinstance(mod, nn.modules.batchnorm._BatchNorm):
                mod.running_mean.copy_(rand32(gen, mod.running_mean.shape, 0.3))
                var = torch.rand(mod.running_var.shape, generator=gen, dtype=torch.float64) * 1.5 + 0.5
                mod.running_var.copy_(var.float().double())
                if mod.weight is not None:
                    mod.weight.copy_(rand32(gen, mod.weight.shape, 0.5, 1.0))
                    mod.bias.copy_(rand32(gen, mod.bias.shape, 0.5))

    def conv_w(conv):
        # Conv2d 1x1 weight [out, in, 1, 1] -> [out, in]
        return conv.weight.detach().reshape(conv.weight.shape[0], -1).numpy().astype(np.float32)

    def conv_b(conv):
        return None if conv.bias is None else conv.bias.detach().numpy().astype(np.float32)

    fixtures = []

    def emit(name, module_name, op, module, shape, seed, weights, options, residual_fn=None,
             out_relu=False, xscale=1.0, note=None):
        gen = torch.Generator().manual_seed(seed + 1000)
        x = rand32(gen, shape, xscale, 0.1 * xscale)
        module.eval()
        y = module(x.clone())
        residual = None
        if residual_fn is not None:
            residual = rand32(gen, shape, 1.0)
            y = y + residual
        if out_relu:
            y = torch.relu(y)
        y = y.detach().numpy()
        # self-check against the documented semantics, from the float32 weights we export
        w64 = {k: (None if v is None else np.asarray(v, dtype=np.float64)) for k, v in weights.items()}
        x64 = x.numpy()
        if op == 'se':
            r = ref_se(x64, w64, options, None if residual is None else residual.numpy())
        elif op == 'eca':
            r = ref_eca(x64, w64, options)
        else:
            r = ref_cbam(x64, w64, options)
        rel = float(np.max(np.abs(r - y)) / max(np.max(np.abs(y)), 1e-300))
        flag = "OK" if rel < 1e-6 else "MISMATCH"
        print(f"{name:40s} {module_name:60s} shape={shape} selfCheckRelErr={rel:.3e} {flag}")

        def both(a):
            a = np.asarray(a)
            return {"NCHW": f32(a), "NHWC": f32(np.transpose(a, (0, 2, 3, 1)))}

        fx = {
            "name": name,
            "module": module_name,
            "op": op,
            "shape": list(shape),
            "seed": seed,
            "options": options,
            "weights": {k: f32(v) for k, v in weights.items() if v is not None},
            "x": both(x64),
            "expected": both(y),
            "selfCheckRelErr": rel,
            "versions": versions,
        }
        if note:
            fx["note"] = note
        if residual is not None:
            fx["residual"] = both(residual.numpy())
        with open(os.path.join(args.out, f"golden_{name}.json"), 'w') as f:
            json.dump(fx, f, separators=(',', ':'))
        fixtures.append((name, rel))

    def run(name, fn):
        try:
            fn()
        except Exception:
            print(f"FAILED fixture {name}:")
            traceback.print_exc()
            fixtures.append((name, None))

    # --- timm SEModule ------------------------------------------------------------------------
    def timm_se(name, c, rd, shape, seed, bias=True, act='relu', residual=False):
        SEModule, path = import_first(('timm.layers.squeeze_excite', 'SEModule'),
                                      ('timm.layers', 'SEModule'),
                                      ('timm.models.layers.squeeze_excite', 'SEModule'))
        gen = torch.Generator().manual_seed(seed)
        act_layer = nn.ReLU if act == 'relu' else nn.SiLU
        m = SEModule(c, rd_channels=rd, bias=bias, act_layer=act_layer).double()
        randomise(m, gen)
        w = {"w1": conv_w(m.fc1), "b1": conv_b(m.fc1), "w2": conv_w(m.fc2), "b2": conv_b(m.fc2)}
        opts = {"activation": act, "gate": "sigmoid"}
        if residual:
            opts["outputActivation"] = "relu"
        emit(name, path + (" + residual + relu (python)" if residual else ""), 'se', m, shape, seed, w, opts,
             residual_fn=(True if residual else None), out_relu=residual)

    run('timm_se_relu', lambda: timm_se('timm_se_relu', 32, 8, (2, 32, 3, 5), 11))
    run('timm_se_nobias_silu', lambda: timm_se('timm_se_nobias_silu', 24, 6, (1, 24, 5, 5), 12, bias=False, act='silu'))
    run('timm_se_residual_relu', lambda: timm_se('timm_se_residual_relu', 16, 4, (2, 16, 3, 3), 13, residual=True))

    # --- timm EffectiveSEModule (single FC + hard_sigmoid) -----------------------------------
    def timm_ese():
        ESE, path = import_first(('timm.layers.squeeze_excite', 'EffectiveSEModule'),
                                 ('timm.layers', 'EffectiveSEModule'),
                                 ('timm.models.layers.squeeze_excite', 'EffectiveSEModule'))
        gen = torch.Generator().manual_seed(21)
        m = ESE(16).double()
        randomise(m, gen)
        w = {"w1": conv_w(m.fc), "b1": conv_b(m.fc)}
        emit('timm_effective_se', path, 'se', m, (2, 16, 3, 3), 21, w,
             {"activation": "relu", "gate": "hardsigmoid"},
             note="single FC: w1 is [C, C], no w2/b2; activation unused")

    run('timm_effective_se', timm_ese)

    # --- timm EfficientNet SqueezeExcite (SiLU) -------------------------------------------------
    def timm_eff_se():
        SE, path = import_first(('timm.models._efficientnet_blocks', 'SqueezeExcite'),
                                ('timm.models.efficientnet_blocks', 'SqueezeExcite'))
        gen = torch.Generator().manual_seed(31)
        m = SE(32, rd_ratio=0.25, act_layer=nn.SiLU).double()
        randomise(m, gen)
        w = {"w1": conv_w(m.conv_reduce), "b1": conv_b(m.conv_reduce),
             "w2": conv_w(m.conv_expand), "b2": conv_b(m.conv_expand)}
        emit('timm_efficientnet_se_silu', path, 'se', m, (1, 32, 4, 5), 31, w,
             {"activation": "silu", "gate": "sigmoid"})

    run('timm_efficientnet_se_silu', timm_eff_se)

    # --- torchvision SqueezeExcitation ---------------------------------------------------------
    def tv_se(name, c, sq, shape, seed, hard):
        from torchvision.ops import SqueezeExcitation
        gen = torch.Generator().manual_seed(seed)
        if hard:  # as in MobileNetV3: ReLU inside, Hardsigmoid gate
            m = SqueezeExcitation(c, sq, activation=nn.ReLU, scale_activation=nn.Hardsigmoid).double()
        else:
            m = SqueezeExcitation(c, sq).double()
        randomise(m, gen)
        w = {"w1": conv_w(m.fc1), "b1": conv_b(m.fc1), "w2": conv_w(m.fc2), "b2": conv_b(m.fc2)}
        emit(name, 'torchvision.ops.SqueezeExcitation' + (' (scale_activation=Hardsigmoid)' if hard else ''),
             'se', m, shape, seed, w, {"activation": "relu", "gate": "hardsigmoid" if hard else "sigmoid"})

    run('torchvision_se', lambda: tv_se('torchvision_se', 24, 8, (2, 24, 3, 4), 41, False))
    run('torchvision_se_hardsigmoid', lambda: tv_se('torchvision_se_hardsigmoid', 40, 16, (1, 40, 3, 3), 42, True))

    # --- timm EcaModule ----------------------------------------------------------------------------
    def timm_eca(name, shape, seed, channels=None, k=None):
        Eca, path = import_first(('timm.layers.eca', 'EcaModule'), ('timm.layers', 'EcaModule'),
                                 ('timm.models.layers.eca', 'EcaModule'))
        gen = torch.Generator().manual_seed(seed)
        m = (Eca(channels=channels) if channels is not None else Eca(kernel_size=k)).double()
        # a 1-D conv of fan-in k: scale so the gates are spread out
        for p in m.parameters():
            p.copy_(rand32(gen, p.shape, 1.0))
        weight = m.conv.weight.detach().reshape(-1).numpy().astype(np.float32)
        emit(name, path + (f"(channels={channels})" if channels is not None else f"(kernel_size={k})"),
             'eca', m, shape, seed, {"weight": weight}, {"gate": "sigmoid"},
             note=f"k={weight.size}" + (" from gamma=2, beta=1" if channels is not None else " explicit"))

    run('timm_eca_c64', lambda: timm_eca('timm_eca_c64', (1, 64, 3, 3), 51, channels=64))
    run('timm_eca_c128', lambda: timm_eca('timm_eca_c128', (1, 128, 2, 2), 52, channels=128))
    run('timm_eca_k5', lambda: timm_eca('timm_eca_k5', (2, 20, 3, 3), 53, k=5))

    # --- timm CbamModule (BatchNorm folded into the spatial conv) ---------------------------------
    def timm_cbam(name, c, rd, k, shape, seed, mlp_bias, act='relu', gate='sigmoid'):
        Cbam, path = import_first(('timm.layers.cbam', 'CbamModule'), ('timm.layers', 'CbamModule'),
                                  ('timm.models.layers.cbam', 'CbamModule'))
        gen = torch.Generator().manual_seed(seed)
        act_layer = nn.ReLU if act == 'relu' else nn.SiLU
        gate_layer = 'sigmoid' if gate == 'sigmoid' else 'hard_sigmoid'
        m = Cbam(c, rd_channels=rd, spatial_kernel_size=k, act_layer=act_layer, gate_layer=gate_layer,
                 mlp_bias=mlp_bias).double()
        randomise(m, gen)
        convs = [mod for mod in m.spatial.modules() if isinstance(mod, nn.Conv2d)]
        bns = [mod for mod in m.spatial.modules() if isinstance(mod, nn.modules.batchnorm._BatchNorm)]
        assert len(convs) == 1, f"expected one spatial conv, got {len(convs)}"
        conv = convs[0]
        assert tuple(conv.kernel_size) == (k, k) and tuple(conv.padding) == ((k - 1) // 2,) * 2, \
            f"spatial conv {conv}"
        wt = conv.weight.detach().clone()  # [1, 2, k, k]
        bias = conv.bias.detach().clone() if conv.bias is not None else torch.zeros(1, dtype=torch.float64)
        if bns:
            assert len(bns) == 1
            bn = bns[0]
            inv = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
            wt = wt * inv.reshape(-1, 1, 1, 1)
            bias = bn.bias.detach() + (bias - bn.running_mean) * inv
        ch = m.channel
        w = {"w1": conv_w(ch.fc1), "b1": conv_b(ch.fc1), "w2": conv_w(ch.fc2), "b2": conv_b(ch.fc2),
             "spatialWeight": wt.numpy().astype(np.float32).reshape(-1),
             "spatialBias": bias.numpy().astype(np.float32).reshape(-1)}
        emit(name, path + f"(mlp_bias={mlp_bias}, spatial_kernel_size={k})", 'cbam', m, shape, seed, w,
             {"activation": act, "gate": gate},
             note="spatial BatchNorm (random running stats) folded: w*g/sqrt(v+eps), b-m*g/sqrt(v+eps)")

    run('timm_cbam_k7', lambda: timm_cbam('timm_cbam_k7', 16, 4, 7, (2, 16, 5, 6), 61, False))
    run('timm_cbam_bias_k3_silu', lambda: timm_cbam('timm_cbam_bias_k3_silu', 8, 2, 3, (1, 8, 7, 5), 62, True, act='silu'))
    run('timm_cbam_c3', lambda: timm_cbam('timm_cbam_c3', 3, 1, 3, (2, 3, 4, 4), 63, True))
    run('timm_cbam_hardsigmoid', lambda: timm_cbam('timm_cbam_hardsigmoid', 12, 3, 5, (1, 12, 4, 6), 64, True, gate='hardsigmoid'))

    print("\nsummary:")
    bad = 0
    for name, rel in fixtures:
        status = "FAILED" if rel is None else ("ok" if rel < 1e-6 else "SELF-CHECK MISMATCH")
        bad += status != "ok"
        print(f"  {name:40s} {status} {'' if rel is None else f'{rel:.2e}'}")
    total = sum(os.path.getsize(os.path.join(args.out, f)) for f in os.listdir(args.out))
    print(f"{len(fixtures) - bad}/{len(fixtures)} fixtures ok, {total} bytes in {args.out}")
    return 0


if __name__ == '__main__':
    sys.exit(main())
