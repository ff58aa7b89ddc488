# NAB backtest: `gridsentinel backtest` over the shared NAB corpus must complete, print the scores of every
# profile, and reach a floor on the swept standard-profile score (a broken scorer lands near 0 or below).
# Included from tests/CMakeLists.txt.
set(GS_BACKTEST_NAB_DIR ${PROJECT_SOURCE_DIR}/../shared/data/nab)
if(EXISTS ${GS_BACKTEST_NAB_DIR}/labels/combined_windows.json)
  add_test(NAME backtest_nab_corpus
           COMMAND ${CMAKE_COMMAND}
                   -DGS_BINARY=$<TARGET_FILE:gridsentinel>
                   -DNAB_DIR=${GS_BACKTEST_NAB_DIR}
                   -DOUT_DIR=${CMAKE_CURRENT_BINARY_DIR}/backtest_nab_out
                   -DMIN_STANDARD_SWEPT=30
                   -P ${CMAKE_CURRENT_LIST_DIR}/check_backtest.cmake)
  set_tests_properties(backtest_nab_corpus PROPERTIES LABELS backtest TIMEOUT 120)
endif()
