"""Shared helpers of the deploy tests (tests/deploy/*_test.py): a check recorder that prints `N passed, M failed`,
free loopback ports, and a `gridsentinel run` process on its embedded broker that is always stopped."""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback


class Checks:
    """Named checks; each prints OK or FAIL with a reason. `finish()` prints the summary and exits 1 on failure."""

    def __init__(self):
        self.passed = 0
        self.failed = 0

    def ok(self, name, detail=""):
        self.passed += 1
        print(f"OK    {name}" + (f": {detail}" if detail else ""), flush=True)

    def fail(self, name, detail=""):
        self.failed += 1
        print(f"FAIL  {name}" + (f": {detail}" if detail else ""), flush=True)

    def check(self, name, condition, detail=""):
        (self.ok if condition else self.fail)(name, detail)
        return condition

    def run(self, name, fn, *args):
        """Runs fn(*args); an AssertionError or any exception is a failure of `name`."""
        try:
            detail = fn(*args)
            self.ok(name, detail or "")
        except AssertionError as e:
            self.fail(name, str(e))
        except Exception as e:  # a broken check is a failed check, with where it broke
            self.fail(name, f"{type(e).__name__}: {e}\n{traceback.format_exc()}")

    def finish(self):
        print(f"{self.passed} passed, {self.failed} failed", flush=True)
        sys.exit(1 if self.failed or not self.passed else 0)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Gridsentinel:
    """`gridsentinel run --config <config_text>` on its embedded broker. Use as a context manager: the process is
    stopped with SIGTERM (then SIGKILL after 15 s) on exit, and `returncode`/`output` are set."""

    def __init__(self, binary, config_text, work_dir=None, startup_timeout=30):
        self.binary = binary
        self._own_work = work_dir is None  # removed after a clean stop; kept (logs) otherwise
        self.work = work_dir or tempfile.mkdtemp(prefix="gs-deploy-")
        self.bootstrap_file = os.path.join(self.work, "bootstrap")
        self.config_path = os.path.join(self.work, "gridsentinel.yaml")
        self.log_path = os.path.join(self.work, "gridsentinel.log")
        with open(self.config_path, "w") as f:
            f.write(config_text.replace("@BOOTSTRAP_FILE@", self.bootstrap_file))
        self.startup_timeout = startup_timeout
        self.proc = None
        self.returncode = None
        self.bootstrap = None

    def __enter__(self):
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen([self.binary, "run", "--config", self.config_path], stdout=self._log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.time() + self.startup_timeout
        while True:
            if os.path.exists(self.bootstrap_file):
                text = open(self.bootstrap_file).read().strip()
                if text:
                    self.bootstrap = text
                    break
            if self.proc.poll() is not None:
                raise RuntimeError(f"gridsentinel exited early with {self.proc.returncode}:\n{self.output()}")
            if time.time() > deadline:
                raise RuntimeError(f"gridsentinel did not write its bootstrap address:\n{self.output()}")
            time.sleep(0.1)
        return self

    def output(self):
        try:
            with open(self.log_path) as f:
                return f.read()[-4000:]
        except OSError:
            return ""

    def __exit__(self, *exc):
        self.stop()
        return False

    def stop(self):
        if self.proc is None or self.returncode is not None:
            return self.returncode
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.returncode = self.proc.returncode
        self._log.close()
        if self._own_work and self.returncode == 0:
            shutil.rmtree(self.work, ignore_errors=True)
        elif self.returncode != 0:
            print(f"gridsentinel exited {self.returncode}; its log: {self.log_path}", flush=True)
        return self.returncode


def stop_process(proc, timeout=10):
    """SIGTERM, then SIGKILL after `timeout`; never leaves the process behind."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
