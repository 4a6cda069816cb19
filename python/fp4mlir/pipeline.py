"""Quantizing, compiling and calibrating modules.

quantize_model, compile and calibrate run in process (fp4mlir._core: the
pass pipeline, and the drivers of fp4-compile and fp4-calibrate,
mlir::fp4::compileModule and calibrateModule).
"""

import json
import os
import shutil
import tempfile

import numpy as np

from ._core import Error, Module
from .library import Library


def load(path):
    """Parses an MLIR file into a Module."""
    with open(path, encoding="utf-8") as f:
        return Module.parse(f.read(), os.fspath(path))


def tools_dir():
    """Where the fp4-mlir tools (fp4-run, fp4-compile, ...) are, for running
    them beside the package (which itself runs none): $FP4MLIR_TOOLS_DIR,
    else the build this package came from, else the directory of
    fp4-compile on PATH."""
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
                   weight_block_scales=None, weight_fp8_scales=None, swizzle_scales=None,
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
        "weight-fp8-scales": weight_fp8_scales,
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
    scales, in process, as fp4-calibrate does (docs/calibration.md);
    `module` itself is left as it is.

    `inputs` holds one array per argument of `entry`, each either the
    argument's shape (one batch) or [S, *shape] (S batches). Returns the
    calibrated module (still float; quantize_model then emits static scales)
    and the statistics as a dict."""
    with tempfile.TemporaryDirectory(prefix="fp4mlir-") as tmp:
        stats = os.path.join(tmp, "stats.json")
        calibrated = module.calibrate(
            [np.ascontiguousarray(a) for a in inputs], entry=entry, preset=preset,
            method=method, percentile=99.99 if percentile is None else float(percentile),
            smooth_alpha=0.0 if smooth_alpha is None else float(smooth_alpha),
            write_stats=stats)
        with open(stats, encoding="utf-8") as f:
            statistics = json.load(f)
        return calibrated, statistics
