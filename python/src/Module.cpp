//===- Module.cpp - fp4mlir._core, the pybind11 module --------------------===//
//
// Part of fp4-mlir. Modules and pipelines (through Facade.h) and the exact
// numerics of fp4/Numerics on numpy arrays. The Python package (fp4mlir)
// builds its API on these.
//
//===----------------------------------------------------------------------===//

#include "Facade.h"
#include "fp4/Numerics/Quantize.h"

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstring>
#include <optional>

namespace py = pybind11;
namespace nx = fp4::numerics;

namespace {

/// Raised for every failure the bindings report (Python: fp4mlir.Error).
struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

std::string formatDiagnostics(const std::vector<fp4py::Diagnostic> &all) {
  std::string text;
  for (const fp4py::Diagnostic &d : all)
    text += "\n" + d.location + ": " + d.severity + ": " + d.message;
  return text;
}

/// A Python-side module: a shared state, so copies alias.
struct PyModule {
  fp4py::ModulePtr state;
};

/// A quantized numpy array: the numerics' result and the input's shape.
struct PyQuantized {
  nx::QuantizedTensor q;
  std::vector<py::ssize_t> shape;
};

std::vector<py::ssize_t> leadingShape(const PyQuantized &t) {
  return {t.shape.begin(), t.shape.end() - 1};
}

py::array bytesArray(const std::vector<uint8_t> &bytes,
                     std::vector<py::ssize_t> shape) {
  py::array_t<uint8_t> out(shape);
  std::memcpy(out.mutable_data(), bytes.data(), bytes.size());
  return out;
}

/// The codes: [..., cols / 2] packed bytes for 4-bit formats, [..., cols]
/// bytes for FP8.
py::array dataArray(const PyQuantized &t) {
  std::vector<py::ssize_t> shape = leadingShape(t);
  shape.push_back(t.q.data.size() / std::max<int64_t>(t.q.rows, 1));
  return bytesArray(t.q.data, shape);
}

/// The scales: [..., scale columns] bytes (UE4M3 / UE8M0), the swizzled
/// tile bytes flat, or float32 (FP8 and NF4 scales).
py::array scalesArray(const PyQuantized &t) {
  nx::ScaleFormat format = t.q.config.scaleFormat();
  // NF4 with double quantization: the 8-bit codes of the absmax values.
  if (t.q.config.doubleQuant)
    return bytesArray(t.q.absmaxCodes,
                      {py::ssize_t(t.q.absmaxCodes.size())});
  if (format == nx::ScaleFormat::F32) {
    py::array_t<float> out({t.q.scaleRows, t.q.scaleCols});
    std::memcpy(out.mutable_data(), t.q.scales.data(),
                std::min<size_t>(t.q.scales.size(),
                                 out.size() * sizeof(float)));
    return out;
  }
  if (t.q.config.swizzleScales)
    return bytesArray(t.q.scales, {py::ssize_t(t.q.scales.size())});
  std::vector<py::ssize_t> shape = leadingShape(t);
  shape.push_back(t.q.scaleCols);
  return bytesArray(t.q.scales, shape);
}

template <typename E>
E parseOr(std::optional<E> value, const std::string &what,
          const std::string &text, const char *choices) {
  if (!value)
    throw Error("unknown " + what + " '" + text + "' (expected " + choices +
                ")");
  return *value;
}

PyQuantized quantize(py::array input, const std::string &scheme,
                     const std::string &rule, const std::string &blockScales,
                     const std::string &element, bool perChannel,
                     bool doubleQuant, bool swizzleScales, float staticAmax,
                     unsigned threads) {
  nx::Scheme parsed = parseOr(nx::parseScheme(scheme), "scheme", scheme,
                              "nvfp4, mxfp4, mxfp8, fp8 or nf4");
  std::optional<nx::QuantConfig> config = nx::QuantConfig::forScheme(parsed);
  if (!config)
    throw Error("no configuration for scheme '" + scheme + "'");
  config->rule = parseOr(nx::parseRule(rule), "rule", rule,
                         "default, modelopt, torchao, compressed_tensors, "
                         "floor or rceil");
  config->blockScales =
      parseOr(nx::parseBlockScales(blockScales), "block-scale choice",
              blockScales, "max, four_over_six or mse");
  if (!element.empty())
    config->element =
        parseOr(nx::parseElementFormat(element), "element format", element,
                "e2m1, e4m3, e5m2, nf4");
  config->perChannel = perChannel;
  config->doubleQuant = doubleQuant;
  config->swizzleScales = swizzleScales;
  config->staticAmax = staticAmax;
  config->threads = threads;

  if (input.ndim() < 1)
    throw Error("quantize expects an array of at least one dimension");
  // float16 and bfloat16 (ml_dtypes) are read as they are; everything else
  // is converted to float32.
  nx::TensorView view;
  std::string dtype = py::str(input.dtype());
  py::array contiguous;
  if (dtype == "float16" || dtype == "bfloat16") {
    contiguous = py::array::ensure(input, py::array::c_style);
    view.type = dtype == "float16" ? nx::InputType::F16 : nx::InputType::BF16;
  } else {
    contiguous = py::array_t<float, py::array::c_style | py::array::forcecast>::ensure(input);
    view.type = nx::InputType::F32;
  }
  if (!contiguous)
    throw Error("quantize expects a numeric array, got dtype " + dtype);
  PyQuantized out;
  out.shape.assign(input.shape(), input.shape() + input.ndim());
  view.cols = out.shape.back();
  view.rows = view.cols ? contiguous.size() / view.cols : 0;
  view.data = contiguous.data();
  std::string error = config->check(view.rows, view.cols);
  if (error.empty()) {
    py::gil_scoped_release release;
    error = nx::quantize(view, *config, out.q);
  }
  if (!error.empty())
    throw Error(error);
  return out;
}

/// A numpy array as the calibration data of one argument.
::fp4::NdArray toNdArray(py::array array, size_t index) {
  array = py::array::ensure(array, py::array::c_style);
  if (!array)
    throw Error("input " + std::to_string(index) + " is not an array");
  static const std::pair<char, std::pair<int, ::fp4::DType>> kinds[] = {
      {'f', {4, ::fp4::DType::F32}}, {'f', {2, ::fp4::DType::F16}},
      {'f', {8, ::fp4::DType::F64}}, {'i', {8, ::fp4::DType::I64}},
      {'i', {4, ::fp4::DType::I32}}, {'i', {1, ::fp4::DType::I8}},
      {'u', {1, ::fp4::DType::U8}}};
  // The dtype's kind and size through Python attributes: pybind11 before
  // 2.12 (Debian's 2.10) reads them from numpy 1's C struct, whose layout
  // numpy 2 changed (`itemsize()` and `nbytes()` are then garbage).
  py::object dtype = array.attr("dtype");
  char dtypeKind = dtype.attr("kind").cast<std::string>().front();
  int itemsize = dtype.attr("itemsize").cast<int>();
  ::fp4::NdArray out;
  bool known = false;
  for (const auto &[kind, sizeAndType] : kinds)
    if (dtypeKind == kind && itemsize == sizeAndType.first) {
      out.dtype = sizeAndType.second;
      known = true;
    }
  if (!known)
    throw Error("input " + std::to_string(index) + " has dtype " +
                std::string(py::str(array.dtype())) +
                "; calibration takes float32, float16, float64, int64, "
                "int32, int8 or uint8 arrays");
  for (py::ssize_t d = 0; d < array.ndim(); ++d)
    out.shape.push_back(array.shape(d));
  const auto *bytes = static_cast<const uint8_t *>(array.data());
  out.bytes.assign(bytes, bytes + array.attr("nbytes").cast<size_t>());
  return out;
}

py::array dequantize(const PyQuantized &t) {
  py::array_t<float> out(t.shape);
  {
    py::gil_scoped_release release;
    nx::dequantize(t.q, out.mutable_data());
  }
  return out;
}

} // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "fp4-mlir's native core: modules, pipelines and the numerics";
  py::register_exception<Error>(m, "Error", PyExc_RuntimeError);

  py::class_<fp4py::Diagnostic>(m, "Diagnostic")
      .def_readonly("severity", &fp4py::Diagnostic::severity)
      .def_readonly("location", &fp4py::Diagnostic::location)
      .def_readonly("message", &fp4py::Diagnostic::message)
      .def("__repr__", [](const fp4py::Diagnostic &d) {
        return d.location + ": " + d.severity + ": " + d.message;
      });

  py::class_<PyModule>(m, "Module")
      .def_static(
          "parse",
          [](const std::string &text, const std::string &name) {
            std::vector<fp4py::Diagnostic> diagnostics;
            fp4py::ModulePtr state =
                fp4py::parseModule(text, name, diagnostics);
            if (!state)
              throw Error("cannot parse " + name +
                          formatDiagnostics(diagnostics));
            return PyModule{state};
          },
          py::arg("text"), py::arg("name") = "<string>",
          "Parses MLIR text (any registered dialect) into a module.")
      .def("__str__",
           [](const PyModule &self) {
             return fp4py::printModule(*self.state, false);
           })
      .def(
          "to_string",
          [](const PyModule &self, bool generic) {
            return fp4py::printModule(*self.state, generic);
          },
          py::arg("generic") = false)
      .def("clone",
           [](const PyModule &self) {
             fp4py::ModulePtr copy = fp4py::cloneModule(*self.state);
             if (!copy)
               throw Error("cannot clone the module: it does not parse back "
                           "(left invalid by a failed pipeline?)");
             return PyModule{copy};
           })
      .def(
          "run_pipeline",
          [](PyModule &self, const std::string &pipeline) {
            std::vector<fp4py::Diagnostic> diagnostics;
            std::string error;
            if (!fp4py::runPipeline(*self.state, pipeline, diagnostics,
                                    error))
              throw Error("pipeline '" + pipeline + "' failed" +
                          (error.empty() ? "" : ": " + error) +
                          formatDiagnostics(diagnostics));
            return diagnostics;
          },
          py::arg("pipeline"),
          "Runs a pass pipeline in place; returns the remarks and warnings.")
      .def(
          "compile",
          [](const PyModule &self, const std::string &output,
             const std::string &target, const std::string &emit,
             std::optional<std::string> quantize, bool residentWeights) {
            mlir::fp4::CompileOptions options;
            options.target = target;
            options.emit = emit;
            options.quantize = quantize.has_value();
            options.quantizeOptions = quantize.value_or("");
            options.residentWeights = residentWeights;
            std::vector<fp4py::Diagnostic> diagnostics;
            std::string error;
            // The GIL stays held: the module's context is not thread-safe
            // against other calls on the same module.
            if (!fp4py::compileModule(*self.state, options, output, diagnostics,
                                      error))
              throw Error("compiling for " + target + " failed: " + error +
                          formatDiagnostics(diagnostics));
            return diagnostics;
          },
          py::arg("output"), py::arg("target") = "cpu", py::arg("emit") = "so",
          py::arg("quantize") = py::none(), py::arg("resident_weights") = true,
          "Compiles a copy of the module into `output` in process, as "
          "fp4-compile does; returns the remarks and warnings.")
      .def(
          "calibrate",
          [](const PyModule &self, const std::vector<py::array> &inputs,
             const std::string &entry, const std::string &preset,
             const std::string &method, double percentile, double smoothAlpha,
             const std::string &writeStats) {
            mlir::fp4::CalibrateOptions options;
            options.entry = entry;
            options.preset = preset;
            options.method = method;
            options.percentile = percentile;
            options.smoothAlpha = smoothAlpha;
            options.writeStats = writeStats;
            std::vector<::fp4::NdArray> arrays;
            for (size_t i = 0; i < inputs.size(); ++i)
              arrays.push_back(toNdArray(inputs[i], i));
            std::vector<fp4py::Diagnostic> diagnostics;
            std::string error;
            fp4py::ModulePtr calibrated = fp4py::calibrateModule(
                *self.state, options, std::move(arrays), diagnostics, error);
            if (!calibrated)
              throw Error("calibration failed: " + error +
                          formatDiagnostics(diagnostics));
            return PyModule{calibrated};
          },
          py::arg("inputs"), py::arg("entry") = "forward",
          py::arg("preset") = "moe-fp4-fp8", py::arg("method") = "max",
          py::arg("percentile") = 99.99, py::arg("smooth_alpha") = 0.0,
          py::arg("write_stats") = "",
          "Calibrates a copy of the module in process, as fp4-calibrate "
          "does, and returns it.")
      .def_property_readonly("functions",
                             [](const PyModule &self) {
                               return fp4py::publicFunctions(*self.state);
                             })
      .def(
          "signature",
          [](const PyModule &self, const std::string &name) {
            return fp4py::functionSignature(*self.state, name);
          },
          py::arg("name"));

  py::class_<PyQuantized>(m, "QuantizedArray")
      .def_property_readonly("scheme",
                             [](const PyQuantized &t) {
                               return std::string(nx::name(t.q.config.scheme));
                             })
      .def_property_readonly("rule",
                             [](const PyQuantized &t) {
                               return std::string(
                                   nx::name(t.q.config.effectiveRule()));
                             })
      .def_property_readonly("shape",
                             [](const PyQuantized &t) {
                               return py::tuple(py::cast(t.shape));
                             })
      .def_property_readonly("block_size",
                             [](const PyQuantized &t) {
                               return t.q.config.blockSize();
                             })
      .def_property_readonly("data", &dataArray)
      .def_property_readonly("scales", &scalesArray)
      .def_property_readonly("scales_swizzled",
                             [](const PyQuantized &t) {
                               return t.q.config.swizzleScales;
                             })
      .def_property_readonly("global_scale",
                             [](const PyQuantized &t) {
                               return t.q.globalScale;
                             })
      .def_property_readonly("global_scale_stored",
                             [](const PyQuantized &t) {
                               return t.q.globalScaleStored;
                             })
      .def("dequantize", &dequantize);

  m.def("quantize", &quantize, py::arg("array"), py::arg("scheme") = "nvfp4",
        py::kw_only(), py::arg("rule") = "default",
        py::arg("block_scales") = "max", py::arg("element") = "",
        py::arg("per_channel") = false, py::arg("double_quant") = false,
        py::arg("swizzle_scales") = false, py::arg("static_amax") = 0.0f,
        py::arg("threads") = 0,
        "Quantizes an array along its last axis with the exact numerics of "
        "fp4-quant (docs/formats.md).");
  m.def("dequantize", &dequantize, py::arg("quantized"),
        "Expands a quantized array to float32: code * scale (* global).");
}
