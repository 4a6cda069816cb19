#!/usr/bin/env bash
#===- utils/setup.sh - install, configure, build, run the main job --------===#
#
# The README's first command. On a fresh Debian 12 machine: installs LLVM/MLIR
# 22 and the build tools from Debian's packages (skipped when present), then
# configures and builds fp4-mlir with CMake + Ninja into build/ (or
# $FP4_BUILD_DIR) and runs the main job: quantizing the bundled MoE model.
#
#===----------------------------------------------------------------------===#
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${FP4_BUILD_DIR:-$ROOT/build}
LLVM_PREFIX=/usr/lib/llvm-22
# python3-dev, python3-numpy, python3-pytest and pybind11-dev: the fp4mlir
# Python package (python/) and its tests.
PACKAGES=(llvm-22-dev llvm-22-tools libmlir-22-dev mlir-22-tools
          cmake ninja-build g++ libgtest-dev python3 python3-dev
          python3-numpy python3-pytest python3-venv python3-setuptools
          python3-wheel pybind11-dev)

missing=()
for pkg in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y "${missing[@]}"
fi

# Debian's Python, whose numpy, pytest and headers the packages above
# installed (another python3 may come first on PATH); $FP4_PYTHON overrides.
PYTHON=${FP4_PYTHON:-$( [ -x /usr/bin/python3 ] && echo /usr/bin/python3 || command -v python3 )}

echo "== configuring $BUILD"
cmake -G Ninja -S "$ROOT" -B "$BUILD" \
  -DCMAKE_BUILD_TYPE=Release \
  -DPython3_EXECUTABLE="$PYTHON" \
  -DMLIR_DIR="$LLVM_PREFIX/lib/cmake/mlir" \
  -DLLVM_EXTERNAL_LIT="$LLVM_PREFIX/bin/lit"

echo "== building"
cmake --build "$BUILD" --target fp4-test-depends

echo "== main job: quantize the bundled MoE block (exported from PyTorch by"
echo "   torch-mlir) with the default policy and print the report"
MODELS="$ROOT/test/Examples/models"
"$BUILD/bin/fp4-opt" "$MODELS/moe_block.mlir" \
  -fp4-quantize-pipeline="preset=moe-fp4-fp8 report=-" -o "$BUILD/moe_block.fp4.mlir"
echo "== compile it for the CPU and run it on the example input"
"$BUILD/bin/fp4-compile" "$BUILD/moe_block.fp4.mlir" --target=cpu -o "$BUILD/moe_block.fp4.so"
echo "   shared library: $BUILD/moe_block.fp4.so"
"$BUILD/bin/fp4-run" "$BUILD/moe_block.fp4.mlir" \
  --input "$MODELS/Inputs/moe_block.input0.npy" --output "$BUILD/moe_block.fp4.out.npy"
echo "   output: $BUILD/moe_block.fp4.out.npy"
