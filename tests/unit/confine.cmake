# The network worker's confinement (issue 15): privileges and the seccomp filter, in a child.
if(EXISTS ${CMAKE_SOURCE_DIR}/broker/worker/confine.c)
  find_package(Threads REQUIRED)
  add_executable(test_confine ${CMAKE_CURRENT_LIST_DIR}/test_confine.c)
  target_include_directories(test_confine PRIVATE ${CMAKE_SOURCE_DIR}/broker/worker)
  target_link_libraries(test_confine PRIVATE lockbox_broker Threads::Threads)
  add_test(NAME unit_confine COMMAND test_confine)
  set_tests_properties(unit_confine PROPERTIES LABELS "unit;root" SKIP_RETURN_CODE 77)
endif()
