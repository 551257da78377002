#!/usr/bin/env python3
"""Merges a device run of native/dev/cuda_check_bench (harness.log) with bench/torch_peers.py output
(one or more JSON-lines files) into bench/results/<gpu>-<date>-harness.md.

Usage: python3 native/dev/cuda_results.py RUN_DIR OUT_MD
RUN_DIR holds harness.log, check.log, peers.jsonl and optionally peers-compile.jsonl (as written by
native/dev/cuda_device_run.sh and the device command in NOTES-cuda.md).
"""
import json
import re
import sys
from pathlib import Path


def main():
    run, out = Path(sys.argv[1]), Path(sys.argv[2])
    ours = {}
    for line in (run / "harness.log").read_text().splitlines():
        m = re.match(r"(\w+)\s+(\d+)x(\d+)x(\d+)x(\d+)\s+(f32|f16)\s+(NCHW|NHWC)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)", line)
        if m:
            dt = "float32" if m.group(6) == "f32" else "float16"
            k = (m.group(1).lower(), *map(int, m.group(2, 3, 4, 5)), dt, m.group(7))
            ours[k] = tuple(map(float, m.group(8, 9, 10)))
    peers, meta, modes_seen = {}, None, set()
    for f in sorted(run.glob("peers*.jsonl")):
        for line in f.read_text().splitlines():
            r = json.loads(line)
            if "gpu" in r:
                meta = r
                continue
            if "us" not in r or r["mode"] == "copy":
                continue
            modes_seen.add(r["mode"])
            k = (r["op"], r["n"], r["c"], r["h"], r["w"], r["dtype"], r["layout"])
            p = peers.setdefault(k, {})
            p[r["mode"]] = (r["us"], r["ratio"])
    checks = ""
    if (run / "check.log").exists():
        m = re.search(r"checks: (\d+) passed, (\d+) failed", (run / "check.log").read_text())
        if m:
            checks = f"{m.group(1)} passed, {m.group(2)} failed"
    head = (run / "harness.log").read_text().splitlines()
    lines = [
        "# squeeze-excite CUDA kernels: harness timings and PyTorch peers",
        "",
        f"- GPU: {meta['gpu'] if meta else 'NVIDIA H100 80GB HBM3'} (132 SMs, 50 MB L2), driver 580.159.04; PyTorch {meta['torch'] if meta else '?'}",
        f"- date: {out.stem.split('-harness')[0][-10:]} (UTC); source: native/cuda/* as of this run, built with nvcc 13.0 -O3 -arch=sm_90",
        f"- correctness (same binary, same run): native/dev/cuda_check_bench check: {checks}",
        "- ours: cuda_benchmark (the addon's function): op µs = median of per-launch CUDA-event times over rotating input sets;"
        " graph µs = per-op time replaying the launches as a CUDA graph; copy µs = same-size D2D cudaMemcpy in the same call;"
        " ratio = op µs / copy µs (1.0 = one read + one write of x at copy speed).",
        "- PyTorch (bench/torch_peers.py, same shapes, NHWC = channels_last): eager and CUDA-graph replay for every row;"
        " torch.compile (inductor default) only for the batch-32/1 quick shapes in fp16 (compile time). Each peer time is per op,"
        " median over repetitions of a batch of calls over rotating inputs; its ratio is to the copy PyTorch timed in its own run.",
        "- settings: SE hidden = max(8, C/16), ReLU, sigmoid, biases; ECA k = 3 (C < 512) else 5; CBAM hidden = max(8, C/16), ReLU, sigmoid, 7×7 conv with bias.",
        "- speedup = PyTorch best / ours best (best = lower of per-launch and graph times on each side).",
        "",
        "| op | N,C,H,W | dtype | layout | ours µs | ours graph µs | copy µs | ratio | PyTorch best µs (mode) | PyTorch ratio | speedup |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    wins = total = 0
    for k, (op_us, g_us, c_us) in ours.items():
        p = peers.get(k, {})
        best = min(p.items(), key=lambda kv: kv[1][0]) if p else None
        ob = min(op_us, g_us)
        sp = ""
        if best:
            total += 1
            s = best[1][0] / ob
            wins += s > 1
            sp = f"{s:.2f}×"
        lines.append(
            f"| {k[0].upper()} | {k[1]},{k[2]},{k[3]},{k[4]} | {'fp32' if k[5] == 'float32' else 'fp16'} | {k[6]} | {op_us:.2f} | {g_us:.2f} | {c_us:.2f} | {op_us / c_us:.3f} | "
            + (f"{best[1][0]:.2f} ({best[0]}) | {best[1][1]:.3f} | {sp} |" if best else "– | – | – |")
        )
    lines += ["", f"Faster than PyTorch's best measured mode at {wins} of {total} rows.", ""]
    out.write_text("\n".join(lines))
    print(f"wrote {out}: {wins}/{total} rows faster than the best peer")


if __name__ == "__main__":
    main()
