# broker/core/fsutil: fsync of files and their directories (seen through the linker's
# --wrap=fsync, in this test binary only), create without replace, lb_dir_each, remove_tree.
add_executable(test_fsutil ${CMAKE_CURRENT_LIST_DIR}/test_fsutil.c)
target_link_libraries(test_fsutil PRIVATE lockbox_broker PkgConfig::CMOCKA)
target_link_options(test_fsutil PRIVATE -Wl,--wrap=fsync)
add_test(NAME unit_fsutil COMMAND test_fsutil)
set_tests_properties(unit_fsutil PROPERTIES LABELS unit)
