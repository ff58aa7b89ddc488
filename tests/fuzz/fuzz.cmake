# libFuzzer targets (issue 6, item 5), included by tests/CMakeLists.txt when GS_FUZZ=ON (a clang build; the
# top-level CMakeLists adds -fsanitize=fuzzer-no-link everywhere so gridsentinel_core is coverage-instrumented).
# scripts/test.sh builds them in its sanitizer stage and runs the smoke tests below; tests/fuzz/run_fuzz.sh runs
# them for longer.
set(GS_FUZZ_DIR ${CMAKE_CURRENT_LIST_DIR})
foreach(target fuzz_decode fuzz_record_path)
  add_executable(${target} ${GS_FUZZ_DIR}/${target}.cc)
  target_compile_options(${target} PRIVATE ${GS_WARNINGS} -fsanitize=fuzzer)
  target_link_options(${target} PRIVATE -fsanitize=fuzzer)
  target_link_libraries(${target} PRIVATE gridsentinel_core)
  if(TARGET gridsentinel_proto)
    target_link_libraries(${target} PRIVATE gridsentinel_proto)
  endif()
endforeach()

# Writes the committed seed corpus (tests/fuzz/corpus/); not run by the build.
add_executable(gen_fuzz_corpus ${GS_FUZZ_DIR}/gen_corpus.cc)
target_link_libraries(gen_fuzz_corpus PRIVATE gridsentinel_proto)

# Smoke tests: each target for ~20 s from the seed corpus (copied to a scratch directory, so the committed corpus
# is never modified). Label `fuzz`; only in this clang build.
if(COMMAND add_test)
  foreach(target fuzz_decode fuzz_record_path)
    add_test(NAME ${target}_smoke
             COMMAND ${CMAKE_COMMAND}
                     -DFUZZER=$<TARGET_FILE:${target}>
                     -DSEEDS=${GS_FUZZ_DIR}/corpus/${target}
                     -DWORK=${CMAKE_BINARY_DIR}/fuzz-smoke/${target}
                     -DSECONDS=20
                     -P ${GS_FUZZ_DIR}/smoke.cmake)
    set_tests_properties(${target}_smoke PROPERTIES LABELS fuzz TIMEOUT 120)
  endforeach()
endif()
