"""Reading a large batch in reader processes while this one stores (e2b/checking.py's part of the
import: parsing, the ICH schema, the business rules and the ICSR, three quarters of its CPU).

Readers are child processes (`python -m pv_service.e2b.worker`) started per batch: each imports
only lxml and the E2B modules and compiles the schema set (about 0.25 s), the same from the CLI
and from a uvicorn worker (no fork of a threaded server). Each parses the whole batch (so
well-formedness and lines are the file's) and checks every n-th message; this process takes
their results in turn, in message order. The batch's bytes go to each reader's stdin from a
thread of this process at that reader's pace (read in place from a file, else spooled once);
results come back on its stdout as pickled frames. The pipes are bounded, so a slow store holds
the readers back and memory stays flat. A small batch is read in this process
(importer.WORKER_MIN_BYTES). Every reader is killed and waited for, whatever ends the import.
"""
from __future__ import annotations

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

FEED = 1024 * 1024  # bytes written to the reader per write
GROUP = 20  # messages per frame back: fewer, larger pickles, but this process waits for the first
_HEADER = struct.Struct("!Q")


class ReaderFailed(Exception):
    """The reader process failed (a bug, or it was killed): the import is abandoned, nothing stored."""


def _source(prefix: bytes, rest: BinaryIO | None, spool: list) -> Callable[[int, int], bytes]:
    """(offset, size) -> those bytes of the batch, for readers that each read all of it at their own
    pace: `prefix` and then `rest`, read in place if it is a regular file, else spooled to a
    temporary file once (added to `spool` for closing)."""
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


class _Reader:
    """One reader process and the thread feeding it the batch."""

    def __init__(self, read_at: Callable[[int, int], bytes], header: bytes):
        package_parent = str(Path(__file__).resolve().parents[2])
        env = {**os.environ,
               "PYTHONPATH": os.pathsep.join(p for p in (package_parent, os.environ.get("PYTHONPATH")) if p)}
        self.proc = subprocess.Popen([sys.executable, "-m", "pv_service.e2b.worker"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, env=env)
        self.error: BaseException | None = None
        self.feeder = threading.Thread(target=self._feed, args=(read_at, header), name="e2b-feed", daemon=True)
        self.feeder.start()

    def _feed(self, read_at, header: bytes) -> None:
        stdin = self.proc.stdin
        try:
            stdin.write(_HEADER.pack(len(header)) + header)
            offset = 0
            while chunk := read_at(offset, FEED):
                stdin.write(chunk)
                offset += len(chunk)
        except (BrokenPipeError, ValueError):  # the reader has ended (or been killed): nothing more to send
            pass
        except BaseException as exc:  # reading the source failed: the reader sees a cut file, the caller this
            self.error = exc
        finally:
            try:
                stdin.close()
            except OSError:
                pass

    def items(self) -> Iterator:
        from pv_service.e2b.reader import Refused

        while True:
            try:
                kind, *payload = pickle.load(self.proc.stdout)
            except EOFError:
                raise ReaderFailed(f"the E2B reader process ended unexpectedly (exit {self.proc.wait()})") from None
            if self.error is not None:
                raise self.error
            if kind == "items":
                yield from payload[0]
            elif kind == "end":
                yield payload[0]
                return
            elif kind == "refused":
                raise Refused(*payload)
            else:
                raise ReaderFailed(f"the E2B reader process failed:\n{payload[0]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.proc.stdout.close()
        self.feeder.join()


def read_in_workers(prefix: bytes, rest: BinaryIO | None, schema_root: Path, rules, readers: int) -> Iterator:
    """What checking.read_batch yields for the bytes `prefix` followed by what `rest` holds, read by
    `readers` child processes (each parses the whole file and checks every readers-th message);
    raises reader.Refused as read_batch would."""
    from pv_service.e2b.checking import End

    spool: list = []
    started: list[_Reader] = []
    try:
        read_at = _source(prefix, rest, spool)
        for part in range(readers):
            header = pickle.dumps((str(schema_root), rules, part, readers), protocol=pickle.HIGHEST_PROTOCOL)
            started.append(_Reader(read_at, header))
        streams = [r.items() for r in started]
        i = 0
        while True:
            item = next(streams[i % readers])
            if isinstance(item, End):  # the others have read the whole file too: their End is next
                ends = {i % readers: item}
                for j, s in enumerate(streams):
                    if j not in ends:
                        ends[j] = next(s)
                if not all(isinstance(e, End) for e in ends.values()):
                    raise ReaderFailed("the E2B reader processes disagree on the number of messages")
                yield ends[0]
                return
            yield item
            i += 1
    finally:
        for r in started:
            r.stop()
        for f in spool:
            f.close()


def _serve(inp: BinaryIO, out: BinaryIO) -> None:
    from pv_service.e2b import checking, schema_set
    from pv_service.e2b.reader import Refused

    def send(frame) -> None:
        pickle.dump(frame, out, protocol=pickle.HIGHEST_PROTOCOL)
        out.flush()

    try:
        (size,) = _HEADER.unpack(inp.read(_HEADER.size))
        schema_root, rules, part, parts = pickle.loads(inp.read(size))
        schemas = schema_set.load(Path(schema_root))
        group = []
        for item in checking.read_batch(inp, schemas, rules, part, parts):
            if isinstance(item, checking.End):
                if group:
                    send(("items", group))
                send(("end", item))
                return
            group.append(item)
            if len(group) >= GROUP:
                send(("items", group))
                group = []
    except Refused as exc:
        send(("refused", exc.reason, exc.status))
    except BrokenPipeError:  # the importer has gone (it kills this process too)
        pass
    except BaseException:
        send(("failed", traceback.format_exc()))


def main() -> None:
    out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    sys.stdout = sys.stderr  # fd 1 carries the frames only
    _serve(sys.stdin.buffer, out)


if __name__ == "__main__":
    main()
