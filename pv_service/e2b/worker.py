"""Reading a large batch in reader processes while this one stores (e2b/checking.py's part of the
import: parsing, the ICH schema, the business rules and the ICSR, three quarters of its CPU).

Readers are child processes (`python -m pv_service.e2b.worker`) started per batch: each imports
only lxml and the E2B modules and compiles the schema set (about 0.25 s), the same from the CLI
and from a uvicorn worker (no fork of a threaded server). A thread of this process cuts the
batch into its messages (split.Scan: the file read in place, else spooled once) and sends
message i to reader i mod n with its file line; each reader parses each of its messages as a
document of its own and checks it (checking.PieceChecker); this process takes the results in
turn, in message order, and reads the batch's own elements (checking.end_of_pieces). Where the
cut is not sure (split.Unsure) or a message is not well-formed alone, the readers stop and the
batch is read in this process from that message on (checking.read_batch(start=)): the same
answer, or refusal, as reading it all here. Results come back on each reader's stdout as
pickled frames, sent whenever the reader would wait for input (so it never holds a result the
importer waits for). The pipes are bounded, so a slow store holds the readers back and memory
stays flat. A small batch is read in this process (importer.WORKER_MIN_BYTES). Every reader is
killed and waited for, whatever ends the import.
"""
from __future__ import annotations

import fcntl
import io
import os
import pickle
import shutil
import stat
import struct
import subprocess
import sys
import tempfile
import threading
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from pv_service.e2b import split

FEED = 1024 * 1024  # bytes spooled at a time
PIPE = 1024 * 1024  # bytes a pipe to or from a reader holds
GROUP = 20  # messages per frame back: fewer, larger pickles, but this process waits for the first
_HEADER = struct.Struct("!Q")
# A message's file line, whether libxml2's lines are exact there, whether it has a lone CR, its size.
_PIECE = struct.Struct("!Q??Q")
_END_OF_PIECES = 2**64 - 1


class ReaderFailed(Exception):
    """The reader process failed (a bug, or it was killed): the import is abandoned, nothing stored."""


def _source(prefix: bytes, rest: BinaryIO | None, spool: list) -> Callable[[int, int], bytes]:
    """(offset, size) -> those bytes of the batch (cut once by split.Scan, and read from the start
    again if the cut is not sure): `prefix` and then `rest`, read in place if it is a regular file,
    else spooled to a temporary file once (added to `spool` for closing)."""
    if rest is None:
        return lambda offset, size: prefix[offset:offset + size]
    try:
        fd = rest.fileno()
        regular = stat.S_ISREG(os.fstat(fd).st_mode)
    except (AttributeError, OSError, io.UnsupportedOperation):
        regular = False
    if regular:
        base = rest.tell()
    else:
        spooled = tempfile.TemporaryFile()
        spool.append(spooled)
        shutil.copyfileobj(rest, spooled, FEED)
        spooled.flush()
        fd, base = spooled.fileno(), 0
    n = len(prefix)

    def read_at(offset: int, size: int) -> bytes:
        if offset < n:
            return prefix[offset:offset + size]
        return os.pread(fd, size, base + offset - n)
    return read_at


def _read_full(read_at: Callable[[int, int], bytes], offset: int, size: int) -> bytes:
    parts = []
    while size > 0 and (chunk := read_at(offset, size)):
        parts.append(chunk)
        offset += len(chunk)
        size -= len(chunk)
    return b"".join(parts)


class _At:
    """The batch from its start as a stream (for reading it in this process after all)."""

    def __init__(self, read_at: Callable[[int, int], bytes]):
        self._read_at, self._pos = read_at, 0

    def read(self, size: int) -> bytes:
        data = _read_full(self._read_at, self._pos, size)
        self._pos += len(data)
        return data


def _bigger_pipe(f) -> None:
    """1 MiB of pipe instead of 64 KiB: about twenty messages ahead, so a reader seldom waits."""
    try:
        fcntl.fcntl(f.fileno(), fcntl.F_SETPIPE_SZ, PIPE)
    except (AttributeError, OSError):  # not Linux, or over /proc/sys/fs/pipe-max-size: the default then
        pass


def _write(f, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        view = view[f.write(view):]


class _Reader:
    """One reader process: its messages go in on stdin, their results come back on stdout."""

    def __init__(self, header: bytes):
        package_parent = str(Path(__file__).resolve().parents[2])
        env = {**os.environ,
               "PYTHONPATH": os.pathsep.join(p for p in (package_parent, os.environ.get("PYTHONPATH")) if p)}
        self.proc = subprocess.Popen([sys.executable, "-m", "pv_service.e2b.worker"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, env=env, bufsize=0)
        _bigger_pipe(self.proc.stdin)
        _bigger_pipe(self.proc.stdout)
        self.send(_HEADER.pack(len(header)) + header)

    def send(self, data: bytes | memoryview) -> None:
        _write(self.proc.stdin, data)

    def send_piece(self, header: bytes, data: memoryview) -> None:
        """Header and message in one write: two woke the reader twice, the first time for 18 bytes."""
        done = os.writev(self.proc.stdin.fileno(), (header, data))
        if done < len(header):
            _write(self.proc.stdin, header[done:])
            done = len(header)
        _write(self.proc.stdin, data[done - len(header):])

    def results(self) -> Iterator:
        """(message result, ICSR) in the order its messages were sent, then "end", or ("unsure",)."""
        out = io.BufferedReader(self.proc.stdout, FEED)
        while True:
            try:
                kind, *payload = pickle.load(out)
            except EOFError:
                raise ReaderFailed(f"the E2B reader process ended unexpectedly (exit {self.proc.wait()})") from None
            if kind == "items":
                yield from payload[0]
            elif kind in ("end", "unsure"):
                yield kind
                return
            else:
                raise ReaderFailed(f"the E2B reader process failed:\n{payload[0]}")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()

    def close(self) -> None:
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()
            except OSError:  # a write cut by the kill
                pass


class _Feeder(threading.Thread):
    """Cuts the batch into its messages (split.Scan) and sends message i to reader i mod n, then an
    end to each. `sent`: the messages sent; `unsure`: the message from which the cut is not sure
    (split.Unsure); `error`: the source's own failure (reading it), after which each reader's input
    is closed (it ends, and the caller raises this)."""

    def __init__(self, scan: split.Scan, readers: list[_Reader]):
        super().__init__(name="e2b-feed", daemon=True)
        self.scan, self.readers = scan, readers
        self.sent, self.unsure, self.error = 0, None, None
        self.stopping = threading.Event()

    def run(self) -> None:
        try:
            self._run()
        except (OSError, ValueError):  # a reader has ended (or been killed): the caller hears it from the reader
            pass
        except BaseException as exc:  # a bug here: the caller raises it
            self.error = exc
        if self.error is not None:  # each reader ends at the end of its input, so the caller never waits
            for r in self.readers:
                try:
                    r.proc.stdin.close()
                except OSError:
                    pass

    def _run(self) -> None:
        pieces = self.scan.pieces()
        while True:
            try:
                piece = next(pieces)
            except StopIteration:
                break
            except split.Unsure as exc:
                self.unsure = exc.index
                break
            except BaseException as exc:  # reading the source failed
                self.error = exc
                return
            if self.stopping.is_set():
                return
            to = self.readers[piece.index % len(self.readers)]
            to.send_piece(_PIECE.pack(piece.line, piece.exact, piece.lone_cr, len(piece.data)), piece.data)
            self.sent += 1
        for r in self.readers:
            r.send(_PIECE.pack(0, False, False, _END_OF_PIECES))


def read_in_workers(prefix: bytes, rest: BinaryIO | None, schemas, rules, readers: int) -> Iterator:
    """What checking.read_batch yields for the bytes `prefix` followed by what `rest` holds, read by
    `readers` child processes, each parsing and checking its share of the messages (split.py cuts
    them here); raises reader.Refused as read_batch would. Where the cut is not sure, the rest of the
    batch is read here (read_batch from that message on), so the answer is the same."""
    from pv_service.e2b import checking, reader

    spool: list = []
    started: list[_Reader] = []
    feeder = None
    try:
        read_at = _source(prefix, rest, spool)
        head = _read_full(read_at, 0, reader.HEAD)
        reader.check_head(head, reader.BATCH_ROOT)
        tags = split.root_tags(head)
        at = 0  # the first message to read here, if any
        if tags is not None:
            header = pickle.dumps((str(schemas.root), rules, *tags), protocol=pickle.HIGHEST_PROTOCOL)
            for _ in range(readers):
                started.append(_Reader(header))
            feeder = _Feeder(split.Scan(read_at, tags[1]), started)
            feeder.start()
            streams = [r.results() for r in started]
            while True:
                try:
                    item = next(streams[at % readers])
                except ReaderFailed:
                    if feeder.error is not None:  # the source failed: the reader ended without input
                        raise feeder.error from None
                    raise
                if isinstance(item, str):
                    break
                yield item
                at += 1
            if item == "end":
                feeder.join()
                if feeder.error is not None:
                    raise feeder.error
                if feeder.unsure is None and feeder.sent != at:
                    raise ReaderFailed("the E2B reader processes disagree on the number of messages")
                if feeder.unsure is None:
                    end = checking.end_of_pieces(feeder.scan.document(), schemas)
                    if end is not None:
                        yield end
                        return
            _stop(feeder, started)
        yield from checking.read_batch(_At(read_at), schemas, rules, start=at)
    finally:
        _stop(feeder, started)
        for f in spool:
            f.close()


def _stop(feeder: _Feeder | None, started: list[_Reader]) -> None:
    """Every reader killed and waited for, then the feeder (its writes fail once they are gone)."""
    if feeder is not None:
        feeder.stopping.set()
    for r in started:
        r.kill()
    if feeder is not None:
        feeder.join()
    for r in started:
        r.close()
    started.clear()


class _Input:
    """A reader's stdin, framed; `wait` is called before it would block (the results held go out
    then, so this reader never waits for the feeder holding results the importer waits for)."""

    def __init__(self, f: BinaryIO, wait: Callable[[], None]):
        self._f, self._wait, self._buf, self._pos = f, wait, b"", 0

    def take(self, size: int) -> bytes:
        # One copy of each message's bytes (a bytearray's slice and bytes() were two, and a read after
        # a cut from its front copied what it held once more).
        end = self._pos + size
        if end > len(self._buf):
            parts = [self._buf[self._pos:]]
            have = len(parts[0])
            while have < size:
                self._wait()
                chunk = self._f.read(PIPE)
                if not chunk:
                    raise EOFError
                parts.append(chunk)
                have += len(chunk)
            self._buf, self._pos, end = b"".join(parts), 0, size
        out = self._buf[self._pos:end]
        self._pos = end
        return out


def _serve(inp: BinaryIO, out: BinaryIO) -> None:
    from pv_service.e2b import checking, schema_set

    group: list = []

    def send(frame) -> None:
        pickle.dump(frame, out, protocol=pickle.HIGHEST_PROTOCOL)
        out.flush()

    def flush() -> None:
        if group:
            send(("items", list(group)))
            group.clear()

    try:
        frames = _Input(inp, flush)
        (size,) = _HEADER.unpack(frames.take(_HEADER.size))
        schema_root, rules, root_tag, root_end = pickle.loads(frames.take(size))
        checker = checking.PieceChecker(schema_set.load(Path(schema_root)), rules, root_tag, root_end)
        while True:
            line, exact, lone_cr, size = _PIECE.unpack(frames.take(_PIECE.size))
            if size == _END_OF_PIECES:
                flush()
                send(("end",))
                return
            data = frames.take(size)
            item = checker.check(split.lf_only(data) if lone_cr else data, line, exact)
            if item is None:
                flush()
                send(("unsure",))
                return
            group.append(item)
            if len(group) >= GROUP:
                flush()
    except (BrokenPipeError, EOFError):  # the importer has gone (it kills this process too)
        pass
    except BaseException:
        send(("failed", traceback.format_exc()))


def main() -> None:
    out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    sys.stdout = sys.stderr  # fd 1 carries the frames only
    _serve(os.fdopen(os.dup(sys.stdin.fileno()), "rb", buffering=0), out)


if __name__ == "__main__":
    main()
