# core/backoff (issue 14), and the network-store engine with a fake provider: its reads
# (unit_netstore) and its credential (unit_netstore_auth), on one fixture (netstore_fixture.c).
add_executable(test_backoff ${CMAKE_CURRENT_LIST_DIR}/test_backoff.c)
target_link_libraries(test_backoff PRIVATE lockbox_broker PkgConfig::CMOCKA)
add_test(NAME unit_backoff COMMAND test_backoff)
set_tests_properties(unit_backoff PROPERTIES LABELS unit)

add_library(lbt_netstore_fixture STATIC ${CMAKE_CURRENT_LIST_DIR}/netstore_fixture.c)
target_link_libraries(lbt_netstore_fixture PUBLIC lbt_fetch_fixture)
foreach(t netstore netstore_auth)
  add_executable(test_${t} ${CMAKE_CURRENT_LIST_DIR}/test_${t}.c)
  target_link_libraries(test_${t} PRIVATE lbt_netstore_fixture)
  add_test(NAME unit_${t} COMMAND test_${t})
  set_tests_properties(unit_${t} PROPERTIES LABELS unit)
endforeach()
