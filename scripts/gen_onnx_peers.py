#!/usr/bin/python3
"""Write the ONNX graphs of the onnxruntime-node peers of the CPU bench (bench/ort_peers.mjs).

One graph per op x layout (se/eca/cbam x nchw/nhwc), exported with torch.onnx.export (the
TorchScript exporter of torch 1.13; it serialises the protobuf itself and needs no `onnx` pip
package). Each graph takes x AND the weights as graph inputs, with every dimension dynamic but the
conv kernel size (below), so one file serves every bench shape and the bench feeds ONNX Runtime the
very arrays it gives our op.

Semantics, as lib/ops/{se,eca,cbam}.ts with their default options (activation relu, gate sigmoid,
no residual, no output activation) and as timm's modules:
  se    z = mean_HW x; s = sigmoid(W2 relu(W1 z + b1) + b2); y = x s         (timm SEModule)
  eca   z = mean_HW x; s = sigmoid(conv1d_k(z) over channels, zero pad (k-1)/2, no bias); y = x s
                                                                               (timm EcaModule)
  cbam  s = sigmoid(MLP(mean_HW x) + MLP(max_HW x)), MLP = fc2(relu(fc1 .)) with both biases (b2
        counted once per branch); x1 = x s; m = [mean_C x1, max_C x1];
        g = sigmoid(conv2d_kxk(m) + spatialBias), zero pad (k-1)/2; y = x1 g
                                                   (timm CbamModule with the BatchNorm folded)
NCHW graphs do the FCs as 1x1 convolutions on [N, C, 1, 1], as timm does. NHWC graphs take x as
[N, H, W, C] (the memory order of our NHWC layout; ONNX tensors have no memory format) and do the
FCs as matmuls over the last axis, which is what a 1x1 convolution is in channels-last; CBAM's
2-channel spatial map is transposed to NCHW for the k x k Conv (ONNX Conv is NCHW only).

ECA's and CBAM's kernel size k is fixed per graph: torch 1.13's exporter writes Conv's kernel_shape
from the weight's static size and refuses a weight whose kernel dimensions are dynamic. So ECA has
one graph per k in ECA_KS (timm's k for C up to 2^17 - 1) and CBAM one for k = 7 (timm's CBAM and
the bench's weights); every other dimension is dynamic. File names: {op}[_k{k}]_{layout}.onnx.

Graph inputs (float32; the bench gives the library's flat arrays these shapes):
  se    x, w1 [hidden, C], b1 [hidden], w2 [C, hidden], b2 [C]
  eca   x, weight [1, 1, k]
  cbam  x, w1, b1, w2, b2 as se, spatial_weight [1, 2, k, k], spatial_bias [1]
Output: y, shaped as x.

Usage: /usr/bin/python3 scripts/gen_onnx_peers.py [--out bench/peers]
(Debian's python3-torch; `apt-get install python3-torch` if it is absent.) The files are
deterministic: a second run writes the same bytes.
"""
import argparse
import hashlib
import os
import sys

import torch
import torch.nn.functional as F

OPSET = 17  # the newest opset torch 1.13 exports
ECA_KS = (3, 5, 7, 9)
CBAM_KS = (7,)


def channel_mlp_nchw(v, w1, b1, w2, b2):
    """[N, C, 1, 1] -> [N, C, 1, 1]: fc1 (1x1 conv) -> relu -> fc2 (1x1 conv), as timm's SE/CBAM."""
    h = F.relu(F.conv2d(v, w1[:, :, None, None], b1))
    return F.conv2d(h, w2[:, :, None, None], b2)


def channel_mlp_nhwc(v, w1, b1, w2, b2):
    """[N, C] -> [N, C]: the same MLP as matmuls over the channel axis."""
    return F.linear(F.relu(F.linear(v, w1, b1)), w2, b2)


class SE(torch.nn.Module):
    def __init__(self, layout):
        super().__init__()
        self.layout = layout

    def forward(self, x, w1, b1, w2, b2):
        if self.layout == 'nchw':
            s = torch.sigmoid(channel_mlp_nchw(x.mean((2, 3), keepdim=True), w1, b1, w2, b2))
            return x * s
        s = torch.sigmoid(channel_mlp_nhwc(x.mean((1, 2)), w1, b1, w2, b2))
        return x * s[:, None, None, :]


class ECA(torch.nn.Module):
    def __init__(self, layout, k):
        super().__init__()
        self.layout = layout
        self.pad = (k - 1) // 2  # k is static: see the module docstring

    def forward(self, x, weight):
        z = x.mean((2, 3) if self.layout == 'nchw' else (1, 2))  # [N, C]
        s = torch.sigmoid(F.conv1d(z[:, None, :], weight, padding=self.pad))[:, 0, :]  # [N, C]
        return x * (s[:, :, None, None] if self.layout == 'nchw' else s[:, None, None, :])


class CBAM(torch.nn.Module):
    def __init__(self, layout, k):
        super().__init__()
        self.layout = layout
        self.pad = (k - 1) // 2  # k is static: see the module docstring

    def forward(self, x, w1, b1, w2, b2, spatial_weight, spatial_bias):
        if self.layout == 'nchw':
            s = torch.sigmoid(channel_mlp_nchw(x.mean((2, 3), keepdim=True), w1, b1, w2, b2) +
                              channel_mlp_nchw(x.amax((2, 3), keepdim=True), w1, b1, w2, b2))
            x1 = x * s
            m = torch.cat([x1.mean(1, keepdim=True), x1.amax(1, keepdim=True)], 1)  # [N, 2, H, W]
            g = torch.sigmoid(F.conv2d(m, spatial_weight, spatial_bias, padding=self.pad))  # [N, 1, H, W]
            return x1 * g
        s = torch.sigmoid(channel_mlp_nhwc(x.mean((1, 2)), w1, b1, w2, b2) +
                          channel_mlp_nhwc(x.amax((1, 2)), w1, b1, w2, b2))
        x1 = x * s[:, None, None, :]
        m = torch.cat([x1.mean(3, keepdim=True), x1.amax(3, keepdim=True)], 3)  # [N, H, W, 2]
        g = torch.sigmoid(F.conv2d(m.permute(0, 3, 1, 2), spatial_weight, spatial_bias, padding=self.pad))
        return x1 * g.permute(0, 2, 3, 1)  # [N, H, W, 1]


def x_axes(layout):
    return {0: 'N', 1: 'C', 2: 'H', 3: 'W'} if layout == 'nchw' else {0: 'N', 1: 'H', 2: 'W', 3: 'C'}


def spec(op, layout, k):
    """(module, example inputs, input names, dynamic axes). Example sizes are all distinct so no
    dimension is mistaken for another while tracing; every axis but the kernel's is dynamic."""
    n, c, h, w, hidden = 2, 12, 5, 6, 4
    g = torch.Generator().manual_seed(0)
    rnd = lambda *s: torch.rand(*s, generator=g) * 2 - 1
    x = rnd(n, c, h, w) if layout == 'nchw' else rnd(n, h, w, c)
    mlp = [rnd(hidden, c), rnd(hidden), rnd(c, hidden), rnd(c)]
    mlp_names = ['w1', 'b1', 'w2', 'b2']
    mlp_axes = {'w1': {0: 'hidden', 1: 'C'}, 'b1': {0: 'hidden'}, 'w2': {0: 'C', 1: 'hidden'}, 'b2': {0: 'C'}}
    axes = {'x': x_axes(layout), 'y': x_axes(layout)}
    if op == 'se':
        return SE(layout), (x, *mlp), ['x', *mlp_names], {**axes, **mlp_axes}
    if op == 'eca':
        return ECA(layout, k), (x, rnd(1, 1, k)), ['x', 'weight'], axes
    if op == 'cbam':
        names = ['x', *mlp_names, 'spatial_weight', 'spatial_bias']
        return CBAM(layout, k), (x, *mlp, rnd(1, 2, k, k), rnd(1)), names, {**axes, **mlp_axes}
    raise ValueError(op)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--out', default=os.path.relpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'bench', 'peers')))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    graphs = [('se', None)] + [('eca', k) for k in ECA_KS] + [('cbam', k) for k in CBAM_KS]
    for op, k in graphs:
        for layout in ('nchw', 'nhwc'):
            module, inputs, names, axes = spec(op, layout, k)
            path = os.path.join(args.out, f'{op}{"" if k is None else f"_k{k}"}_{layout}.onnx')
            with torch.no_grad():
                module.eval()
                torch.onnx.export(module, inputs, path, input_names=names, output_names=['y'],
                                  dynamic_axes=axes, opset_version=OPSET, do_constant_folding=True)
            data = open(path, 'rb').read()
            print(f'{path}: {len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()[:16]}')
    print(f'torch {torch.__version__}, opset {OPSET}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
