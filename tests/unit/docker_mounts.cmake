# Docker volumes, one tmpfs per container (issue 11): a container's mount found by the device
# at its Destination in mountinfo, Config.User before start, mount keys.
add_executable(test_docker_mounts ${CMAKE_CURRENT_LIST_DIR}/test_docker_mounts.c)
target_link_libraries(test_docker_mounts PRIVATE lockbox_broker PkgConfig::CMOCKA)
add_test(NAME unit_docker_mounts COMMAND test_docker_mounts)
set_tests_properties(unit_docker_mounts PROPERTIES LABELS unit)
