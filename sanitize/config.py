"""The `[sanitize]` section: limits of the disarm engine (CDR.md), with safe defaults.

One frozen object travels to every format module and into the worker processes, so a
limit is named once here and enforced where the bytes are parsed.
"""

from __future__ import annotations

from dataclasses import dataclass, field


def _b(lo: float | None, hi: float | None) -> dict[str, float | None]:
    return {"min": lo, "max": hi}


@dataclass(frozen=True, slots=True)
class SanitizeConfig:
    # Worker processes in the pool (0: one per CPU core).
    workers: int = field(default=0, metadata=_b(0, 256))
    # Per job: wall-clock kill and CPU seconds (RLIMIT_CPU) for the worker.
    timeout_s: float = field(default=30.0, metadata=_b(0.1, 3600))
    cpu_s: int = field(default=60, metadata=_b(1, 3600))
    # Worker address space (RLIMIT_AS), MiB.
    memory_mib: int = field(default=512, metadata=_b(64, 65536))
    # Largest input accepted by the engine, bytes.
    max_input_bytes: int = field(default=100 * 1024 * 1024, metadata=_b(1, 4 * 1024**3))
    # PDF
    max_pdf_pages: int = field(default=2000, metadata=_b(1, 1_000_000))
    # Images: pixels of one frame, frames, and pixels across all frames.
    max_image_pixels: int = field(default=64_000_000, metadata=_b(1, 1_000_000_000))
    max_image_frames: int = field(default=300, metadata=_b(1, 100_000))
    max_total_pixels: int = field(default=256_000_000, metadata=_b(1, 10_000_000_000))
    # Archives (ZIP, and the zip layer of OOXML).
    max_archive_depth: int = field(default=3, metadata=_b(0, 16))
    max_archive_entries: int = field(default=10_000, metadata=_b(1, 1_000_000))
    max_expanded_bytes: int = field(default=512 * 1024 * 1024, metadata=_b(1, 16 * 1024**3))
    max_entry_bytes: int = field(default=256 * 1024 * 1024, metadata=_b(1, 16 * 1024**3))
    max_expansion_ratio: int = field(default=200, metadata=_b(1, 100_000))
    # The work a ZIP upload may cost the disarm, in worker seconds, estimated from its
    # members before any is opened (each member costs a fixed part, its size the
    # rest) and then enforced as a deadline while they are disarmed: a costly archive
    # is refused in milliseconds with a clear verdict, not after the wall-clock kill.
    archive_work_s: float = field(default=15.0, metadata=_b(0.01, 3600))
    # Try Office's well-known default password (VelvetSweatshop) on encrypted files.
    try_default_password: bool = True
