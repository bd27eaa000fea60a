"""The device side of the ADB transport protocol over TCP: what `adbd` speaks to an adb server.

A message is a 24-byte little-endian header (command, arg0, arg1, payload length, payload checksum,
command ^ 0xffffffff) and its payload. The server connects with CNXN; we answer CNXN with a banner
naming our features; it then opens streams (OPEN), exchanges data (WRTE, each acknowledged by OKAY)
and closes them (CLSE). Each stream runs one service (`shell:`, `shell,v2,...:`, `exec:`, `sync:`)
in its own thread, handed a `Stream` to read from and write to.
"""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from loguru import logger

A_SYNC, A_CNXN, A_OPEN, A_OKAY, A_CLSE, A_WRTE, A_AUTH = (
    0x434E5953, 0x4E584E43, 0x4E45504F, 0x59414B4F, 0x45534C43, 0x45545257, 0x48545541,
)
AUTH_TOKEN, AUTH_SIGNATURE, AUTH_RSAPUBLICKEY = 1, 2, 3
# 0x01000001 lets both sides skip payload checksums; we still fill them in for older servers.
A_VERSION = 0x01000001
MAX_PAYLOAD = 256 * 1024
HEADER = struct.Struct("<6I")


class StreamClosed(Exception):
    """The adb server closed the stream or the connection went away."""


@dataclass
class Message:
    command: int
    arg0: int
    arg1: int
    payload: bytes = b""

    def pack(self) -> bytes:
        checksum = sum(self.payload) & 0xFFFFFFFF
        header = HEADER.pack(self.command, self.arg0, self.arg1, len(self.payload), checksum,
                             self.command ^ 0xFFFFFFFF)
        return header + self.payload


def _read_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise StreamClosed("connection closed by the adb server")
        buf += chunk
    return bytes(buf)


def read_message(sock: socket.socket) -> Message:
    command, arg0, arg1, length, _checksum, magic = HEADER.unpack(_read_exact(sock, HEADER.size))
    if magic != command ^ 0xFFFFFFFF:
        raise StreamClosed(f"bad message magic {magic:#x} for command {command:#x}; not an adb server?")
    payload = _read_exact(sock, length) if length else b""
    return Message(command, arg0, arg1, payload)


@dataclass
class Stream:
    """One open stream: bytes in from the server, bytes out with ADB's one-write-in-flight flow control."""

    conn: Connection
    local_id: int
    remote_id: int
    _inbox: bytearray = field(default_factory=bytearray)
    _cond: threading.Condition = field(default_factory=threading.Condition)
    _can_write: bool = True
    closed: bool = False

    def feed(self, data: bytes) -> None:
        with self._cond:
            self._inbox += data
            self._cond.notify_all()

    def acked(self) -> None:
        with self._cond:
            self._can_write = True
            self._cond.notify_all()

    def mark_closed(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify_all()

    def read(self, n: int, timeout: float = 30.0) -> bytes:
        """Exactly `n` bytes from the server; StreamClosed if it closes first."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self._inbox) >= n or self.closed, timeout):
                raise StreamClosed("timed out waiting for data from the adb server")
            if len(self._inbox) < n:
                raise StreamClosed("stream closed while reading")
            out = bytes(self._inbox[:n])
            del self._inbox[:n]
            return out

    def read_any(self, timeout: float = 30.0) -> bytes:
        """Whatever has arrived (at least one byte), or b"" once the stream is closed."""
        with self._cond:
            self._cond.wait_for(lambda: self._inbox or self.closed, timeout)
            out = bytes(self._inbox)
            self._inbox.clear()
            return out

    def write(self, data: bytes) -> None:
        for i in range(0, len(data), self.conn.max_payload):
            chunk = data[i:i + self.conn.max_payload]
            with self._cond:
                if not self._cond.wait_for(lambda: self._can_write or self.closed, 30.0) or self.closed:
                    raise StreamClosed("stream closed while writing")
                self._can_write = False
            self.conn.send(Message(A_WRTE, self.local_id, self.remote_id, chunk))

    def close(self) -> None:
        if not self.closed:
            self.mark_closed()
            self.conn.send(Message(A_CLSE, self.local_id, self.remote_id))
            self.conn.drop(self.local_id)


Service = Callable[[Stream, str], None]


class Connection:
    """One adb server attached over TCP. `service(stream, name)` runs each opened stream to its end."""

    def __init__(self, sock: socket.socket, banner: bytes, service: Service, authorized: bool = True) -> None:
        self.sock = sock
        self.authorized = authorized
        self.banner = banner
        self.service = service
        self.max_payload = 4096  # until the server tells us its own
        self._send_lock = threading.Lock()
        self._streams: dict[int, Stream] = {}
        self._next_id = 1
        self._lock = threading.Lock()

    def send(self, msg: Message) -> None:
        with self._send_lock:
            try:
                self.sock.sendall(msg.pack())
            except OSError as e:
                raise StreamClosed(f"connection lost: {e}") from e

    def drop(self, local_id: int) -> None:
        with self._lock:
            self._streams.pop(local_id, None)

    def run(self) -> None:
        try:
            while True:
                self._dispatch(read_message(self.sock))
        except (StreamClosed, OSError) as e:
            logger.debug("adb connection ended: {}", e)
        finally:
            with self._lock:
                streams = list(self._streams.values())
                self._streams.clear()
            for s in streams:
                s.mark_closed()
            try:
                self.sock.close()
            except OSError:
                pass

    def _dispatch(self, msg: Message) -> None:
        if msg.command == A_CNXN:
            self.max_payload = max(4096, min(msg.arg1, MAX_PAYLOAD))
            logger.debug("adb server connected: version={:#x} maxdata={} {!r}", msg.arg0, msg.arg1, msg.payload)
            if self.authorized:
                self.send(Message(A_CNXN, A_VERSION, MAX_PAYLOAD, self.banner))
            else:  # a phone whose user has not accepted this computer's key: ask to sign a token, forever
                self.send(Message(A_AUTH, AUTH_TOKEN, 0, bytes(range(20))))
        elif msg.command == A_OPEN:
            name = msg.payload.rstrip(b"\0").decode("utf-8", "replace")
            with self._lock:
                local_id = self._next_id
                self._next_id += 1
                stream = Stream(self, local_id, msg.arg0)
                self._streams[local_id] = stream
            self.send(Message(A_OKAY, local_id, msg.arg0))
            threading.Thread(target=self._run_service, args=(stream, name), daemon=True,
                             name=f"adb-stream-{local_id}").start()
        elif msg.command in (A_WRTE, A_OKAY, A_CLSE):
            with self._lock:
                stream = self._streams.get(msg.arg1)
            if stream is None:
                if msg.command == A_WRTE:  # data for a stream we already closed: tell the server it is gone
                    self.send(Message(A_CLSE, 0, msg.arg0))
                return
            if msg.command == A_WRTE:
                stream.feed(msg.payload)
                self.send(Message(A_OKAY, stream.local_id, stream.remote_id))
            elif msg.command == A_OKAY:
                stream.acked()
            else:
                stream.mark_closed()
                self.drop(stream.local_id)
        elif msg.command == A_AUTH:
            if self.authorized:  # we never asked; answering CNXN lets a confused server go on
                self.send(Message(A_CNXN, A_VERSION, MAX_PAYLOAD, self.banner))
            elif msg.arg0 == AUTH_SIGNATURE:  # reject every signature; a public key just waits for the "user"
                self.send(Message(A_AUTH, AUTH_TOKEN, 0, bytes(range(20))))
        else:
            logger.debug("ignoring adb message {:#x}", msg.command)

    def _run_service(self, stream: Stream, name: str) -> None:
        try:
            self.service(stream, name)
        except StreamClosed:
            pass
        except Exception:  # noqa: BLE001 - a bug in a simulated command must not take the device down
            logger.exception("service {!r} failed", name)
        finally:
            try:
                stream.close()
            except StreamClosed:
                pass
