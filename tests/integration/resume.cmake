# Reliability through the `simmatch` command: kill-and-resume (a run killed with SIGKILL and
# continued with --resume writes exactly the model an uninterrupted run writes; resume.sh) and
# malformed input / numerical failure (clear one-line errors, models never replaced; malformed.sh).
if(TARGET simmatch)
  find_program(SIMMATCH_BASH bash REQUIRED)
  foreach(name resume malformed)
    add_test(NAME cli.${name}
             COMMAND ${SIMMATCH_BASH} ${CMAKE_CURRENT_LIST_DIR}/${name}.sh $<TARGET_FILE:simmatch>
             WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
    set_tests_properties(cli.${name} PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 600 LABELS cli)
  endforeach()
  # Among the longest entries: started early, so that a fresh build's ctest -j2 does not end on it.
  set_tests_properties(cli.resume PROPERTIES COST 61)
endif()
