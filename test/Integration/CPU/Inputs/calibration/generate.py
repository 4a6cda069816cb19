#!/usr/bin/env python3
"""Writes the calibration inputs of test/Integration/CPU/calibration.test
(numpy only; deterministic).

moe/batch.npy: 4 batches of hidden states [1, 8, 64] ~ N(0, 1) with two
outlier channels (x10) in every token. llama/s0.input{0,1,2}.npy: 2 batches
of 8 token ids (vocabulary 96) and empty (zero) K and V caches. bad/: a
wrongly shaped file and one with a NaN."""
import os

import numpy as np

here = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(7)
x = rng.standard_normal((4, 1, 8, 64)).astype(np.float32)
x[..., [3, 17]] *= 10
np.save(os.path.join(here, "moe", "batch.npy"), x)
np.save(os.path.join(here, "llama", "s0.input0.npy"),
        rng.integers(0, 96, size=(2, 1, 8)).astype(np.int64))
for i in (1, 2):
    np.save(os.path.join(here, "llama", f"s0.input{i}.npy"),
            np.zeros((2, 1, 4, 32, 16), np.float32))
np.save(os.path.join(here, "bad", "shape.npy"), np.zeros((1, 8, 32), np.float32))
nan = np.zeros((1, 8, 64), np.float32)
nan[0, 2, 5] = np.nan
np.save(os.path.join(here, "bad", "nan.npy"), nan)
