# The refresh pipeline with fake stores through the store vtable, a real loop and real
# target tmpfs mounts; reload on a whole broker with sealed stores; target publish. Root
# for the mounts (exit 77 without).
foreach(t refresh refresh_reload refresh_publish refresh_split)
  add_executable(test_${t} ${CMAKE_CURRENT_LIST_DIR}/test_${t}.c)
  if(t STREQUAL "refresh" OR t STREQUAL "refresh_split")
    # The pipeline's owner, setup and teardown: one copy (refresh_fixture.h).
    target_sources(test_${t} PRIVATE ${CMAKE_CURRENT_LIST_DIR}/refresh_fixture.c)
  endif()
  target_link_libraries(test_${t} PRIVATE lockbox_broker PkgConfig::CMOCKA)
  add_test(NAME unit_${t} COMMAND test_${t})
  set_tests_properties(unit_${t} PROPERTIES LABELS "unit;root" SKIP_RETURN_CODE 77)
endforeach()
