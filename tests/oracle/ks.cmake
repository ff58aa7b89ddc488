# Two-sample Kolmogorov-Smirnov test against scipy.stats.ks_2samp (scipy 1.10.1 in /usr/bin/python3).
# Included from tests/CMakeLists.txt: GS_WARNINGS and gridsentinel_core are in scope.
add_executable(ks_oracle_cli ${CMAKE_CURRENT_LIST_DIR}/ks_oracle_cli.cc)
target_compile_options(ks_oracle_cli PRIVATE ${GS_WARNINGS})
target_link_libraries(ks_oracle_cli PRIVATE gridsentinel_core)

add_test(NAME oracle_ks_2samp_vs_scipy
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/ks_oracle.py --cli $<TARGET_FILE:ks_oracle_cli>)
set_tests_properties(oracle_ks_2samp_vs_scipy PROPERTIES LABELS oracle TIMEOUT 300)
