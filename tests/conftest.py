"""Fixtures shared by the test modules: real parts started by the tests themselves."""

import pytest

pytest_plugins = [
    "tests.support.adb",  # a private adb server and the simulated phone
    "tests.support.display",  # Xvfb and a window that logs events
    "tests.support.evals",  # a browser for eval tasks
    "tests.support.pages",  # a local page server
    "tests.support.tiny_model",  # the tiny random-weight Qwen2.5-VL checkpoint
]


def pytest_configure(config: object) -> None:
    """Compiled grammars go to a folder of this run, not the user's cache (subprocesses inherit it); logs on."""
    import os
    import tempfile

    os.environ["AGENT_CACHE_DIR"] = tempfile.mkdtemp(prefix="agent-test-cache-")

    from agent.logs import enable_logs

    enable_logs()  # the tests read the packages' logs as the command line shows them; a library's are off


# Fixtures that start a real part (an X server, a browser, adb, a page server, the tiny model on disk): a test
# that takes one is `slow`, so `pytest -m "not slow"` is the quick loop over everything else.
SLOW_FIXTURES = {"xvfb", "event_window", "shared_display", "adb_server", "phone", "desktop_browser", "page_server",
                 "tiny_model_dir"}


# Modules whose tests start those parts themselves (a browser, a subprocess of the CLI, an eval run).
SLOW_MODULES = {
    "test_agent_loop", "test_android_env", "test_bench", "test_browser_env", "test_browser_touch",
    "test_browser_widgets", "test_calibration", "test_cli", "test_cli_conventions", "test_default_model",
    "test_desktop_env", "test_environment_contract", "test_evals_miniwob", "test_evals_phone", "test_evals_ray",
    "test_evals_replay", "test_evals_runner", "test_evals_tiny_model", "test_first_command", "test_gpu_check",
    "test_live", "test_report", "test_safety", "test_sites", "test_tiny_agent",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if (SLOW_FIXTURES & set(getattr(item, "fixturenames", ())) or item.get_closest_marker("gpu")
                or item.module is not None and item.module.__name__.rsplit(".", 1)[-1] in SLOW_MODULES):
            item.add_marker(pytest.mark.slow)


def pytest_unconfigure(config: object) -> None:
    """The run's grammar folder goes with the run."""
    import os
    import shutil

    shutil.rmtree(os.environ.pop("AGENT_CACHE_DIR", ""), ignore_errors=True)
