# The kernel's view of a container for the posture gate (/proc/PID/...).
target_sources(lockbox_broker PRIVATE ${CMAKE_CURRENT_LIST_DIR}/procfacts.c
  ${CMAKE_CURRENT_LIST_DIR}/procfacts_parse.c ${CMAKE_CURRENT_LIST_DIR}/procfacts_cache.c)
