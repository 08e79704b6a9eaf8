"""The recovery file of a review: work in progress kept between autosaves and crashes.

One file per study and reader in the cache folder (``recovery/<digest>_<reader>.npz``:
the edema labels plus the findings as JSON, :func:`bmes_imaging.findings.finding_to_dict`),
written atomically, removed by a save. Files written before the finding model was one
(bone by label number, NaN for unknown numbers) still load.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import time
from pathlib import Path
from typing import Any

import numpy as np

from bmes_imaging._atomic import write_bytes_atomic
from bmes_imaging.findings import finding_from_dict, finding_to_dict

__all__ = ["load_recovery", "recovery_path", "write_recovery"]


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)[:40] or "reader"


def recovery_path(model: Any) -> Path:
    """The recovery file of the model's study and reader."""
    digest = hashlib.sha256(model.study_key.encode()).hexdigest()[:24]
    return Path(model.cache) / "recovery" / f"{digest}_{_safe(model.reader)}.npz"


def write_recovery(model: Any) -> Path | None:
    """Write work in progress to the recovery file (atomic); None if nothing to keep."""
    if model.study is None or model.edema is None or not model.dirty:
        return None
    meta = {"study_key": model.study_key, "reader": model.reader, "time": time.time(),
            "findings": [finding_to_dict(f) for f in model.findings]}
    buf = io.BytesIO()
    np.savez_compressed(buf, labels=model.edema.array,
                        meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8))
    path = recovery_path(model)
    write_bytes_atomic(path, buf.getvalue())
    return path


def load_recovery(model: Any) -> bool:
    """Restore work in progress from the recovery file; False if there is none."""
    path = recovery_path(model)
    if not path.is_file():
        return False
    with np.load(path) as data:
        labels = data["labels"]
        meta = json.loads(bytes(data["meta"]).decode())
    if meta.get("study_key") != model.study_key:
        return False
    model._apply(labels, [finding_from_dict(d) for d in meta["findings"]])
    model.dirty = True
    model.changed.emit("restored")
    return True
