#!/usr/bin/env python3
"""The bundled models end to end on the GPU, against the CPU path.

Each case is a bundled model under a quantization preset (or a model
already quantized), compiled twice by
fp4-compile: for sm_90a (the FP4 matmuls run as GPU kernels; what they cannot
take, such as FP8 layers, stays on the CPU) and for the CPU. Both libraries
are run by fp4-run on the model's bundled inputs, the GPU one with
FP4_GPU_POISON set (fresh device buffers full of NaN), and their outputs are
compared: they compute the same quantized program, so they agree up to f32
summation order (and, where activations are quantized again downstream, a
rare rounding step).

  run_models.py build --tools build/bin --out DIR   # here: fp4-compile
  run_models.py run   --tools build/bin --out DIR   # on the GPU machine
  run_models.py all   --tools build/bin --out DIR   # both (lit)

Prints a PASS/FAIL line per case and output, one per GPU library for its
memory (peak RSS after 10 and 5000 calls: no per-call leak), then
"N passed, N failed".
"""

import argparse
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODELS = os.path.join(ROOT, "test", "Examples", "models")
GPU_INPUTS = os.path.join(ROOT, "test", "GPU", "Inputs")


def inputs(name, count):
    return [os.path.join(MODELS, "Inputs", f"{name}.input{i}.npy") for i in range(count)]


# name, model, preset, inputs, outputs, largest relative L2 difference.
# W4A16: only the summation order differs. W4A4 / FP8: activations are
# quantized on the CPU in both programs, but a later quantization step may
# round one element the other way.
CASES = [
    ("moe-nvfp4-w4a16", "moe_block.mlir", "preset=nvfp4-weight-only", inputs("moe_block", 1), 1, 1e-5),
    ("moe-per-expert-nvfp4-w4a16", "moe_block_per_expert.mlir", "preset=nvfp4-weight-only", inputs("moe_block", 1), 1, 1e-5),
    ("moe-fp4-fp8", "moe_block.mlir", "preset=moe-fp4-fp8", inputs("moe_block", 1), 1, 1e-3),
    ("moe-mxfp4", "moe_block.mlir", "preset=mxfp4", inputs("moe_block", 1), 1, 1e-3),
    ("llama-nvfp4-w4a16", "llama_block.mlir", "preset=nvfp4-weight-only", inputs("llama_block", 3), 3, 1e-5),
    ("llama-nvfp4", "llama_block.mlir", "preset=nvfp4", inputs("llama_block", 3), 3, 1e-3),
    # Already quantized (no preset): bf16 activations on the prefill kernel.
    ("bf16-prefill-linear", os.path.join(GPU_INPUTS, "bf16_prefill_linear.mlir"), "",
     [os.path.join(GPU_INPUTS, "bf16_prefill_linear.input0.npy")], 1, 1e-5),
    # nn.Linear with a bias (folded into the matmul): the decode kernel
    # (W4A16) and the W4A4 kernel add it in their epilogues.
    ("linear-bias-nvfp4-w4a16", os.path.join(GPU_INPUTS, "linear_bias.mlir"), "preset=nvfp4-weight-only",
     [os.path.join(GPU_INPUTS, "linear_bias.input0.npy")], 1, 1e-5),
    ("linear-bias-mxfp4", os.path.join(GPU_INPUTS, "linear_bias.mlir"), "preset=mxfp4",
     [os.path.join(GPU_INPUTS, "linear_bias.input0.npy")], 1, 1e-3),
    # W4A8: MXFP8 activations (quantized on the host) x MXFP4 weights.
    ("linear-bias-mxfp4-mxfp8", os.path.join(GPU_INPUTS, "linear_bias.mlir"), "preset=mxfp4-mxfp8",
     [os.path.join(GPU_INPUTS, "linear_bias.input0.npy")], 1, 1e-3),
    # Routed experts (fp4.gathered_matmul): the gathered decode kernel.
    ("gathered-experts-nvfp4-w4a16", os.path.join(GPU_INPUTS, "gathered_experts.mlir"), "preset=nvfp4-weight-only",
     [os.path.join(GPU_INPUTS, f"gathered_experts.input{i}.npy") for i in range(2)], 1, 1e-5),
    # Routed experts exported from PyTorch (W[ids] + bmm, fused into
    # fp4.gathered_matmul): gate_up on the gathered decode kernel, down_proj
    # (K = 32) on the CPU.
    ("routed-experts-nvfp4-w4a16", "routed_experts.mlir", "preset=nvfp4-weight-only",
     inputs("routed_experts", 2), 1, 1e-5),
    # The block around them: the router's top-2 ids computed on the CPU.
    ("routed-moe-block-nvfp4-w4a16", "routed_moe_block.mlir", "preset=nvfp4-weight-only",
     inputs("routed_moe_block", 1), 1, 1e-5),
]


def build(tools, out):
    os.makedirs(out, exist_ok=True)
    for name, model, preset, _, _, _ in CASES:
        for target in ("sm_90a", "cpu"):
            lib = os.path.join(out, f"{name}.{target}.so")
            quantize = ["--quantize", preset] if preset else []
            subprocess.run([os.path.join(tools, "fp4-compile"), os.path.join(MODELS, model),
                            f"--target={target}", *quantize, "-o", lib],
                           check=True)
    print(f"built {2 * len(CASES)} libraries in {out}")


def run(tools, out):
    import numpy as np  # on the GPU machine (with torch); not needed to build

    passed = failed = 0
    # Fresh device buffers full of NaN; freed host memory overwritten (glibc),
    # so that a buffer freed while still in use shows in the outputs.
    env = dict(os.environ, FP4_GPU_POISON="1", MALLOC_PERTURB_="165")
    for name, _, _, args, count, bound in CASES:
        results = {}
        for target in ("sm_90a", "cpu"):
            files = [os.path.join(out, f"{name}.{target}.out{i}.npy") for i in range(count)]
            for f in files:
                if os.path.exists(f):
                    os.remove(f)
            command = [os.path.join(tools, "fp4-run"), os.path.join(out, f"{name}.{target}.so")]
            for a in args:
                command += ["--input", a]
            for f in files:
                command += ["--output", f]
            run = subprocess.run(command + ["--repeat", "3"], env=env, capture_output=True, text=True)
            timing = [l for l in run.stderr.splitlines() if " ran in " in l]
            if run.returncode != 0:
                print(f"FAIL {name} {target}: fp4-run exited {run.returncode}\n{run.stderr}")
                results = None
                break
            results[target] = ([np.load(f).astype(np.float64) for f in files],
                               timing[0].split(" ran in ")[1] if timing else "?")
        if results is None:
            failed += 1
            continue
        gpu, gpu_time = results["sm_90a"]
        cpu, cpu_time = results["cpu"]
        for i, (g, c) in enumerate(zip(gpu, cpu)):
            finite = bool(np.isfinite(g).all())
            rel = float(np.linalg.norm(g - c) / max(np.linalg.norm(c), 1e-30))
            ok = finite and g.shape == c.shape and rel <= bound
            passed += ok
            failed += not ok
            print(f"{'PASS' if ok else 'FAIL'} {name} output {i} {list(g.shape)}: "
                  f"relative difference {rel:.2e} (bound {bound:.0e})"
                  f"{'' if finite else ', NOT FINITE'}; gpu {gpu_time}, cpu {cpu_time}")
    # Memory: a GPU library called in a loop keeps its host memory flat
    # (fp4-free-host-buffers). Peak RSS of 10 calls against LEAK_CALLS.
    for name, _, _, args, _, _ in CASES:
        lib = os.path.join(out, f"{name}.sm_90a.so")
        small, large = (peak_rss_kb(tools, lib, args, n) for n in (10, LEAK_CALLS))
        ok = small is not None and large is not None and large - small <= LEAK_BOUND_KB
        passed += ok
        failed += not ok
        print(f"{'PASS' if ok else 'FAIL'} {name} memory: max RSS {small} KB after 10 calls, "
              f"{large} KB after {LEAK_CALLS} (bound +{LEAK_BOUND_KB} KB)")
    print(f"{passed} passed, {failed} failed")
    return failed == 0


LEAK_CALLS = 5000
LEAK_BOUND_KB = 2 * 1024  # about 400 bytes per call


def peak_rss_kb(tools, lib, args, calls):
    """The peak resident memory (KB) of fp4-run calling `lib` `calls` times,
    or None if it failed."""
    command = [os.path.join(tools, "fp4-run"), lib, "--repeat", str(calls)]
    for a in args:
        command += ["--input", a]
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    return usage.ru_maxrss if os.waitstatus_to_exitcode(status) == 0 else None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["build", "run", "all"])
    parser.add_argument("--tools", required=True, help="directory of fp4-compile and fp4-run")
    parser.add_argument("--out", required=True, help="directory of the libraries and outputs")
    options = parser.parse_args()
    if options.mode in ("build", "all"):
        build(options.tools, options.out)
    if options.mode in ("run", "all"):
        sys.exit(0 if run(options.tools, options.out) else 1)


if __name__ == "__main__":
    main()
