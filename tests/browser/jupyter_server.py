"""A Jupyter server and a headless Chromium for the browser tests and ``benchmarks/browser_repaint.py``, and a
driver for a notebook page that works the way a person does: menus, keyboard and the widget's labelled controls.

Nothing here reaches the network: the server binds 127.0.0.1 with news and update checks off, and Chromium is
Debian's build (Playwright cannot download its own here), started with a fresh profile.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
TOUR = REPO / "example_notebooks" / "tour.ipynb"
ARTIFACTS = REPO / "test-artifacts"

CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]

# Per front end: how to start it and where a notebook opens.
APPS = {
    "lab": {"module": "jupyterlab", "argv": ["lab", "--LabApp.news_url=None",
                                             "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
                                             "--LabApp.extension_manager=readonly"],
            "notebook_url": "lab/tree/{path}"},
    "notebook": {"module": "notebook", "argv": ["notebook"], "notebook_url": "notebooks/{path}"},
}

# The announcements plugin would otherwise ask, in a toast over the page, whether to fetch news.
_NO_NEWS = {"@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false",
                                                                                 "checkForUpdates": False}}


def chromium_executable() -> str | None:
    """Debian's Chromium, or None when it is not installed."""
    return shutil.which("chromium")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class JupyterServer:
    """``python -m jupyter lab`` (or ``notebook``) from this interpreter on a free loopback port, with no token,
    serving ``root_dir``. Settings, runtime files and config live in a private temporary folder."""

    def __init__(self, app: str, root_dir: Path, log_path: Path | None = None):
        if app not in APPS:
            raise ValueError(f"app must be one of {sorted(APPS)}; got {app!r}")
        self.app = app
        self.root_dir = Path(root_dir)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log_path = log_path
        self._home = Path(tempfile.mkdtemp(prefix=f"nbs-jupyter-{app}-"))
        self._log = None
        self.process: subprocess.Popen[bytes] | None = None

    def _environment(self) -> dict[str, str]:
        settings = self._home / "settings"
        for name, values in _NO_NEWS.items():
            path = settings / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values))
        env = dict(os.environ)
        env.update({
            "JUPYTER_CONFIG_DIR": str(self._home / "config"),
            "JUPYTER_RUNTIME_DIR": str(self._home / "runtime"),
            "JUPYTERLAB_SETTINGS_DIR": str(settings),
            "JUPYTERLAB_WORKSPACES_DIR": str(self._home / "workspaces"),
            "IPYTHONDIR": str(self._home / "ipython"),
            "MPLBACKEND": "module://matplotlib_inline.backend_inline",
            "PYTHONUNBUFFERED": "1",
        })
        return env

    def start(self, timeout: float = 60.0) -> JupyterServer:
        argv = [
            sys.executable, "-m", "jupyter", *APPS[self.app]["argv"],
            "--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0",
            "--ServerApp.token=", "--ServerApp.password=", "--ServerApp.disable_check_xsrf=True",
            f"--ServerApp.root_dir={self.root_dir}",
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:  # containers and CI often run as root
            argv.append("--ServerApp.allow_root=True")
        self._log = open(self.log_path, "wb") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        # Its own process group, so that the kernels it started go too if it must be killed.
        self.process = subprocess.Popen(argv, cwd=self._home, env=self._environment(), stdin=subprocess.DEVNULL,
                                        stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                code = self.process.returncode
                self.stop()
                raise RuntimeError(f"jupyter {self.app} exited with code {code} while starting"
                                   f"{'; see ' + str(self.log_path) if self.log_path else ''}")
            try:
                self.api("status")
                return self
            except (OSError, urllib.error.URLError):
                time.sleep(0.2)
        self.stop()
        raise TimeoutError(f"jupyter {self.app} did not answer {self.url}api/status within {timeout:.0f} s")

    def api(self, path: str) -> Any:
        """GET ``/api/<path>`` as JSON."""
        with urllib.request.urlopen(f"{self.url}api/{path}", timeout=5) as response:
            return json.load(response)

    def notebook_url(self, path: str) -> str:
        return self.url + APPS[self.app]["notebook_url"].format(path=path)

    def kernel_states(self) -> list[str]:
        """Execution state of every running kernel (``idle``, ``busy``, ``starting``...); [] when the server
        cannot tell yet."""
        try:
            return [k.get("execution_state", "") for k in self.api("kernels")]
        except (OSError, urllib.error.URLError):
            return []

    def stop(self, timeout: float = 20.0) -> None:
        """Terminate the server (it shuts its kernels down) and wait; kill its process group if it lingers."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)
        if process is not None:  # kernels left behind by a server that died: same process group
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGTERM)
        if self._log not in (None, subprocess.DEVNULL):
            self._log.close()
            self._log = None
        shutil.rmtree(self._home, ignore_errors=True)

    def __enter__(self) -> JupyterServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def copy_tour(root_dir: Path) -> Path:
    """Copy the tour notebook into ``root_dir`` (the server's root)."""
    if not TOUR.exists():
        raise FileNotFoundError(f"{TOUR} is missing; write it with `python example_notebooks/make_tour.py`")
    return Path(shutil.copy(TOUR, Path(root_dir) / TOUR.name))


@contextlib.contextmanager
def chromium(playwright: Any, viewport: tuple[int, int] = (1400, 1000)) -> Iterator[Any]:
    """A headless Chromium context on a fresh temporary profile (Debian's build, started by Playwright)."""
    executable = chromium_executable()
    if executable is None:
        raise FileNotFoundError("chromium is not installed")
    with tempfile.TemporaryDirectory(prefix="nbs-chromium-") as profile:
        context = playwright.chromium.launch_persistent_context(
            profile, executable_path=executable, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": viewport[0], "height": viewport[1]})
        try:
            yield context
        finally:
            context.close()


# -- driving a notebook page ---------------------------------------------------------------------------------

WIDGET = ".nbs-root"

_ERROR_OUTPUTS = ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"

_CANVAS_DIGEST = """(label) => {
  const canvas = document.querySelector(`canvas[aria-label="${label}"]`);
  return canvas === null ? null : `${canvas.width}x${canvas.height}:${canvas.toDataURL()}`;
}"""


class NotebookPage:
    """A notebook open in JupyterLab 4 or Jupyter Notebook 7, with the Explorer widget in one of its outputs."""

    def __init__(self, page: Any, server: JupyterServer):
        self.page = page
        self.server = server
        self.console: list[str] = []  # the page's console errors and warnings, and uncaught exceptions
        page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}") if m.type in ("error", "warning")
                else None)
        page.on("pageerror", lambda e: self.console.append(f"uncaught: {e}\n{getattr(e, 'stack', '')}"))

    def open(self, path: str, timeout: float = 60.0) -> NotebookPage:
        """Open ``path`` and wait until its kernel has started and is idle."""
        self.page.goto(self.server.notebook_url(path), timeout=timeout * 1000)
        self.page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=timeout * 1000)
        self.wait_kernel_idle(timeout)
        return self

    def wait_kernel_idle(self, timeout: float = 60.0) -> None:
        """Wait for a kernel that the server reports idle and that the page shows as idle."""
        deadline = time.monotonic() + timeout
        states: list[str] = []
        while time.monotonic() < deadline:
            # The page first: asking the server about a kernel that is still starting can fail (HTTP 500).
            if self._page_shows_idle():
                states = self.server.kernel_states()
                if states and all(s == "idle" for s in states):
                    return
            time.sleep(0.2)
        raise TimeoutError(f"no idle kernel within {timeout:.0f} s (kernels: {states})")

    def _page_shows_idle(self) -> bool:
        # The notebook toolbar's execution indicator (JupyterLab 4 and Notebook 7): "Kernel status: Idle".
        return self.page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").count() > 0

    def menu(self, *path: str) -> None:
        """Click through the menu bar, e.g. ``menu("Run", "Run All Cells")``."""
        self.page.locator(".lm-MenuBar-itemLabel", has_text=path[0]).first.click()
        for name in path[1:]:
            self.page.locator(".lm-Menu-itemLabel").get_by_text(name, exact=True).first.click()

    def run_all(self) -> None:
        self.menu("Run", "Run All Cells")

    def wait_all_executed(self, timeout: float = 60.0) -> None:
        """Wait until no code cell is waiting or running (no ``[*]`` prompt) and the kernel is idle."""
        self.page.wait_for_function(
            """() => [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')]
                     .every((p) => !p.textContent.includes('*'))""",
            timeout=timeout * 1000)
        self.wait_kernel_idle(timeout)
        self.raise_cell_errors()

    def raise_cell_errors(self) -> None:
        """Fail with the first traceback shown in an output, if any."""
        for output in self.page.locator(_ERROR_OUTPUTS).all():
            text = output.inner_text()
            if "Traceback" in text:
                raise AssertionError(f"a cell of the notebook raised:\n{text}")

    # -- the widget ------------------------------------------------------------------------------------------
    @property
    def widget(self) -> Any:
        return self.page.locator(WIDGET)

    def painted_seq(self) -> int:
        value = self.widget.get_attribute("data-painted-seq")
        return int(value) if value else 0

    def wait_painted(self, after: int = 0, timeout: float = 60.0) -> int:
        """Wait until the widget has painted a result newer than ``after``; returns its seq."""
        self.page.wait_for_function(
            """([sel, after]) => {
                 const root = document.querySelector(sel);
                 return root !== null && Number(root.dataset.paintedSeq || 0) > after;
               }""",
            arg=[WIDGET, after], timeout=timeout * 1000)
        return self.painted_seq()

    def wait_first_paint(self, timeout: float = 60.0) -> int:
        """Wait for the widget's first paint; fail at once, with the traceback, when a cell raised instead."""
        self.page.wait_for_function(
            """([sel, outputs]) => {
                 const root = document.querySelector(sel);
                 if (root !== null && Number(root.dataset.paintedSeq || 0) > 0) return true;
                 return [...document.querySelectorAll(outputs)].some((o) => o.textContent.includes("Traceback"));
               }""",
            arg=[WIDGET, _ERROR_OUTPUTS], timeout=timeout * 1000)
        self.raise_cell_errors()
        return self.painted_seq()

    def canvas_digest(self, label: str = "Attribution map") -> str:
        """A short hash of a canvas's size and pixels (PNG data URL)."""
        data = self.page.evaluate(_CANVAS_DIGEST, label)
        if data is None:
            raise AssertionError(f"no canvas labelled {label!r} on the page")
        return hashlib.sha256(data.encode()).hexdigest()[:16]

    def control(self, label: str) -> Any:
        return self.widget.get_by_label(label, exact=True)

    def pick_layer(self, name: str) -> None:
        """Type a layer's name in the Layer picker (a combobox) and press Enter, as a person does."""
        field = self.control("Layer")
        field.fill(name)
        field.press("Enter")

    def alert(self) -> Any:
        return self.widget.get_by_role("alert")

    def add_code_cell_and_run(self, source: str, timeout: float = 30.0) -> str:
        """Append a code cell after the last one (command mode ``b``), type ``source``, run it with
        Shift+Enter and return its output text."""
        cells = self.page.locator(".jp-Notebook .jp-Cell")
        before = cells.count()
        last = cells.nth(before - 1)
        # Leave the widget first, as a person clicking elsewhere does: keys typed in it stay in it.
        self.page.evaluate("() => document.activeElement?.blur()")
        last.locator(".jp-InputPrompt").click()  # selects the cell without entering edit mode
        self.page.keyboard.press("Escape")
        self.page.keyboard.press("b")
        self.page.wait_for_function(
            "(n) => document.querySelectorAll('.jp-Notebook .jp-Cell').length > n", arg=before,
            timeout=timeout * 1000)
        cell = cells.nth(before)
        cell.locator(".cm-content").click()
        self.page.keyboard.insert_text(source)
        self.page.keyboard.press("Shift+Enter")
        output = cell.locator(".jp-OutputArea-output")
        output.first.wait_for(timeout=timeout * 1000)
        return output.first.inner_text()

    def save_artifacts(self, name: str) -> list[Path]:
        """A screenshot, the page's HTML and console messages, and the server log under ``test-artifacts/``."""
        ARTIFACTS.mkdir(exist_ok=True)
        saved = []
        console = ARTIFACTS / f"{name}.console.txt"
        console.write_text("\n".join(self.console) + "\n")
        saved.append(console)
        if self.server.log_path is not None and Path(self.server.log_path).exists():
            saved.append(Path(shutil.copy(self.server.log_path, ARTIFACTS / f"{name}.server.log")))
        png, html = ARTIFACTS / f"{name}.png", ARTIFACTS / f"{name}.html"
        self.page.screenshot(path=str(png), full_page=True)
        saved.append(png)
        html.write_text(self.page.content())
        saved.append(html)
        return saved
