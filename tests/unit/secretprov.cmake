# Swarm secret driver: the GetSecret parser, the decision against a config, the task spec
# as the posture gate's input (broker/docker/secretprov_parse.c).
add_executable(test_secretprov ${CMAKE_CURRENT_LIST_DIR}/test_secretprov.c)
target_link_libraries(test_secretprov PRIVATE lockbox_broker PkgConfig::CMOCKA)
add_test(NAME unit_secretprov COMMAND test_secretprov)
set_tests_properties(unit_secretprov PROPERTIES LABELS unit)
