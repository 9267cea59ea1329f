# Root's handlers of worker->root frames (broker/worker/proxy.c) against a hostile fake worker
# on a real socketpair, through the real channel and decoder.
if(EXISTS ${CMAKE_SOURCE_DIR}/broker/worker/proxy_int.h)
  add_executable(test_proxy_frames ${CMAKE_CURRENT_LIST_DIR}/test_proxy_frames.c)
  target_link_libraries(test_proxy_frames PRIVATE lbt_fetch_fixture)
  add_test(NAME unit_proxy_frames COMMAND test_proxy_frames)
  set_tests_properties(unit_proxy_frames PROPERTIES LABELS unit TIMEOUT 60)
endif()
