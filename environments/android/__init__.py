"""The Android driver: a phone or emulator over adb (`driver`), its device connection, shell results, app
resolution and text input encodings. Import the submodules; this package imports nothing, so shell results
(`shell`) load without an adb client."""
