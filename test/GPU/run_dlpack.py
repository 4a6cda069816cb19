#!/usr/bin/env python3
"""CUDA tensors given to a GPU library through fp4mlir.Library (DLPack).

Inputs/device_args.mlir is compiled for sm_90a and for the CPU. On the GPU
machine (torch with CUDA), each function is called with fresh random CUDA
tensors and with the same values as host arrays; the results must be equal
bit for bit (the same kernels run either way) and finite, with fresh device
buffers poisoned (FP4_GPU_POISON). The cases:

- @forward: its bf16 argument is only copied to the device by the host code
  (__fp4_device_args_forward = "1"), so the library reads the CUDA tensor
  in place; once with the tensor written on a side stream just before the
  call (the call must wait for that work);
- @forward_f32 and @forward_and_input: the host code reads the argument, so
  it is copied to the host first; @forward_and_input returns it;
- refusals: a non-contiguous tensor, a wrong element type, a CUDA tensor
  given to the CPU library.

Prints a PASS/FAIL line per check, the call times of both ways, then
"N passed, N failed".

  run_dlpack.py build --tools build/bin --out DIR   # here: fp4-compile
  run_dlpack.py run   --out DIR                     # on the GPU machine
  run_dlpack.py all   --tools build/bin --out DIR   # both (lit)
"""

import argparse
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SOURCE = os.path.join(ROOT, "test", "GPU", "Inputs", "device_args.mlir")


def build(tools, out):
    os.makedirs(out, exist_ok=True)
    for target in ("sm_90a", "cpu"):
        subprocess.run([os.path.join(tools, "fp4-compile"), SOURCE, f"--target={target}",
                        "-o", os.path.join(out, f"device_args.{target}.so")], check=True)
    print(f"built 2 libraries in {out}")


def run(out):
    os.environ["FP4_GPU_POISON"] = "1"  # read by the runtime at its first allocation
    sys.path.insert(0, os.path.join(ROOT, "python"))
    import numpy as np
    import torch
    from fp4mlir.library import Library

    gpu = Library(os.path.join(out, "device_args.sm_90a.so"))
    cpu = Library(os.path.join(out, "device_args.cpu.so"))
    from run_kernels import Checks
    check = Checks()

    def host(tensor, spec):
        """The tensor's values as the host array the library takes."""
        if tensor.dtype == torch.bfloat16:
            return tensor.cpu().view(torch.int16).numpy().view(spec.dtype)
        return tensor.cpu().numpy()

    def same(a, b):
        return a.shape == b.shape and a.tobytes() == b.tobytes()

    generator = torch.Generator(device="cuda").manual_seed(int(time.time()))
    forward = gpu.function("forward")
    check(forward.device_args == [True], f"forward's argument may be device memory: {forward.device_args}")
    for name in ("forward_f32", "forward_and_input"):
        flags = gpu.function(name).device_args
        check(flags == [False], f"{name}'s argument is read by the host: {flags}")

    # In place: the bf16 CUDA tensor goes to the kernel's device buffer.
    x = torch.randn(256, 128, device="cuda", generator=generator).to(torch.bfloat16)
    y_device, = forward(x)
    y_host, = forward(host(x, forward.args[0]))
    check(np.isfinite(y_device).all() and same(y_device, y_host),
          "forward: CUDA tensor in place == host array, bit for bit")

    # Written on a side stream right before the call, after a long matmul:
    # the call must see the finished values.
    side = torch.cuda.Stream()
    big = torch.randn(4096, 4096, device="cuda", generator=generator)
    with torch.cuda.stream(side):
        z = big @ big
        x2 = (z[:256, :128] * 1e-3).to(torch.bfloat16)
    y2_device, = forward(x2)
    torch.cuda.synchronize()
    y2_host, = forward(host(x2, forward.args[0]))
    check(np.isfinite(y2_device).all() and same(y2_device, y2_host),
          "forward: tensor written on a side stream just before the call")

    # Copied to the host: the f32 argument is rounded to bf16 on the CPU.
    f32 = gpu.function("forward_f32")
    xf = torch.randn(256, 128, device="cuda", generator=generator)
    a, = f32(xf)
    b, = f32(xf.cpu().numpy())
    check(np.isfinite(a).all() and same(a, b), "forward_f32: CUDA tensor copied to the host == host array")
    both = gpu.function("forward_and_input")
    y3, back = both(x)
    check(same(back, host(x, both.args[0])) and same(y3, y_host),
          "forward_and_input: the returned argument is the CUDA tensor's values")

    # Refusals, each with its reason.
    def refused(call, error, words, what):
        try:
            call()
        except error as e:
            check(all(w in str(e) for w in words), f"{what}: {type(e).__name__}: {e}")
            return
        check(False, f"{what}: not refused")

    wide = torch.randn(128, 256, device="cuda", generator=generator).to(torch.bfloat16)
    refused(lambda: forward(wide.t()), ValueError, ["not contiguous", "contiguous()"],
            "a transposed (non-contiguous) CUDA tensor")
    refused(lambda: forward(x.float()), ValueError, ["expected bf16:256x128", "f32"],
            "an f32 CUDA tensor for a bf16 argument")
    refused(lambda: cpu.function("forward")(x), TypeError, ["CPU library", "tensor.cpu()"],
            "a CUDA tensor given to the CPU library")

    # Call times (us), host array against CUDA tensor, for docs/python.md.
    def timed(call, arg, n=200):
        call(arg)
        torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(n):
            call(arg)
        return (time.perf_counter() - start) / n * 1e6

    xh = host(x, forward.args[0])
    print(f"time forward (bf16 256x128 -> f32 256x192): host array {timed(forward, xh):.1f} us, "
          f"CUDA tensor in place {timed(forward, x):.1f} us, "
          f"CUDA tensor -> cpu() -> call {timed(lambda t: forward(host(t, forward.args[0])), x):.1f} us")
    return check.summary()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["build", "run", "all"])
    parser.add_argument("--tools", default=os.path.join(ROOT, "build", "bin"))
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    if args.mode in ("build", "all"):
        build(args.tools, args.out)
    if args.mode in ("run", "all"):
        sys.exit(0 if run(args.out) else 1)


if __name__ == "__main__":
    main()
