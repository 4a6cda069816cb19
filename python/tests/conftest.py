"""Shared paths for the fp4mlir tests (run by test/Python/python.test)."""

import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODELS = os.path.join(ROOT, "test", "Examples", "models")
GOLDEN = os.path.join(ROOT, "test", "Numerics", "golden")


@pytest.fixture
def moe_path():
    return os.path.join(MODELS, "moe_block.mlir")
