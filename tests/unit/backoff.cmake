# core/backoff (issue 14) and the network-store engine with a fake provider.
foreach(t backoff netstore)
  if(EXISTS ${CMAKE_CURRENT_LIST_DIR}/test_${t}.c)
    add_executable(test_${t} ${CMAKE_CURRENT_LIST_DIR}/test_${t}.c)
    target_link_libraries(test_${t} PRIVATE lockbox_broker PkgConfig::CMOCKA)
    add_test(NAME unit_${t} COMMAND test_${t})
    set_tests_properties(unit_${t} PROPERTIES LABELS unit)
  endif()
endforeach()
