"""pip install ./python: installs the fp4mlir package the CMake build
assembled in build/python_packages/fp4mlir (the native module _core is built
with the project; docs/python.md). $FP4MLIR_BUILD_DIR names another build
directory."""

import os
import shutil

from setuptools import setup
from setuptools.dist import Distribution

here = os.path.dirname(os.path.abspath(__file__))
build = os.environ.get("FP4MLIR_BUILD_DIR", os.path.join(here, "..", "build"))
package = os.path.join(build, "python_packages", "fp4mlir")
if not os.path.isdir(package) or not any(f.startswith("_core") for f in os.listdir(package)):
    raise SystemExit(
        f"no built fp4mlir package in {package}: build the project first "
        "(utils/setup.sh), or set FP4MLIR_BUILD_DIR")
# setuptools takes package directories below this one: stage a copy.
staged = os.path.join(here, "_staged", "fp4mlir")
shutil.rmtree(staged, ignore_errors=True)
shutil.copytree(package, staged)


class BinaryDistribution(Distribution):
    """The package holds a native module: a platform wheel."""

    def has_ext_modules(self):
        return True


setup(
    name="fp4mlir",
    version="0.1.0",
    description="FP4 quantization as an MLIR compiler: Python bindings",
    packages=["fp4mlir"],
    package_dir={"fp4mlir": "_staged/fp4mlir"},
    package_data={"fp4mlir": ["_core*.so", "*.pyi", "py.typed"]},
    install_requires=["numpy"],
    extras_require={"torch": ["torch", "torch-mlir"], "bf16": ["ml_dtypes"]},
    python_requires=">=3.9",
    distclass=BinaryDistribution,
    zip_safe=False,
)
