"""Build qengine's one native extension, ``qengine._native``.

Every C file under ``csrc/`` is compiled into it. A file whose name ends in
``__<variant>.c`` is a SIMD variant: it is compiled on its own with only that variant's
flags, and only when the compiler targets that variant's architecture and accepts its
flags. All other files are portable C compiled with the base flags, so the one build runs
on any CPU of its architecture; run-time dispatch (csrc/common/isa.c) picks the variant.

Environment switches:
  QENGINE_DEBUG=1      -O0 -g and Cython bounds checks back on
  QENGINE_SANITIZE=1   -fsanitize=address,undefined (see docs/ARCHITECTURE.md)
  QENGINE_NO_SIMD=1    compile only the scalar reference
"""
import os
import platform
import subprocess
import sys
import sysconfig
import tempfile
from glob import glob
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).parent

# variant -> (architectures it exists on, flags). Keep in step with csrc/common/isa.c.
X86 = ("x86_64", "amd64", "i686", "x86")
ARM64 = ("aarch64", "arm64")
ARM32 = ("armv7l", "armv7", "armv8l", "arm")
VARIANTS = {
    "avx2": (X86, ["-mavx2", "-mfma", "-mbmi2"]),
    "avx512vnni": (X86, ["-mavx2", "-mfma", "-mavx512f", "-mavx512bw", "-mavx512vl",
                         "-mavx512dq", "-mavx512vnni"]),
    "neon": (ARM64 + ARM32, []),  # per-architecture flags: see _neon_flags()
    "neondot": (ARM64, ["-march=armv8.2-a+dotprod"]),
}


def _machine():
    plat = sysconfig.get_platform().lower()
    for arch in X86 + ARM64 + ARM32:
        if plat.endswith(arch):
            return arch
    return platform.machine().lower()


def _neon_flags(arch):
    if arch in ARM64:
        return ["-march=armv8-a"]
    return ["-march=armv7-a", "-mfpu=neon-vfpv4", "-mfloat-abi=hard"]


def _debug():
    return os.environ.get("QENGINE_DEBUG", "") not in ("", "0")


def _base_cflags():
    flags = ["-std=c11", "-Wall", "-Wextra", "-Wno-unused-parameter", "-fvisibility=hidden",
             "-pthread"]
    flags += ["-O0", "-g"] if _debug() else ["-O3"]
    if os.environ.get("QENGINE_SANITIZE", "") not in ("", "0"):
        flags += ["-fsanitize=address,undefined", "-fno-sanitize-recover=all",
                  "-fno-omit-frame-pointer", "-g"]
    return flags


class BuildExt(build_ext):
    """Compiles each SIMD variant file with its own flags, then links everything."""

    def _accepts(self, flags):
        with tempfile.TemporaryDirectory() as tmp:
            src = os.path.join(tmp, "probe.c")
            with open(src, "w") as f:
                f.write("int main(void) { return 0; }\n")
            try:
                self.compiler.compile([src], output_dir=tmp, extra_postargs=flags)
                return True
            except Exception:
                return False

    def build_extension(self, ext):
        arch = _machine()
        simd = os.environ.get("QENGINE_NO_SIMD", "") in ("", "0")
        base = _base_cflags()
        objects = []
        for variant, (archs, flags) in VARIANTS.items():
            sources = sorted(glob(f"csrc/**/*__{variant}.c", recursive=True))
            if variant == "neon":
                flags = _neon_flags(arch)
            if not (simd and sources and arch in archs and self._accepts(flags)):
                continue
            ext.define_macros.append((f"QE_HAVE_{variant.upper()}", "1"))
            objects += self.compiler.compile(
                sources, output_dir=self.build_temp, include_dirs=ext.include_dirs,
                macros=ext.define_macros, extra_postargs=base + flags)
            print(f"qengine: compiled variant {variant} ({len(sources)} files)")
        ext.extra_objects = objects
        ext.extra_compile_args = base
        ext.extra_link_args = [f for f in base if f.startswith("-fsanitize") or f == "-pthread"]
        super().build_extension(ext)


def _portable_sources():
    return sorted(p for p in glob("csrc/**/*.c", recursive=True) if "__" not in Path(p).name)


def _extensions():
    import numpy
    from Cython.Build import cythonize

    ext = Extension(
        "qengine._native",
        sources=["qengine/_native.pyx"] + _portable_sources(),
        # variant files and headers are not in `sources`; without this an edit to them
        # alone leaves the extension "up to date" and it is not rebuilt
        depends=sorted(glob("csrc/**/*__*.c", recursive=True) + glob("csrc/**/*.h", recursive=True)),
        include_dirs=["csrc/include", "csrc", numpy.get_include()],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
    )
    directives = {"language_level": 3, "boundscheck": _debug(), "wraparound": False,
                  "cdivision": True, "initializedcheck": _debug()}
    return cythonize([ext], compiler_directives=directives)


setup(ext_modules=_extensions(), cmdclass={"build_ext": BuildExt})
