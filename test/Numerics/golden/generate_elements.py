#!/usr/bin/env python3
"""Golden vectors for the element casts, produced by ml_dtypes' own code.

Inputs: every bfloat16 bit pattern widened to float32 (all exponents, every
rounding tie of formats with up to 6 mantissa bits, both zeros, Inf and NaN),
then extra float32 values: NaNs with payloads and both signs, values one ulp
either side of each format's largest finite value and rounding midpoints, and
random float32 values. Outputs: the code ml_dtypes produces for each input.

Run: python3 generate_elements.py OUTDIR   (needs numpy and ml_dtypes)
Writes elements_inputs.npy (float32) and elements_<format>.npy (uint8).
"""
import sys
import numpy as np
import ml_dtypes as md

out = sys.argv[1] if len(sys.argv) > 1 else "."

bf16_sweep = (np.arange(65536, dtype=np.uint32) << 16).view(np.float32)

extra_bits = [0x7FC00000, 0xFFC00000, 0x7F800001, 0xFF800001, 0x7FFFFFFF,
              0x00000001, 0x80000001, 0x007FFFFF, 0x00400000, 0x00600000]
extra = list(np.array(extra_bits, dtype=np.uint32).view(np.float32))
for edge in [6.0, 5.0, 3.5, 2.5, 1.75, 1.25, 0.75, 0.25, 448.0, 464.0, 480.0,
             57344.0, 61440.0, 2.0**-9, 2.0**-10, 2.0**-16, 2.0**-17,
             2.0**127, 2.0**-127, 1.5 * 2.0**127, 3.0, 0.375]:
    for sign in (1.0, -1.0):
        v = np.float32(sign * edge)
        extra += [v, np.nextafter(v, np.float32(np.inf)),
                  np.nextafter(v, np.float32(-np.inf))]
rng = np.random.default_rng(20261122)
random_bits = rng.integers(0, 2**32, size=8192, dtype=np.uint64).astype(np.uint32)
extra += list(random_bits.view(np.float32))
extra += list(rng.standard_normal(4096).astype(np.float32) * np.float32(4))

inputs = np.concatenate([bf16_sweep, np.array(extra, dtype=np.float32)])
np.save(f"{out}/elements_inputs.npy", inputs)
for name, dtype in [("e2m1", md.float4_e2m1fn), ("e4m3", md.float8_e4m3fn),
                    ("e5m2", md.float8_e5m2), ("ue8m0", md.float8_e8m0fnu)]:
    with np.errstate(all="ignore"):
        codes = inputs.astype(dtype).view(np.uint8)
    np.save(f"{out}/elements_{name}.npy", np.ascontiguousarray(codes))
print(f"{len(inputs)} inputs, ml_dtypes {md.__version__}")
