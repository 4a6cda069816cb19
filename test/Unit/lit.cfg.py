# -*- Python -*-
# lit configuration for the fp4-mlir C++ unit tests (GoogleTest binaries).

import os

import lit.formats

config.name = "FP4-Unit"
config.suffixes = []
config.test_source_root = os.path.join(config.fp4_obj_root, "unittests")
config.test_exec_root = config.test_source_root
config.test_format = lit.formats.GoogleTest(".", "Tests")
