//===- fp4-run.cpp - run a compiled library or a module on .npy arrays ----===//
//
// Part of fp4-mlir.
//
//   fp4-run model.so   [--entry forward] --input x.npy [--input ...]
//           [--output y.npy ...] [--repeat N]
//   fp4-run model.mlir [--entry forward] --input x.npy ...
//           [--quantize PIPELINE-OPTIONS | --quantize-default]
//
// A library from fp4-compile (CPU or GPU) is loaded with dlopen; its
// signature is read from `__fp4_signature_<entry>`. A module is lowered
// for the CPU and JIT-compiled by lib/libfp4_run_jit.so, loaded only then,
// so that this tool needs no LLVM: it runs GPU libraries on machines that
// have only libc, libstdc++ and the CUDA driver. Either way the entry
// function is called on the .npy inputs and each result written to an .npy
// file, with timing lines.
//
//===----------------------------------------------------------------------===//

#include "fp4/Support/MemRef.h"
#include "fp4/Tools/RunJIT.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <string>
#include <unistd.h>
#include <vector>

namespace {

[[noreturn]] void fail(const std::string &message) {
  std::fprintf(stderr, "fp4-run: error: %s\n", message.c_str());
  std::exit(1);
}

struct Options {
  std::string input, entry = "forward";
  std::vector<std::string> inputs, outputs;
  bool quantize = false;
  std::string quantizeOptions;
  unsigned repeat = 1;
};

const char *kUsage =
    "USAGE: fp4-run <module.mlir or library.so> [options]\n\n"
    "OPTIONS:\n"
    "  --entry NAME          Function to call (default: forward)\n"
    "  --input FILE.npy      An argument, in order (repeat for each)\n"
    "  --output FILE.npy     Where to write each result, in order\n"
    "  --quantize OPTIONS    .mlir: run fp4-quantize-pipeline first, with\n"
    "                        these options (e.g. 'preset=nvfp4-weight-only')\n"
    "  --quantize-default    .mlir: run fp4-quantize-pipeline with its "
    "defaults\n"
    "  --repeat N            Calls to time (the best is reported)\n";

/// Accepts `--name value`, `--name=value`, `-name value` and `-name=value`.
Options parseOptions(int argc, char **argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.empty() || arg[0] != '-' || arg == "-") {
      if (!options.input.empty())
        fail("one input file expected, got '" + options.input + "' and '" +
             arg + "'");
      options.input = arg;
      continue;
    }
    std::string name = arg.substr(arg[1] == '-' ? 2 : 1), value;
    bool hasValue = false;
    if (size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      hasValue = true;
    }
    auto next = [&]() -> std::string {
      if (hasValue)
        return value;
      if (i + 1 >= argc)
        fail("--" + name + " expects a value");
      return argv[++i];
    };
    if (name == "help" || name == "h") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    } else if (name == "entry") {
      options.entry = next();
    } else if (name == "input") {
      options.inputs.push_back(next());
    } else if (name == "output") {
      options.outputs.push_back(next());
    } else if (name == "quantize") {
      options.quantize = true;
      options.quantizeOptions = next();
    } else if (name == "quantize-default") {
      options.quantize = true;
    } else if (name == "repeat") {
      std::string text = next();
      char *end = nullptr;
      long count = std::strtol(text.c_str(), &end, 10);
      if (text.empty() || *end || count < 1)
        fail("--repeat expects a positive count, got '" + text + "'");
      options.repeat = count;
    } else {
      fail("unknown option '" + arg + "' (see --help)");
    }
  }
  if (options.input.empty())
    fail("no input file (a module .mlir or a library .so; see --help)");
  return options;
}

/// lib/libfp4_run_jit.so beside this tool's bin/ directory.
std::string jitLibraryPath() {
  char self[4096];
  ssize_t length = readlink("/proc/self/exe", self, sizeof(self) - 1);
  std::string dir = ".";
  if (length > 0) {
    std::string path(self, length);
    dir = path.substr(0, path.rfind('/'));
  }
  return dir + "/../lib/libfp4_run_jit.so";
}

double seconds(std::chrono::steady_clock::time_point a,
               std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

bool endsWith(const std::string &text, const std::string &suffix) {
  return text.size() >= suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

} // namespace

int main(int argc, char **argv) {
  Options options = parseOptions(argc, argv);
  const std::string &entry = options.entry;

  auto start = std::chrono::steady_clock::now();
  bool library = endsWith(options.input, ".so");
  void *function = nullptr;
  const char *signature = nullptr;
  const char *(*lastGpuError)() = nullptr;
  void (*clearGpuError)() = nullptr;
  if (library) {
    if (options.quantize)
      fail("--quantize applies to .mlir inputs; " + options.input +
           " is already compiled");
    // dlopen searches the library path for a name without a slash.
    std::string path = options.input.find('/') == std::string::npos
                           ? "./" + options.input
                           : options.input;
    void *handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle)
      fail("cannot load '" + options.input + "': " + dlerror());
    signature = static_cast<const char *>(
        dlsym(handle, ("__fp4_signature_" + entry).c_str()));
    function = dlsym(handle, ("_mlir_ciface_" + entry).c_str());
    // A GPU library carries the GPU runtime, whose errors are not fatal:
    // they are checked after every call.
    lastGpuError = reinterpret_cast<const char *(*)()>(
        dlsym(handle, "fp4gpuLastError"));
    clearGpuError =
        reinterpret_cast<void (*)()>(dlsym(handle, "fp4gpuClearError"));
    if (!signature || !function)
      fail("no function '" + entry + "' in " + options.input +
           " (libraries from fp4-compile export _mlir_ciface_" + entry +
           " and its signature)");
  } else {
    std::string jitPath = jitLibraryPath();
    void *jit = dlopen(jitPath.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!jit)
      fail("running an .mlir module needs the JIT library " + jitPath +
           " (and LLVM): " + dlerror() +
           "; run a library from fp4-compile instead");
    auto compile = reinterpret_cast<decltype(&fp4_run_jit_compile)>(
        dlsym(jit, "fp4_run_jit_compile"));
    if (!compile)
      fail(jitPath + " has no fp4_run_jit_compile");
    const char *error = nullptr;
    if (compile(options.input.c_str(), entry.c_str(),
                options.quantize ? options.quantizeOptions.c_str() : nullptr,
                &function, &signature, &error))
      fail(error);
  }
  std::vector<fp4::TensorSpec> argSpecs, resultSpecs;
  if (!signature || !fp4::parseSignature(signature, argSpecs, resultSpecs))
    fail(options.input + ": malformed signature '" +
         (signature ? signature : "") + "'");
  if (argSpecs.size() != options.inputs.size())
    fail("'" + entry + "' takes " + std::to_string(argSpecs.size()) +
         " arguments, got " + std::to_string(options.inputs.size()) +
         " --input files");
  if (!options.outputs.empty() && options.outputs.size() != resultSpecs.size())
    fail("'" + entry + "' returns " + std::to_string(resultSpecs.size()) +
         " results, got " + std::to_string(options.outputs.size()) +
         " --output files");

  // Read and check every input against the signature.
  std::vector<fp4::NdArray> arrays(options.inputs.size());
  std::vector<const fp4::NdArray *> arguments;
  for (size_t i = 0; i < argSpecs.size(); ++i) {
    std::string error;
    if (!fp4::readNpy(options.inputs[i], arrays[i], error))
      fail(error);
    if (arrays[i].dtype != argSpecs[i].dtype ||
        arrays[i].shape != argSpecs[i].shape)
      fail(options.inputs[i] + ": expected " + argSpecs[i].text +
           " data, got " + fp4::dtypeName(arrays[i].dtype) +
           " of another shape or type");
    arguments.push_back(&arrays[i]);
  }
  auto compiled = std::chrono::steady_clock::now();
  std::fprintf(stderr, "fp4-run: %s %s in %.2f s\n",
               library ? "loaded" : "compiled", options.input.c_str(),
               seconds(start, compiled));

  // Results come back through one struct of descriptors (several results) or
  // one descriptor. Each call's results are freed before the next.
  std::vector<int64_t> resultBuffer;
  double best = 1e30;
  for (unsigned r = 0; r < options.repeat; ++r) {
    if (r > 0)
      fp4::freeResults(resultBuffer.data(), resultSpecs, arguments);
    auto before = std::chrono::steady_clock::now();
    std::string error;
    if (clearGpuError)
      clearGpuError();
    if (!fp4::callOnArrays(function, arguments, resultSpecs, resultBuffer,
                           error))
      fail("calling '" + entry + "': " + error);
    if (const char *gpuError = lastGpuError ? lastGpuError() : nullptr)
      fail("'" + entry + "' failed on the GPU: " + gpuError +
           " (its results are not valid)");
    best = std::min(best, seconds(before, std::chrono::steady_clock::now()));
  }
  std::fprintf(stderr, "fp4-run: %s ran in %.3f ms%s\n", entry.c_str(),
               best * 1e3,
               options.repeat > 1
                   ? (" (best of " + std::to_string(options.repeat) + ")").c_str()
                   : "");

  // Copy each result out (following its strides) and write it.
  std::vector<fp4::NdArray> results =
      fp4::readResults(resultBuffer.data(), resultSpecs);
  for (size_t i = 0; i < results.size(); ++i) {
    const fp4::NdArray &out = results[i];
    if (i < options.outputs.size()) {
      std::string error;
      if (!fp4::writeNpy(options.outputs[i], out, error))
        fail(error);
    } else if (out.dtype == fp4::DType::F32) {
      // No --output: print a short summary.
      const float *v = out.data<float>();
      std::printf("result %zu: [", i);
      for (int64_t k = 0; k < std::min<int64_t>(8, out.numElements()); ++k)
        std::printf("%s%g", k ? ", " : "", v[k]);
      std::printf("%s\n", out.numElements() > 8 ? ", ...]" : "]");
    }
  }
  return 0;
}
