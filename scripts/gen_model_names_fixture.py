#!/usr/bin/env python3
"""Write test/fixtures/model_names.json.gz: the state-dict names and shapes (no weights) of 43 timm
and torchvision architectures, and the truth about their attention modules, for the discovery
tests (test/discover.models.test.ts).

For every model: each tensor's name and shape, as `model.state_dict()` gives them; and each
attention module the model really holds (found by class, not by name): its prefix, class, and the
activation and gate of that instance (module attributes, e.g. SqueezeExcite.act1 / .gate). The test
then checks findAttentionModules against it: the same prefixes (no MLP taken for an SE, no SE
missed), the kind for the class, and `options` + the kind's defaults = the instance's activation
and gate, but for the cases the names cannot tell (listed in the test).

The models are chosen to cover every family that uses SE / ECA / CBAM-like blocks in timm and
torchvision, plus models with look-alikes (conv MLPs named fc1/fc2, split / selective-kernel
attention) and models without attention. Built with num_classes=10 (the head does not matter)
and random init: only names and shapes are kept.

Needs timm and torchvision (scripts/setup-real-timm.sh on Debian 12 without PyPI):
  /usr/bin/python3 scripts/gen_model_names_fixture.py [--out test/fixtures]
"""
import argparse
import gzip
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_safetensors_fixture import activation_and_gate, package_sources, real_packages  # noqa: E402

TIMM = ['seresnet18', 'seresnext26d_32x4d', 'ecaresnet26t', 'efficientnet_b0', 'tf_efficientnet_b0', 'efficientnetv2_rw_t',
        'mobilenetv3_large_100', 'mobilenetv3_small_050', 'tf_mobilenetv3_large_100', 'lcnet_050', 'mixnet_s', 'rexnet_100',
        'regnety_002', 'ese_vovnet19b_dw', 'cspresnet50', 'gernet_s', 'resnest14d', 'skresnet18', 'ghostnet_100',
        'fbnetv3_b', 'hardcorenas_a', 'tinynet_a', 'mnasnet_100', 'semnasnet_100', 'nf_regnet_b0', 'sebotnet33ts_256',
        'eca_nfnet_l0', 'hrnet_w18_small', 'convnext_atto', 'resnet18', 'rexnetr_100', 'cs3darknet_s', 'efficientvit_b0',
        'repvit_m1', 'fastvit_t8', 'mobilevitv2_050']
TORCHVISION = ['mobilenet_v3_large', 'mobilenet_v3_small', 'efficientnet_b0', 'efficientnet_v2_s', 'regnet_y_400mf',
               'mnasnet1_0', 'resnet18']


def attention(m):
    """(class, activation, gate) of an attention module instance, or None for anything else."""
    n = type(m).__name__
    if (n == 'SqueezeExcite' and hasattr(m, 'conv_reduce')) or n in (
            'SEModule', 'EffectiveSEModule', 'EcaModule', 'CecaModule', 'CbamModule', 'SqueezeExcitation'):
        return (type(m).__module__ + '.' + n, *activation_and_gate(m))
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--out', default=os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures'))
    args = ap.parse_args()
    versions, _ = real_packages()
    import timm
    from torchvision import models as tvm
    torch.set_grad_enabled(False)
    out = []
    for source, name in [('timm', n) for n in TIMM] + [('torchvision', n) for n in TORCHVISION]:
        model = timm.create_model(name, pretrained=False, num_classes=10) if source == 'timm' else getattr(tvm, name)(num_classes=10)
        modules = []
        for prefix, m in model.named_modules():
            a = attention(m)
            if a is not None:
                modules.append({'prefix': prefix, 'class': a[0], 'activation': a[1], 'gate': a[2]})
        tensors = [[k, list(v.shape)] for k, v in model.state_dict().items()]
        out.append({'source': source, 'model': name, 'tensors': tensors, 'attention': modules})
        print(f"{source}:{name:28s} {len(tensors):4d} tensors, {len(modules):3d} attention modules")
    doc = {'provenance': {'generator': 'scripts/gen_model_names_fixture.py', 'versions': versions, 'sources': package_sources()},
           'models': out}
    path = os.path.join(args.out, 'model_names.json.gz')
    raw = json.dumps(doc, separators=(',', ':'), sort_keys=True).encode()
    with open(path, 'wb') as f:  # mtime 0: the same bytes each run
        with gzip.GzipFile(fileobj=f, mode='wb', mtime=0, filename='') as g:
            g.write(raw)
    print(f"{len(out)} models, {sum(len(m['attention']) for m in out)} attention modules; {len(raw)} bytes, "
          f"{os.path.getsize(path)} gzipped")
    return 0


if __name__ == '__main__':
    sys.exit(main())
