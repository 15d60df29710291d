"""Progress bars for long commands (tqdm when installed and wanted, a no-op otherwise)."""
from __future__ import annotations

import contextlib
import sys


class _Silent:
    def update(self, n: int = 1) -> None:
        pass


@contextlib.contextmanager
def progress(total: int, description: str, quiet: bool = False, unit: str = "rec"):
    if quiet:
        yield _Silent()
        return
    try:
        from tqdm import tqdm
    except ImportError:   # progress is a nicety, never a reason to fail
        yield _Silent()
        return
    with tqdm(total=total, desc=f"{description:<22}", unit=unit, unit_scale=True, file=sys.stderr,
              dynamic_ncols=True, leave=True) as bar:
        yield bar
