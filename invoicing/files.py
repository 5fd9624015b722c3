"""Where invoice files live, and writing them so that no reader ever sees part of one."""
from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

from invoicing.models import Invoice
from jobs.retry_policy import TransientError

# A full disk or quota empties again (old files purged, the volume grown): the job retries instead of failing.
NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


def pdf_path(invoice_dir: Path, invoice: Invoice) -> Path:
    return invoice_dir / str(invoice.issue_date.year) / f"{invoice.number}.pdf"


def write_atomically(path: Path, content: bytes) -> None:
    """Write `content` to `path` so that readers see the old file or the whole new one, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(content)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException as error:
        Path(temporary).unlink(missing_ok=True)
        if isinstance(error, OSError) and error.errno in NO_SPACE:
            raise TransientError(f"no space left to write {path.name}: {error.strerror}") from error
        raise
