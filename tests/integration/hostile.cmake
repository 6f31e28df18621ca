# Hostile input through every front-end command under an address-space limit (prlimit): bombs
# and oversized declarations end in one clear error line, never in "out of memory" (hostile.sh).
if(TARGET simmatch)
  find_program(SIMMATCH_BASH bash REQUIRED)
  add_test(NAME cli.hostile
           COMMAND ${SIMMATCH_BASH} ${CMAKE_CURRENT_LIST_DIR}/hostile.sh $<TARGET_FILE:simmatch>
           WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
  set_tests_properties(cli.hostile PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 600 LABELS cli)
endif()
