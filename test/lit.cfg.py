# -*- Python -*-
# lit configuration for the fp4-mlir regression tests (FileCheck based).

import os

import lit.formats
from lit.llvm import llvm_config
from lit.llvm.subst import ToolSubst

config.name = "FP4"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir", ".test"]
config.excludes = ["Unit", "Inputs", "golden", "CMakeLists.txt", "lit.cfg.py",
                   "lit.site.cfg.py", "generate.py"]

config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.fp4_obj_root, "test")

config.substitutions.append(("%PATH%", config.environment["PATH"]))
config.substitutions.append(("%fp4_src_root", config.fp4_src_root))
config.substitutions.append(("%fp4_obj_root", config.fp4_obj_root))
config.substitutions.append(("%python", config.python_executable))
lib_dir = os.path.join(os.path.dirname(config.llvm_tools_dir), "lib")
config.substitutions.append(("%mlir_runner_utils", os.path.join(lib_dir, "libmlir_runner_utils.so")))
config.substitutions.append(("%mlir_c_runner_utils", os.path.join(lib_dir, "libmlir_c_runner_utils.so")))

llvm_config.with_system_environment(["HOME", "INCLUDE", "LIB", "TMP", "TEMP"])
llvm_config.use_default_substitutions()

tool_dirs = [config.fp4_tools_dir, config.llvm_tools_dir]
tools = [ToolSubst("fp4-opt", unresolved="fatal"),
         ToolSubst("mlir-runner", unresolved="fatal"),
         ToolSubst("fp4-run", unresolved="fatal"),
         ToolSubst("fp4-compile", unresolved="fatal"),
         ToolSubst("fp4-quant", unresolved="fatal"),
         ToolSubst("fp4-calibrate", unresolved="fatal"),
         ToolSubst("fp4-capi-test", unresolved="fatal")]
llvm_config.add_tool_substitutions(tools, tool_dirs)
# The stock mlir-opt of the LLVM/MLIR installation and the fp4 plugin for it.
config.substitutions.append(("%stock_mlir_opt", os.path.join(config.llvm_tools_dir, "mlir-opt")))
config.substitutions.append(("%fp4_plugin", os.path.join(config.fp4_obj_root, "lib", "FP4Plugin.so")))
llvm_config.with_environment("PATH", config.llvm_tools_dir, append_path=True)
llvm_config.with_environment("PATH", config.fp4_tools_dir, append_path=True)

# ptxas (CUDA 12.8 or later, for sm_100a / sm_120a): the GPU acceptance tests
# need it and are reported as unsupported without it. FP4_PTXAS, PATH, then
# the CUDA toolkit's default place, as fp4-compile looks.
import shutil
ptxas = os.environ.get("FP4_PTXAS") or shutil.which("ptxas")
if not ptxas and os.path.exists("/usr/local/cuda/bin/ptxas"):
    ptxas = "/usr/local/cuda/bin/ptxas"
if ptxas:
    config.available_features.add("ptxas")
    config.environment["FP4_PTXAS"] = ptxas
    config.substitutions.append(("%ptxas", ptxas))

# The Python package, built where pybind11 and the Python headers are.
import glob
if glob.glob(os.path.join(config.fp4_obj_root, "python_packages", "fp4mlir", "_core*.so")):
    config.available_features.add("python-bindings")

# The GPU runtime's test program is built where the CUDA toolkit is.
if os.path.exists(os.path.join(config.fp4_tools_dir, "fp4-gpu-runtime-test")):
    config.available_features.add("gpu-runtime")
    llvm_config.add_tool_substitutions(
        [ToolSubst("fp4-gpu-runtime-test", unresolved="fatal")], [config.fp4_tools_dir])

# A CUDA GPU that torch can use: the GPU tests need it and are reported as
# unsupported without it.
import subprocess
try:
    probe = subprocess.run(
        [config.python_executable, "-c",
         "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"],
        capture_output=True, timeout=120)
    if probe.returncode == 0:
        config.available_features.add("cuda-gpu")
except (OSError, subprocess.TimeoutExpired):
    pass
