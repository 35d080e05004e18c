"""Fresh-process runs of ``python -c SCRIPT`` that share one interpreter's imports.

Tests that must see what a user's new process sees (``huggingface_hub`` reads
``HF_ENDPOINT``, ``HF_HOME`` and ``HF_HUB_OFFLINE`` at import) start a fresh
interpreter per run, and most of each run's time is spent importing torch,
diffusers and transformers (about 10 s on a 2-core machine). ``ForkedPython``
starts ONE interpreter with a given environment, imports the named modules in
it, and then runs each script in a child forked from it: every run is a new
process whose modules were imported under exactly that environment and that
has run nothing else (no call of ours happened before the fork; disk caches,
sessions and in-process caches are what a fresh interpreter would have). A run
ends like ``python -c``: an uncaught exception prints its traceback and exits
with 1, ``SystemExit`` gives its code, and ``atexit`` handlers run. POSIX only
(``os.fork``).

Use one ``ForkedPython`` per environment; a run that needs another environment
(say ``HF_HUB_OFFLINE=1``) needs another interpreter.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

_ZYGOTE = r"""
import importlib, json, os, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
sys.stdout.write("ready\n")
sys.stdout.flush()
for line in sys.stdin:
    job = json.loads(line)
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        for fd, path in ((1, job["stdout"]), (2, job["stderr"])):
            os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), fd)
        sys.stdin = open(os.devnull)
        sys.argv = ["-c", *job["argv"]]
        namespace = {"__name__": "__main__", "__builtins__": __builtins__}
        exec(compile(job["script"], "<string>", "exec"), namespace)
        raise SystemExit(0)
    _, status = os.waitpid(pid, 0)
    sys.stdout.write(json.dumps(os.waitstatus_to_exitcode(status)) + "\n")
    sys.stdout.flush()
"""


class ForkedPython:
    """One interpreter (``sys.executable``) started with ``env``, having imported ``preload``.

    Args:
        env: the whole environment of the interpreter and of every run (as for
            ``subprocess.run(env=...)``).
        preload: module names imported once, before any run (only modules whose
            import depends on nothing but ``env``).
        timeout: seconds allowed for the start-up and for each run.

    Raises:
        RuntimeError: the interpreter did not start or a preload import failed
            (its stderr tail is in the message).
    """

    def __init__(self, env: dict[str, str], preload: list[str], timeout: float = 300) -> None:
        self._timeout = timeout
        self._dir = tempfile.TemporaryDirectory(prefix="forked_python_")
        self._stderr = open(Path(self._dir.name) / "zygote.err", "w+")
        self._proc = subprocess.Popen([sys.executable, "-c", _ZYGOTE, *preload], env=env, stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, stderr=self._stderr, text=True)  # fmt: skip
        while (line := self._readline()) != "ready":  # a preload import may print lines of its own
            if line is None:
                message = "the forked-python interpreter did not start:\n" + self._zygote_stderr()
                self.close()
                raise RuntimeError(message)

    def _zygote_stderr(self) -> str:
        self._stderr.flush()
        return (Path(self._dir.name) / "zygote.err").read_text()[-3000:]

    def _readline(self) -> str | None:
        """The interpreter's next stdout line, stripped; None at its end."""
        import selectors

        with selectors.DefaultSelector() as sel:
            sel.register(self._proc.stdout, selectors.EVENT_READ)
            if not sel.select(self._timeout):
                self._proc.kill()
                raise subprocess.TimeoutExpired(self._proc.args, self._timeout)
        raw = self._proc.stdout.readline()
        return raw.strip() if raw else None

    def run(self, script: str, *argv: str) -> subprocess.CompletedProcess:
        """Run ``script`` as ``python -c script *argv`` would, in a child forked from the interpreter.

        Returns:
            ``CompletedProcess`` with ``returncode``, ``stdout`` and ``stderr`` (text).

        Raises:
            subprocess.TimeoutExpired: the run took longer than ``timeout``.
            RuntimeError: the interpreter itself died.
        """
        out, err = (Path(self._dir.name) / name for name in ("run.out", "run.err"))
        job = {"script": script, "argv": list(argv), "stdout": str(out), "stderr": str(err)}
        self._proc.stdin.write(json.dumps(job) + "\n")
        self._proc.stdin.flush()
        line = self._readline()
        if line is None:
            raise RuntimeError("the forked-python interpreter died:\n" + self._zygote_stderr())
        return subprocess.CompletedProcess(["-c", script, *argv], json.loads(line), out.read_text(), err.read_text())

    def close(self) -> None:
        """End the interpreter (it exits when its stdin closes) and remove its files."""
        if self._proc.poll() is None:
            self._proc.stdin.close()
            try:
                self._proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._stderr.close()
        self._dir.cleanup()

    def __enter__(self) -> "ForkedPython":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
