#!/usr/bin/env python3
"""Proves that two builds of `simmatch` train the same models: every committed experiment config
(experiments/*.toml) at tiny size, trained by each build, must give bit-identical model arrays,
metrics logs (apart from wall-clock fields), encodings and checkpoints; and a checkpoint written by
the first build must resume in the second to the first build's uninterrupted model.

    python3 tests/integration/compare_builds.py OLD/simmatch NEW/simmatch [--out DIR]

Used to check that a refactoring changes no behaviour: build the commit before it in
another folder (`git archive BASE | tar -x -C /tmp/base && cmake ... --target simmatch`) and run
this from the repository root, or configure with -DSIMMATCH_REFERENCE_CLI=/tmp/base/build/simmatch
and run `ctest -R cli.compare_builds` (tests/integration/compare_builds.cmake). Needs NumPy;
data: data/mnist (setup.sh) and Fashion-MNIST (/usr/share/datasets/fashion-mnist); configs whose
data are missing are reported as skipped.
A parameter added by the new build appears in its models' embedded config at its default; such keys
are listed, not counted as differences (the old build ran the same thing without naming it).
Exit status 0 when everything matches.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import zipfile

import numpy as np

TIMING = {"seconds", "samples_per_second"}
TINY = ["train.epochs=2", "train.samples_per_epoch=40", "train.cost_samples=30", "train.checkpoint_every=7",
        "data.limit=120"]


def synthetic_data(config, folder):
    """Overrides pointing an npy config at seeded stand-in data of the shape its layers expect
    (the committed configs name data that their experiment scripts generate)."""
    rng = np.random.default_rng(0)
    name = os.path.basename(config)
    if name == "feedback_two_layer.toml":
        X = rng.standard_normal((120, 64)).astype(np.float32)
    elif name == "hierarchical_photos.toml":
        X = rng.standard_normal((120, 28, 28)).astype(np.float32)
    else:
        return None
    path = os.path.join(folder, name + ".npy")
    np.save(path, X)
    return [f"data.path={path}", "data.labels="]


def data_available(config):
    with open(config) as f:
        text = f.read()
    for line in text.splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "path" and value.strip().startswith('"'):
            path = value.strip().split('"')[1]
            return os.path.exists(path)
    return True


def run(cli, args):
    result = subprocess.run([cli, *args], capture_output=True, text=True, timeout=1800)
    return result.returncode, result.stderr


def npz_arrays(path):
    with zipfile.ZipFile(path) as z:
        names = sorted(z.namelist())
    with np.load(path) as data:
        return {name: data[name[:-4] if name.endswith(".npy") else name] for name in names}


def checkpoint_state(arrays):
    state = json.loads(bytes(arrays.pop("checkpoint.npy")).decode())
    state["metrics"] = [strip_timing(json.loads(line)) for line in state["metrics"].splitlines() if line.strip()]
    state["epoch_tally"].pop("seconds", None)
    return state


def strip_timing(metrics):
    return {k: v for k, v in metrics.items() if k not in TIMING}


def metrics(path):
    with open(path) as f:
        return [strip_timing(json.loads(line)) for line in f if line.strip()]


def same_arrays(a, b):
    return a.keys() == b.keys() and all(a[k].dtype == b[k].dtype and np.array_equal(a[k], b[k]) for k in a)


def flat_config(tree, prefix=""):
    """The embedded config as {dotted key: value}; each layer's keys under layers.N."""
    items = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            items.update(flat_config(value, f"{prefix}{key}."))
        elif key == "layers" and isinstance(value, list):
            for n, layer in enumerate(value):
                items.update(flat_config(layer, f"{prefix}layers.{n}."))
        else:
            items[prefix + key] = value
    return items


def split_config(arrays):
    """Takes the embedded config out of a model's or checkpoint's arrays, flattened."""
    return flat_config(json.loads(bytes(arrays.pop("config.npy")).decode()))


def config_findings(old, new, added):
    """A key only the new build has (a parameter added since, at its default) changes nothing the
    old build ran: recorded in `added`. Any other difference is a finding."""
    added.update(k for k in new.keys() - old.keys())
    changed = sorted(k for k in old.keys() & new.keys() if old[k] != new[k]) + sorted(old.keys() - new.keys())
    return [f"embedded configs differ in {', '.join(changed)}"] if changed else []


def compare(config, old, new, out, extra, added):
    name = os.path.splitext(os.path.basename(config))[0]
    findings = []
    results = {}
    # Both builds write into the same folders (the model stores its config, output.dir included),
    # which are then renamed after the build.
    for label, cli in (("old", old), ("new", new)):
        work, work_kept = os.path.join(out, name, "run"), os.path.join(out, name, "run-checkpoint")
        folder, kept = os.path.join(out, name, label), os.path.join(out, name, label + "-checkpoint")
        for path in (work, work_kept, folder, kept):
            shutil.rmtree(path, ignore_errors=True)
        rc, err = run(cli, ["train", config, *TINY, *extra, f"output.dir={work}"])
        if rc != 0:
            return [f"{label} build failed: {err.strip().splitlines()[-1] if err.strip() else rc}"]
        codes = os.path.join(work, "codes.npy")
        rc, err = run(cli, ["encode", os.path.join(work, "model.npz"), *data_args(config, extra), codes, "--limit", "50"])
        if rc != 0:
            return [f"{label} encode failed: {err.strip()}"]
        # The checkpoint stays when the model cannot be written (a folder where the file would go).
        os.makedirs(os.path.join(work_kept, "model.npz"))
        rc, _ = run(cli, ["train", config, *TINY, *extra, f"output.dir={work_kept}"])
        if rc == 0 or not os.path.exists(os.path.join(work_kept, "checkpoint.npz")):
            return [f"{label}: no checkpoint left by a run whose model could not be written"]
        os.rename(work, folder)
        os.rename(work_kept, kept)
        results[label] = (folder, os.path.join(folder, "codes.npy"), kept)

    (old_dir, old_codes, old_kept), (new_dir, new_codes, new_kept) = results["old"], results["new"]
    old_model, new_model = os.path.join(old_dir, "model.npz"), os.path.join(new_dir, "model.npz")
    old_arrays, new_arrays = npz_arrays(old_model), npz_arrays(new_model)
    findings += config_findings(split_config(old_arrays), split_config(new_arrays), added)
    if not same_arrays(old_arrays, new_arrays):
        findings.append("model arrays differ")
    elif not added and open(old_model, "rb").read() != open(new_model, "rb").read():
        findings.append("model arrays equal but the files' bytes differ")
    if metrics(os.path.join(old_dir, "metrics.jsonl")) != metrics(os.path.join(new_dir, "metrics.jsonl")):
        findings.append("metrics differ")
    if open(old_codes, "rb").read() != open(new_codes, "rb").read():
        findings.append("encodings differ")
    a = npz_arrays(os.path.join(old_kept, "checkpoint.npz"))
    b = npz_arrays(os.path.join(new_kept, "checkpoint.npz"))
    findings += config_findings(split_config(a), split_config(b), added)
    if checkpoint_state(a) != checkpoint_state(b) or not same_arrays(a, b):
        findings.append("checkpoints differ")

    # Resumption across builds: the old build's one-epoch checkpoint, continued by the new build to
    # two epochs, gives the old build's two-epoch model.
    cross = os.path.join(out, name, "cross")
    shutil.rmtree(cross, ignore_errors=True)
    os.makedirs(os.path.join(cross, "model.npz"))
    one_epoch = [o for o in TINY if not o.startswith("train.epochs")] + ["train.epochs=1"]
    run(old, ["train", config, *one_epoch, *extra, f"output.dir={cross}"])
    os.rmdir(os.path.join(cross, "model.npz"))
    rc, err = run(new, ["train", config, *TINY, *extra, f"output.dir={cross}", "--resume"])
    if rc != 0:
        findings.append(f"the new build did not resume the old build's checkpoint: {err.strip()}")
    else:
        # The same model but for output.dir in its config.
        resumed, reference = npz_arrays(os.path.join(cross, "model.npz")), npz_arrays(old_model)
        configs = [split_config(arrays) for arrays in (reference, resumed)]
        for c in configs:
            for key in [k for k in c if k.startswith("output.")]:
                del c[key]
        if config_findings(*configs, added) or not same_arrays(resumed, reference):
            findings.append("resuming the old build's checkpoint in the new build gives another model")
    return findings


def data_args(config, extra):
    for item in extra:
        if item.startswith("data.path="):
            return [item.split("=", 1)[1]]
    with open(config) as f:
        for line in f:
            key, _, value = line.partition("=")
            if key.strip() == "path":
                return [value.strip().split('"')[1]]
    raise ValueError(f"{config}: no data.path")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", help="the simmatch command of the reference build")
    parser.add_argument("new", help="the simmatch command of the build under test")
    parser.add_argument("--out", default="runs/compare_builds", help="folder for the runs")
    parser.add_argument("--experiments", default="experiments", help="folder of the committed configs")
    args = parser.parse_args()
    configs = sorted(os.path.join(args.experiments, f) for f in os.listdir(args.experiments) if f.endswith(".toml"))
    failed = 0
    added = set()
    for config in configs:
        os.makedirs(args.out, exist_ok=True)
        extra = synthetic_data(config, args.out) or []
        if not extra and not data_available(config):
            print(f"{config}: skipped (data missing)")
            continue
        findings = compare(config, args.old, args.new, args.out, extra, added)
        print(f"{config}: {'identical' if not findings else 'DIFFERENT: ' + '; '.join(findings)}")
        failed += bool(findings)
    if added:
        print(f"keys only the new build writes (parameters added since): {', '.join(sorted(added))}")
    print("all identical" if not failed else f"{failed} config(s) differ")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
