#!/usr/bin/env python3
"""Output error of calibrated static activation scales against dynamic
scaling, on the bundled MoE block with activation outliers (--model moe) or
the bundled Llama block (--model llama).

For each preset (nvfp4: W4A4 NVFP4 with a static global activation scale;
fp8: FP8 weights and per-tensor FP8 activations) and each calibration
method (max, percentile, mse), fp4-calibrate runs the float block over the
calibration batches, fp4-quantize-pipeline emits static scales, fp4-compile
builds it, and fp4-run runs it on held-out batches. Dynamic scaling (no
calibration: each call measures its input) is the baseline. The error is
the relative L2 distance to the float program's outputs on the same
held-out batches.

Inputs: hidden states ~ N(0, 1) with outliers: two channels x10 in every
token (--outliers channels, as LLM activations have), or rare spikes (0.5%
of the values x10, --outliers spikes); calibration and evaluation use
different seeds.

Usage: python3 bench/calibration_error.py [--model moe|llama] [--batches 16]
       [--outliers channels|spikes]"""
import argparse
import os
import subprocess
import tempfile

import numpy as np


def run(*args):
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


def hidden_states(rng, batches, outlier_scale, outliers):
    x = rng.standard_normal((batches, 1, 8, 64)).astype(np.float32)
    if outliers == "channels":  # the same two channels in every token
        x[..., [3, 17]] *= outlier_scale
    else:  # rare spikes: 0.5% of the values, anywhere
        spikes = rng.random(x.shape) < 0.005
        x[spikes] *= outlier_scale
    return x


def write_samples(directory, arrays):
    """Saves batched arrays, one per argument, as NAME.input<i>.npy."""
    os.makedirs(directory)
    for i, array in enumerate(arrays):
        np.save(os.path.join(directory, f"batch.input{i}.npy"), array)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--build", default="build")
    parser.add_argument("--model", choices=["moe", "llama"], default="moe")
    parser.add_argument("--batches", type=int, default=16)
    parser.add_argument("--outlier-scale", type=float, default=10.0)
    parser.add_argument("--outliers", choices=["channels", "spikes"],
                        default="channels")
    args = parser.parse_args()
    tool = lambda name: os.path.join(args.build, "bin", name)
    with tempfile.TemporaryDirectory() as tmp:
        calib = os.path.join(tmp, "calib")
        if args.model == "moe":
            model = "test/Examples/models/moe_block.mlir"
            make = lambda seed: [hidden_states(np.random.default_rng(seed),
                                               args.batches, args.outlier_scale,
                                               args.outliers)]
            title = (f"MoE block, outliers: {args.outliers} "
                     f"x{args.outlier_scale:g}")
        else:
            # Token ids and empty caches; the block's own weights (Gaussian
            # with outlier channels) make the activations' outliers.
            model = "test/Examples/models/llama_block.mlir"
            caches = np.zeros((args.batches, 1, 4, 32, 16), np.float32)
            make = lambda seed: [
                np.random.default_rng(seed).integers(
                    0, 96, size=(args.batches, 1, 8)).astype(np.int64),
                caches, caches]
            title = "Llama block (logits), random token ids, empty caches"
        write_samples(calib, make(1))
        held_out = make(2)
        inputs = []
        for b in range(args.batches):
            paths = []
            for i, array in enumerate(held_out):
                path = os.path.join(tmp, f"eval{b}.input{i}.npy")
                np.save(path, array[b])
                paths += ["--input", path]
            inputs.append(paths)
        num_results = 1 if args.model == "moe" else 3

        def outputs(library):
            result = []
            for b, paths in enumerate(inputs):
                outs = [os.path.join(tmp, f"out{b}.{r}.npy")
                        for r in range(num_results)]
                run(tool("fp4-run"), library, *paths,
                    *[a for o in outs for a in ("--output", o)])
                result.append(np.load(outs[0]).astype(np.float64))
            return np.stack(result)

        float_lib = os.path.join(tmp, "float.so")
        run(tool("fp4-compile"), model, "-o", float_lib)
        reference = outputs(float_lib)

        def error(module, options):
            quantized = os.path.join(tmp, "q.mlir")
            run(tool("fp4-opt"), module, f"-fp4-quantize-pipeline={options}",
                "-o", quantized)
            library = os.path.join(tmp, "q.so")
            run(tool("fp4-compile"), quantized, "-o", library)
            y = outputs(library)
            return np.linalg.norm(y - reference) / np.linalg.norm(reference)

        print(f"{title}; {args.batches} calibration and {args.batches} "
              f"held-out batches of 8 tokens")
        columns = [("max", 0), ("percentile", 0), ("mse", 0), ("max", 0.5),
                   ("mse", 0.5)]
        print(f"{'preset':>8} {'dynamic':>9} " +
              " ".join(f"{m + (' +smooth' if a else ''):>12}" for m, a in columns))
        for preset in ["nvfp4", "fp8"]:
            row = [error(model, f"preset={preset}")]
            for method, alpha in columns:
                calibrated = os.path.join(tmp, f"cal-{method}-{alpha}.mlir")
                run(tool("fp4-calibrate"), model, "--data", calib,
                    "--preset", preset, "--method", method,
                    "--smooth-alpha", str(alpha), "-o", calibrated)
                row.append(error(calibrated, f"preset={preset}"))
            print(f"{preset:>8} {row[0]:9.4f} " +
                  " ".join(f"{e:12.4f}" for e in row[1:]))


if __name__ == "__main__":
    main()
