"""The desktop driver: a monitor captured with mss and driven by pyautogui or X input (`driver`). Import the
submodule; this package imports nothing."""
