# Deploy artefacts (deploy/, examples/): alerting rules, config consistency, live PromQL, the Python examples.
# Included from tests/CMakeLists.txt:  include(${CMAKE_CURRENT_SOURCE_DIR}/deploy/deploy.cmake OPTIONAL)
# Run: ctest -L deploy. Needs promtool and prometheus (Debian: prometheus), protoc, /usr/bin/python3 with
# python3-yaml, python3-confluent-kafka, python3-protobuf (scripts/install-deps.sh).
set(GS_DEPLOY_DIR ${PROJECT_SOURCE_DIR}/deploy)
set(GS_DEPLOY_TESTS ${CMAKE_CURRENT_LIST_DIR})

add_test(NAME deploy_promtool_check_rules
         COMMAND promtool check rules ${GS_DEPLOY_DIR}/prometheus/rules/gridsentinel.rules.yml)
# promtool resolves the test file's rule_files relative to the test file.
add_test(NAME deploy_promtool_test_rules
         COMMAND promtool test rules ${GS_DEPLOY_DIR}/prometheus/rules/gridsentinel.rules.test.yml)
set_tests_properties(deploy_promtool_check_rules deploy_promtool_test_rules PROPERTIES LABELS deploy TIMEOUT 60)

add_test(NAME deploy_config_consistency
         COMMAND /usr/bin/python3 ${GS_DEPLOY_TESTS}/config_consistency_test.py
                 $<TARGET_FILE:gridsentinel> ${PROJECT_SOURCE_DIR})
set_tests_properties(deploy_config_consistency PROPERTIES LABELS deploy TIMEOUT 120)

add_test(NAME deploy_promql_live
         COMMAND /usr/bin/python3 ${GS_DEPLOY_TESTS}/promql_live_test.py
                 $<TARGET_FILE:gridsentinel> ${PROJECT_SOURCE_DIR})
add_test(NAME deploy_python_examples
         COMMAND /usr/bin/python3 ${GS_DEPLOY_TESTS}/python_examples_test.py
                 $<TARGET_FILE:gridsentinel> ${PROJECT_SOURCE_DIR})
# Each starts gridsentinel on its own embedded broker and free loopback ports: safe to run in parallel.
set_tests_properties(deploy_promql_live deploy_python_examples PROPERTIES LABELS deploy TIMEOUT 180)
