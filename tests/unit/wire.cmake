# The root/worker wire protocol (issue 15): codec and framed channel.
if(EXISTS ${CMAKE_SOURCE_DIR}/broker/worker/wire.c)
  add_executable(test_wire ${CMAKE_CURRENT_LIST_DIR}/test_wire.c)
  target_link_libraries(test_wire PRIVATE lockbox_broker PkgConfig::CMOCKA)
  add_test(NAME unit_wire COMMAND test_wire)
  set_tests_properties(unit_wire PROPERTIES LABELS unit)
endif()
