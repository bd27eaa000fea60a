"""MiniWoB++ (the `miniwob` package's HTML tasks) run in our browser driver with the pages' own reward."""
