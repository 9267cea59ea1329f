# Posture gate evaluation and the managed-secret hash set (pure, no I/O).
target_sources(lockbox_policy PRIVATE ${CMAKE_CURRENT_LIST_DIR}/posture_eval.c
  ${CMAKE_CURRENT_LIST_DIR}/secret_hash.c)
