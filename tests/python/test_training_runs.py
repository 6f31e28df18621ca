"""Long runs from Python: checkpoints written by fit and resumed to the uninterrupted model (also
across Python and the CLI, which share the run code), Ctrl-C in fit and in linear_readout."""

import os
import signal
import subprocess
import threading
import time
import unittest

import numpy as np

import simmatch
from _helpers import CLI, TempDirTest, patterns

LOCAL = [dict(type="local2d", stride=2, radius=3.0, neurons_per_site=4)]
CAN_SIGNAL = hasattr(signal, "SIGINT") and threading.current_thread() is threading.main_thread()


def network(**kwargs):
    params = dict(seed=5, cost_samples=40, checkpoint_every=5, batch_size=2, tolerance=1e-6)
    params.update(kwargs)
    return simmatch.Network((16, 16), layers=LOCAL, **params)


def same_weights(a, b):
    return all(np.array_equal(x.W_data, y.W_data) and np.array_equal(x.L_data, y.L_data)
               for x, y in zip(a.layers, b.layers))


def interrupt_after(seconds, call):
    """Runs call() with SIGINT sent after `seconds`; True when it raised KeyboardInterrupt."""
    timer = threading.Timer(seconds, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    try:
        call()
    except KeyboardInterrupt:
        return True
    finally:
        timer.cancel()
    return False


class CheckpointTest(TempDirTest):
    def setUp(self):
        super().setUp()
        self.X, _ = patterns(120, side=16)
        self.checkpoint = self.path("checkpoint.npz")

    def test_resume_needs_a_checkpoint(self):
        with self.assertRaisesRegex(ValueError, "resume=True needs checkpoint=path"):
            network().fit(self.X, epochs=1, resume=True)

    def test_the_checkpoint_is_a_model_with_the_runs_state(self):
        net = network().fit(self.X, epochs=2, checkpoint=self.checkpoint)
        self.assertTrue(same_weights(simmatch.load(self.checkpoint), net))
        # Resuming a finished run restores it and trains nothing more.
        again = network().fit(self.X, checkpoint=self.checkpoint, resume=True)
        self.assertTrue(same_weights(again, net))
        self.assertEqual(again.epochs_trained_, 2)
        self.assertEqual([m["cost"] for m in again.history_], [m["cost"] for m in net.history_])
        # It may go on: three epochs in all equal an uninterrupted three-epoch run.
        again.fit(self.X, epochs=3, checkpoint=self.checkpoint, resume=True)
        self.assertTrue(same_weights(again, network().fit(self.X, epochs=3)))
        self.assertEqual([m["epoch"] for m in again.history_], [1, 2, 3])

    def test_earlier_epochs_stay_in_the_checkpoints_history(self):
        net = network().fit(self.X, epochs=1)
        net.fit(self.X, epochs=1, checkpoint=self.checkpoint)
        back = network().fit(self.X, checkpoint=self.checkpoint, resume=True)
        self.assertEqual([m["epoch"] for m in back.history_], [1, 2])
        self.assertTrue(same_weights(back, net))

    def test_another_data_set_is_refused(self):
        network().fit(self.X, epochs=1, checkpoint=self.checkpoint)
        with self.assertRaisesRegex(simmatch.ConfigError, "cannot resume"):
            network().fit(self.X[::-1].copy(), epochs=2, checkpoint=self.checkpoint, resume=True)

    @unittest.skipUnless(CAN_SIGNAL, "needs SIGINT in the main thread")
    def test_a_run_interrupted_mid_epoch_resumes_to_the_uninterrupted_model(self):
        start = time.monotonic()
        whole = network().fit(self.X, epochs=3)
        seconds = time.monotonic() - start
        interrupted = network()
        # SIGINT somewhere inside the run (mid-epoch checkpoints every 5 batches of 2 samples).
        stopped = interrupt_after(0.5 * seconds, lambda: interrupted.fit(self.X, epochs=3, checkpoint=self.checkpoint))
        self.assertTrue(stopped, f"the run ({seconds:.2f} s) ended before the signal")
        self.assertLess(interrupted.epochs_trained_, 3)
        self.assertTrue(os.path.exists(self.checkpoint))
        resumed = network().fit(self.X, checkpoint=self.checkpoint, resume=True)
        self.assertTrue(same_weights(resumed, whole))
        self.assertEqual([m["epoch"] for m in resumed.history_], [1, 2, 3])
        self.assertEqual([m["cost"] for m in resumed.history_], [m["cost"] for m in whole.history_])


CONFIG = """
seed = 2
[data]
format = "npy"
path = "{data}"
[[layers]]
type = "local2d"
stride = 2
radius = 3.0
neurons_per_site = 2
[train]
epochs = 3
samples_per_epoch = 30
batch_size = 3
cost_samples = 20
checkpoint_every = 4
[output]
dir = "{out}"
"""


@unittest.skipUnless(CLI and os.path.exists(CLI), "the simmatch command is not built (SIMMATCH_CLI)")
class CliInteropTest(TempDirTest):
    """Python and `simmatch train` write and resume each other's checkpoints."""

    def setUp(self):
        super().setUp()
        X, _ = patterns(50, side=8, seed=7)
        np.save(self.path("data.npy"), X)

    def config(self, name):
        path = self.path(name + ".toml")
        with open(path, "w") as f:
            f.write(CONFIG.format(data=self.path("data.npy"), out=self.path(name)))
        return path

    def cli(self, *args, ok=True):
        result = subprocess.run([CLI, *args], capture_output=True, text=True, timeout=300)
        if ok:
            self.assertEqual(result.returncode, 0, result.stderr)
        return result

    def test_checkpoints_cross_between_python_and_the_cli(self):
        whole_config = self.config("whole")
        self.cli("train", whole_config)
        whole = simmatch.load(self.path("whole/model.npz"))

        # The CLI's checkpoint after 2 epochs (its model cannot be written: a folder is in the way),
        # continued in Python to 3 epochs.
        cli_config = self.config("cli")
        os.makedirs(self.path("cli/model.npz"))
        self.cli("train", cli_config, "train.epochs=2", ok=False)
        net = simmatch.Network.from_config(cli_config)
        net.fit(checkpoint=self.path("cli/checkpoint.npz"), resume=True, epochs=3)
        self.assertTrue(same_weights(net, whole))

        # Python's checkpoint after 1 epoch, continued by `simmatch train --resume`.
        py_config = self.config("python")
        simmatch.Network.from_config(py_config).fit(epochs=1, checkpoint=self.path("python/checkpoint.npz"))
        result = self.cli("train", py_config, "--resume")
        self.assertIn("resuming from", result.stderr)
        self.assertTrue(same_weights(simmatch.load(self.path("python/model.npz")), whole))


@unittest.skipUnless(CAN_SIGNAL, "needs SIGINT in the main thread")
class ReadoutInterruptTest(unittest.TestCase):
    def test_ctrl_c_stops_linear_readout(self):
        rng = np.random.default_rng(0)
        y = (np.arange(6000) % 10).astype(np.int32)
        X = (rng.standard_normal((6000, 300)) + 0.3 * np.eye(10, 300)[y]).astype(np.float32)
        start = time.monotonic()
        # liblinear's primal solver: about 7 s in all on one core, each of its 60 binary problems
        # about 0.1 s (the dense default finishes this problem before the signal).
        stopped = interrupt_after(0.3, lambda: simmatch.linear_readout(X[:5000], y[:5000], X[5000:], y[5000:],
                                                                      c=[0.01, 0.1, 1.0, 10.0, 100.0],
                                                                      solver="primal"))
        self.assertTrue(stopped)
        self.assertLess(time.monotonic() - start, 3.0)
        # The read-out works again afterwards.
        report = simmatch.linear_readout(X[:300], y[:300], X[5000:5100], y[5000:5100], c=[1.0])
        self.assertEqual(report["train_samples"], 300)


if __name__ == "__main__":
    unittest.main()
