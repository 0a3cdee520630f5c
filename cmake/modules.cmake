# One static library per module (src/<module>/*.cpp), linking exactly the modules it may use.
# Sources are globbed so that adding a file needs no edit here.
function(vcap_module name)
  cmake_parse_arguments(ARG "" "DIR" "DEPS" ${ARGN})
  if(NOT ARG_DIR)
    set(ARG_DIR ${CMAKE_CURRENT_SOURCE_DIR}/${name})
  endif()
  file(GLOB sources CONFIGURE_DEPENDS ${ARG_DIR}/*.cpp)
  if(NOT sources)
    # A module not written yet (or header-only) still gives its dependents the include path.
    add_library(vcap_${name} INTERFACE)
    target_include_directories(vcap_${name} INTERFACE ${PROJECT_SOURCE_DIR}/src)
    target_link_libraries(vcap_${name} INTERFACE ${ARG_DEPS})
    return()
  endif()
  add_library(vcap_${name} STATIC ${sources})
  target_include_directories(vcap_${name} PUBLIC ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(vcap_${name} PUBLIC ${ARG_DEPS})
  vcap_warnings(vcap_${name})
endfunction()

function(vcap_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Werror)
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
    # GCC 12 at -O3 reports -Wrestrict inside libstdc++'s std::string concatenation (GCC bug
    # 105329, a false positive fixed in GCC 13); it is not about our code.
    target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:-Wno-restrict>)
  endif()
endfunction()

# One GoogleTest binary per module: tests/<module>/*_test.cpp.
function(vcap_module_tests name)
  cmake_parse_arguments(ARG "" "" "DEPS;LABELS" ${ARGN})
  file(GLOB sources CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/${name}/*_test.cpp)
  if(NOT sources)
    return()
  endif()
  add_executable(vcap_${name}_tests ${sources})
  target_link_libraries(vcap_${name}_tests PRIVATE ${ARG_DEPS} vcap_testing GTest::gtest_main GTest::gmock)
  vcap_warnings(vcap_${name}_tests)
  gtest_discover_tests(vcap_${name}_tests
    WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}
    DISCOVERY_TIMEOUT 60
    PROPERTIES LABELS "${name};${ARG_LABELS}")
endfunction()
