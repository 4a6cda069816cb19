/* Calls the C entry point of a library fp4-compile made from the bundled
   MoE block (forward: tensor<1x8x64xf32> -> tensor<1x8x64xf32>) and prints
   the relative error of its output against PyTorch's. Usage:
   harness INPUT.npy TORCH_OUTPUT.npy (both float32 [1, 8, 64]). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  float *allocated, *aligned;
  int64_t offset, sizes[3], strides[3];
} Memref3;

void _mlir_ciface_forward(Memref3 *result, Memref3 *input);

/* Reads a float32 .npy of 512 values (header skipped by its length). */
static int readNpy(const char *path, float *values) {
  FILE *f = fopen(path, "rb");
  unsigned char head[10];
  if (!f || fread(head, 1, 10, f) != 10 || memcmp(head, "\x93NUMPY", 6))
    return 0;
  fseek(f, 10 + head[8] + 256 * head[9], SEEK_SET);
  int ok = fread(values, sizeof(float), 512, f) == 512;
  fclose(f);
  return ok;
}

int main(int argc, char **argv) {
  static float x[512], expected[512];
  if (argc != 3 || !readNpy(argv[1], x) || !readNpy(argv[2], expected)) {
    fprintf(stderr, "harness: cannot read the inputs\n");
    return 2;
  }
  Memref3 in = {x, x, 0, {1, 8, 64}, {512, 64, 1}}, out;
  _mlir_ciface_forward(&out, &in);
  double num = 0, den = 0;
  for (int i = 0; i < 512; ++i) {
    float y = out.aligned[out.offset + i];
    num += (y - expected[i]) * (y - expected[i]);
    den += expected[i] * expected[i];
  }
  printf("sizes %lld %lld %lld, relative error %.3g\n", (long long)out.sizes[0],
         (long long)out.sizes[1], (long long)out.sizes[2], sqrt(num / den));
  return 0;
}
