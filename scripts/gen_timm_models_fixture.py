#!/usr/bin/env python3
"""Make test/fixtures/timm_models/: whole timm and torchvision models (reduced widths, random
weights), each saved as its own checkpoint by the real safetensors writer, and every attention
module's output inside it.

Where scripts/gen_safetensors_fixture.py puts single modules under hand-picked names, this runs
the real model constructors, so the checkpoints carry the names, shapes and neighbouring tensors
(stems, BatchNorms, downsample convs, heads) that published checkpoints of those architectures
carry. The tests (test/timm-models.fixture.test.ts, test/gpu/state-dict.cuda.test.ts) check that
findAttentionModules finds exactly the attention modules the model has, and that fromStateDict +
forward reproduces each one's float64 output within 1e-5.

Per model: the weights are random (every parameter and buffer, BatchNorm statistics included,
drawn per tensor name as gen_safetensors_fixture.randomise does), float32; an image
(1x3x64x64) runs through the model in float64 with forward hooks on the attention modules, which
record each module's input; that input, scaled to unit RMS (random weights without trained
normalisation let activations grow ~10^30 by the last stage, which would saturate every gate) and
rounded to float32, is the case's x, and the case's
expected output is the module run again on exactly that x in float64. So x has the statistics of
a real activation at that depth, and expected matches x bit for bit. Each case is also checked
against the numpy float64 reference of the library's semantics (gen_golden.ref_*), on weights
mapped and BatchNorm-folded here independently of lib/state-dict.ts (selfCheckRelErr).

Needs the real timm, torchvision and safetensors (no fallback: re-implementing whole models would
prove nothing). Where pip works: pip install timm safetensors. On Debian 12 without PyPI:
  eval "$(bash scripts/setup-real-timm.sh TIMM_GIT SAFETENSORS_GIT)"
  /usr/bin/python3 scripts/gen_timm_models_fixture.py --out test/fixtures
Deterministic (fixed seeds, sorted keys); SQEX_PACKAGE_SOURCES (setup-real-timm.sh's SOURCES.json),
when set, goes into the provenance.
"""
import argparse
import copy
import hashlib
import os
import platform
import sys
import zlib

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_golden import ref_cbam, ref_eca, ref_se  # noqa: E402
from gen_safetensors_fixture import (BLOCK, DEFAULTS, activation_and_gate, b64, gate_module, mapped_weights,  # noqa: E402
                                     package_sources, randomise, real_packages, self_check_status, write_json)  # noqa: E402

FIXTURE = 'timm_models'
IMAGE = (1, 3, 64, 64)

# The library's kind for each module class, by where the class lives.
KINDS = {
    ('timm', 'SEModule'): 'timm.SEModule',
    ('timm', 'EffectiveSEModule'): 'timm.EffectiveSEModule',
    ('timm', 'SqueezeExcite'): 'timm.SqueezeExcite',
    ('timm', 'EcaModule'): 'timm.EcaModule',
    ('timm', 'CbamModule'): 'timm.CbamModule',
    ('torchvision', 'SqueezeExcitation'): 'torchvision.SqueezeExcitation',
}


def kind_of(m):
    return KINDS.get((type(m).__module__.split('.')[0], type(m).__name__))


def options_of(m):
    """activation / gate of this module instance, read from the instance (not assumed from the model)."""
    activation, gate = activation_and_gate(m)
    if type(m).__name__ == 'CbamModule':
        assert activation_and_gate(m.spatial)[1] == gate, 'CBAM with two different gates: the library has one'
    return {'gate': gate} if activation is None else {'activation': activation, 'gate': gate}


def gate_values(m, x):
    """The module's channel gate on x (the first gate for CBAM), to see that the case is not degenerate."""
    seen = []
    h = gate_module(m).register_forward_hook(lambda mod, inp, out: seen.append(out.detach().clone()))
    m(x.clone())
    h.remove()
    return seen[0]


def models():
    """(name, source, call text, constructor, dtype) of each model; a constructor the installed version lacks is skipped.

    Two are saved in half precision (model.half() / .to(torch.bfloat16), as people publish them):
    fromStateDict converts F16 / BF16 itself; their expected outputs use the rounded weights.
    """
    import timm
    from torchvision.models import mobilenet_v3_small
    small = dict(layers=(1, 1, 1, 1), stem_width=8, num_classes=10)
    cbam = dict(small, channels=(8, 16, 24, 32), block_args=dict(attn_layer='cbam'))
    specs = [
        ('seresnet18', 'seresnet18', dict(small, channels=(8, 16, 24, 32)), None),
        ('seresnet18_f16', 'seresnet18', dict(small, channels=(8, 16, 24, 32)), torch.float16),
        ('ecaresnet26t', 'ecaresnet26t', dict(small, channels=(4, 8, 12, 16)), None),
        ('resnet18_cbam', 'resnet18', cbam, None),
        ('resnet18_cbam_bf16', 'resnet18', cbam, torch.bfloat16),
        # test_efficientnet is in timm >= 1.0.10 only; tinynet_e (2 M parameters) has the same SE elsewhere.
        (('test_efficientnet', 'test_efficientnet', dict(num_classes=10, channel_multiplier=0.5), None) if timm.is_model('test_efficientnet')
         else ('tinynet_e', 'tinynet_e', dict(num_classes=10), None)),
    ]
    out = []
    for name, arch, kw, dtype in specs:
        call = f"timm.create_model({arch!r}, {', '.join(f'{k}={v!r}' for k, v in kw.items())})"
        if dtype is not None:
            call += f".to({dtype})"
        out.append((name, 'timm', call, lambda arch=arch, kw=kw: timm.create_model(arch, pretrained=False, **kw), dtype))
    out.append(('mobilenet_v3_small', 'torchvision', 'torchvision.models.mobilenet_v3_small(width_mult=0.25, num_classes=10)',
                lambda: mobilenet_v3_small(width_mult=0.25, num_classes=10), None))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--out', default=os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures'))
    args = ap.parse_args()
    torch.set_grad_enabled(False)
    versions, save_file = real_packages()

    out_dir = os.path.join(args.out, FIXTURE)
    os.makedirs(out_dir, exist_ok=True)
    docs, worst, total = [], 0.0, 0
    for name, source, call, make, dtype in models():
        try:
            model = make()
        except Exception as e:  # e.g. test_efficientnet is missing from an older timm
            print(f"{name}: skipped, {type(e).__name__}: {e}")
            continue
        randomise(model)
        model.eval()
        if dtype is not None:
            model = model.to(dtype)  # the checkpoint's precision; everything below computes from these values
        sd = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
        path = os.path.join(out_dir, f'{name}.safetensors')
        save_file(sd, path, metadata={'format': 'pt', 'generator': 'scripts/gen_timm_models_fixture.py', 'model': call})

        model64 = copy.deepcopy(model).double().eval()
        attn = [(p, m) for p, m in model64.named_modules() if kind_of(m)]
        seen = {}
        hooks = [m.register_forward_hook(lambda m, inp, out, p=p: seen.__setitem__(p, inp[0].detach().clone()))
                 for p, m in attn]
        gen = torch.Generator().manual_seed(zlib.crc32(name.encode()))
        model64(torch.randn(*IMAGE, generator=gen, dtype=torch.float64))
        for h in hooks:
            h.remove()

        cases = []
        for prefix, m in attn:
            kind = kind_of(m)
            a = seen[prefix]
            x = (a / a.pow(2).mean().sqrt()).float().double()
            y = m(x.clone()).numpy()
            opts = options_of(m)
            assert set(opts.values()) <= {'relu', 'silu', 'sigmoid', 'hardsigmoid'}, f'{name} {prefix}: an activation the library does not compute: {m}'
            overrides = {k: v for k, v in opts.items() if DEFAULTS[kind].get(k) != v}
            w = {k: v for k, v in mapped_weights(sd, prefix, kind).items() if v is not None}
            ref_opts = {**DEFAULTS[kind], **overrides}
            ref = (ref_eca if kind == 'timm.EcaModule' else ref_cbam if kind == 'timm.CbamModule' else ref_se)(x.numpy(), w, ref_opts)
            rel = float(np.max(np.abs(ref - y)) / max(np.max(np.abs(y)), 1e-300))
            worst = max(worst, rel)
            tensors = {k[len(prefix) + 1:]: list(v.shape) for k, v in sd.items() if k.startswith(prefix + '.')}
            hidden = (w['w1'].shape[0] if 'w1' in w else None)
            ksize = (int(w['weight'].size) if kind == 'timm.EcaModule' else
                     int(round(np.sqrt(w['spatialWeight'].size / 2))) if kind == 'timm.CbamModule' else None)
            g = gate_values(m, x)
            saturated = float(((g == 0) | (g == 1)).double().mean())
            print(f"{name:20s} {prefix:22s} {kind:30s} x{list(x.shape)} {overrides} selfCheckRelErr={rel:.2e} "
                  f"gate in [{float(g.min()):.3f}, {float(g.max()):.3f}], {saturated:.0%} saturated "
                  f"{'OK' if rel < 1e-12 else 'MISMATCH'}")
            cases.append({
                'prefix': prefix, 'kind': kind, 'block': BLOCK.get(kind, 'SEBlock'),
                'module': type(m).__module__ + '.' + type(m).__name__, 'overrides': overrides,
                'channels': int(x.shape[1]), 'hidden': hidden, 'kernelSize': ksize, 'tensors': tensors,
                'gateRange': [float(g.min()), float(g.max())], 'gateSaturated': saturated,
                'shape': list(x.shape), 'x': b64(x.numpy(), '<f4'), 'expected': b64(y, '<f8'), 'selfCheckRelErr': rel,
            })
        with open(path, 'rb') as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        total += os.path.getsize(path)
        docs.append({'name': name, 'source': source, 'call': call, 'file': f'{FIXTURE}/{name}.safetensors',
                     'sha256': digest, 'tensorCount': len(sd), 'dtype': str(dtype or torch.float32).replace('torch.', ''),
                     'cases': cases})

    provenance = {
        'generator': 'scripts/gen_timm_models_fixture.py',
        'command': ' '.join(['python3 scripts/gen_timm_models_fixture.py'] + sys.argv[1:]),
        'writer': f"safetensors.torch.save_file (safetensors {versions['safetensors']})",
        'versions': versions,
        'sources': package_sources(),
        'host': f"{platform.system()} {platform.machine()}",
        'image': list(IMAGE),
    }
    doc = {'provenance': provenance, 'bnEps': 1e-5, 'models': docs}
    js_path = os.path.join(args.out, f'{FIXTURE}.json')
    write_json(js_path, doc)
    n_cases = sum(len(d['cases']) for d in docs)
    print(f"{len(docs)} models, {n_cases} attention modules; worst selfCheckRelErr {worst:.2e}; "
          f"{total} bytes of checkpoints + {os.path.getsize(js_path)} bytes of JSON")
    return self_check_status(worst)


if __name__ == '__main__':
    sys.exit(main())
