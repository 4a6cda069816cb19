"""Quantizing, compiling and calibrating modules.

quantize_model and compile run in process (fp4mlir._core: the pass
pipeline, and fp4-compile's driver, mlir::fp4::compileModule); calibrate
runs the project's fp4-calibrate tool on a temporary copy of the module.
"""

import json
import os
import shutil
import subprocess
import tempfile

import numpy as np

from ._core import Error, Module
from .library import Library


def load(path):
    """Parses an MLIR file into a Module."""
    with open(path, encoding="utf-8") as f:
        return Module.parse(f.read(), os.fspath(path))


def tools_dir():
    """Where fp4-compile and fp4-calibrate are: $FP4MLIR_TOOLS_DIR, else the
    build this package came from, else the directory of fp4-compile on PATH."""
    candidates = [os.environ.get("FP4MLIR_TOOLS_DIR")]
    try:
        from . import _config

        candidates.append(_config.TOOLS_DIR)
    except ImportError:  # pragma: no cover - a package without _config
        pass
    found = shutil.which("fp4-compile")
    candidates.append(os.path.dirname(found) if found else None)
    for directory in candidates:
        if directory and os.path.exists(os.path.join(directory, "fp4-compile")):
            return directory
    raise Error("cannot find fp4-compile: set FP4MLIR_TOOLS_DIR to the "
                "directory of the fp4-mlir tools (build/bin)")


def _run_tool(tool, args):
    command = [os.path.join(tools_dir(), tool)] + [str(a) for a in args]
    run = subprocess.run(command, capture_output=True, text=True)
    if run.returncode != 0:
        raise Error(f"{tool} failed (exit {run.returncode}):\n{run.stderr.strip()}")
    return run


def _write_module(module, directory):
    """The module as a file for a tool, in the generic form (which every
    registered dialect round-trips)."""
    path = os.path.join(directory, "module.mlir")
    with open(path, "w", encoding="utf-8") as f:
        f.write(module.to_string(generic=True))
    return path


def _option(value):
    """A pass option's value as the pipeline parser reads it: strings in
    double quotes (paths may hold spaces or braces)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    text = str(value)
    if '"' in text:
        raise Error(f"a pass option value cannot contain '\"': {text}")
    return f'"{text}"'


def quantize_model(module, preset=None, *, policy=None, kv_cache=None,
                   calibration=None, calibration_method=None, percentile=None,
                   weight_block_scales=None, swizzle_scales=None,
                   smooth_alpha=None, smooth_fold_into_weights=None):
    """Rewrites `module` in place into mixed FP4/FP8 (fp4-quantize-pipeline)
    and returns the quantization report as a dict (docs/policy.md).
    `smooth_alpha` smooths first (fp4-smooth) from the channel maxima of
    `calibration`; with the max method the float model's statistics then
    give the smoothed model's static scales (docs/calibration.md)."""
    options = {
        "preset": preset, "policy": policy, "kv-cache": kv_cache,
        "calibration": calibration, "calibration-method": calibration_method,
        "percentile": percentile, "weight-block-scales": weight_block_scales,
        "swizzle-scales": swizzle_scales, "smooth-alpha": smooth_alpha,
        "smooth-fold-into-weights": smooth_fold_into_weights,
    }
    with tempfile.TemporaryDirectory(prefix="fp4mlir-") as tmp:
        report = os.path.join(tmp, "report.json")
        text = " ".join(f"{k}={_option(v)}" for k, v in options.items() if v is not None)
        module.run_pipeline(f"fp4-quantize-pipeline{{{text} report={_option(report)}}}")
        # The file holds the JSON report, then the same as a table.
        with open(report, encoding="utf-8") as f:
            return json.JSONDecoder().raw_decode(f.read())[0]


def compile(module, output, *, target="cpu", quantize=None, emit="so",
            resident_weights=True):
    """Compiles `module` as fp4-compile does, in process (target "cpu",
    "sm_90a", "sm_100a" or "sm_120a"); `module` itself is left as it is.
    `quantize` runs fp4-quantize-pipeline first with these options (a string
    such as "preset=nvfp4-weight-only", or a dict). Returns a Library for
    emit="so", else the output path. A failure raises Error with the
    reason and the located diagnostics."""
    if isinstance(quantize, dict):
        quantize = " ".join(f"{k}={_option(v)}" for k, v in quantize.items())
    module.compile(os.fspath(output), target=target, emit=emit,
                   quantize=quantize, resident_weights=resident_weights)
    return Library(output) if emit == "so" else os.fspath(output)


def calibrate(module, inputs, *, preset="moe-fp4-fp8", method="max",
              percentile=None, smooth_alpha=None, entry="forward"):
    """Runs the float `module` on calibration batches and records static
    scales (fp4-calibrate; docs/calibration.md).

    `inputs` holds one array per argument of `entry`, each either the
    argument's shape (one batch) or [S, *shape] (S batches). Returns the
    calibrated module (still float; quantize_model then emits static scales)
    and the statistics as a dict."""
    with tempfile.TemporaryDirectory(prefix="fp4mlir-") as tmp:
        source = _write_module(module, tmp)
        stats = os.path.join(tmp, "stats.json")
        output = os.path.join(tmp, "calibrated.mlir")
        args = [source, "--entry", entry, "--preset", preset, "--method", method,
                "--write-stats", stats, "-o", output]
        if percentile is not None:
            args += ["--percentile", percentile]
        if smooth_alpha is not None:
            args += ["--smooth-alpha", smooth_alpha]
        for i, array in enumerate(inputs):
            path = os.path.join(tmp, f"input{i}.npy")
            np.save(path, np.ascontiguousarray(array))
            args += ["--input", path]
        _run_tool("fp4-calibrate", args)
        with open(stats, encoding="utf-8") as f:
            statistics = json.load(f)
        return load(output), statistics
