#!/usr/bin/env python3
"""A whole compiled GPU library per call: weights resident against copied.

`fp4-compile --target=sm_90a -o model.so` keeps the weights on the device
after the first call (fp4gpuResidentBytes); `--resident-weights=false`
copies them to the device on every call, as activations are. This measures
what that saves, per call of the library through fp4mlir.Library (ctypes,
numpy in and out, the way a Python user calls it), on one linear layer
y = x W^T with NVFP4 weights (W4A16, f32 activations).

  gpu_library.py build --tools build/bin --out DIR [--k 4096 --n 4096]   # here
  gpu_library.py run --out DIR [--json FILE]                             # on the GPU

Floor per call: the weight bytes over the copy bandwidth (copied), or the
kernel plus the activation and result copies and one stream sync (resident).
Also checks that both libraries agree with the CPU library.
"""

import argparse
import datetime
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "python"))


def linear_model(k, n, seed=0):
    """A linear layer as torch-mlir exports it: transpose, zero fill, matmul."""
    import numpy as np

    w = np.random.default_rng(seed).standard_normal((n, k)).astype(np.float32) / np.sqrt(k)
    blob = (b"\x04\x00\x00\x00" + w.tobytes()).hex().upper()
    return f'''func.func @forward(%x: tensor<1x{k}xf32>) -> tensor<1x{n}xf32> {{
  %w = arith.constant {{fp4.param_name = "fc.weight"}} dense_resource<fc.weight> : tensor<{n}x{k}xf32>
  %zero = arith.constant 0.0 : f32
  %t = tensor.empty() : tensor<{k}x{n}xf32>
  %wt = linalg.transpose ins(%w : tensor<{n}x{k}xf32>) outs(%t : tensor<{k}x{n}xf32>) permutation = [1, 0]
  %e = tensor.empty() : tensor<1x{n}xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%e : tensor<1x{n}xf32>) -> tensor<1x{n}xf32>
  %y = linalg.matmul ins(%x, %wt : tensor<1x{k}xf32>, tensor<{k}x{n}xf32>) outs(%acc : tensor<1x{n}xf32>) -> tensor<1x{n}xf32>
  return %y : tensor<1x{n}xf32>
}}

{{-#
  dialect_resources: {{
    builtin: {{
      fc.weight: "0x{blob}"
    }}
  }}
#-}}
'''


def build(tools, out, k, n):
    os.makedirs(out, exist_ok=True)
    source = os.path.join(out, "linear.mlir")
    with open(source, "w") as f:
        f.write(linear_model(k, n))
    compile_ = os.path.join(tools, "fp4-compile")
    quantize = ["--quantize", "preset=nvfp4-weight-only"]
    for name, extra in [("resident", []), ("copied", ["--resident-weights=false"])]:
        subprocess.run([compile_, source, "--target=sm_90a", *quantize, *extra,
                        "-o", os.path.join(out, f"linear.{name}.so")], check=True)
    subprocess.run([compile_, source, "--target=cpu", *quantize,
                    "-o", os.path.join(out, "linear.cpu.so")], check=True)
    os.remove(source)
    with open(os.path.join(out, "shape.json"), "w") as f:
        json.dump({"k": k, "n": n}, f)
    print(f"built the 1x{k}x{n} libraries in {out}")


def per_call_us(function, x, calls):
    function(x)  # first call: module load, resident copies
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(calls):
            function(x)
        best = min(best, (time.perf_counter() - start) / calls)
    return best * 1e6


def run(out, json_path):
    import numpy as np
    from fp4mlir.library import Library  # ctypes only: no native module needed

    shape = json.load(open(os.path.join(out, "shape.json")))
    k, n = shape["k"], shape["n"]
    x = np.random.default_rng(1).standard_normal((1, k)).astype(np.float32)
    libraries = {name: Library(os.path.join(out, f"linear.{name}.so"))
                 for name in ("resident", "copied", "cpu")}
    outputs = {name: lib(x)[0].astype(np.float64) for name, lib in libraries.items()}
    ref = outputs["cpu"]
    for name in ("resident", "copied"):
        rel = np.linalg.norm(outputs[name] - ref) / np.linalg.norm(ref)
        status = "PASS" if rel < 1e-5 and np.isfinite(outputs[name]).all() else "FAIL"
        print(f"{status} {name} library against the CPU library: relative difference {rel:.2e}")
    times = {name: per_call_us(libraries[name], x, 50) for name in ("resident", "copied")}
    weight_bytes = n * k // 2 + n * k // 16
    record = {
        "shape": f"1x{k}x{n}", "format": "nvfp4 W4A16 (f32 activations)",
        "resident_us": round(times["resident"], 2), "copied_us": round(times["copied"], 2),
        "copied_over_resident": round(times["copied"] / times["resident"], 2),
        "weight_bytes": weight_bytes,
        "copy_GBps_implied": round(weight_bytes / ((times["copied"] - times["resident"]) * 1e-6) / 1e9, 2),
        "date": datetime.date.today().isoformat(),
    }
    try:
        import torch

        record["device"] = torch.cuda.get_device_name(0)
    except Exception:  # noqa: BLE001 - the device name is informational
        record["device"] = "unknown"
    print(f"per call through fp4mlir.Library, 1x{k}x{n}: resident {times['resident']:.1f} us, "
          f"copied {times['copied']:.1f} us ({record['copied_over_resident']:.1f}x); "
          f"{weight_bytes} weight bytes, implied copy rate {record['copy_GBps_implied']} GB/s")
    if json_path:
        with open(json_path, "w") as f:
            json.dump([record], f, indent=1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["build", "run"])
    parser.add_argument("--tools", default=os.path.join(HERE, "..", "build", "bin"))
    parser.add_argument("--out", required=True)
    parser.add_argument("--k", type=int, default=4096)
    parser.add_argument("--n", type=int, default=4096)
    parser.add_argument("--json")
    options = parser.parse_args()
    if options.mode == "build":
        build(options.tools, options.out, options.k, options.n)
    else:
        run(options.out, options.json)


if __name__ == "__main__":
    main()
