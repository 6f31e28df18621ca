"""setuptools build of the simmatch Python package: the pure-Python files of python/simmatch and the
native module `_simmatch`, which the project's CMake builds (pyproject.toml holds the metadata).

The CMake build tree is build/pip-<python tag> (kept, so a second `pip install .` only rebuilds what
changed), or SIMMATCH_CMAKE_BUILD_DIR when set; a tree configured already is built as it is (this
is how the tests install the module of the build they test). SIMMATCH_CMAKE_ARGS adds options to a
fresh configuration, e.g. "-DSIMMATCH_NATIVE=OFF" for a module that runs on other CPUs.
"""

import os
import re
import shlex
import subprocess
import sys
import sysconfig
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).resolve().parent


def project_version():
    """The version declared once, in CMakeLists.txt's project() call."""
    text = (ROOT / "CMakeLists.txt").read_text()
    match = re.search(r"project\(simmatch\s+VERSION\s+([0-9][0-9.]*)", text)
    if not match:
        raise RuntimeError("CMakeLists.txt: no 'project(simmatch VERSION x.y.z)'")
    return match.group(1)


class CMakeExtension(Extension):
    """An extension whose sources CMake knows; setuptools compiles nothing itself."""

    def __init__(self, name):
        super().__init__(name, sources=[])


class CMakeBuild(build_ext):
    def build_extension(self, ext):
        target = Path(self.get_ext_fullpath(ext.name)).resolve()
        tag = sysconfig.get_config_var("SOABI") or f"py{sys.version_info[0]}{sys.version_info[1]}"
        build_dir = Path(os.environ.get("SIMMATCH_CMAKE_BUILD_DIR") or ROOT / "build" / f"pip-{tag}").resolve()
        jobs = os.environ.get("CMAKE_BUILD_PARALLEL_LEVEL") or str(max(1, os.cpu_count() or 1))
        if not (build_dir / "CMakeCache.txt").exists():
            configure = [
                "cmake", "-S", str(ROOT), "-B", str(build_dir), "-DCMAKE_BUILD_TYPE=Release",
                f"-DPython_EXECUTABLE={sys.executable}", "-DSIMMATCH_BUILD_PYTHON=ON",
                "-DSIMMATCH_BUILD_TESTS=OFF", "-DSIMMATCH_BUILD_BENCH=OFF",
            ] + shlex.split(os.environ.get("SIMMATCH_CMAKE_ARGS", ""))
            self.announce("simmatch: " + " ".join(configure), level=2)
            subprocess.run(configure, check=True)
        subprocess.run(["cmake", "--build", str(build_dir), "--target", "_simmatch", "-j", jobs], check=True)
        built = sorted((build_dir / "python" / "simmatch").glob("_simmatch*" + sysconfig.get_config_var("EXT_SUFFIX")))
        if not built:
            raise RuntimeError(f"simmatch: CMake built no _simmatch module in {build_dir / 'python' / 'simmatch'} "
                               f"(is it configured for this Python, {sys.executable}?)")
        target.parent.mkdir(parents=True, exist_ok=True)
        self.copy_file(str(built[0]), str(target))


setup(
    version=project_version(),
    ext_modules=[CMakeExtension("simmatch._simmatch")],
    cmdclass={"build_ext": CMakeBuild},
    # Next to the CMake trees, not in ./build itself (the usual CMake build folder).
    options={"build": {"build_base": "build/setuptools"}},
)
