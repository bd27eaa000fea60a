"""The browser driver: Chromium through Playwright (`driver`), its settings, tabs and dialogs, input by mouse,
keyboard or touch, and the reading of what a click would activate (`target`). Import the submodules; this
package imports nothing, so its light parts (settings) load without Playwright."""
