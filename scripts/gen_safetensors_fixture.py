#!/usr/bin/env python3
"""Make test/fixtures/attention_model.safetensors and .json: a small checkpoint holding every
attention module that fromStateDict loads, and each module's output on fixed inputs.

The checkpoint is one nn.Module tree with timm/torchvision-style names (layer1.0.se, features.4.block.2,
...), holding: timm SEModule (plain; with a BatchNorm `bn` between the FCs; bias=False + SiLU),
EffectiveSEModule, EfficientNet SqueezeExcite, torchvision SqueezeExcitation (sigmoid; hardsigmoid as
in MobileNetV3), EcaModule (k from C; explicit k=5), CbamModule (k=7; mlp_bias + SiLU k=3;
hard_sigmoid k=5), plus unrelated tensors (a stem conv + BatchNorm, a Linear head, a transformer-style
Linear MLP fc1/fc2 that must not be mistaken for SE) and a few tensors of other dtypes (F16, BF16, F64,
I32, U8, a scalar) for the reader's conversions. Weights are random (not the default init, so biases
and BatchNorm statistics matter), float32, drawn per tensor name from a fixed seed. The JSON holds, per
module: prefix, kind, the options that differ from the kind's defaults, x (float32) and the module's
output computed in float64 (eval mode, the float32 weights cast to float64), stored as base64
little-endian; and `provenance`: which code ran each module, which writer wrote the file, the versions
and (SQEX_PACKAGE_SOURCES) where the packages came from.

Needs the real timm, torchvision and safetensors: pip install timm safetensors, or on Debian 12
without PyPI  eval "$(bash scripts/setup-real-timm.sh TIMM_GIT SAFETENSORS_GIT)"; then
  /usr/bin/python3 scripts/gen_safetensors_fixture.py --out test/fixtures
(Until 2026-11-30 a fallback mode re-implemented timm's modules and the writer for a machine without
them; the committed fixture was made that way until the real packages ran on the dev VM.)

Every module's output is also checked against a numpy float64 implementation of the library's
documented semantics (scripts/gen_golden.py's ref_se/ref_eca/ref_cbam) on weights mapped and
BatchNorm-folded here independently of the JS mapping; the relative error is stored as
selfCheckRelErr. The output is deterministic (fixed seeds, sorted keys).
"""
import argparse
import base64
import copy
import hashlib
import json
import math
import os
import platform
import struct
import sys
import zlib

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_golden import import_first, ref_cbam, ref_eca, ref_se  # noqa: E402  (numpy-only reference)

FIXTURE = 'attention_model'


def module_classes():
    """{kind: (constructor, description of the code that runs it)}: timm's and torchvision's own classes."""
    from torchvision.ops import SqueezeExcitation
    import timm
    import torchvision
    v = f"(timm {timm.__version__})"
    se, se_p = import_first(('timm.layers.squeeze_excite', 'SEModule'), ('timm.models.layers.squeeze_excite', 'SEModule'))
    ese, ese_p = import_first(('timm.layers.squeeze_excite', 'EffectiveSEModule'), ('timm.models.layers.squeeze_excite', 'EffectiveSEModule'))
    sqe, sqe_p = import_first(('timm.models._efficientnet_blocks', 'SqueezeExcite'), ('timm.models.efficientnet_blocks', 'SqueezeExcite'))
    eca, eca_p = import_first(('timm.layers.eca', 'EcaModule'), ('timm.models.layers.eca', 'EcaModule'))
    cbam, cbam_p = import_first(('timm.layers.cbam', 'CbamModule'), ('timm.models.layers.cbam', 'CbamModule'))
    return {
        'timm.SEModule': (se, f"{se_p} {v}"),
        'timm.EffectiveSEModule': (ese, f"{ese_p} {v}"),
        'timm.SqueezeExcite': (sqe, f"{sqe_p} {v}"),
        'torchvision.SqueezeExcitation': (SqueezeExcitation, f"torchvision.ops.SqueezeExcitation (torchvision {torchvision.__version__})"),
        'timm.EcaModule': (eca, f"{eca_p} {v}"),
        'timm.CbamModule': (cbam, f"{cbam_p} {v}"),
    }


# ---------------------------------------------------------------------------------------------
# The cases: (prefix, kind, constructor kwargs, input shape, overrides of the kind's defaults)

def cases(C):
    se, ese, sqe, tv, eca, cbam = (C[k][0] for k in (
        'timm.SEModule', 'timm.EffectiveSEModule', 'timm.SqueezeExcite', 'torchvision.SqueezeExcitation',
        'timm.EcaModule', 'timm.CbamModule'))
    return [
        ('layer1.0.se', 'timm.SEModule', lambda: se(32, rd_channels=8), (2, 32, 5, 6), {}),
        ('layer1.1.se', 'timm.SEModule', lambda: se(24, rd_channels=8, norm_layer=nn.BatchNorm2d), (2, 24, 4, 5), {}),
        ('layer1.2.se', 'timm.SEModule', lambda: se(16, rd_channels=4, bias=False, act_layer=nn.SiLU), (1, 16, 5, 5),
         {'activation': 'silu'}),
        ('stages.0.blocks.0.attn', 'timm.EffectiveSEModule', lambda: ese(16), (2, 16, 3, 4), {}),
        ('blocks.1.0.se', 'timm.SqueezeExcite', lambda: sqe(32, rd_channels=8, act_layer=nn.SiLU), (2, 32, 4, 4), {}),
        ('trunk_output.block1.block1-0.f.se', 'torchvision.SqueezeExcitation', lambda: tv(24, 8), (2, 24, 4, 4), {}),  # RegNet's place
        ('features.4.block.2', 'torchvision.SqueezeExcitation',
         lambda: tv(40, 16, activation=nn.ReLU, scale_activation=nn.Hardsigmoid), (1, 40, 3, 3), {'gate': 'hardsigmoid'}),
        ('layer2.0.se', 'timm.EcaModule', lambda: eca(channels=64), (2, 64, 3, 3), {}),
        ('layer2.1.se', 'timm.EcaModule', lambda: eca(kernel_size=5), (2, 20, 3, 3), {}),
        ('layer3.0.se', 'timm.CbamModule', lambda: cbam(16, rd_channels=4, spatial_kernel_size=7), (2, 16, 5, 6), {}),
        ('layer3.1.se', 'timm.CbamModule',
         lambda: cbam(8, rd_channels=2, spatial_kernel_size=3, act_layer=nn.SiLU, mlp_bias=True), (1, 8, 7, 5),
         {'activation': 'silu'}),
        ('layer3.2.se', 'timm.CbamModule',
         lambda: cbam(12, rd_channels=3, spatial_kernel_size=5, gate_layer='hard_sigmoid', mlp_bias=True), (1, 12, 4, 6),
         {'gate': 'hardsigmoid'}),
    ]


def put(root, dotted, module):
    parts = dotted.split('.')
    node = root
    for p in parts[:-1]:
        if not hasattr(node, p):
            node.add_module(p, nn.Module())
        node = getattr(node, p)
    node.add_module(parts[-1], module)


def get(root, dotted):
    node = root
    for p in dotted.split('.'):
        node = getattr(node, p)
    return node


def randomise(model):
    """Fills every parameter and buffer, per tensor name (crc32 seed), with float32-representable values."""
    bn_prefixes = {n for n, m in model.named_modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)}
    with torch.no_grad():
        for name, t in sorted(model.state_dict(keep_vars=True).items()):
            gen = torch.Generator().manual_seed(zlib.crc32(name.encode()))
            owner, _, leaf = name.rpartition('.')
            if leaf == 'num_batches_tracked':
                t.fill_(7)
                continue
            if owner in bn_prefixes:
                if leaf == 'running_var':
                    v = torch.rand(t.shape, generator=gen, dtype=torch.float64) * 1.5 + 0.5
                elif leaf == 'running_mean':
                    v = torch.randn(t.shape, generator=gen, dtype=torch.float64) * 0.3
                elif leaf == 'weight':
                    v = torch.randn(t.shape, generator=gen, dtype=torch.float64) * 0.5 + 1.0
                else:
                    v = torch.randn(t.shape, generator=gen, dtype=torch.float64) * 0.5
            elif t.dim() >= 2:
                fan_in = t[0].numel()
                v = torch.randn(t.shape, generator=gen, dtype=torch.float64) * (2.0 / math.sqrt(fan_in))
            else:
                v = torch.randn(t.shape, generator=gen, dtype=torch.float64) * 0.5
            t.copy_(v.float())


def extras():
    """Tensors of other dtypes, for the reader's conversions: (tensor, exact float32 values or ints)."""
    f16 = torch.tensor([1.0, -2.5, 65504.0, 2.0 ** -14, 2.0 ** -24, 0.0, -0.0, 0.333251953125], dtype=torch.float16)
    bf16 = torch.tensor([1.0, -2.5, 3.3895313892515355e38, 2.0 ** -126, 0.333984375, -0.0], dtype=torch.bfloat16)
    f64 = torch.tensor([[1.0, 0.1, -1e-3], [1.0 / 3.0, -2.5, 1e-40]], dtype=torch.float64)
    return {
        'extras.f16': f16,
        'extras.bf16': bf16,
        'extras.f64': f64,
        'extras.i32': torch.tensor([1, -2, 2 ** 31 - 1], dtype=torch.int32),
        'extras.u8': torch.tensor([0, 255, 7], dtype=torch.uint8),
        'extras.scalar': torch.tensor(3.5, dtype=torch.float32),
    }


# ---------------------------------------------------------------------------------------------

DTYPE_NAMES = {torch.float64: 'F64', torch.float32: 'F32', torch.float16: 'F16', torch.bfloat16: 'BF16',
               torch.int64: 'I64', torch.int32: 'I32', torch.int16: 'I16', torch.int8: 'I8', torch.uint8: 'U8',
               torch.bool: 'BOOL'}


def tensor_bytes(t):
    assert sys.byteorder == 'little'
    flat = t.detach().contiguous().reshape(-1)
    if flat.numel() == 0:
        return b''
    return flat.view(torch.uint8).numpy().tobytes()


def read_back(path):
    """A minimal reader, to check the written file round-trips: {name: (dtype, shape, bytes)}."""
    with open(path, 'rb') as f:
        raw = f.read()
    n = struct.unpack('<Q', raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    header.pop('__metadata__', None)
    data = raw[8 + n:]
    return {k: (v['dtype'], v['shape'], data[v['data_offsets'][0]:v['data_offsets'][1]]) for k, v in header.items()}


# ---------------------------------------------------------------------------------------------

# The library's names of the activations and gates the modules hold (others keep their class name).
ACTIVATION_NAMES = {'ReLU': 'relu', 'SiLU': 'silu', 'Swish': 'silu', 'Sigmoid': 'sigmoid', 'Hardsigmoid': 'hardsigmoid',
                    'HardSigmoid': 'hardsigmoid'}


def gate_module(m):
    """The gate whose output is the per-channel scale s of an attention module (CBAM: the channel gate)."""
    if isinstance(getattr(m, 'channel', None), nn.Module):
        return m.channel.gate
    return getattr(m, 'gate', None) or m.scale_activation


def activation_and_gate(m):
    """(activation, gate) of an SE / ECA / CBAM module instance, as the library names them (an
    activation the library lacks keeps its class name); activation None where the module has none."""
    n = type(m).__name__
    act = (m.act1 if n == 'SqueezeExcite' else m.act if n == 'SEModule' else m.channel.act if n == 'CbamModule'
           else m.activation if n == 'SqueezeExcitation' else None)
    name = lambda mod: ACTIVATION_NAMES.get(type(mod).__name__, type(mod).__name__)  # noqa: E731
    return (None if act is None else name(act)), name(gate_module(m))


def real_packages():
    """(versions, safetensors.torch.save_file), or exit saying how to get timm, torchvision and safetensors."""
    try:
        import safetensors
        import timm
        import torchvision
        from safetensors.torch import save_file
    except Exception as e:
        sys.exit(f"needs the real timm, torchvision and safetensors ({type(e).__name__}: {e}); "
                 "see scripts/setup-real-timm.sh for a machine without PyPI")
    return ({'python': platform.python_version(), 'torch': torch.__version__, 'numpy': np.__version__,
             'torchvision': torchvision.__version__, 'timm': timm.__version__, 'safetensors': safetensors.__version__},
            save_file)


def write_json(path, doc):
    """Compact, sorted keys (deterministic), newline-terminated."""
    with open(path, 'w') as f:
        json.dump(doc, f, separators=(',', ':'), sort_keys=True)
        f.write('\n')


def self_check_status(worst):
    """The exit status: 1, said aloud, when a module does not compute what the mapping assumes."""
    if worst > 1e-12:
        print("SELF-CHECK MISMATCH: the modules do not compute what the mapping assumes")
        return 1
    return 0


def package_sources():
    """Where timm and safetensors came from, when scripts/setup-real-timm.sh built them (its SOURCES.json)."""
    path = os.environ.get('SQEX_PACKAGE_SOURCES')
    if not path:
        return None
    with open(path) as f:
        return json.load(f)


def b64(a, dtype):
    arr = np.ascontiguousarray(np.asarray(a, dtype=dtype)).ravel()
    return {'b64': base64.b64encode(arr.tobytes()).decode('ascii'), 'dtype': 'float32' if dtype == '<f4' else 'float64',
            'length': int(arr.size)}


def mapped_weights(sd, prefix, kind, eps=1e-5):
    """Weights in the library's layout, BatchNorm folded: written independently of lib/state-dict.ts."""
    g = lambda rel: sd[f"{prefix}.{rel}"].double().numpy() if f"{prefix}.{rel}" in sd else None  # noqa: E731

    def flat2(w):
        return None if w is None else w.reshape(w.shape[0], -1)

    def fold(w, b, bn):
        s = g(f'{bn}.weight') / np.sqrt(g(f'{bn}.running_var') + eps)
        b = np.zeros(w.shape[0]) if b is None else b
        return w * s.reshape(-1, *([1] * (w.ndim - 1))), (b - g(f'{bn}.running_mean')) * s + g(f'{bn}.bias')

    if kind == 'timm.EffectiveSEModule':
        return {'w1': flat2(g('fc.weight')), 'b1': g('fc.bias')}
    if kind in ('timm.SEModule', 'torchvision.SqueezeExcitation', 'timm.SqueezeExcite'):
        a, b = ('conv_reduce', 'conv_expand') if kind == 'timm.SqueezeExcite' else ('fc1', 'fc2')
        w1, b1 = flat2(g(f'{a}.weight')), g(f'{a}.bias')
        if g('bn.running_var') is not None:
            w1, b1 = fold(w1, b1, 'bn')
        return {'w1': w1, 'b1': b1, 'w2': flat2(g(f'{b}.weight')), 'b2': g(f'{b}.bias')}
    if kind == 'timm.EcaModule':
        return {'weight': g('conv.weight').reshape(-1)}
    sw, sb = fold(g('spatial.conv.conv.weight'), None, 'spatial.conv.bn')
    return {'w1': flat2(g('channel.fc1.weight')), 'b1': g('channel.fc1.bias'), 'w2': flat2(g('channel.fc2.weight')),
            'b2': g('channel.fc2.bias'), 'spatialWeight': sw.reshape(-1), 'spatialBias': sb.reshape(-1)}


DEFAULTS = {
    'timm.SEModule': {'activation': 'relu', 'gate': 'sigmoid'},
    'timm.EffectiveSEModule': {'activation': 'relu', 'gate': 'hardsigmoid'},
    'timm.SqueezeExcite': {'activation': 'silu', 'gate': 'sigmoid'},
    'torchvision.SqueezeExcitation': {'activation': 'relu', 'gate': 'sigmoid'},
    'timm.EcaModule': {'gate': 'sigmoid'},
    'timm.CbamModule': {'activation': 'relu', 'gate': 'sigmoid'},
}
BLOCK = {'timm.EcaModule': 'ECABlock', 'timm.CbamModule': 'CBAMBlock'}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--out', default=os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures'))
    ap.add_argument('--mode', choices=('timm',), default='timm', help='the only mode (kept for old command lines)')
    args = ap.parse_args()
    torch.set_grad_enabled(False)
    versions, save_file = real_packages()
    mode = 'timm'

    C = module_classes()
    model = nn.Module()
    put(model, 'stem.conv', nn.Conv2d(3, 8, 3, bias=False))
    put(model, 'stem.bn', nn.BatchNorm2d(8))
    specs = cases(C)
    for prefix, kind, make, shape, _ in specs:
        put(model, prefix, make())
    put(model, 'blocks.9.mlp.fc1', nn.Linear(16, 64))  # a transformer MLP: 2-D fc1/fc2, not an SE module
    put(model, 'blocks.9.mlp.fc2', nn.Linear(64, 16))
    put(model, 'head.fc', nn.Linear(32, 10))
    randomise(model)
    model.eval()

    sd = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    ext = extras()
    tensors = dict(sd)
    tensors.update(ext)

    writer = f"safetensors.torch.save_file (safetensors {versions['safetensors']})"
    metadata = {'format': 'pt', 'generator': 'scripts/gen_safetensors_fixture.py', 'mode': mode}
    os.makedirs(args.out, exist_ok=True)
    st_path = os.path.join(args.out, f'{FIXTURE}.safetensors')
    save_file(tensors, st_path, metadata=metadata)
    back = read_back(st_path)
    assert sorted(back) == sorted(tensors), 'round trip: names differ'
    for k, t in tensors.items():
        assert back[k][0] == DTYPE_NAMES[t.dtype] and back[k][1] == list(t.shape) and back[k][2] == tensor_bytes(t), k

    model64 = copy.deepcopy(model).double().eval()
    out_cases = []
    worst = 0.0
    for prefix, kind, make, shape, overrides in specs:
        gen = torch.Generator().manual_seed(zlib.crc32(prefix.encode()) + 1)
        x = (torch.randn(*shape, generator=gen, dtype=torch.float64) + 0.1).float().double()
        y = get(model64, prefix)(x.clone()).numpy()
        opts = {**DEFAULTS[kind], **overrides}
        w = mapped_weights(sd, prefix, kind)
        w = {k: v for k, v in w.items() if v is not None}
        if kind == 'timm.EcaModule':
            ref = ref_eca(x.numpy(), w, opts)
        elif kind == 'timm.CbamModule':
            ref = ref_cbam(x.numpy(), w, opts)
        else:
            ref = ref_se(x.numpy(), w, opts)
        rel = float(np.max(np.abs(ref - y)) / max(np.max(np.abs(y)), 1e-300))
        worst = max(worst, rel)
        m = get(model, prefix)
        n_params = {k[len(prefix) + 1:]: list(v.shape) for k, v in sd.items() if k.startswith(prefix + '.')}
        print(f"{prefix:24s} {kind:30s} x{list(shape)} selfCheckRelErr={rel:.2e} {'OK' if rel < 1e-12 else 'MISMATCH'}")
        out_cases.append({
            'prefix': prefix,
            'kind': kind,
            'block': BLOCK.get(kind, 'SEBlock'),
            'module': type(m).__module__ + '.' + type(m).__name__,
            'overrides': overrides,
            'tensors': n_params,
            'shape': list(shape),
            'x': b64(x.numpy(), '<f4'),
            'expected': b64(y, '<f8'),
            'selfCheckRelErr': rel,
        })

    ext_json = {}
    for k, t in ext.items():
        if t.is_floating_point():
            vals = t.float().reshape(-1).tolist()  # exact: float32 values of the stored F16/BF16 (F64 rounded to nearest)
        else:
            vals = t.reshape(-1).tolist()
        ext_json[k] = {'dtype': DTYPE_NAMES[t.dtype], 'shape': list(t.shape), 'values': vals}

    with open(st_path, 'rb') as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    provenance = {
        'mode': mode,
        'real': True,
        'generator': 'scripts/gen_safetensors_fixture.py',
        'command': ' '.join(['python3 scripts/gen_safetensors_fixture.py'] + sys.argv[1:]),
        'writer': writer,
        'modules': {kind: C[kind][1] for kind in C},
        'versions': versions,
        'sources': package_sources(),
        'host': f"{platform.system()} {platform.machine()}",
        'safetensorsSha256': digest,
        'note': 'made by the real timm, torchvision and safetensors',
    }
    doc = {'provenance': provenance, 'file': f'{FIXTURE}.safetensors', 'bnEps': 1e-5, 'cases': out_cases,
           'extras': ext_json,
           'distractors': ['stem.conv.weight', 'stem.bn.weight', 'blocks.9.mlp.fc1.weight', 'blocks.9.mlp.fc2.weight',
                           'head.fc.weight']}
    js_path = os.path.join(args.out, f'{FIXTURE}.json')
    write_json(js_path, doc)
    sizes = os.path.getsize(st_path) + os.path.getsize(js_path)
    print(f"mode={mode}; {len(out_cases)} modules; worst selfCheckRelErr {worst:.2e}; "
          f"{os.path.getsize(st_path)} + {os.path.getsize(js_path)} = {sizes} bytes; sha256 {digest[:16]}")
    return self_check_status(worst)


if __name__ == '__main__':
    sys.exit(main())
