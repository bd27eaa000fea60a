"""A borderless Tk window of calibration targets for a desktop display (run as a script by calibration.py).

Arguments: X Y WIDTH HEIGHT ROWS COLS (the monitor's rectangle in screen pixels). It prints JSON lines:
{"type": "ready", "targets": [[x, y], ...]} with each target's centre in screen coordinates, read back
from Tk after the window is mapped, then {"type": "hit", "x", "y", "target"} for every button press.
Standalone on purpose: it imports nothing from the package, so it runs with any Python that has tkinter.
"""

import json
import sys
import tkinter as tk

RADIUS = 22


def main() -> None:
    x, y, width, height, rows, cols = (int(a) for a in sys.argv[1:7])
    root = tk.Tk()
    root.title("calibration")
    root.overrideredirect(True)  # no title bar or border from a window manager to shift the canvas
    root.geometry(f"{width}x{height}+{x}+{y}")
    root.attributes("-topmost", True)
    canvas = tk.Canvas(root, width=width, height=height, background="#b8c4d0", highlightthickness=0)
    canvas.pack()
    centres: list[tuple[int, int]] = []
    for r in range(rows):
        for c in range(cols):
            cx, cy = int(width * (c + 0.5) / cols), int(height * (r + 0.5) / rows)
            centres.append((cx, cy))
            # The same rings as the browser's page: red centre, white, red, white, red outline.
            for radius, colour in ((RADIUS, "white"), (15, "#d22"), (9, "white"), (3, "#d22")):
                canvas.create_oval(cx - radius, cy - radius, cx + radius, cy + radius, fill=colour, outline="#d22")

    def emit(**event: object) -> None:
        print(json.dumps(event), flush=True)

    def on_press(e: tk.Event) -> None:
        hit = None
        for i, (cx, cy) in enumerate(centres):
            if (e.x - cx) ** 2 + (e.y - cy) ** 2 <= RADIUS**2:
                hit = i
                canvas.create_oval(cx - RADIUS, cy - RADIUS, cx + RADIUS, cy + RADIUS, outline="#2a2", width=4)
        emit(type="hit", x=e.x_root, y=e.y_root, target=hit)

    def ready() -> None:
        root.update_idletasks()
        ox, oy = canvas.winfo_rootx(), canvas.winfo_rooty()
        emit(type="ready", targets=[[ox + cx, oy + cy] for cx, cy in centres])

    canvas.bind("<ButtonPress-1>", on_press)
    root.after(300, ready)
    root.mainloop()


if __name__ == "__main__":
    main()
