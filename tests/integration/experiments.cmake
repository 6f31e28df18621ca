# Every experiment of experiments/ run at tiny size through the built `simmatch`, so the
# documented commands cannot rot. Each writes under the build folder.
if(TARGET simmatch)
  set(_exp_out ${CMAKE_CURRENT_BINARY_DIR}/experiments)
  set(_exp_env SIMMATCH=$<TARGET_FILE:simmatch> SOLVER=euler)
  set(_py_ok FALSE)
  execute_process(COMMAND /usr/bin/python3 -c "import numpy, matplotlib" RESULT_VARIABLE _py_rc OUTPUT_QUIET ERROR_QUIET)
  if(_py_rc EQUAL 0)
    set(_py_ok TRUE)
  endif()

  add_test(NAME experiment.nps_table.mnist
           COMMAND ${CMAKE_COMMAND} -E env ${_exp_env} NPS=2 EPOCHS=1 SAMPLES=30 TRAIN_LIMIT=200 TEST_LIMIT=100
                   C=0.1,1 OUT=${_exp_out}/nps_mnist ${PROJECT_SOURCE_DIR}/experiments/nps_table.sh mnist)
  add_test(NAME experiment.conv_table.mnist
           COMMAND ${CMAKE_COMMAND} -E env SIMMATCH=$<TARGET_FILE:simmatch> CHANNELS=2 POOLS=max:4 EPOCHS=1 SAMPLES=30
                   TRAIN_LIMIT=200 TEST_LIMIT=100 C=1 OUT=${_exp_out}/conv_mnist
                   ${PROJECT_SOURCE_DIR}/experiments/conv_table.sh mnist)
  set_tests_properties(experiment.conv_table.mnist PROPERTIES PASS_REGULAR_EXPRESSION "\\| 2 filters \\| max:4 \\| 98 \\|")
  add_test(NAME experiment.contrastive_table.mnist
           COMMAND ${CMAKE_COMMAND} -E env SIMMATCH=$<TARGET_FILE:simmatch> ARCHS=8,6 EPOCHS=1 SAMPLES=30
                   TRAIN_LIMIT=200 TEST_LIMIT=100 C=1 OUT=${_exp_out}/contrastive_mnist
                   "MODES=contrastive unsupervised supervised"
                   ${PROJECT_SOURCE_DIR}/experiments/contrastive_table.sh mnist)
  set_tests_properties(experiment.contrastive_table.mnist PROPERTIES PASS_REGULAR_EXPRESSION
                       "\\| 8-6-10 \\| contrastive, own output \\| [0-9.]+ % \\|.*\\| 8-6-10 \\| unsupervised, SVM on hidden layer 2 \\(6\\) \\| [0-9.]+ % \\|.*\\| 8-6 \\+ labels \\| supervised, own output V\\^T r \\| [0-9.]+ % \\|.*\\| 8-6 \\+ labels \\| supervised, SVM on hidden layer 2 \\(6\\) \\| [0-9.]+ % \\|")
  if(EXISTS /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz)
    add_test(NAME experiment.nps_table.fashion
             COMMAND ${CMAKE_COMMAND} -E env ${_exp_env} NPS=2 EPOCHS=1 SAMPLES=30 TRAIN_LIMIT=200 TEST_LIMIT=100
                     C=1 OUT=${_exp_out}/nps_fashion ${PROJECT_SOURCE_DIR}/experiments/nps_table.sh fashion)
    add_test(NAME experiment.hierarchical.fashion
             COMMAND ${CMAKE_COMMAND} -E env ${_exp_env} EPOCHS=1 SAMPLES=30 FIELD_SAMPLES=100
                     OUT=${_exp_out}/hier_fashion ${PROJECT_SOURCE_DIR}/experiments/hierarchical_features.sh fashion)
    set_tests_properties(experiment.hierarchical.fashion PROPERTIES
                         PASS_REGULAR_EXPRESSION "layer 2: 392 neurons")
  endif()
  if(TARGET simmatch_kernels_bench)
    add_test(NAME bench.run_all.quick
             COMMAND ${CMAKE_COMMAND} -E env BUILD=${PROJECT_BINARY_DIR} QUICK=1 KERNEL_FILTER=BM_Tanh
                     ${PROJECT_SOURCE_DIR}/bench/run_all.sh)
    set_tests_properties(bench.run_all.quick PROPERTIES
                         PASS_REGULAR_EXPRESSION "\\| 100 per site, batch 100, fast \\| [0-9]+ \\|.*BM_Tanh/784")
  endif()
  set(_photos /usr/lib/python3/dist-packages/skimage/data)
  if(EXISTS ${_photos}/camera.png)
    add_test(NAME experiment.hierarchical.photos
             COMMAND ${CMAKE_COMMAND} -E env ${_exp_env} EPOCHS=1 SAMPLES=30 PATCHES=200 FIELD_SAMPLES=100
                     OUT=${_exp_out}/hier_photos ${PROJECT_SOURCE_DIR}/experiments/hierarchical_features.sh photos
                     ${_photos})
    set_tests_properties(experiment.hierarchical.photos PROPERTIES PASS_REGULAR_EXPRESSION "layer 2: 392 neurons")
  endif()
  if(_py_ok)
    set_tests_properties(experiment.nps_table.mnist PROPERTIES PASS_REGULAR_EXPRESSION "\\| raw pixels \\|")
    add_test(NAME experiment.feedback_rsm
             COMMAND ${CMAKE_COMMAND} -E env ${_exp_env} EPOCHS=1 SAMPLES=50 TRAIN=100 TEST=40
                     OUT=${_exp_out}/feedback ${PROJECT_SOURCE_DIR}/experiments/feedback_rsm.sh)
    set_tests_properties(experiment.feedback_rsm PROPERTIES PASS_REGULAR_EXPRESSION "\\| 0.5 \\| B \\|")
    add_test(NAME experiment.cost_curve
             COMMAND ${CMAKE_COMMAND} -E env ${_exp_env} OUT=${_exp_out}/cost
                     ${PROJECT_SOURCE_DIR}/experiments/cost_curve.sh train.epochs=2 train.samples_per_epoch=20
                     train.cost_samples=30 data.limit=100)
    set_tests_properties(experiment.cost_curve PROPERTIES PASS_REGULAR_EXPRESSION "2 epochs: cost")
    if(EXISTS /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz)
      add_test(NAME experiment.deep_regimes.fashion
               COMMAND /usr/bin/python3 ${PROJECT_SOURCE_DIR}/experiments/deep_regimes.py fashion
                       --only cw1 cw0.05 --epochs 1 --samples 30 --train-samples 200 --test-samples 100
                       --simmatch $<TARGET_FILE:simmatch> --out ${_exp_out}/deep_regimes
                       --set train.cost_samples=30
               WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
      set_tests_properties(experiment.deep_regimes.fashion PROPERTIES
                           PASS_REGULAR_EXPRESSION "\\| cw0.05 \\|[^\n]*\\| 1 \\| tanh \\|")
    endif()
  endif()
  set_tests_properties(experiment.nps_table.mnist PROPERTIES TIMEOUT 900)
endif()
