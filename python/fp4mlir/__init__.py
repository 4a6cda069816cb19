"""fp4mlir: FP4 quantization as an MLIR compiler, from Python.

    import fp4mlir
    module = fp4mlir.load("model.mlir")                 # or Module.parse(text)
    report = fp4mlir.quantize_model(module, preset="nvfp4")
    library = fp4mlir.compile(module, "model.so")       # target="sm_90a" for the GPU
    logits, = library(x)                                 # numpy in, numpy out

    q = fp4mlir.quantize(weights, "nvfp4")               # the exact numerics
    w = q.dequantize()

Modules, pipelines, compiling and the numerics are native (fp4mlir._core);
calibrating runs the project's fp4-calibrate tool; a
compiled library is called through ctypes and needs neither LLVM nor the
native module: where _core cannot load (a GPU machine without LLVM),
`fp4mlir.Library` still works. docs/python.md is the guide.
"""

from .library import Library

try:
    from ._core import Diagnostic, Error, Module, QuantizedArray, dequantize, quantize
    from .pipeline import calibrate, compile, load, quantize_model, tools_dir
    from . import pytorch
except ImportError as _error:  # no native module here (or no libMLIR.so)
    _native_error = _error

    def __getattr__(name):
        raise ImportError(
            f"fp4mlir.{name} needs the native module fp4mlir._core, which did "
            f"not load ({_native_error}); fp4mlir.Library works without it")

__all__ = [
    "Diagnostic",
    "Error",
    "Library",
    "Module",
    "QuantizedArray",
    "calibrate",
    "compile",
    "dequantize",
    "load",
    "quantize",
    "quantize_model",
    "tools_dir",
]
