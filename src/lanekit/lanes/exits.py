"""How a process ended, in words: `SIGILL (illegal instruction)` rather than `code -4`."""

from __future__ import annotations

import signal

SIGNAL_MEANING = {
    signal.SIGILL: "illegal instruction",
    signal.SIGSEGV: "segmentation fault",
    signal.SIGBUS: "bus error",
    signal.SIGFPE: "floating-point exception",
    signal.SIGABRT: "aborted",
    signal.SIGKILL: "killed",
    signal.SIGTERM: "terminated",
}


def describe_signal(returncode: int | None) -> str | None:
    """'SIGILL (illegal instruction)' for a process killed by a signal (negative code), else None."""
    if returncode is None or returncode >= 0:
        return None
    try:
        sig = signal.Signals(-returncode)
    except ValueError:
        return f"signal {-returncode}"
    meaning = SIGNAL_MEANING.get(sig)
    return f"{sig.name} ({meaning})" if meaning else sig.name


def describe_exit(returncode: int) -> str:
    """'died with SIGILL (illegal instruction)' or 'exited with code 3'."""
    what = describe_signal(returncode)
    return f"died with {what}" if what else f"exited with code {returncode}"


def generic_exit_fix(returncode: int) -> str | None:
    """A fix that holds for any engine (None when the log says more than a rule could)."""
    if returncode == -signal.SIGKILL:
        return "the kernel killed it (out of memory?): check `dmesg`, lower ctx/parallel or pick a smaller quant"
    return None


def last_error_line(log_tail: str) -> str:
    """The most telling line of a log tail: the last that says error/failed, else the last line."""
    lines = [ln.strip() for ln in log_tail.splitlines() if ln.strip() and not ln.startswith("$ ")]
    for line in reversed(lines):
        low = line.lower()
        if "error" in low or "failed" in low or "abort" in low or "illegal" in low:
            return line
    return lines[-1] if lines else ""
