//===- gpu-runtime-test.cpp - the GPU runtime on a compiled kernel --------===//
//
// Part of fp4-mlir. Runs on a machine with a CUDA GPU; needs no torch, no
// LLVM: the GPU runtime (lib/Runtime/GPURuntime.cpp) loads the cubin that
// fp4-compile made from Inputs/w4a16.mlir, launches the W4A16 decode kernel
// fp4_nvfp4_w4a16mv_3x40x128_bf16_f32 the way the compiled host code does
// (mgpu* calls; memref<?xT> arguments as MLIR descriptors), on random codes,
// scales and activations, the output poisoned with NaN first, and compares
// with a float64 reference. Then checks that errors are reported, not
// fatal: a missing kernel and a bad module.
//
//   fp4-gpu-runtime-test w4a16.cubin
//
//===----------------------------------------------------------------------===//

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <random>
#include <vector>

extern "C" {
void *mgpuModuleLoad(void *data, size_t size);
void mgpuModuleUnload(void *module);
void *mgpuModuleGetFunction(void *module, const char *name);
void mgpuLaunchKernel(void *function, intptr_t gx, intptr_t gy, intptr_t gz,
                      intptr_t bx, intptr_t by, intptr_t bz, int32_t smem,
                      void *stream, void **params, void **extra,
                      size_t count);
void *mgpuStreamCreate();
void mgpuStreamDestroy(void *stream);
void mgpuStreamSynchronize(void *stream);
void *mgpuMemAlloc(uint64_t bytes, void *stream, bool hostShared);
void mgpuMemFree(void *pointer, void *stream);
void mgpuMemcpy(void *dst, void *src, size_t bytes, void *stream);
void mgpuMemset32(void *dst, unsigned value, size_t count, void *stream);
const char *fp4gpuLastError();
void fp4gpuClearError();
}

namespace {

constexpr int M = 3, N = 40, K = 128;
const double kE2M1[16] = {0, 0.5, 1, 1.5, 2, 3, 4, 6,
                          -0.0, -0.5, -1, -1.5, -2, -3, -4, -6};

double ue4m3(uint8_t byte) {
  int e = (byte >> 3) & 15, m = byte & 7;
  return e == 0 ? m * std::ldexp(1.0, -9) : (1 + m / 8.0) * std::ldexp(1.0, e - 7);
}

uint16_t toBF16(float value) { // round to nearest even
  uint32_t bits;
  std::memcpy(&bits, &value, 4);
  bits += 0x7FFF + ((bits >> 16) & 1);
  return static_cast<uint16_t>(bits >> 16);
}

double fromBF16(uint16_t half) {
  uint32_t bits = uint32_t(half) << 16;
  float value;
  std::memcpy(&value, &bits, 4);
  return value;
}

/// A memref<?xT> descriptor as five kernel parameters.
struct Descriptor {
  void *allocated, *aligned;
  int64_t offset, size, stride;
  void push(std::vector<void *> &params) {
    for (void *field : {(void *)&allocated, (void *)&aligned, (void *)&offset,
                        (void *)&size, (void *)&stride})
      params.push_back(field);
  }
};

} // namespace

int main(int argc, char **argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: fp4-gpu-runtime-test w4a16.cubin\n");
    return 2;
  }
  std::ifstream file(argv[1], std::ios::binary);
  std::vector<char> image((std::istreambuf_iterator<char>(file)),
                          std::istreambuf_iterator<char>());
  if (image.empty()) {
    std::fprintf(stderr, "fp4-gpu-runtime-test: cannot read %s\n", argv[1]);
    return 1;
  }
  void *module = mgpuModuleLoad(image.data(), image.size());
  void *kernel =
      mgpuModuleGetFunction(module, "fp4_nvfp4_w4a16mv_3x40x128_bf16_f32");
  if (!kernel) {
    std::printf("FAIL: no kernel (%s)\n",
                fp4gpuLastError() ? fp4gpuLastError() : "?");
    return 1;
  }

  std::mt19937 rng(7);
  std::vector<uint8_t> codes(N * K / 2), scales(N * K / 16);
  std::vector<uint16_t> x(M * K);
  for (uint8_t &byte : codes)
    byte = rng() & 255;
  for (uint8_t &byte : scales)
    byte = 0x20 + rng() % 0x38; // UE4M3 around 1
  std::normal_distribution<float> normal(0.0f, 2.0f);
  for (uint16_t &value : x)
    value = toBF16(normal(rng));
  float alpha = 1.25f;
  double reference[M][N] = {}, largest = 0;
  for (int m = 0; m < M; ++m)
    for (int n = 0; n < N; ++n) {
      double sum = 0;
      for (int k = 0; k < K; ++k) {
        uint8_t byte = codes[(n * K + k) / 2];
        double code = kE2M1[k % 2 ? byte >> 4 : byte & 15];
        sum += fromBF16(x[m * K + k]) * code * ue4m3(scales[n * K / 16 + k / 16]);
      }
      reference[m][n] = sum * alpha;
      largest = std::fmax(largest, std::fabs(reference[m][n]));
    }

  void *stream = mgpuStreamCreate();
  auto upload = [&](void *host, size_t bytes) {
    void *device = mgpuMemAlloc(bytes, stream, false);
    mgpuMemcpy(device, host, bytes, stream);
    return device;
  };
  void *dx = upload(x.data(), x.size() * 2);
  void *dw = upload(codes.data(), codes.size());
  void *ds = upload(scales.data(), scales.size());
  void *dy = mgpuMemAlloc(M * N * 4, stream, false);
  mgpuMemset32(dy, 0x7FC00000u, M * N, stream); // poisoned: NaN
  Descriptor args[4] = {{dx, dx, 0, M * K, 1},
                        {dw, dw, 0, (int64_t)codes.size(), 1},
                        {ds, ds, 0, (int64_t)scales.size(), 1},
                        {dy, dy, 0, M * N, 1}};
  std::vector<void *> params;
  args[0].push(params);
  args[1].push(params);
  args[2].push(params);
  params.push_back(&alpha);
  args[3].push(params);
  // The GEMV kernel's launch (K in one part): 4 warps of 16 weight rows,
  // ceil(N / 64) CTAs.
  mgpuLaunchKernel(kernel, (N + 63) / 64, 1, 1, 128, 1, 1, 0, stream,
                   params.data(), nullptr, params.size());
  std::vector<float> y(M * N);
  mgpuMemcpy(y.data(), dy, y.size() * 4, stream);
  mgpuStreamSynchronize(stream);
  double worst = 0;
  for (int i = 0; i < M * N; ++i)
    worst = std::isfinite(y[i])
                ? std::fmax(worst, std::fabs(y[i] - reference[i / N][i % N]))
                : INFINITY;
  worst /= largest;
  bool ok = worst <= 1e-5 && !fp4gpuLastError();
  std::printf("%s runtime launch of fp4_nvfp4_w4a16mv_3x40x128_bf16_f32: max "
              "|error| / max |ref| = %.2e\n",
              ok ? "PASS" : "FAIL", worst);
  for (void *pointer : {dx, dw, ds, dy})
    mgpuMemFree(pointer, stream);

  // Errors are reported and remembered, not fatal.
  fp4gpuClearError();
  bool missing = mgpuModuleGetFunction(module, "no_such_kernel") == nullptr &&
                 fp4gpuLastError() != nullptr;
  std::printf("%s missing kernel: %s\n", missing ? "PASS" : "FAIL",
              fp4gpuLastError() ? fp4gpuLastError() : "(no error)");
  fp4gpuClearError();
  char garbage[64] = "not a cubin";
  bool bad = mgpuModuleLoad(garbage, sizeof(garbage)) == nullptr &&
             fp4gpuLastError() != nullptr;
  std::printf("%s bad module: %s\n", bad ? "PASS" : "FAIL",
              fp4gpuLastError() ? fp4gpuLastError() : "(no error)");
  mgpuStreamDestroy(stream);
  mgpuModuleUnload(module);
  int failed = !ok + !missing + !bad;
  std::printf("%d passed, %d failed\n", 3 - failed, failed);
  return failed ? 1 : 0;
}
