"""A full-screen Tk window that prints every input event as a JSON line (run as a script by display.py).

Commands on stdin: "text" prints the text typed so far, "clear" empties it.
"""

import json
import queue
import sys
import threading
import tkinter as tk


def main() -> None:
    root = tk.Tk()
    root.title("event window")
    root.geometry(sys.argv[1])
    root.configure(cursor="crosshair")
    text = tk.Text(root, font=("DejaVu Sans", 12))
    text.pack(fill="both", expand=True)

    def emit(**event: object) -> None:
        print(json.dumps(event), flush=True)

    root.bind_all("<ButtonPress>", lambda e: emit(type="press", button=e.num, x=e.x_root, y=e.y_root))
    root.bind_all("<ButtonRelease>", lambda e: emit(type="release", button=e.num, x=e.x_root, y=e.y_root))
    root.bind_all("<Motion>", lambda e: emit(type="motion", x=e.x_root, y=e.y_root))
    root.bind_all("<KeyPress>", lambda e: emit(type="key", keysym=e.keysym, char=e.char, state=e.state))

    commands: queue.Queue[str] = queue.Queue()

    def serve() -> None:  # stdin is read in a thread; Tk is only touched from the main loop (poll)
        for line in sys.stdin:
            commands.put(line.strip())

    def poll() -> None:
        while not commands.empty():
            answer(commands.get())
        root.after(20, poll)

    def answer(cmd: str) -> None:
        if cmd == "clear":
            text.delete("1.0", "end")
            emit(type="clear")
        elif cmd == "text":
            emit(type="text", text=text.get("1.0", "end-1c"))

    def ready() -> None:
        text.focus_force()
        emit(type="ready", x=root.winfo_rootx(), y=root.winfo_rooty())

    threading.Thread(target=serve, daemon=True).start()
    root.after(200, ready)
    root.after(20, poll)
    root.mainloop()


if __name__ == "__main__":
    main()
