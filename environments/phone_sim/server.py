"""The simulated phone on a TCP port: services for each adb stream, the accept loop, and `serve()`."""

from __future__ import annotations

import socket
import struct
import threading

from loguru import logger

from environments.phone_sim.commands import run_line
from environments.phone_sim.state import PhoneState
from environments.phone_sim.transport import Connection, Stream, StreamClosed

# Features we implement; the adb server only uses those both sides name (no stat_v2, ls_v2, abb, ...).
FEATURES = ("shell_v2", "cmd")
SYNC_CHUNK = 64 * 1024


class PhoneServer:
    """A simulated Android device listening for adb servers (`adb connect HOST:PORT`)."""

    def __init__(self, port: int = 0, host: str = "127.0.0.1", state: PhoneState | None = None,
                 width: int = 1080, height: int = 2400, authorized: bool = True, shell_v2: bool = True) -> None:
        """`authorized=False` simulates a phone that never accepts this computer's debugging key; `shell_v2=False`
        one from before Android 7, whose adbd has no shell protocol (no exit status, stderr mixed in)."""
        self.authorized = authorized
        features = ",".join(f for f in FEATURES if shell_v2 or f != "shell_v2")
        self.banner = ("device::ro.product.name=simphone;ro.product.model=SimPhone;ro.product.device=simphone;"
                       f"features={features}").encode()
        self.state = state or PhoneState(width=width, height=height)
        self._sock = socket.create_server((host, port), reuse_port=False)
        self.host, self.port = self._sock.getsockname()[:2]
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def serial(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self) -> PhoneServer:
        """Accept connections on a background thread; returns at once."""
        self._thread = threading.Thread(target=self.serve_forever, daemon=True, name=f"phone-sim-{self.port}")
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        logger.info("simulated phone {}x{} listening on {}; attach it with `adb connect {}`",
                    self.state.width, self.state.height, self.serial, self.serial)
        while not self._stopped.is_set():
            try:
                conn, addr = self._sock.accept()
            except OSError:
                break
            if self._stopped.is_set():
                conn.close()
                break
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self._conns.append(conn)
            logger.debug("adb server attached from {}", addr)
            connection = Connection(conn, self.banner, self._service, self.authorized)
            threading.Thread(target=connection.run, daemon=True).start()

    def stop(self) -> None:
        """Stop listening and cut every attached adb server off, like pulling a USB cable."""
        self._stopped.set()
        try:
            # close() alone leaves a thread blocked in accept() accepting; shutdown() wakes it on Linux.
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()
        with self._lock:
            conns, self._conns = self._conns, []
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            c.close()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def __enter__(self) -> PhoneServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- services --------------------------------------------------------------------------------------

    def _service(self, stream: Stream, name: str) -> None:
        if name.startswith("shell,") or name.startswith("shell:") or name.startswith("exec:"):
            head, _, command = name.partition(":")
            options = head.split(",")[1:]
            if not command.strip():
                message = b"phone-sim: interactive shells are not simulated; run `adb shell <command>`\n"
                self._reply(stream, "v2" in options, message, b"", 1)
                return
            results = run_line(self.state, command)
            if head == "exec" or "v2" not in options:
                # v1 and exec: one raw stream, no exit code, each command's stderr where it wrote it
                stream.write(b"".join(o + e for o, e, _ in results))
            else:
                self._reply(stream, True, b"".join(o for o, _, _ in results), b"".join(e for _, e, _ in results),
                            results[-1][2])
        elif name.startswith("sync:"):
            _sync(self.state, stream)
        elif name.startswith("reboot:"):
            self.state.home()
        else:
            logger.debug("unsupported service {!r}", name)

    @staticmethod
    def _reply(stream: Stream, v2: bool, out: bytes, err: bytes, code: int) -> None:
        if not v2:
            stream.write(out + err)
            return
        packets = b""
        for kind, data in ((1, out), (2, err)):
            for i in range(0, len(data), SYNC_CHUNK):
                chunk = data[i:i + SYNC_CHUNK]
                packets += struct.pack("<BI", kind, len(chunk)) + chunk
        stream.write(packets + struct.pack("<BI", 3, 1) + bytes([code & 0xFF]))


def _is_dir(state: PhoneState, path: str) -> bool:
    prefix = path.rstrip("/") + "/"
    return path in ("/", "/sdcard", "/data/local/tmp") or any(f.startswith(prefix) for f in state.files)


def _sync(state: PhoneState, stream: Stream) -> None:
    """The file sync protocol: STAT, LIST, RECV, SEND and QUIT (version 1)."""
    while True:
        try:
            cmd, length = struct.unpack("<4sI", stream.read(8, timeout=60))
        except StreamClosed:
            return
        arg = stream.read(length).decode("utf-8", "replace") if length else ""
        with state.lock:
            if cmd == b"STAT":
                if arg in state.files:
                    reply = struct.pack("<4s3I", b"STAT", 0o100644, len(state.files[arg]), 1700000000)
                elif _is_dir(state, arg):
                    reply = struct.pack("<4s3I", b"STAT", 0o40771, 4096, 1700000000)
                else:
                    reply = struct.pack("<4s3I", b"STAT", 0, 0, 0)
                stream.write(reply)
            elif cmd == b"LIST":
                prefix = arg.rstrip("/") + "/"
                names = sorted({f[len(prefix):].split("/")[0] for f in state.files if f.startswith(prefix)})
                out = b""
                for n in names:
                    full = prefix + n
                    mode, size = (0o100644, len(state.files[full])) if full in state.files else (0o40771, 4096)
                    out += struct.pack("<4s4I", b"DENT", mode, size, 1700000000, len(n.encode())) + n.encode()
                stream.write(out + struct.pack("<4s4I", b"DONE", 0, 0, 0, 0))
            elif cmd == b"RECV":
                data = state.files.get(arg)
                if data is None:
                    msg = f"remote object '{arg}' does not exist".encode()
                    stream.write(struct.pack("<4sI", b"FAIL", len(msg)) + msg)
                    continue
                out = b"".join(struct.pack("<4sI", b"DATA", len(data[i:i + SYNC_CHUNK])) + data[i:i + SYNC_CHUNK]
                               for i in range(0, len(data), SYNC_CHUNK))
                stream.write(out + struct.pack("<4sI", b"DONE", 0))
            elif cmd == b"SEND":
                path = arg.rsplit(",", 1)[0]
                data = bytearray()
                while True:
                    kind, n = struct.unpack("<4sI", stream.read(8))
                    if kind == b"DATA":
                        data += stream.read(n)
                    elif kind == b"DONE":
                        break
                    else:
                        msg = f"unexpected {kind!r} in SEND".encode()
                        stream.write(struct.pack("<4sI", b"FAIL", len(msg)) + msg)
                        return
                state.files[path] = bytes(data)
                state.touch()
                stream.write(struct.pack("<4sI", b"OKAY", 0))
            elif cmd == b"QUIT":
                return
            else:
                msg = f"sync command {cmd!r} is not supported".encode()
                stream.write(struct.pack("<4sI", b"FAIL", len(msg)) + msg)
                return


def serve(port: int = 5555, width: int = 1080, height: int = 2400, host: str = "127.0.0.1",
          state: PhoneState | None = None) -> None:
    """Run a simulated phone on `host:port` until interrupted (Ctrl-C). Attach with `adb connect host:port`."""
    server = PhoneServer(port, host, state, width, height)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
