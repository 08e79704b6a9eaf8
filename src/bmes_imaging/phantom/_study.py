"""One phantom study: spec, generation in memory, and writing DICOM plus ground truth."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .._atomic import write_text_atomic
from ..anatomy import OTHER_BONE, atlas, bone_label_of
from ..bones import Bone
from ..volume import SeriesInfo, Volume
from ._acquisition import (
    VENDORS,
    SeriesProtocol,
    bias_field,
    psf_blur,
    render_series,
    rician,
    series_affine,
)
from ._edema import draw_marrow_fields
from ._followup import (
    FollowUp,
    follow_up_fields,
    follow_up_rng,
    random_rigid_motion,
    repositioned,
)
from ._protocol import foot_atlas, protocols, render_series_at, study_pose, upsample
from ._series_headers import SeriesHeaders
from ._spec import PhantomSpec
from ._tissue import (
    FatRamp,
    adjust_contrast,
    edema_ratios,
    fat_suppressed_variant,
    signal_tables,
    soft_texture_tables,
)

__all__ = ["INVOLVEMENT_FIELDS", "PhantomSpec", "PhantomStudy", "generate_study",
           "write_study"]

#: Columns of ``truth/involvement.csv``.
INVOLVEMENT_FIELDS = ("bone", "bone_label", "bone_volume_ml", "edema_volume_ml", "fraction")


@dataclass
class PhantomStudy:
    """A generated study in memory.

    Attributes
    ----------
    spec
        The spec it was generated from.
    t1, stir
        Image volumes, each in its own acquisition grid, ``SeriesInfo`` filled; ``stir``
        is the fluid-sensitive series (T2 / PD fat-suppressed when ``spec.fluid`` says so).
    bones
        ``uint8`` bone labels in the T1 grid (project labels; toes 0).
    edema
        ``uint8`` edema mask in the T1 grid: edema voxels carry their bone's label.
    motion
        4x4 world transform applied to the anatomy seen by the STIR (identity = none).
    involvement
        One row per bone present: ``bone, bone_label, bone_volume_ml, edema_volume_ml,
        fraction`` (fraction of the bone's volume).
    series_attributes
        DICOM header values per series key (``"t1"``, ``"stir"``, ``"axial_stir"``).
    details
        Drawn values: extents and target fractions per bone, vendor, contrast.
    extra_series
        Further series by key: ``"axial_stir"`` when ``spec.axial``.
    follow_up
        The follow-up time point this study shows (``None``: the baseline).
    """

    spec: PhantomSpec
    t1: Volume
    stir: Volume
    bones: Volume
    edema: Volume
    motion: NDArray[np.float64]
    involvement: list[dict[str, Any]]
    series_attributes: dict[str, dict[str, Any]] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    extra_series: dict[str, Volume] = field(default_factory=dict)
    follow_up: FollowUp | None = None


@dataclass
class _Scene:
    """What one study draws before rendering, in the random stream's fixed order."""

    atlas: Any
    rng: np.random.Generator
    vendor: str
    pose: Any
    tables: Any
    fields: Any
    edema_bones: tuple[Bone, ...]
    centre: NDArray[np.float64]
    motion: NDArray[np.float64]
    protocols: tuple[SeriesProtocol, SeriesProtocol, SeriesProtocol | None]
    aff_t1: NDArray[np.float64]
    aff_stir: NDArray[np.float64]
    repositioning: NDArray[np.float64] | None = None


def _draw_scene(spec: PhantomSpec, follow_up: FollowUp | None) -> _Scene:
    """Anatomy, pose, contrast, marrow fields, field of view and motion of a study.

    A follow-up changes the marrow fields and the pose with its own random stream,
    after they are drawn: the baseline's stream, and so everything else, is unchanged.
    """
    a = foot_atlas(spec, atlas())
    rng = np.random.default_rng([spec.seed, 0 if spec.side == "R" else 1, 7051])
    vendor = spec.vendor or sorted(VENDORS)[int(rng.integers(len(VENDORS)))]
    pose = study_pose(rng, spec, spec.size * (1.0 + rng.uniform(-0.03, 0.03)))
    tables = adjust_contrast(
        fat_suppressed_variant(signal_tables(rng, effusion=spec.effusion,
                                             vessel=spec.vessel), spec.fluid),
        fluid_ratio=spec.edema_fluid_ratio, t1_ratio=spec.edema_t1_ratio,
        fat_remaining=spec.fat_suppression, field_strength=spec.field_strength)
    fields = draw_marrow_fields(a, rng, spec.bones_with_edema, spec.edema_extent,
                                red_marrow=spec.red_marrow)
    edema_bones = spec.bones_with_edema
    repositioning = None
    if follow_up is not None:
        fu_rng = follow_up_rng(spec.seed, spec.side, follow_up)
        fields, edema_bones = follow_up_fields(a, fields, follow_up, fu_rng)
        pose, repositioning = repositioned(pose, follow_up, fu_rng)
    # the technologist centres the field of view on the hindfoot / midfoot
    centre_atlas = np.array([3.0, 40.0, -18.0]) + rng.uniform(-5.0, 5.0, 3)
    centre_atlas = centre_atlas + pose.fov_offset
    centre = (pose.affine @ np.r_[centre_atlas, 1.0])[:3] - np.asarray(spec.placement)
    dome = pose.affine[:3, 3].copy()
    motion = (random_rigid_motion(rng, spec.motion_deg, spec.motion_mm, dome)
              if (spec.motion_mm > 0 or spec.motion_deg > 0) else np.eye(4))
    p_t1, p_stir, p_ax = protocols(spec)
    aff_t1 = series_affine(p_t1, centre, rng.uniform(-1.0, 1.0))
    aff_stir = series_affine(p_stir, centre + rng.uniform(-3.0, 3.0, 3),
                             rng.uniform(-1.5, 1.5))
    return _Scene(a, rng, vendor, pose, tables, fields, edema_bones, centre, motion,
                  (p_t1, p_stir, p_ax), aff_t1, aff_stir, repositioning)


_Sample = Callable[[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], bool],
                   NDArray[np.float32]]


class _Samplers:
    """Plane samplers of the scene's T1 and fluid signal; the T1 ones record the truth
    (bone labels and edema) of the centre planes they render."""

    def __init__(self, spec: PhantomSpec, scene: _Scene) -> None:
        a, fields = scene.atlas, scene.fields
        self.scene = scene
        self.codes_flat = a.codes.reshape(-1)
        self.edema_flat = fields.edema.reshape(-1) if fields.edema is not None else None
        self.red_flat = fields.red.reshape(-1) if fields.red is not None else None
        self.shape = a.codes.shape
        self.edema_codes = np.zeros(256, bool)
        for b in scene.edema_bones:
            self.edema_codes[int(b)] = True
        self.marrow_code = np.zeros(256, bool)
        self.marrow_code[1:OTHER_BONE + 1] = True
        self.fine_flat = fields.texture_fine.reshape(-1)
        self.coarse_flat = fields.texture_coarse.reshape(-1)
        self.truth_bones: list[NDArray[np.uint8]] = []
        self.truth_edema: list[NDArray[np.uint8]] = []
        self.soft_tables = soft_texture_tables()
        self.fat_ramp = FatRamp.of(spec, scene.tables, scene.centre)

    def make(self, sequence: str, world_to_anatomy: NDArray[np.float64] | None,
             protocol: SeriesProtocol) -> _Sample:
        """The sampler of one series (``"t1"`` or the fluid series)."""
        tables = self.scene.tables
        lut = tables.t1 if sequence == "t1" else tables.stir
        record = sequence == "t1"
        if record:
            base = np.float32(tables.marrow_t1)
            tex_f, tex_c = np.float32(0.07), np.float32(0.05)
            red = np.float32(tables.red_t1)
        else:
            base = np.float32(tables.marrow_stir)
            tex_f, tex_c = np.float32(0.25), np.float32(0.15)
            red = np.float32(tables.red_stir)
        ni, nj = protocol.matrix
        soft_f, soft_c = self.soft_tables[0:2] if record else self.soft_tables[2:4]
        tile_mask = np.int32(63)
        me = self

        def sample(origin: NDArray[np.float64], step_i: NDArray[np.float64],
                   step_j: NDArray[np.float64], is_centre: bool) -> NDArray[np.float32]:
            ix, iy, iz, inside = me.scene.pose.plane_voxels(
                me.scene.atlas, origin, step_i, step_j, ni, nj, world_to_anatomy)
            flat = (ix * np.int32(me.shape[1]) + iy) * np.int32(me.shape[2]) + iz
            codes = me.codes_flat[flat]
            codes[~inside] = 0
            sig = lut[codes]
            mi_idx = np.flatnonzero(me.marrow_code[codes])
            if mi_idx.size:
                f = flat[mi_idx]
                tile = (((ix[mi_idx] & tile_mask) << 12) | ((iy[mi_idx] & tile_mask) << 6)
                        | (iz[mi_idx] & tile_mask))
                tf, tc = me.fine_flat[tile], me.coarse_flat[tile]
                s = base * (np.float32(1.0) + tex_f * tf + tex_c * tc)
                if me.red_flat is not None:
                    rw = me.red_flat[f].astype(np.float32) * np.float32(1 / 255.0)
                    s = s * (1 - rw) + red * (np.float32(1.0) + np.float32(0.05) * tc) * rw
                if me.edema_flat is not None:
                    ew = me.edema_flat[f].astype(np.float32) * np.float32(1 / 255.0)
                    ew *= np.float32(0.85) + np.float32(0.15) * tc
                    if record:
                        s *= np.maximum(np.float32(1.0) - np.float32(tables.edema_t1_drop)
                                        * ew, np.float32(0.02))
                    else:
                        s += (np.float32(tables.edema_stir_gain) * ew
                              * (np.float32(1.0) + np.float32(0.1) * tf))
                sig[mi_idx] = s
            st_idx = np.flatnonzero(soft_f[codes])
            if st_idx.size:
                tile = (((ix[st_idx] & tile_mask) << 12) | ((iy[st_idx] & tile_mask) << 6)
                        | (iz[st_idx] & tile_mask))
                c = codes[st_idx]
                sig[st_idx] *= (np.float32(1.0) + soft_f[c] * me.fine_flat[tile]
                                + soft_c[c] * me.coarse_flat[tile])
            if me.fat_ramp is not None and not record:
                sig += me.fat_ramp.plane(codes, origin, step_i, step_j, ni, nj)
            if record and is_centre:
                me.record_truth(codes, flat)
            return sig

        return sample

    def record_truth(self, codes: NDArray[np.uint8], flat: NDArray[Any]) -> None:
        """Keep the bone labels and edema of a rendered T1 centre plane."""
        self.truth_bones.append(bone_label_of(codes))
        e = np.zeros(codes.shape, np.uint8)
        if self.edema_flat is not None:
            hit = self.edema_codes[codes] & (self.edema_flat[flat] >= 128)
            e[hit] = codes[hit]
        self.truth_edema.append(e)


def _render(spec: PhantomSpec, scene: _Scene, samplers: _Samplers
            ) -> tuple[NDArray[np.float32], NDArray[np.float32], float,
                       NDArray[np.float64] | None]:
    """T1 and fluid images (blur, bias, noise, vendor rescale) and the T1 render factor."""
    p_t1, p_stir, _ = scene.protocols
    rng, tables = scene.rng, scene.tables
    fine = spec.pixel_mm is not None
    t1, t1_factor = render_series_at(p_t1, scene.aff_t1,
                                     lambda p: samplers.make("t1", None, p), fine)
    inv_motion = (None if np.allclose(scene.motion, np.eye(4))
                  else np.asarray(np.linalg.inv(scene.motion), dtype=np.float64))
    stir, _ = render_series_at(p_stir, scene.aff_stir,
                               lambda p: samplers.make("stir", inv_motion, p), fine)
    t1 = psf_blur(t1, 0.45)
    stir = psf_blur(stir, 0.45)
    t1 *= bias_field(t1.shape, spec.bias, rng)
    stir *= bias_field(stir.shape, spec.bias, rng)
    if spec.snr is not None:
        t1 = rician(t1, tables.muscle_t1 / spec.snr, rng)
        stir = rician(stir, tables.muscle_stir / (0.8 * spec.snr), rng)
    t1 = _rescaled(np.rint(np.clip(t1, 0, 4095)), spec.rescale_of("t1"))
    stir = _rescaled(np.rint(np.clip(stir, 0, 4095)), spec.rescale_of("fluid"))
    return t1, stir, t1_factor, inv_motion


def _truth_arrays(scene: _Scene, samplers: _Samplers, t1_factor: float
                  ) -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:
    """Bone labels and edema of the T1 grid from the recorded centre planes."""
    ni, nj = scene.protocols[0].matrix
    ci, cj = ((ni, nj) if t1_factor == 1.0 else
              (math.ceil((ni - 1) / t1_factor) + 1, math.ceil((nj - 1) / t1_factor) + 1))
    bones = np.stack([b.reshape(ci, cj) for b in samplers.truth_bones], axis=2)
    edema = np.stack([e.reshape(ci, cj) for e in samplers.truth_edema], axis=2)
    if t1_factor != 1.0:
        bones = np.asarray(upsample(bones, (ni, nj), t1_factor, nearest=True), np.uint8)
        edema = np.asarray(upsample(edema, (ni, nj), t1_factor, nearest=True), np.uint8)
    return bones, edema


def _axial_series(spec: PhantomSpec, scene: _Scene, samplers: _Samplers,
                  inv_motion: NDArray[np.float64] | None, headers: SeriesHeaders
                  ) -> dict[str, Volume]:
    """The optional axial fluid series (drawn after everything else, so the other
    series do not change with it)."""
    if not spec.axial:
        return {}
    rng, p_ax = scene.rng, scene.protocols[2]
    assert p_ax is not None
    centre_ax = (scene.pose.affine @ np.r_[0.0, 5.0, -30.0, 1.0])[:3]
    aff_ax = series_affine(p_ax, centre_ax, float(rng.uniform(-1.0, 1.0)))
    ax = render_series(p_ax, aff_ax, samplers.make("stir", inv_motion, p_ax))
    ax = psf_blur(ax, 0.45) * bias_field(ax.shape, spec.bias, rng)
    if spec.snr is not None:
        ax = rician(ax, scene.tables.muscle_stir / (0.8 * spec.snr), rng)
    ax = _rescaled(np.rint(np.clip(ax, 0, 4095)), spec.rescale_of("fluid"))
    key = f"axial_{spec.fluid}"
    headers.describe(key, spec.fluid, p_ax, 3, VENDORS[scene.vendor]["axial"][spec.fluid])
    return {key: Volume(ax, aff_ax, headers.infos[key])}


def generate_study(spec: PhantomSpec, *, follow_up: FollowUp | None = None) -> PhantomStudy:
    """Generate one study (T1, STIR and ground truth) in memory.

    Parameters
    ----------
    spec
        What to show; the seed fixes everything.
    follow_up
        Make the study a follow-up of ``spec``'s (baseline) study: the same foot some
        months later, its edema changed and the foot repositioned
        (:class:`~bmes_imaging.phantom.FollowUp`). ``None``: the baseline itself.

    Returns
    -------
    PhantomStudy

    Examples
    --------
    >>> from bmes_imaging.phantom import PhantomSpec, generate_study
    >>> study = generate_study(PhantomSpec(seed=1, resolution=4.0, snr=None))
    >>> study.t1.info.sequence, study.stir.info.sequence
    ('t1', 'stir')
    >>> bool((study.edema.array == 1).any())
    True
    """
    t_start = time.perf_counter()
    scene = _draw_scene(spec, follow_up)
    samplers = _Samplers(spec, scene)
    t1, stir, t1_factor, inv_motion = _render(spec, scene, samplers)
    bones, edema = _truth_arrays(scene, samplers, t1_factor)
    headers = SeriesHeaders(spec, scene, () if follow_up is None else (follow_up.label,),
                       0 if follow_up is None else follow_up.days)
    p_t1, p_stir, _ = scene.protocols
    vend = VENDORS[scene.vendor]
    headers.describe("t1", "t1", p_t1, 1, vend["t1"]["description"])
    headers.describe("stir", spec.fluid, p_stir, 2,
                     vend[spec.fluid]["description"] if spec.fluid_plane == "sagittal"
                     else vend[spec.fluid_plane][spec.fluid])
    extra = _axial_series(spec, scene, samplers, inv_motion, headers)
    infos = headers.infos
    truth_info = SeriesInfo(study_instance_uid=headers.study_uid,
                            frame_of_reference_uid=headers.for_uid,
                            patient_id=spec.resolved_patient_id, laterality=spec.side)
    bones_vol = Volume(bones, scene.aff_t1, truth_info)
    edema_vol = Volume(edema, scene.aff_t1, truth_info)
    details = _details(scene, t_start)
    if follow_up is not None and scene.repositioning is not None:
        details["repositioning"] = np.round(scene.repositioning, 8).tolist()
    return PhantomStudy(
        spec=spec,
        t1=Volume(t1, scene.aff_t1, infos["t1"]),
        stir=Volume(stir, scene.aff_stir, infos["stir"]),
        bones=bones_vol, edema=edema_vol, motion=scene.motion,
        involvement=involvement_rows(bones_vol, edema_vol),
        series_attributes=headers.attrs, extra_series=extra,
        details=details, follow_up=follow_up,
    )


def _details(scene: _Scene, t_start: float) -> dict[str, Any]:
    tables, fields = scene.tables, scene.fields
    return {
        "vendor": scene.vendor,
        "edema_extents": {b.bone_name: e for b, e in fields.extents.items()},
        "edema_target_fractions": {b.bone_name: round(f, 4)
                                   for b, f in fields.fractions.items()},
        "edema_t1_drop": round(tables.edema_t1_drop, 4),
        "edema_stir_gain": round(tables.edema_stir_gain, 2),
        "edema_fluid_ratio": round(edema_ratios(tables)[0], 4),
        "edema_t1_ratio": round(edema_ratios(tables)[1], 4),
        "fluid_plane": scene.protocols[1].plane,
        "t1_protocol": _protocol_details(scene.protocols[0]),
        "fluid_protocol": _protocol_details(scene.protocols[1]),
        "pose_affine": np.round(scene.pose.affine, 6).tolist(),
        "seconds": round(time.perf_counter() - t_start, 3),
    }


def _rescaled(stored: NDArray[Any], rescale: tuple[float, float]) -> NDArray[np.float32]:
    """Image values of stored integers under a vendor RescaleSlope / RescaleIntercept."""
    slope, intercept = rescale
    if slope == 1.0 and intercept == 0.0:
        return stored.astype(np.float32)
    return (stored * slope + intercept).astype(np.float32)


def _protocol_details(p: SeriesProtocol) -> dict[str, Any]:
    return {"plane": p.plane, "matrix": list(p.matrix),
            "pixel_mm": [round(v, 4) for v in p.pixel_mm],
            "thickness_mm": p.thickness_mm, "spacing_mm": p.spacing_mm,
            "n_slices": p.n_slices}


def involvement_rows(bones: Volume, edema: Volume) -> list[dict[str, Any]]:
    """Per-bone volumes and edema fraction from label maps on one grid."""
    ml = bones.voxel_volume_ml
    nb = np.bincount(bones.array.reshape(-1), minlength=256)
    ne = np.bincount(edema.array.reshape(-1), minlength=256)
    rows = []
    for b in Bone:
        if nb[int(b)] == 0:
            continue
        rows.append({
            "bone": b.bone_name, "bone_label": int(b),
            "bone_volume_ml": round(float(nb[int(b)] * ml), 4),
            "edema_volume_ml": round(float(ne[int(b)] * ml), 4),
            "fraction": round(float(ne[int(b)] / nb[int(b)]), 4),
        })
    return rows


def _atomic_text(path: Path, text: str) -> None:
    write_text_atomic(path, text)


def write_study(spec_or_study: PhantomSpec | PhantomStudy, out_dir: str | os.PathLike[str],
                *, follow_up: FollowUp | None = None) -> Path:
    """Write a study: ``dicom/`` (both series, shuffled names) and ``truth/``.

    Parameters
    ----------
    spec_or_study
        A spec (generated first) or an already generated study.
    out_dir
        Study folder; created if needed. Existing files of the same names are replaced.
    follow_up
        With a spec: write this follow-up time point of it (see :func:`generate_study`).

    Returns
    -------
    pathlib.Path
        ``out_dir``.

    Notes
    -----
    Layout: ``dicom/IM#####.dcm`` (T1 and STIR slices in one folder, names in an order
    shuffled by the seed), ``truth/bones.nii.gz`` and ``truth/edema.nii.gz`` (T1 grid),
    ``truth/involvement.csv`` and ``truth/phantom.json`` (spec, motion, drawn values).
    """
    from ..dicom import write_series

    study = (generate_study(spec_or_study, follow_up=follow_up)
             if isinstance(spec_or_study, PhantomSpec) else spec_or_study)
    fu = study.follow_up
    spec = study.spec
    out = Path(out_dir)
    dicom_dir = out / "dicom"
    dicom_dir.mkdir(parents=True, exist_ok=True)
    for old in dicom_dir.glob("*.dcm"):
        old.unlink()
    written: list[Path] = []
    series = [("a", "t1", study.t1), ("b", "stir", study.stir)]
    series += [(chr(ord("c") + n), key, vol)
               for n, (key, vol) in enumerate(sorted(study.extra_series.items()))]
    for prefix, key, vol in series:
        at = study.series_attributes[key]
        attributes = at["attributes"]
        slope, intercept = spec.rescale_of("t1" if key == "t1" else "fluid")
        if (slope, intercept) != (1.0, 0.0):
            # the stored integers, with the vendor's rescale in the header
            vol = Volume(np.rint((np.asarray(vol.array, np.float64) - intercept) / slope)
                         .astype(np.float32), vol.affine, vol.info)
            attributes = {**attributes, "RescaleSlope": f"{slope:.10g}",
                          "RescaleIntercept": f"{intercept:.10g}"}
        written += write_series(
            vol, dicom_dir, patient_id=spec.resolved_patient_id,
            patient_name=spec.patient_name or f"PHANTOM^{spec.resolved_patient_id}",
            patient_sex=spec.patient_sex, patient_age=spec.patient_age,
            study_instance_uid=vol.info.study_instance_uid,
            series_instance_uid=at["series_instance_uid"],
            frame_of_reference_uid=vol.info.frame_of_reference_uid,
            series_number=at["series_number"], series_description=at["series_description"],
            manufacturer=vol.info.manufacturer or "SIEMENS", attributes=attributes,
            uid_seed=(f"bmes-phantom-{spec.seed}-{spec.side}-{spec.resolved_patient_id}"
                      + ("" if fu is None else f"-{fu.label}")),
            filename_pattern=prefix + "{index:05d}.tmp",
        )
    perm = np.random.default_rng([spec.seed, 99]).permutation(len(written))
    for path, n in zip(written, perm, strict=True):
        path.rename(dicom_dir / f"IM{int(n) + 1:05d}.dcm")
    truth = out / "truth"
    study.bones.to_nifti(truth / "bones.nii.gz")
    study.edema.to_nifti(truth / "edema.nii.gz")
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(INVOLVEMENT_FIELDS), lineterminator="\n")
    w.writeheader()
    w.writerows(study.involvement)
    _atomic_text(truth / "involvement.csv", buf.getvalue())
    details = {k: v for k, v in study.details.items() if k != "seconds"}
    meta = {"spec": spec.to_dict(), "motion": np.round(study.motion, 8).tolist(),
            "t1_series_instance_uid": study.t1.info.series_instance_uid,
            "stir_series_instance_uid": study.stir.info.series_instance_uid,
            "study_instance_uid": study.t1.info.study_instance_uid,
            "details": details,
            "source": "bmes-imaging phantom; anatomy from the Visible Human Female foot "
                      "surfaces (University of Denver, CC BY 4.0)"}
    if fu is not None:
        meta["follow_up"] = fu.to_dict()
    _atomic_text(truth / "phantom.json", json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return out
