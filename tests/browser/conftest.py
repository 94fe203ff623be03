"""Fixtures of the end-to-end tests: a headless Chromium, Jupyter servers (JupyterLab 4 and Notebook 7) serving a
copy of ``example_notebooks/tour.ipynb``, and the tour run once in each. On failure a screenshot, the page's
HTML, its console messages and the server log go to ``test-artifacts/``."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # `tests.browser...` also under plain `pytest`

from tests.browser.jupyter_server import (  # noqa: E402
    TOUR,
    JupyterServer,
    NotebookPage,
    chromium,
    chromium_executable,
    copy_tour,
)

FIRST_PAINT_S = 90  # kernel start, torch import, the tour's cells up to the widget: ~10-30 s on 2 busy cores


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report = outcome.get_result()
    if report.failed and report.when in ("setup", "call"):
        pages = [v for v in getattr(item, "funcargs", {}).values() if isinstance(v, NotebookPage)]
        for page in pages:
            _save(page, f"{item.name}-{report.when}")


@pytest.fixture(autouse=True)
def no_console_errors(request: pytest.FixtureRequest) -> Iterator[None]:
    """After each browser test: the page logged no console error and raised no uncaught exception (since it was
    opened, so the tour's own run counts too)."""
    yield
    for value in getattr(request.node, "funcargs", {}).values():
        if isinstance(value, NotebookPage):
            errors = [m for m in value.console if m.startswith(("error:", "uncaught:")) and not _jupyters_own(m)]
            assert errors == [], "the page logged errors:\n" + "\n".join(errors)


def _jupyters_own(message: str) -> bool:
    """An uncaught exception raised wholly inside the Jupyter application's own bundle (Notebook 7.x throws
    "Cannot read properties of undefined (reading 'schema')" while loading its settings, with or without this
    widget): not the widget's to fix, so not counted. Anything with a frame elsewhere is counted."""
    frames = [line.strip() for line in message.splitlines() if line.strip().startswith("at ")]
    return message.startswith("uncaught:") and bool(frames) and all(
        "/static/notebook/" in f or "/static/lab/" in f or f.startswith("at async Promise") for f in frames)


def _save(page: NotebookPage, name: str) -> None:
    try:
        saved = page.save_artifacts(name)
        print(f"\nsaved {', '.join(str(p) for p in saved)}", file=sys.stderr)
    except Exception as error:  # the page may be gone; the test's own error matters more
        print(f"\ncould not save artifacts for {name}: {error}", file=sys.stderr)


@pytest.fixture(scope="session")
def playwright_instance() -> Iterator[object]:
    if chromium_executable() is None:
        pytest.skip("chromium is not installed (apt-get install chromium); Playwright cannot download one here")
    from playwright.sync_api import sync_playwright  # a dev dependency: missing is an error, not a skip

    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="session")
def browser(playwright_instance: object) -> Iterator[object]:
    with chromium(playwright_instance) as context:
        context.set_default_timeout(30_000)
        yield context


def _server(app: str, factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    root = factory.mktemp(f"{app}-root")
    copy_tour(root)
    server = JupyterServer(app, root, log_path=factory.mktemp(f"{app}-log") / f"jupyter-{app}.log")
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture(scope="session")
def lab_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    yield from _server("lab", tmp_path_factory)


@pytest.fixture(scope="session")
def notebook_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    yield from _server("notebook", tmp_path_factory)


def _run_tour(browser: object, server: JupyterServer) -> Iterator[NotebookPage]:
    page = NotebookPage(browser.new_page(), server)
    try:
        page.open(TOUR.name, timeout=FIRST_PAINT_S)
        page.run_all()
        page.wait_first_paint(timeout=FIRST_PAINT_S)
        page.wait_all_executed(timeout=FIRST_PAINT_S)
    except Exception:
        _save(page, f"run-tour-{server.app}")
        page.page.close()
        raise
    try:
        yield page
    finally:
        page.page.close()


@pytest.fixture(scope="module")
def lab_tour(browser: object, lab_server: JupyterServer) -> Iterator[NotebookPage]:
    """The tour opened in JupyterLab 4 with all cells run (one kernel for the module's tests)."""
    yield from _run_tour(browser, lab_server)


@pytest.fixture(scope="module")
def notebook_tour(browser: object, notebook_server: JupyterServer) -> Iterator[NotebookPage]:
    """The tour opened in Jupyter Notebook 7 with all cells run."""
    yield from _run_tour(browser, notebook_server)
