# Posture gate: fixtures are real dockerd 20.10 inspect output and /proc files
# (fixtures/inspect/, made by tests/docker/capture_inspect.sh).
add_executable(test_posture ${CMAKE_CURRENT_LIST_DIR}/test_posture.c)
target_link_libraries(test_posture PRIVATE lockbox_broker PkgConfig::CMOCKA)
target_compile_definitions(test_posture PRIVATE
  LB_POSTURE_FIXTURES="${CMAKE_CURRENT_LIST_DIR}/fixtures/inspect")
add_test(NAME unit_posture COMMAND test_posture)
set_tests_properties(unit_posture PROPERTIES LABELS unit)
