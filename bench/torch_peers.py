#!/usr/bin/env python3
"""PyTorch peers for the squeeze-excite GPU benchmark.

Runs the same ops as the addon (SE, ECA, CBAM with the harness's settings) in PyTorch on the same
shapes, dtypes and layouts (NHWC = channels_last), in several modes:
  eager          plain PyTorch ops
  graph          the eager ops captured in a CUDA graph and replayed
  compile        torch.compile (inductor, default mode)
  compile_graph  the compiled function captured in a CUDA graph and replayed
Each is timed with CUDA events (median of repetitions of a batch of calls over rotating input sets,
so the inputs do not sit in L2), next to a same-size device-to-device copy (y.copy_(x), a
cudaMemcpyAsync) timed the same way in the same run. Prints one JSON object per line.

Usage: python3 bench/torch_peers.py [--quick] [--modes eager,graph,compile,compile_graph]
                                    [--ops se,eca,cbam] [--dtypes float32,float16] [--layouts NCHW,NHWC]
"""
import argparse
import json
import math
import statistics
import sys
import time

import torch
import torch.nn.functional as F

# Every (shape, dtype, layout) is a new specialisation of the same functions; dynamo's default
# limit of 8 recompiles would silently fall back to eager after the eighth and time that instead.
torch._dynamo.config.recompile_limit = 4096
torch._dynamo.config.cache_size_limit = 4096

SHAPES = [
    (32, 256, 56, 56), (32, 512, 28, 28), (32, 1024, 14, 14), (32, 2048, 7, 7),
    (32, 96, 112, 112), (32, 1152, 7, 7), (128, 256, 56, 56), (128, 2048, 7, 7),
    (1, 256, 56, 56), (1, 2048, 7, 7),
]
QUICK = [(32, 256, 56, 56), (32, 2048, 7, 7), (1, 256, 56, 56), (1, 2048, 7, 7)]


def make_op(op, c, dtype, device):
    """Weights as in the harness: SE hidden = max(8, C/16), ReLU, sigmoid, biases;
    ECA k = 3 (C < 512) else 5; CBAM hidden = max(8, C/16), ReLU, sigmoid, 7x7 spatial conv with bias."""
    g = torch.Generator(device="cpu").manual_seed(c)
    hidden = max(8, c // 16)

    def rnd(*shape, scale=1.0):
        return ((torch.rand(*shape, generator=g) * 2 - 1) * scale).to(device=device, dtype=dtype)

    if op == "se":
        w1, b1 = rnd(hidden, c, scale=2 / math.sqrt(c)), rnd(hidden, scale=0.5)
        w2, b2 = rnd(c, hidden, scale=2 / math.sqrt(hidden)), rnd(c, scale=0.5)

        def se(x):
            z = x.mean((2, 3))
            s = torch.sigmoid(F.linear(F.relu(F.linear(z, w1, b1)), w2, b2))
            return x * s[:, :, None, None]

        return se
    if op == "eca":
        k = 3 if c < 512 else 5
        w = rnd(1, 1, k)

        def eca(x):
            z = x.mean((2, 3))
            s = torch.sigmoid(F.conv1d(z[:, None, :], w, padding=(k - 1) // 2))[:, 0, :]
            return x * s[:, :, None, None]

        return eca
    if op == "cbam":
        w1, b1 = rnd(hidden, c, scale=2 / math.sqrt(c)), rnd(hidden, scale=0.5)
        w2, b2 = rnd(c, hidden, scale=2 / math.sqrt(hidden)), rnd(c, scale=0.5)
        sw, sb = rnd(1, 2, 7, 7, scale=0.3), rnd(1, scale=0.3)

        def mlp(v):
            return F.linear(F.relu(F.linear(v, w1, b1)), w2, b2)

        def cbam(x):
            s = torch.sigmoid(mlp(x.mean((2, 3))) + mlp(x.amax((2, 3))))
            x1 = x * s[:, :, None, None]
            m = torch.cat([x1.mean(1, keepdim=True), x1.amax(1, keepdim=True)], 1)
            return x1 * torch.sigmoid(F.conv2d(m, sw, sb, padding=3))

        return cbam
    raise ValueError(op)


def time_calls(fn, nsets, reps):
    """Median per-call microseconds of `reps` batches of nsets calls (events around each batch)."""
    fn_batch = lambda: [fn(i) for i in range(nsets)]
    fn_batch()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn_batch()
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b) * 1000 / nsets)
    return statistics.median(times)


def time_graph(fn, nsets, reps):
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for i in range(nsets):
            fn(i)
    torch.cuda.current_stream().wait_stream(s)
    torch.cuda.synchronize()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        for i in range(nsets):
            fn(i)
    graph.replay()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        graph.replay()
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b) * 1000 / nsets)
    del graph
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--modes", default="eager,graph,compile,compile_graph")
    ap.add_argument("--ops", default="se,eca,cbam")
    ap.add_argument("--dtypes", default="float32,float16")
    ap.add_argument("--layouts", default="NCHW,NHWC")
    ap.add_argument("--reps", type=int, default=15)
    ap.add_argument("--shapes", default=None, help="comma-separated NxCxHxW shapes instead of the built-in list")
    args = ap.parse_args()
    if not torch.cuda.is_available():
        print(json.dumps({"error": "CUDA is not available to PyTorch"}))
        return 1
    dev = torch.device("cuda")
    props = torch.cuda.get_device_properties(dev)
    l2 = getattr(props, "L2_cache_size", 50 << 20)
    print(json.dumps({"gpu": props.name, "torch": torch.__version__, "l2_bytes": l2, "sms": props.multi_processor_count}),
          flush=True)
    modes = args.modes.split(",")
    if args.shapes:
        shapes = [tuple(int(d) for d in t.lower().split("x")) for t in args.shapes.split(",")]
    else:
        shapes = QUICK if args.quick else SHAPES
    torch.backends.cudnn.benchmark = True
    for op in args.ops.split(","):
        for (n, c, h, w) in shapes:
            for dtn in args.dtypes.split(","):
                dtype = getattr(torch, dtn)
                for layout in args.layouts.split(","):
                    fmt = torch.channels_last if layout == "NHWC" else torch.contiguous_format
                    nbytes = n * c * h * w * dtype.itemsize
                    nsets = max(4, min(32, math.ceil(3 * l2 / (2 * nbytes))))
                    if 2 * nbytes * nsets > 24 << 30:
                        nsets = 2
                    xs = [torch.rand(n, c, h, w, device=dev, dtype=dtype).mul_(4).sub_(2).contiguous(memory_format=fmt)
                          for _ in range(nsets)]
                    ys = [torch.empty_like(x) for x in xs]
                    f = make_op(op, c, dtype, dev)
                    base = {"op": op, "n": n, "c": c, "h": h, "w": w, "dtype": dtn, "layout": layout,
                            "bytes": nbytes, "sets": nsets}
                    copy_us = time_calls(lambda i: ys[i].copy_(xs[i]), nsets, args.reps)
                    rec = dict(base, mode="copy", us=copy_us, copy_us=copy_us, ratio=1.0)
                    print(json.dumps(rec), flush=True)
                    for mode in modes:
                        t0 = time.time()
                        try:
                            with torch.no_grad():
                                if mode == "eager":
                                    us = time_calls(lambda i: f(xs[i]), nsets, args.reps)
                                elif mode == "graph":
                                    us = time_graph(lambda i: f(xs[i]), nsets, args.reps)
                                elif mode in ("compile", "compile_graph"):
                                    cf = torch.compile(f, dynamic=False)
                                    if mode == "compile":
                                        us = time_calls(lambda i: cf(xs[i]), nsets, args.reps)
                                    else:
                                        us = time_graph(lambda i: cf(xs[i]), nsets, args.reps)
                                else:
                                    raise ValueError(mode)
                            rec = dict(base, mode=mode, us=us, copy_us=copy_us, ratio=us / copy_us,
                                       setup_s=round(time.time() - t0, 1))
                        except Exception as e:  # report and go on with the next mode
                            rec = dict(base, mode=mode, error=f"{type(e).__name__}: {e}"[:300])
                        print(json.dumps(rec), flush=True)
                    del xs, ys
                    torch.cuda.empty_cache()
    return 0


if __name__ == "__main__":
    sys.exit(main())
