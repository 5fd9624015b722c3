"""The `etl.import` job: stream the file in chunks, validate, upsert, and commit each chunk with its checkpoint.

A chunk's rows, the import's counters and offset, and the job's progress are committed in one
transaction, so a redelivered job (its worker was killed) resumes after the last committed chunk
with the same counts, and the errors report is cut back to the size recorded with that chunk.
"""
from __future__ import annotations

import csv
import io
from collections.abc import Generator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import polars as pl
from sqlalchemy.orm import Session

from config.settings import Settings
from etl.blocks import Block, BlockReader
from etl.csv_format import body_encoding, open_binary
from etl.datasets import DATASETS
from etl.errors_report import DEFAULT_MAX_BYTES, DEFAULT_MAX_ROWS, ErrorsReport, rows_of
from etl.frozen_rows import drop_frozen_changes
from etl.header_map import HeaderMap, map_header
from etl.load import ChunkLoader
from etl.models import FIRST_DATA_LINE, ImportPhase, ImportRun
from etl.spec import DatasetSpec
from etl.storage import errors_path
from etl.unpack_limits import UnpackLimits
from etl.validate import LINE, CheckedChunk, SeenKeys, check_chunk, drop_duplicate_keys
from jobs.context import JobCancelled, JobContext
from jobs.db import utcnow
from jobs.events import event_type
from jobs.kinds import job_kind
from jobs.topology import ETL

IMPORT_FINISHED = event_type(
    "import.finished", "A CSV import ended with its valid rows committed; `rows_rejected` rows are listed, with "
    "line and reason, in `errors_csv`.",
    ("job_id", "dataset", "filename", "rows_read", "rows_loaded", "rows_inserted", "rows_updated", "rows_unchanged",
     "rows_rejected", "errors_csv"))
IMPORT_FAILED = event_type(
    "import.failed", "A CSV import failed for good (a bad file, too many rejected rows, an all-or-nothing dataset "
    "with a rejected row); `error` says why.", ("job_id", "dataset", "filename", "error"))


@dataclass(frozen=True)
class ImportOptions:
    upload_dir: Path
    rows_per_chunk: int
    reject_threshold_pct: float
    unpack_limits: UnpackLimits | None = None
    errors_max_rows: int = DEFAULT_MAX_ROWS
    errors_max_bytes: int = DEFAULT_MAX_BYTES

    @classmethod
    def from_settings(cls, settings: Settings) -> ImportOptions:
        return cls(upload_dir=settings.upload_dir, rows_per_chunk=settings.etl_chunk_rows,
                   reject_threshold_pct=settings.etl_reject_threshold_pct,
                   unpack_limits=UnpackLimits(settings.max_uncompressed_mb << 20, settings.max_compression_ratio),
                   errors_max_rows=settings.etl_errors_max_rows, errors_max_bytes=settings.etl_errors_max_mb << 20)


# The reject threshold is judged from this many rows on, after every chunk: a file of rejects stops early.
EARLY_THRESHOLD_ROWS = 1000


class TooManyRejects(Exception):
    """More rows were rejected than the threshold allows; the committed rows stay."""

    def __init__(self, message: str, details: dict[str, Any]) -> None:
        super().__init__(message)
        self.details = details  # stored with the job's error: the import's summary


class LimitedReader(io.RawIOBase):
    """The first `limit` bytes of a stream (for re-reading what earlier chunks committed)."""

    def __init__(self, stream: BinaryIO, limit: int) -> None:
        self.stream, self.limit = stream, limit

    def readable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.stream.seek(offset, whence)

    def read(self, size: int = -1) -> bytes:
        left = self.limit - self.stream.tell()
        if left <= 0:
            return b""
        return self.stream.read(left if size < 0 else min(size, left))


def parse_block(block: Block, run: ImportRun, columns: HeaderMap, spec: DatasetSpec) -> pl.DataFrame:
    """The block's well-formed records as text columns named as the dataset's, plus each record's line."""
    names = [f"f{i}" for i in range(columns.width)]
    schema = dict.fromkeys(names, pl.String)
    if block.rows is not None:
        frame = pl.DataFrame(block.rows, schema=schema, orient="row")
    elif len(block.lines):
        parsed: pl.DataFrame | None
        try:
            parsed = pl.read_csv(io.BytesIO(block.records), has_header=False, separator=run.delimiter, quote_char='"',
                                 schema=schema, raise_if_empty=False)
        except pl.exceptions.PolarsError:
            parsed = None
        if parsed is not None and parsed.height == len(block.lines):
            frame = parsed
        else:  # polars reads the quoting differently: use csv
            text = io.StringIO(block.records.decode("utf-8"), newline="")
            frame = pl.DataFrame(list(csv.reader(text, delimiter=run.delimiter)), schema=schema, orient="row")
    else:
        frame = pl.DataFrame(schema=schema)
    selected = [
        pl.col(f"f{columns.positions[name]}").alias(name) if name in columns.positions
        else pl.lit(None, dtype=pl.String).alias(name)
        for name in spec.column_names
    ]
    return frame.select(selected).with_columns(pl.Series(LINE, block.lines, dtype=pl.Int64))


def _blocks(run: ImportRun, columns: HeaderMap, stream: BinaryIO, start: int, line: int,
            rows_per_chunk: int) -> Iterator[Block]:
    return iter(BlockReader(stream, start=start, first_line=line, delimiter=run.delimiter, width=columns.width,
                            encoding=run.encoding or "utf-8", rows_per_block=rows_per_chunk))


def _rebuild_seen_keys(run: ImportRun, columns: HeaderMap, spec: DatasetSpec, options: ImportOptions) -> SeenKeys:
    """The keys loaded by the committed chunks, read again from the file up to the checkpoint."""
    seen = SeenKeys()
    with open_binary(Path(run.stored_path), run.compressed, options.unpack_limits) as stream:
        prefix = LimitedReader(stream, run.offset)
        for block in _blocks(run, columns, prefix, run.data_offset, 2, options.rows_per_chunk):  # type: ignore[arg-type]
            drop_duplicate_keys(spec, check_chunk(spec, parse_block(block, run, columns, spec)), seen)
    return seen


def _estimated_total(run: ImportRun) -> int | None:
    consumed = run.offset - run.data_offset
    if run.compressed or consumed <= 0:
        return None
    return max(run.rows_read, round(run.rows_read * (run.size_bytes - run.data_offset) / consumed))


def summary(run: ImportRun, duration_s: float | None = None) -> dict[str, Any]:
    """The import's figures: the job's result (the web adds where its errors.csv is)."""
    return {"dataset": run.dataset, **run.counts(), "unknown_columns": list(run.unknown_columns),
            "duration_s": duration_s}


def _checked_chunks(blocks: Iterator[Block], run: ImportRun, columns: HeaderMap, spec: DatasetSpec,
                    seen: SeenKeys) -> Generator[tuple[Block, CheckedChunk], None, None]:
    """Read, parse and validate the next chunk on a helper thread while the current one is being loaded.

    polars, numpy and the database driver release the GIL, so the validation of chunk n+1 (in this
    process) overlaps the upsert of chunk n (in the database server) on another core.
    """
    def prepare() -> tuple[Block, CheckedChunk] | None:
        block = next(blocks, None)
        if block is None:
            return None
        return block, drop_duplicate_keys(spec, check_chunk(spec, parse_block(block, run, columns, spec)), seen)

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="etl-read") as reader:
        pending = reader.submit(prepare)
        while (chunk := pending.result()) is not None:
            pending = reader.submit(prepare)
            yield chunk


def _check_threshold(run: ImportRun, options: ImportOptions, result: dict[str, Any], kept: str) -> None:
    rejected_pct = 100.0 * run.rows_rejected / run.rows_read if run.rows_read else 0.0
    if rejected_pct > options.reject_threshold_pct:
        raise TooManyRejects(
            f"{run.rows_rejected} of {run.rows_read} rows ({rejected_pct:.1f} %) were rejected, more than the "
            f"{options.reject_threshold_pct:g} % allowed; {kept}; "
            "the rejected rows are listed in the import's errors.csv", result)


@dataclass(frozen=True)
class Pass:
    """What one pass over the file does with each chunk."""

    load: bool  # upsert the valid rows
    record: bool  # count rows read and rejected, and write the rejected ones to the report
    cancellable: bool  # stop at the chunk's end when a cancel was requested


ONE_PASS = Pass(load=True, record=True, cancellable=True)
VALIDATION_PASS = Pass(load=False, record=True, cancellable=True)
# Once an all-or-nothing import has begun loading it finishes, so its table never holds part of a file.
LOADING_PASS = Pass(load=True, record=False, cancellable=False)


class CsvImport:
    """One attempt at an import, resuming from the committed checkpoint."""

    def __init__(self, ctx: JobContext, options: ImportOptions) -> None:
        self.ctx, self.options = ctx, options
        self.run, self.spec, self.columns = self._prepare()
        self.report = ErrorsReport(errors_path(options.upload_dir, ctx.job_id), options.errors_max_rows,
                                   options.errors_max_bytes)
        self.report.truncate(self.run.errors_bytes)
        self.loader = ChunkLoader(self.spec)

    def _prepare(self) -> tuple[ImportRun, DatasetSpec, HeaderMap]:
        """Load the import; on its first attempt, scan the file's encoding and pick the first phase."""
        with self.ctx.db.read_session() as session:
            run = session.get(ImportRun, self.ctx.job_id)
        if run is None:
            raise LookupError(f"no import for job {self.ctx.job_id}")
        spec = DATASETS[run.dataset]
        if run.encoding is None:
            # Scanned outside any transaction: on SQLite a write transaction would block every other writer.
            encoding = body_encoding(Path(run.stored_path), run.compressed, run.data_offset,
                                     self.options.unpack_limits)
            with self.ctx.db.transaction() as session:
                run = session.get(ImportRun, self.ctx.job_id, with_for_update=True)
                assert run is not None
                run.encoding = encoding
                run.phase = ImportPhase.VALIDATING if spec.all_or_nothing else ImportPhase.LOADING
                run.started_at = utcnow()
        return run, spec, map_header(spec, tuple(run.header))

    def execute(self) -> dict[str, Any]:
        if self.run.phase == ImportPhase.VALIDATING:
            self._pass(VALIDATION_PASS)
            _check_threshold(self.run, self.options, summary(self.run), "nothing was loaded (all-or-nothing dataset)")
            self._restart_for_loading()
            self._pass(LOADING_PASS)
        else:
            self._pass(LOADING_PASS if self.spec.all_or_nothing else ONE_PASS)
        with self.ctx.db.transaction() as session:
            run = session.get(ImportRun, self.ctx.job_id, with_for_update=True)
            assert run is not None
            run.finished = True
            self.run = run
        started = self.run.started_at or self.run.created_at
        result = summary(self.run, round((utcnow() - started).total_seconds(), 3))
        self.report.finish(self.run.rows_rejected)
        _check_threshold(self.run, self.options, result, f"the {self.run.rows_loaded} valid rows are committed")
        with self.ctx.transaction() as session:
            self.ctx.emit(session, IMPORT_FINISHED, f"imports/{self.ctx.job_id}", {
                "job_id": str(self.ctx.job_id), "dataset": self.run.dataset, "filename": self.run.filename,
                **self.run.counts(),
                "errors_csv": f"/api/etl/{self.ctx.job_id}/errors.csv" if self.run.rows_rejected else None})
            return self.ctx.complete(session, result)

    def _restart_for_loading(self) -> None:
        with self.ctx.db.transaction() as session:
            run = session.get(ImportRun, self.ctx.job_id, with_for_update=True)
            assert run is not None
            run.phase = ImportPhase.LOADING
            run.offset, run.line = run.data_offset, FIRST_DATA_LINE
            self.run = run

    def _pass(self, mode: Pass) -> None:
        run, spec, columns = self.run, self.spec, self.columns
        seen = (_rebuild_seen_keys(run, columns, spec, self.options) if run.offset > run.data_offset
                else SeenKeys())
        with open_binary(Path(run.stored_path), run.compressed, self.options.unpack_limits) as stream:
            blocks = _blocks(run, columns, stream, run.offset, run.line, self.options.rows_per_chunk)
            # closing(): the reader thread stops before the stream it reads is closed.
            with closing(_checked_chunks(blocks, run, columns, spec, seen)) as chunks:
                for block, checked in chunks:
                    with self.ctx.db.transaction() as session:
                        if mode.load and mode.record:
                            checked = drop_frozen_changes(session, spec, checked)
                        # Appended before the commit: a chunk that does not commit is cut off the report on resume.
                        errors_bytes = (self.report.append(rows_of(block.rejected, checked.errors)) if mode.record
                                        else self.run.errors_bytes)
                        cancel = self._commit_chunk(session, mode, block, checked, errors_bytes)
                    if mode.record and self.run.rows_read >= EARLY_THRESHOLD_ROWS:
                        self._stop_if_over_threshold(mode)
                    if cancel and mode.cancellable:
                        loaded = self.run.rows_loaded
                        raise JobCancelled(
                            f"cancelled after {self.run.rows_read} rows (up to line {self.run.line - 1}): "
                            f"the {loaded} rows loaded so far stay committed", summary(self.run) | {"cancelled": True})

    def _stop_if_over_threshold(self, mode: Pass) -> None:
        """Judge the threshold on the rows read so far: a file of rejects is not read to its end."""
        run = self.run
        if 100.0 * run.rows_rejected / run.rows_read <= self.options.reject_threshold_pct:
            return
        self.report.finish(run.rows_rejected)
        kept = ("nothing was loaded (all-or-nothing dataset)" if not mode.load
                else f"the {run.rows_loaded} valid rows read so far are committed")
        _check_threshold(run, self.options, summary(run) | {"stopped_at_line": run.line - 1},
                         f"stopped after line {run.line - 1}; {kept}")

    def _commit_chunk(self, session: Session, mode: Pass, block: Block, checked: CheckedChunk,
                      errors_bytes: int) -> bool:
        counts = self.loader.load(session, checked.valid.drop(LINE)) if mode.load else None
        run = session.get(ImportRun, self.ctx.job_id, with_for_update=True)
        assert run is not None
        if mode.record:
            run.rows_read += block.rows_read
            run.rows_rejected += len(block.rejected) + checked.rejected_rows
            run.errors_bytes = errors_bytes
        if counts is not None:
            run.rows_inserted += counts.inserted
            run.rows_updated += counts.updated
            run.rows_unchanged += counts.unchanged
        run.offset, run.line = block.end, block.next_line
        run.updated_at = utcnow()
        self.run = run
        if run.phase == ImportPhase.VALIDATING:
            done, total = run.rows_read, _estimated_total(run)
            message = f"validating: {run.rows_read} rows checked, {run.rows_rejected} rejected; nothing loaded yet"
        elif mode.record:
            done, total = run.rows_read, _estimated_total(run)
            message = f"{run.rows_read} rows read: {run.rows_loaded} loaded, {run.rows_rejected} rejected"
        else:
            done, total = run.rows_loaded, run.rows_read - run.rows_rejected
            message = f"loading: {run.rows_loaded} of {total} valid rows loaded"
        return self.ctx.checkpoint(done, total, message, session=session)


@job_kind("etl.import", queue=ETL, failure_event=IMPORT_FAILED)
def import_csv(ctx: JobContext) -> dict[str, Any]:
    """Import an uploaded CSV into its dataset's table; the result is the import's summary."""
    return CsvImport(ctx, ImportOptions.from_settings(ctx.settings)).execute()
