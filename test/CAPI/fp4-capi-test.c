/*===- fp4-capi-test.c - fp4-mlir through MLIR's C API ---------------------===*\
|*                                                                            *|
|* Part of fp4-mlir. A C host: registers the fp4 dialect (its handle) and the *|
|* fp4 passes, parses a module (argv[1]), runs argv[2] (a pass pipeline) and  *|
|* prints the result. Exit status 1 when parsing or the pipeline fails. With  *|
|* a third argument "--all-passes" it registers MLIR's passes and dialects   *|
|* too, which the fp4 lowering pipelines need.                               *|
|*                                                                            *|
\*===----------------------------------------------------------------------===*/

#include "fp4-c/FP4.h"
#include "mlir-c/Dialect/Arith.h"
#include "mlir-c/Dialect/Func.h"
#include "mlir-c/Dialect/Linalg.h"
#include "mlir-c/Dialect/Math.h"
#include "mlir-c/Dialect/Tensor.h"
#include "mlir-c/IR.h"
#include "mlir-c/Pass.h"
#include "mlir-c/RegisterEverything.h"

#include <stdio.h>
#include <stdlib.h>

static void print(MlirStringRef text, void *userData) {
  fwrite(text.data, 1, text.length, (FILE *)userData);
}

static char *readFile(const char *path) {
  FILE *file = fopen(path, "rb");
  if (!file)
    return NULL;
  fseek(file, 0, SEEK_END);
  long size = ftell(file);
  fseek(file, 0, SEEK_SET);
  char *text = malloc(size + 1);
  size_t read = fread(text, 1, size, file);
  text[read] = 0;
  fclose(file);
  return text;
}

int main(int argc, char **argv) {
  if (argc != 3 && argc != 4) {
    fprintf(stderr, "usage: fp4-capi-test model.mlir 'builtin.module(...)' "
                    "[--all-passes]\n");
    return 2;
  }
  char *source = readFile(argv[1]);
  if (!source) {
    fprintf(stderr, "fp4-capi-test: cannot read %s\n", argv[1]);
    return 1;
  }
  MlirContext context = mlirContextCreate();
  MlirDialectHandle handles[] = {
      mlirGetDialectHandle__fp4__(),    mlirGetDialectHandle__arith__(),
      mlirGetDialectHandle__func__(),   mlirGetDialectHandle__linalg__(),
      mlirGetDialectHandle__math__(),   mlirGetDialectHandle__tensor__()};
  for (size_t i = 0; i < sizeof(handles) / sizeof(handles[0]); ++i)
    mlirDialectHandleRegisterDialect(handles[i], context);
  MlirDialect fp4 = mlirDialectHandleLoadDialect(handles[0], context);
  fprintf(stderr, "loaded dialect: %.*s\n",
          (int)mlirDialectGetNamespace(fp4).length,
          mlirDialectGetNamespace(fp4).data);
  fp4RegisterPasses();
  fp4RegisterPasses(); /* idempotent */
  if (argc == 4) {
    /* MLIR's passes, and its dialects with their extensions (the
       bufferization models the CPU lowering needs). */
    mlirRegisterAllPasses();
    MlirDialectRegistry registry = mlirDialectRegistryCreate();
    mlirRegisterAllDialects(registry);
    mlirContextAppendDialectRegistry(context, registry);
    mlirDialectRegistryDestroy(registry);
  }

  MlirModule module =
      mlirModuleCreateParse(context, mlirStringRefCreateFromCString(source));
  free(source);
  int status = 1;
  if (!mlirModuleIsNull(module)) {
    MlirPassManager pm = mlirPassManagerCreate(context);
    MlirLogicalResult parsed = mlirParsePassPipeline(
        mlirPassManagerGetAsOpPassManager(pm),
        mlirStringRefCreateFromCString(argv[2]), print, stderr);
    if (mlirLogicalResultIsSuccess(parsed) &&
        mlirLogicalResultIsSuccess(
            mlirPassManagerRunOnOp(pm, mlirModuleGetOperation(module)))) {
      mlirOperationPrint(mlirModuleGetOperation(module), print, stdout);
      fputc('\n', stdout);
      status = 0;
    }
    mlirPassManagerDestroy(pm);
    mlirModuleDestroy(module);
  }
  mlirContextDestroy(context);
  return status;
}
