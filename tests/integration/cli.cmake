# Integration tests of the `simmatch` command: bash scripts run from the source folder with the
# built executable as their first argument. Exit code 77 means "skipped" (e.g. data not fetched).
if(TARGET simmatch)
  find_program(SIMMATCH_BASH bash REQUIRED)
  foreach(name train_encode errors params)
    add_test(NAME cli.${name}
             COMMAND ${SIMMATCH_BASH} ${CMAKE_CURRENT_LIST_DIR}/cli_${name}.sh $<TARGET_FILE:simmatch>
             WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
    set_tests_properties(cli.${name} PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 900 LABELS cli)
  endforeach()
  # Among the longest entries: started early, so that a fresh build's ctest -j2 does not end on it.
  set_tests_properties(cli.train_encode PROPERTIES COST 53)
endif()
