"""X11 parts the browser and the desktop share: a virtual display (`xvfb`) and input through XTEST (`xinput`).
Import the submodules; this package imports nothing."""
