#===- cmake/FP4MLIRInstall.cmake - cmake --install and the package --------===#
#
# `cmake --install build --prefix P` installs the headers (written and
# generated), the libraries, the tools, the mlir-opt plugin and
# P/lib/cmake/FP4MLIR/FP4MLIRConfig.cmake, so that another project writes
#
#   find_package(FP4MLIR CONFIG REQUIRED)
#   target_link_libraries(tool PRIVATE FP4MLIR::FP4Transforms)
#
# (examples/consumer is such a project; test/Tools/cmake-package.test builds
# it against an installed tree).
#
#===----------------------------------------------------------------------===#
include(CMakePackageConfigHelpers)

set(FP4_INSTALL_CMAKE_DIR lib/cmake/FP4MLIR)
set(FP4_EXPORTED_LIBRARIES
  FP4Numerics FP4Support FP4CPURuntime FP4Calibration
  FP4Dialect FP4Transforms FP4ToLinalg FP4ToNVVM FP4CAPI)

install(TARGETS ${FP4_EXPORTED_LIBRARIES}
  EXPORT FP4MLIRTargets
  ARCHIVE DESTINATION lib
  LIBRARY DESTINATION lib
  INCLUDES DESTINATION include)
# Installed binaries find libMLIR.so / libLLVM.so where they were built
# against (and fp4's own shared libraries beside them).
set(FP4_INSTALLED_BINARIES fp4_cpu_runtime fp4_run_jit FP4Plugin fp4-opt fp4-quant
  fp4-run fp4-compile fp4-calibrate)
set_target_properties(${FP4_INSTALLED_BINARIES} PROPERTIES
  INSTALL_RPATH "\$ORIGIN/../lib;${LLVM_LIBRARY_DIR}")
install(TARGETS fp4_cpu_runtime fp4_run_jit FP4Plugin LIBRARY DESTINATION lib)
install(TARGETS fp4-opt fp4-quant fp4-run fp4-compile fp4-calibrate
  RUNTIME DESTINATION bin)
install(DIRECTORY ${FP4_SOURCE_DIR}/include/fp4 ${FP4_SOURCE_DIR}/include/fp4-c
  DESTINATION include FILES_MATCHING PATTERN "*.h" PATTERN "*.td")
install(DIRECTORY ${FP4_BINARY_DIR}/include/fp4 DESTINATION include
  FILES_MATCHING PATTERN "*.inc" PATTERN "*.h" PATTERN "CMakeFiles" EXCLUDE)
install(EXPORT FP4MLIRTargets NAMESPACE FP4MLIR::
  DESTINATION ${FP4_INSTALL_CMAKE_DIR})

configure_package_config_file(
  ${FP4_SOURCE_DIR}/cmake/FP4MLIRConfig.cmake.in
  ${FP4_BINARY_DIR}/FP4MLIRConfig.cmake
  INSTALL_DESTINATION ${FP4_INSTALL_CMAKE_DIR}
  PATH_VARS FP4_INSTALL_CMAKE_DIR)
write_basic_package_version_file(
  ${FP4_BINARY_DIR}/FP4MLIRConfigVersion.cmake
  VERSION 0.1.0 COMPATIBILITY SameMinorVersion)
install(FILES ${FP4_BINARY_DIR}/FP4MLIRConfig.cmake
  ${FP4_BINARY_DIR}/FP4MLIRConfigVersion.cmake
  DESTINATION ${FP4_INSTALL_CMAKE_DIR})
