"""The site settings file (TOML): detector settings, decision threshold, calibration.

``bmes validate --fit`` writes it from the site's own reads; ``bmes detect`` loads it
with ``--config FILE`` (or ``$BMES_CONFIG``). Layout::

    format = "bmes-site-config"
    version = 1

    [detection]          # DetectionConfig fields to change (any of them), optional
    fluid_ratio_min = 3.5

    [decision]           # a positive bone scoring below this is reported negative
    bone_score_min = 0.71

    [calibration]        # confidence = P(read positive | score), logistic
    method = "logistic"
    intercept = -9.2
    slope = 14.1

    [fitted_on]          # what it was fitted on (written by --fit; informative)
    [expected]           # sensitivity / specificity expected at bone_score_min

Applying it (:meth:`SiteConfig.apply_to_findings`, :meth:`SiteConfig.apply_to_result`):
the detection settings go into :class:`~bmes_imaging.detection.DetectionConfig`; a
positive bone whose score (:func:`._score.bone_score`) is below ``bone_score_min``
becomes negative (grade 0, its edema voxels removed); with a calibration every row's
``confidence`` becomes the calibrated probability that the row is right (``p`` for a
positive row, ``1 - p`` for a negative one, ``p`` the probability of edema).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import BmesError
from ._calibration import LogisticCalibration
from ._score import bone_score, detector_positive

__all__ = ["CONFIG_ENV", "SiteConfig", "SiteConfigError", "load_site_config",
           "site_config_path", "write_site_config"]

#: Environment variable naming the site settings file.
CONFIG_ENV = "BMES_CONFIG"
FORMAT = "bmes-site-config"
_TABLES = ("detection", "decision", "calibration", "fitted_on", "expected")


class SiteConfigError(BmesError, ValueError):
    """The site settings file cannot be used (unreadable, unknown key, wrong value),
    or there are too few reads to fit one."""


@dataclass(frozen=True)
class SiteConfig:
    """Site settings: detector overrides, decision threshold, calibration, provenance."""

    detection: Mapping[str, Any] = field(default_factory=dict)
    bone_score_min: float | None = None
    calibration: LogisticCalibration | None = None
    fitted_on: Mapping[str, Any] = field(default_factory=dict)
    expected: Mapping[str, Any] = field(default_factory=dict)
    path: Path | None = None

    def detection_config(self, base: Any = None) -> Any:
        """A ``DetectionConfig`` (``base`` or the defaults) with the site's changes."""
        from ..detection import DetectionConfig

        cfg = base if base is not None else DetectionConfig()
        return cfg.replace(**dict(self.detection)) if self.detection else cfg

    def apply_to_findings(self, findings: Sequence[Any]) -> tuple[list[Any], list[Any]]:
        """The findings with the decision and calibration applied, and the bones demoted.

        Findings are replaced (``dataclasses.replace``), never changed in place.
        """
        out, demoted = [], []
        for f in findings:
            demote, confidence = self.decide(f)
            changes: dict[str, Any] = {}
            if demote:
                changes.update(grade=0, edema_volume_ml=0.0, fraction=0.0)
                demoted.append(f.bone)
            if confidence is not None:
                changes["confidence"] = confidence
            out.append(dataclasses.replace(f, **changes) if changes else f)
        return out, demoted

    def decide(self, finding: Any) -> tuple[bool, float | None]:
        """``(demote, confidence)`` of one finding (any object with ``grade`` and
        ``confidence``): whether the threshold turns a positive call negative, and
        the calibrated confidence of the row (``None`` without a calibration)."""
        s = bone_score(finding)
        positive = detector_positive(finding)
        demote = (positive and self.bone_score_min is not None
                  and s < self.bone_score_min)
        if demote:
            positive = False
        if self.calibration is None:
            return demote, None
        p = float(self.calibration.probability(s))
        return demote, round(p if positive else 1.0 - p, 3)

    def apply_to_result(self, result: Any) -> Any:
        """An ``EdemaResult`` copy with :meth:`apply_to_findings` applied and the edema
        voxels of demoted bones removed."""
        findings, demoted = self.apply_to_findings(result.findings)
        edema = result.edema
        if demoted:
            arr = np.array(edema.array, copy=True)
            arr[np.isin(arr, [int(b) for b in demoted])] = 0
            edema = edema.with_array(arr)
        notes = list(result.coverage_notes)
        if demoted:
            notes.append("site settings: below the site's decision threshold, reported "
                         "negative: " + ", ".join(b.bone_name for b in demoted))
        return dataclasses.replace(result, findings=findings, edema=edema,
                                   coverage_notes=notes)


def site_config_path(path: str | os.PathLike[str] | None = None) -> Path | None:
    """``path``, else ``$BMES_CONFIG``, else ``None`` (no site settings)."""
    if path is not None:
        return Path(path)
    env = os.environ.get(CONFIG_ENV, "").strip()
    return Path(env) if env else None


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        f = float(value)
        if math.isnan(f):
            return "nan"
        if math.isinf(f):
            return "inf" if f > 0 else "-inf"
        return repr(f)
    if isinstance(value, str):
        return json.dumps(value)  # JSON string escapes are valid TOML basic strings
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def _dumps(header: str, tables: Mapping[str, Mapping[str, Any]],
           comments: Mapping[str, str]) -> str:
    lines = [f"# {line}" if line else "#" for line in header.splitlines()]
    lines += [f"format = {_toml_value(FORMAT)}", "version = 1", ""]
    for name in _TABLES:
        lines.append(f"[{name}]")
        if name in comments:
            lines += [f"# {c}" for c in comments[name].splitlines()]
        for key, value in tables.get(name, {}).items():
            if value is None:
                continue
            lines.append(f"{key} = {_toml_value(value)}")
        lines.append("")
    return "\n".join(lines)


def write_site_config(path: str | os.PathLike[str], site: SiteConfig, *,
                      header: str = "") -> Path:
    """Write ``site`` as TOML (atomically) and return the path."""
    from .._atomic import write_text_atomic

    tables: dict[str, Mapping[str, Any]] = {
        "detection": dict(site.detection),
        "decision": {"bone_score_min": site.bone_score_min},
        "calibration": ({} if site.calibration is None else
                        {"method": "logistic", "intercept": site.calibration.intercept,
                         "slope": site.calibration.slope}),
        "fitted_on": dict(site.fitted_on), "expected": dict(site.expected)}
    comments = {
        "detection": "DetectionConfig fields to change (see bmes_imaging.detection), e.g.\n"
                     "fluid_ratio_min = 3.5",
        "decision": "a bone the detector calls positive with a score below this is "
                    "reported negative",
        "calibration": "confidence = P(read positive | score) = 1 / (1 + exp(-(intercept "
                       "+ slope * score)))",
        "fitted_on": "the reads these settings were fitted on",
        "expected": "bone-level figures expected at bone_score_min (on the fitted reads, "
                    "Wilson 95 % intervals)",
    }
    return write_text_atomic(path, _dumps(header, tables, comments))


def _number(table: Mapping[str, Any], key: str, where: str) -> float | None:
    value = table.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) \
            or not math.isfinite(float(value)):
        raise SiteConfigError(f"{where}: {key} must be a finite number, found {value!r}")
    return float(value)


def _detection_overrides(table: Mapping[str, Any], where: str) -> dict[str, Any]:
    from ..detection import DetectionConfig

    fields = {f.name: f for f in dataclasses.fields(DetectionConfig)}
    out: dict[str, Any] = {}
    for key, value in table.items():
        if key not in fields:
            raise SiteConfigError(f"{where}: [detection] {key} is not a detector setting; "
                                  f"known: {', '.join(sorted(fields))}")
        default = getattr(DetectionConfig(), key)
        if isinstance(default, tuple):
            if not isinstance(value, list):
                raise SiteConfigError(f"{where}: [detection] {key} must be a list")
            value = tuple(value)
        elif isinstance(default, int | float) and (isinstance(value, bool) or
                                                    not isinstance(value, int | float)):
            raise SiteConfigError(f"{where}: [detection] {key} must be a number, found "
                                  f"{value!r}")
        out[key] = value
    return out


def load_site_config(path: str | os.PathLike[str]) -> SiteConfig:
    """Read a site settings file.

    Returns
    -------
    SiteConfig
        Use :meth:`SiteConfig.detection_config` for the detector settings and
        :meth:`SiteConfig.apply_to_result` on its results.

    Raises
    ------
    SiteConfigError
        Naming the file and the key when the file is missing, not TOML, of another
        format, or holds an unknown setting or a wrong value.
    """
    import tomllib

    p = Path(path)
    where = str(p)
    try:
        with open(p, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise SiteConfigError(f"{where}: site settings file not found; write one with "
                              "`bmes validate --fit --out DIR`") from None
    except OSError as exc:
        raise SiteConfigError(f"{where}: cannot read the site settings ({exc.strerror})") \
            from None
    except tomllib.TOMLDecodeError as exc:
        raise SiteConfigError(f"{where}: not valid TOML ({exc})") from None
    if data.get("format") != FORMAT:
        raise SiteConfigError(f"{where}: not a bmes-imaging site settings file (format = "
                              f"{data.get('format')!r}, expected {FORMAT!r})")
    if data.get("version") != 1:
        raise SiteConfigError(f"{where}: settings version {data.get('version')!r} is not "
                              "known to this bmes-imaging (1 is)")
    unknown = set(data) - set(_TABLES) - {"format", "version"}
    if unknown:
        raise SiteConfigError(f"{where}: unknown entries {', '.join(sorted(unknown))}")
    tables = {}
    for name in _TABLES:
        value = data.get(name, {})
        if not isinstance(value, dict):
            raise SiteConfigError(f"{where}: [{name}] must be a table")
        tables[name] = value
    cal = tables["calibration"]
    calibration = None
    if cal:
        if cal.get("method", "logistic") != "logistic":
            raise SiteConfigError(f"{where}: [calibration] method must be 'logistic', "
                                  f"found {cal.get('method')!r}")
        a, b = _number(cal, "intercept", where), _number(cal, "slope", where)
        if a is None or b is None:
            raise SiteConfigError(f"{where}: [calibration] needs intercept and slope")
        calibration = LogisticCalibration(a, b)
    return SiteConfig(
        detection=_detection_overrides(tables["detection"], where),
        bone_score_min=_number(tables["decision"], "bone_score_min", where),
        calibration=calibration, fitted_on=tables["fitted_on"],
        expected=tables["expected"], path=p)
