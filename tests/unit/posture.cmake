# Posture gate: fixtures are real dockerd 20.10 inspect output and /proc files
# (fixtures/inspect/, made by tests/docker/capture_inspect.sh); posture_fixture.c loads them
# and checks lb_posture_verdict against every lb_posture_evaluate of the tests.
foreach(t posture procfacts_parse)
  add_executable(test_${t} ${CMAKE_CURRENT_LIST_DIR}/test_${t}.c
    ${CMAKE_CURRENT_LIST_DIR}/posture_fixture.c)
  target_link_libraries(test_${t} PRIVATE lockbox_broker PkgConfig::CMOCKA)
  target_compile_definitions(test_${t} PRIVATE
    LB_POSTURE_FIXTURES="${CMAKE_CURRENT_LIST_DIR}/fixtures/inspect")
  add_test(NAME unit_${t} COMMAND test_${t})
  set_tests_properties(unit_${t} PROPERTIES LABELS unit)
endforeach()
