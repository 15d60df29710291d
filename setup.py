"""Builds the one native extension, engine._core, from bindings/ (Cython) and csrc/ (C99).

Build switches (environment variables):
  ENGINE_DEBUG=1     -O0 -g, asserts on (EN_DEBUG), Cython line tracing off
  ENGINE_SANITIZE=1  AddressSanitizer + UndefinedBehaviorSanitizer (run with LD_PRELOAD=$(gcc -print-file-name=libasan.so))
  ENGINE_ANNOTATE=1  write Cython's HTML annotation next to each .pyx (hot loops must be white)
"""
import glob
import os

from Cython.Build import cythonize
from setuptools import Extension, setup


def flag(name):
    return os.environ.get(name, "") not in ("", "0")


compile_args = ["-std=c99", "-O3", "-fno-strict-aliasing", "-Wall", "-Wno-unused-function"]
link_args = ["-pthread"]
macros = [("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")]
if flag("ENGINE_DEBUG"):
    compile_args = [a for a in compile_args if a != "-O3"] + ["-O0", "-g", "-UNDEBUG"]
    macros.append(("EN_DEBUG", "1"))
else:
    macros.append(("NDEBUG", "1"))
if flag("ENGINE_SANITIZE"):
    san = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-g"]
    compile_args += san
    link_args += san

extension = Extension(
    "engine._core",
    sources=["bindings/_core.pyx"] + sorted(glob.glob("csrc/*.c")),
    include_dirs=["csrc", "bindings"],
    define_macros=macros,
    extra_compile_args=compile_args,
    extra_link_args=link_args,
)

setup(
    ext_modules=cythonize(
        [extension],
        include_path=["bindings"],
        annotate=flag("ENGINE_ANNOTATE"),
        compiler_directives={
            "language_level": 3,
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
            "initializedcheck": False,
            "embedsignature": True,
        },
    ),
)
