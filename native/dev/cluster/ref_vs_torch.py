"""Checks se_cluster.cu's float64 reference (NaN rules included) against PyTorch's own ops.

Usage (no GPU; Debian's python3-torch is enough):
    build-cluster/se_cluster refdump /tmp/refdump && /usr/bin/python3 native/dev/cluster/ref_vs_torch.py /tmp/refdump
SE: y = x * sigmoid(fc2(relu(fc1(mean_hw x)))); ECA: y = x * sigmoid(conv1d_k(mean_hw x), zero padding),
all in float64 with torch.nn.functional. NaN must meet NaN, +-Inf the same infinity, finite values
agree within 1e-12 relative to max |y|.
"""
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F


def load(d, name, dtype, n=None):
    path = os.path.join(d, name)
    a = np.fromfile(path, dtype=dtype) if os.path.getsize(path) else np.zeros(0, dtype)
    return torch.from_numpy(a.astype(np.float64))


def main(d):
    bad = 0
    total = 0
    for line in open(os.path.join(d, "index.txt")):
        pre, op, n, c, h, w, layout, hidden, k, inj = line.split()
        n, c, h, w, hidden, k, inj = map(int, (n, c, h, w, hidden, k, inj))
        x = load(d, pre + ".x", np.float64)
        yref = load(d, pre + ".y", np.float64)
        x = x.view(n, h, w, c).permute(0, 3, 1, 2) if layout == "NHWC" else x.view(n, c, h, w)
        z = x.mean(dim=(2, 3))
        if op == "SE":
            w1 = load(d, pre + ".w1", np.float32).view(hidden, c)
            b1 = load(d, pre + ".b1", np.float32)
            w2 = load(d, pre + ".w2", np.float32).view(c, hidden)
            b2 = load(d, pre + ".b2", np.float32)
            s = torch.sigmoid(F.linear(torch.relu(F.linear(z, w1, b1)), w2, b2))
        else:
            ew = load(d, pre + ".ew", np.float32).view(1, 1, k)
            s = torch.sigmoid(F.conv1d(z.unsqueeze(1), ew, padding=(k - 1) // 2).squeeze(1))
        y = x * s[:, :, None, None]
        if layout == "NHWC":
            y = y.permute(0, 2, 3, 1)
        y = y.reshape(-1)
        fin = torch.isfinite(y)
        scale = max(float(y[fin].abs().max()) if fin.any() else 1.0, 1e-300)
        ok = bool(torch.equal(torch.isnan(y), torch.isnan(yref)))
        inf = torch.isinf(y)
        ok = ok and bool(torch.equal(inf, torch.isinf(yref))) and bool(torch.equal(y[inf], yref[inf]))
        if ok and fin.any():
            err = float((y[fin] - yref[fin]).abs().max()) / scale
            ok = err <= 1e-12
        total += 1
        if not ok:
            bad += 1
            print("MISMATCH", line.strip())
    print("reference vs torch: %d problems, %d mismatches" % (total, bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
