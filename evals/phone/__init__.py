"""Phone tasks: the `phone` suite on the simulated Android phone, and `android` for a real device or
emulator (the templates whose setup and checks use only standard Android commands)."""
