# Oracle test for the isolation forests (src/detectors/iforest): our batch and streaming forests against
# scikit-learn's IsolationForest on four ODDS data sets. Included from tests/CMakeLists.txt.
add_executable(iforest_oracle_cli ${CMAKE_CURRENT_LIST_DIR}/iforest_oracle_cli.cc)
target_compile_options(iforest_oracle_cli PRIVATE ${GS_WARNINGS})
target_link_libraries(iforest_oracle_cli PRIVATE gridsentinel_core)

# scikit-learn lives in the system interpreter, not in whatever python3 comes first on PATH.
add_test(NAME oracle_iforest_vs_sklearn
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/iforest_oracle.py
          --cli $<TARGET_FILE:iforest_oracle_cli>
          --data ${PROJECT_SOURCE_DIR}/../shared/data/odds)
set_tests_properties(oracle_iforest_vs_sklearn PROPERTIES LABELS oracle TIMEOUT 400)
