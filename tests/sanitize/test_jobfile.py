"""The job file shared by the pool and a worker: what goes in comes out, mapped or not,
and a huge job's memory is given back without the file ever shrinking."""

from __future__ import annotations

import os
import platform
import tempfile

import pytest

from sanitize.jobfile import KEEP_BYTES, PAYLOAD_AT, JobFile

linux = pytest.mark.skipif(platform.system() != "Linux", reason="memfd seals")


def pattern(n: int, seed: int = 0) -> bytes:
    return bytes((i * 7 + seed) % 251 for i in range(256)) * (n // 256) + bytes(n % 256)


@linux
def test_sealed_file_round_trips_and_cannot_shrink() -> None:
    job = JobFile.create()
    try:
        data = pattern(300_000)
        job.write(PAYLOAD_AT, data)
        assert job.read(PAYLOAD_AT, len(data)) == data
        # Written in chunks past its end, it grows as it goes (the pool's chunked path).
        for i in range(10):
            job.write(PAYLOAD_AT + i * 70_000, pattern(70_000, i))
        assert job.read(PAYLOAD_AT + 9 * 70_000, 70_000) == pattern(70_000, 9)
        with pytest.raises(OSError):
            os.ftruncate(job.fd, 0)
        with pytest.raises(ValueError):
            job.read(os.fstat(job.fd).st_size, 1)  # past the end: an error, not SIGBUS
    finally:
        job.close()


@linux
def test_another_processes_view_sees_the_same_bytes_past_its_map_limit() -> None:
    parent = JobFile.create()
    worker = JobFile(os.dup(parent.fd), map_max=PAYLOAD_AT + 1024)  # maps 1 KiB only
    try:
        small, big = pattern(500), pattern(200_000, 3)
        parent.write(PAYLOAD_AT, small)
        assert worker.read(PAYLOAD_AT, len(small)) == small  # through its mapping
        parent.write(PAYLOAD_AT, big)
        assert worker.read(PAYLOAD_AT, len(big)) == big  # past it: pread
        worker.write(PAYLOAD_AT, big[::-1])  # pwrite, growing nothing
        assert parent.read(PAYLOAD_AT, len(big)) == big[::-1]
    finally:
        worker.close()
        parent.close()


@linux
def test_trim_gives_back_a_huge_jobs_memory_and_keeps_the_size() -> None:
    job = JobFile.create()
    try:
        huge = pattern(KEEP_BYTES + 4 * 1024 * 1024)
        job.write(PAYLOAD_AT, huge)
        size = os.fstat(job.fd).st_size
        job.trim(PAYLOAD_AT + 100)
        st = os.fstat(job.fd)
        assert st.st_size == size and st.st_blocks * 512 < 1024 * 1024
        assert job.read(PAYLOAD_AT, 100) == huge[:100]  # what is kept stays
        job.write(PAYLOAD_AT, b"next")
        assert job.read(PAYLOAD_AT, 4) == b"next"
    finally:
        job.close()


def test_unsealed_file_is_copied_with_pread_and_truncated() -> None:
    with tempfile.TemporaryFile() as f:
        job = JobFile(os.dup(f.fileno()))
    try:
        data = pattern(KEEP_BYTES + 4096)
        job.write(PAYLOAD_AT, data)
        assert job.read(PAYLOAD_AT, len(data)) == data
        job.trim(PAYLOAD_AT + 10)
        assert os.fstat(job.fd).st_size == PAYLOAD_AT + 10
        with pytest.raises(ValueError):
            job.read(PAYLOAD_AT, 11)
    finally:
        job.close()
