#!/usr/bin/env python3
"""A/B timing of W4A16 kernel builds on the GPU: the kernels of the same
name in two or more cubins (an old and a new build), each checked against a
float64 reference, then timed alternately, so that clock and thermal drift
fall on both alike. Only our kernels run: use
bench/gpu_decode.py for the competitors.

  python3 bench/gpu_ab.py OLD.cubin NEW.cubin [--only REGEX] [--rounds 30]

Kernels are matched by format and shape, so a build that gives a shape
another kernel (another kind in its name) is compared with the one before.
Gathered experts (..._G<T>E<E>x1x<N>x<K>_...: T rows, each against the
expert its index names among E) get random indices, one per row.
Each cubin's kernel is captured in a CUDA graph of calls (as
bench/gpu_decode.py); the graphs are then replayed in turn, --rounds times,
and one line per kernel gives each cubin's median and fastest microseconds
per call and the ratio of the first's median to each other's.
"""

import argparse
import ctypes
import os
import re
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(__file__))
from gpu_decode import CALLS, capture_graph, copies_for, current_stream, replay_us  # noqa: E402
from run_kernels import (W4A16_KIND, Driver, activation_map, decode, decode_launch,  # noqa: E402
                         memref, random_weights, relative_error)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("cubins", nargs="+")
    parser.add_argument("--only", default="")
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--min-k", type=int, default=4096)
    parser.add_argument("--mx-scales", default="",
                        help="LOW:HIGH, MXFP4 scale bytes LOW .. HIGH - 1 (default 119:136)")
    args = parser.parse_args()
    driver = Driver()
    modules, shapes = [], None
    pattern = (rb"fp4_(?:nvfp4|mxfp4)_w4a16" + W4A16_KIND.encode() +
               rb"?_(?:G\d+E\d+x)?\d+x\d+x\d+_bf16_bf16(?![_\w])")
    for path in args.cubins:
        image = open(path, "rb").read()
        modules.append(driver.load(image))
        # Format and shape -> this cubin's kernel of them.
        found = {re.sub("w4a16" + W4A16_KIND + "_", "w4a16_", raw.decode(), count=1): raw.decode()
                 for raw in re.findall(pattern, image)}
        shapes = ({s: [n] for s, n in found.items()} if shapes is None else
                  {s: names + [found[s]] for s, names in shapes.items() if s in found})
    mx_range = tuple(int(v) for v in args.mx_scales.split(":")) if args.mx_scales else None
    rng = np.random.default_rng(0)
    print(f"device: {torch.cuda.get_device_name()}; cubins: {' '.join(args.cubins)}")
    for shape_name, kernel_names in sorted(shapes.items()):
        fmt, rows, experts, m, n, k = re.match(
            r"fp4_(\w+?)_w4a16_(?:G(\d+)E(\d+)x)?(\d+)x(\d+)x(\d+)_", shape_name).groups()
        m, n, k = int(m), int(n), int(k)
        if k < args.min_k or not re.search(args.only, shape_name):
            continue
        # Gathered: T rows (grid z), each against expert indices[t] of E.
        batches, experts = (int(rows), int(experts)) if rows else (1, 1)
        data, scales, alpha, block, scale_decode = random_weights(rng, fmt, experts * n, k,
                                                                  mx_range=mx_range)
        x = torch.from_numpy(rng.standard_normal((batches * m, k))).to(torch.bfloat16).cuda()
        w_ref = torch.from_numpy(decode(data, scales, block, scale_decode) * float(alpha)).cuda()
        ids = rng.integers(0, experts, size=batches)
        indices = torch.from_numpy(ids.astype(np.int32)).cuda()
        reference = np.concatenate([
            (x[t * m:(t + 1) * m].double() @ w_ref[e * n:(e + 1) * n].double().t()).cpu().numpy()
            for t, e in enumerate(ids)])
        m_total = batches * m
        copies = copies_for(data.nbytes + scales.nbytes)
        wd = [torch.from_numpy(data.reshape(-1)).cuda() for _ in range(copies)]
        ws = [torch.from_numpy(scales.reshape(-1)).cuda() for _ in range(copies)]
        y = torch.empty(m_total * n, dtype=torch.bfloat16, device="cuda")
        params = [memref(x.reshape(-1)) + memref(wd[i]) + memref(ws[i]) +
                  [ctypes.c_float(alpha)] + (memref(indices) if rows else [])
                  for i in range(copies)]
        calls = 10 if 2.0 * m * n * k > 1e11 else CALLS
        runs = []
        for path, module, name in zip(args.cubins, modules, kernel_names):
            kind = re.match(r"fp4_\w+?_w4a16(" + W4A16_KIND + r")?_", name).group(1)
            grid, threads, shared = decode_launch(m, n, kind or "")
            grid = (grid[0], grid[1], batches)
            fn = driver.function(module, name, shared=shared)
            # Whether a weights-in-registers kernel loads x by TMA (and so
            # takes its tensor map) depends on the build (and format): the
            # kernel's parameter count says. (Those without take no
            # mbarriers either, and do not mind the shared bytes for them.)
            map_params, x_map = [], None
            if driver.parameter_count(fn) > len(params[0]) + len(memref(y)):
                map_params, x_map = activation_map(x, m, k, kind)
            tail = map_params + memref(y)

            def run(i, fn=fn, grid=grid, threads=threads, shared=shared, tail=tail, x_map=x_map):
                driver.enqueue(fn, grid, threads, params[i % copies] + tail, shared,
                               current_stream())

            y.fill_(float("nan"))  # poisoned
            run(0)
            torch.cuda.synchronize()
            error = relative_error(y.double().cpu().numpy().reshape(m_total, n), reference)
            status = "ok" if error < 4e-3 else "WRONG"
            print(f"{name} [{path}]: max |error| / max |ref| = {error:.2e} {status}")
            runs.append(run)
        graphs = [capture_graph(run, calls) for run in runs]
        times = [[] for _ in runs]
        for _ in range(args.rounds):
            for graph, samples in zip(graphs, times):
                samples.append(replay_us(graph) / calls)
        medians = [float(np.median(t)) for t in times]
        ratios = " ".join(f"{medians[0] / t:.3f}x" for t in medians[1:])
        print(f"{shape_name} ({', '.join(kernel_names)}): median " + " ".join(f"{t:9.2f}" for t in medians) +
              " us, min " + " ".join(f"{min(t):9.2f}" for t in times) +
              f" us  (first / others: {ratios})")


if __name__ == "__main__":
    main()
