# The GPU benchmarks: plain programs timed with the device synchronised around loops (no
# Google Benchmark, which the GPU check machine does not have). Included by ../CMakeLists.txt
# when the CUDA backend is built.
add_executable(gpu_ops_bench ${CMAKE_CURRENT_LIST_DIR}/gpu_ops.cpp)
target_link_libraries(gpu_ops_bench PRIVATE vcap_tensor_cuda)
vcap_warnings(gpu_ops_bench)

add_executable(gpu_model_bench ${CMAKE_CURRENT_LIST_DIR}/gpu_model.cpp)
target_link_libraries(gpu_model_bench PRIVATE vcap_tensor_cuda vcap_model)
vcap_warnings(gpu_model_bench)
