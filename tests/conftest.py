"""Fixtures shared by the test modules: real parts started by the tests themselves."""

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


def pytest_unconfigure(config: object) -> None:
    """The run's grammar folder goes with the run."""
    import os
    import shutil

    shutil.rmtree(os.environ.pop("AGENT_CACHE_DIR", ""), ignore_errors=True)
