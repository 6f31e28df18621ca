# No behaviour change across a refactoring: with -DSIMMATCH_REFERENCE_CLI=<the simmatch of another
# build, e.g. of the commit before>, `ctest -R cli.compare_builds` trains every committed experiment
# with both and requires identical models, metrics, encodings and checkpoints (compare_builds.py).
set(SIMMATCH_REFERENCE_CLI "" CACHE FILEPATH "simmatch command of a reference build for cli.compare_builds")
if(TARGET simmatch AND SIMMATCH_REFERENCE_CLI)
  add_test(NAME cli.compare_builds
           COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/compare_builds.py ${SIMMATCH_REFERENCE_CLI}
                   $<TARGET_FILE:simmatch> --out ${CMAKE_CURRENT_BINARY_DIR}/compare_builds
           WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
  set_tests_properties(cli.compare_builds PROPERTIES TIMEOUT 1800 LABELS cli ENVIRONMENT OMP_NUM_THREADS=1
                       PASS_REGULAR_EXPRESSION "all identical")
endif()
