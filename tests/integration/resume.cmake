# Kill-and-resume: `simmatch train` killed with SIGKILL mid-run and continued with --resume must
# write exactly the model an uninterrupted run writes (see resume.sh).
if(TARGET simmatch)
  find_program(SIMMATCH_BASH bash REQUIRED)
  add_test(NAME cli.resume
           COMMAND ${SIMMATCH_BASH} ${CMAKE_CURRENT_LIST_DIR}/resume.sh $<TARGET_FILE:simmatch>
           WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
  set_tests_properties(cli.resume PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 600 LABELS cli)
endif()
