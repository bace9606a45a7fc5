"""Running the lab's system commands (ip, nft, nsenter, ...) and waiting on conditions, with bounded time."""

import shlex
import subprocess
import time


class LabCommandError(RuntimeError):
    """A lab command failed or did not finish; the message names the command and what it printed."""


def run(argv, *, stdin_text=None, timeout=60):
    """Run ``argv`` and return its stdout; raise LabCommandError with its stderr if it fails."""
    try:
        completed = subprocess.run(argv, input=stdin_text, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise LabCommandError(f'{shlex.join(argv)} did not finish within {timeout} s') from exc
    if completed.returncode != 0:
        detail = (completed.stderr or completed.stdout).strip()
        raise LabCommandError(f'{shlex.join(argv)} failed with exit code {completed.returncode}: {detail}')
    return completed.stdout


def wait_for(condition, *, timeout, what, interval=0.1):
    """Call ``condition()`` until it returns a true value and return that value.

    ``condition`` may return a false value, or raise ``NotReady`` with a detail for the timeout message. After
    ``timeout`` seconds raise TimeoutError naming ``what`` and the last detail.
    """
    deadline = time.monotonic() + timeout
    detail = ''
    while True:
        try:
            value = condition()
        except NotReady as exc:
            value, detail = None, str(exc)
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f'{what} not ready after {timeout} s' + (f': {detail}' if detail else ''))
        time.sleep(interval)


class NotReady(Exception):
    """Raised by a ``wait_for`` condition to say why it is not met yet."""
