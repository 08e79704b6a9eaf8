"""The spec of one phantom study: what it shows and how it is acquired."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from ..bones import Bone, bone_from_name
from ..errors import PhantomError
from ._acquisition import VENDORS
from ._edema import EXTENTS

__all__ = ["ANATOMIES", "KNOB_FIELDS", "MAX_MATRIX", "MAX_SLICES", "PLANES", "PhantomSpec"]

#: Planes of the fluid-sensitive series.
PLANES = ("sagittal", "axial", "coronal")
#: Anatomy families: the committed VHF atlas or independent parametric bones.
ANATOMIES = ("vhf", "parametric")
#: Largest in-plane matrix of a series (the field of view is cropped beyond it).
MAX_MATRIX = 512
#: Most slices of a series.
MAX_SLICES = 60
#: Fields added for the phantom distribution (issue 11): omitted from
#: :meth:`PhantomSpec.to_dict` while at their defaults.
KNOB_FIELDS = ("edema_fluid_ratio", "edema_t1_ratio", "fat_suppression", "fat_inhomogeneity",
               "field_strength",
               "slice_mm", "pixel_mm", "fluid_plane", "rescale", "anatomy", "flexion_deg",
               "deformation", "placement", "coverage")


@dataclass(frozen=True)
class PhantomSpec:
    """What one phantom study should show.

    Parameters
    ----------
    seed
        Seed of every random choice (anatomy, contrast, edema shape, noise, UIDs): the
        same spec always gives the same study, byte for byte.
    side
        ``"R"`` or ``"L"`` (a mirrored right foot).
    edema_bones
        Bone names (see :mod:`bmes_imaging.bones`) with edema, e.g. ``("talus",)``.
    edema_extent
        ``"subchondral"`` (6-20 % of the bone), ``"moderate"`` (25-50 %), ``"diffuse"``
        (60-85 %) or ``"mixed"`` (drawn per bone).
    normal
        No edema at all (``edema_bones`` is ignored).
    effusion
        Fluid in the ankle and posterior subtalar recesses.
    vessel
        Slow-flow veins, bright on STIR, running against the talus and calcaneus
        (tarsal tunnel) and the dorsum of the midfoot; otherwise they are flow voids.
    red_marrow
        Islands of red marrow in the calcaneus (low T1, slightly high STIR, not edema).
    bias
        Strength 0..1 of a smooth receive-coil intensity field (about +-40 % at 1).
    snr
        Signal-to-noise ratio of muscle (Rician noise); ``None`` for no noise.
    motion_mm, motion_deg
        Rigid motion of the STIR relative to the T1: translation length and rotation
        angle (random direction and axis).
    patient_id, patient_name, patient_sex, patient_age
        Patient module values; ``patient_id`` defaults to ``"PH<seed>"``.
    resolution
        Multiplies the pixel size (2.0 halves the matrix): for quick tests only.
    vendor
        ``"SIEMENS"``, ``"GE MEDICAL SYSTEMS"``, ``"Philips Medical Systems"`` or ``None``
        (drawn from the seed).
    size
        Overall foot size factor (the atlas is a female foot; 1.06 suits a man).
    fluid
        The fluid-sensitive series: ``"stir"`` (default), ``"t2_fs"`` (T2 fat-suppressed)
        or ``"pd_fs"`` (PD fat-suppressed); it is ``PhantomStudy.stir`` whatever it is.
    axial
        Also acquire an axial fluid-sensitive series (a third series, e.g. to test that
        pairing picks the sagittal STIR for the sagittal T1).
    edema_fluid_ratio
        Mean fluid-image signal of the edema core / normal fatty marrow, e.g. 1.8-8
        (``None``: drawn from the seed, about 6-10x on STIR).
    edema_t1_ratio
        Mean T1 signal of the edema core / normal marrow: 0.35-0.85 is a T1 drop of
        65-15 % (``None``: drawn, about 0.47-0.64).
    fat_suppression
        Fraction of the unsuppressed fat signal left on the fluid image (0 perfect,
        0.05 the default tables, 0.4 poor): raises marrow, fat pads and subcutaneous
        fat on the fluid image. ``None`` leaves the default (about 0.05).
    fat_inhomogeneity
        0..1: the residual fat fraction varies across the field of view by this
        relative amount (a ramp along a random direction, ``f * (1 +- h)``), as a
        spectral fat suppression that degrades off-centre; 0 (default) is uniform.
    field_strength
        1.5 or 3.0 (tesla): T1 contrast (water-rich tissue darker against fat at 3 T),
        the header's MagneticFieldStrength and scanner model. ``snr`` stays the achieved
        SNR (a distribution draws it higher at 3 T).
    slice_mm, pixel_mm
        Slice thickness (gap 10 %) and in-plane pixel size of both the T1 and the fluid
        series (``None``: the default protocol, T1 3.0 mm / 0.45 mm, fluid 3.5 mm /
        0.6 mm). Matrices are capped at :data:`MAX_MATRIX` (the field of view is cropped
        around the foot instead) and the slice count at :data:`MAX_SLICES`.
    fluid_plane
        Plane of the fluid series: ``"sagittal"`` (default), ``"axial"`` or ``"coronal"``.
    rescale
        ``(slope, intercept)`` for both series or ``(t1_slope, t1_intercept,
        fluid_slope, fluid_intercept)``: the stored integers are today's 12-bit signal,
        the image values (what a DICOM reader returns, and the volumes here) are
        ``stored * slope + intercept``; written as RescaleSlope / RescaleIntercept.
    anatomy
        ``"vhf"`` (the committed atlas) or ``"parametric"`` (an independent family of
        bone shapes drawn from the seed, :func:`bmes_imaging.phantom._parametric.parametric_atlas`).
    flexion_deg
        Plantar flexion of the foot (degrees; negative is dorsiflexion).
    deformation
        Strength 0..2 of a strong smooth non-rigid deformation added to the usual
        0.6-1.6 mm one (0, the default: none added); ``s`` adds six sine modes of
        ``s * (2-5)`` mm (see :func:`~bmes_imaging.anatomy.draw_pose`).
    placement
        ``(x, y, z)`` offset (mm, RAS) of the foot from where the technologist centres
        the field of view; large offsets leave part of the foot outside it.
    coverage
        Fraction (0.3-1) of the usual slice coverage of every series (partial coverage).

    Examples
    --------
    >>> from bmes_imaging.phantom import PhantomSpec
    >>> PhantomSpec(seed=2, edema_bones=("Talus",)).edema_bones
    ('talus',)
    """

    seed: int = 0
    side: str = "R"
    edema_bones: tuple[str, ...] = ("talus",)
    edema_extent: str = "moderate"
    normal: bool = False
    effusion: bool = False
    vessel: bool = False
    red_marrow: bool = False
    bias: float = 0.3
    snr: float | None = 25.0
    motion_mm: float = 0.0
    motion_deg: float = 0.0
    patient_id: str | None = None
    patient_name: str | None = None
    patient_sex: str | None = None
    patient_age: int | None = None
    resolution: float = 1.0
    vendor: str | None = None
    size: float = 1.0
    axial: bool = False
    fluid: str = "stir"
    edema_fluid_ratio: float | None = None
    edema_t1_ratio: float | None = None
    fat_suppression: float | None = None
    fat_inhomogeneity: float = 0.0
    field_strength: float = 1.5
    slice_mm: float | None = None
    pixel_mm: float | None = None
    fluid_plane: str = "sagittal"
    rescale: tuple[float, ...] | None = None
    anatomy: str = "vhf"
    flexion_deg: float = 0.0
    deformation: float = 0.0
    placement: tuple[float, float, float] = (0.0, 0.0, 0.0)
    coverage: float = 1.0

    def __post_init__(self) -> None:
        side = str(self.side).upper()
        if side not in ("L", "R"):
            raise PhantomError(f"PhantomSpec.side must be 'L' or 'R', found {self.side!r}")
        object.__setattr__(self, "side", side)
        if isinstance(self.edema_bones, str):
            object.__setattr__(self, "edema_bones", (self.edema_bones,))
        names = []
        for name in self.edema_bones:
            try:
                names.append(bone_from_name(name).bone_name)
            except KeyError as exc:
                raise PhantomError(f"PhantomSpec.edema_bones: {exc.args[0]}") from None
        object.__setattr__(self, "edema_bones", tuple(dict.fromkeys(names)))
        if self.edema_extent not in EXTENTS:
            raise PhantomError(f"PhantomSpec.edema_extent must be one of {EXTENTS}, "
                               f"found {self.edema_extent!r}")
        if not 0.0 <= self.bias <= 1.0:
            raise PhantomError(f"PhantomSpec.bias must be in 0..1, found {self.bias}")
        if self.snr is not None and self.snr <= 0:
            raise PhantomError(f"PhantomSpec.snr must be positive or None, found {self.snr}")
        if self.motion_mm < 0 or self.motion_deg < 0:
            raise PhantomError("PhantomSpec.motion_mm and motion_deg must be >= 0")
        if not 0.5 <= self.resolution <= 4.0:
            raise PhantomError(f"PhantomSpec.resolution must be in 0.5..4, found "
                               f"{self.resolution}")
        if self.fluid not in ("stir", "t2_fs", "pd_fs"):
            raise PhantomError(f"PhantomSpec.fluid must be 'stir', 't2_fs' or 'pd_fs', "
                               f"found {self.fluid!r}")
        if self.vendor is not None and self.vendor not in VENDORS:
            raise PhantomError(f"PhantomSpec.vendor must be one of {sorted(VENDORS)} or "
                               f"None, found {self.vendor!r}")
        if self.patient_sex is not None and self.patient_sex not in ("M", "F", "O"):
            raise PhantomError(f"PhantomSpec.patient_sex must be 'M', 'F' or 'O', found "
                               f"{self.patient_sex!r}")
        self._check_acquisition()

    def _check_acquisition(self) -> None:
        """Validate (and normalise) the contrast, acquisition and anatomy knobs."""
        def within(name: str, lo: float, hi: float) -> None:
            value = getattr(self, name)
            if value is not None and not lo <= float(value) <= hi:
                raise PhantomError(f"PhantomSpec.{name} must be in {lo}..{hi}, found "
                                   f"{value}")

        within("edema_fluid_ratio", 1.05, 20.0)
        within("edema_t1_ratio", 0.1, 0.98)
        within("fat_suppression", 0.0, 1.0)
        within("fat_inhomogeneity", 0.0, 1.0)
        within("slice_mm", 1.0, 8.0)
        within("pixel_mm", 0.2, 1.5)
        within("flexion_deg", -30.0, 60.0)
        within("deformation", 0.0, 2.0)
        within("coverage", 0.3, 1.0)
        if self.field_strength not in (1.5, 3.0):
            raise PhantomError(f"PhantomSpec.field_strength must be 1.5 or 3.0, found "
                               f"{self.field_strength!r}")
        if self.fluid_plane not in PLANES:
            raise PhantomError(f"PhantomSpec.fluid_plane must be one of {PLANES}, found "
                               f"{self.fluid_plane!r}")
        if self.anatomy not in ANATOMIES:
            raise PhantomError(f"PhantomSpec.anatomy must be one of {ANATOMIES}, found "
                               f"{self.anatomy!r}")
        if self.rescale is not None:
            r = tuple(float(v) for v in self.rescale)
            if len(r) not in (2, 4) or r[0] <= 0 or r[-2] <= 0:
                raise PhantomError("PhantomSpec.rescale must be (slope, intercept) or "
                                   "(t1_slope, t1_intercept, fluid_slope, fluid_intercept)"
                                   f" with positive slopes, found {self.rescale!r}")
            object.__setattr__(self, "rescale", r)
        p = tuple(float(v) for v in self.placement)
        if len(p) != 3 or max(abs(v) for v in p) > 120.0:
            raise PhantomError(f"PhantomSpec.placement must be 3 offsets (mm) within "
                               f"+-120, found {self.placement!r}")
        object.__setattr__(self, "placement", p)

    @property
    def bones_with_edema(self) -> tuple[Bone, ...]:
        """The edema bones as :class:`Bone` (empty for a normal study)."""
        if self.normal:
            return ()
        return tuple(bone_from_name(n) for n in self.edema_bones)

    @property
    def resolved_patient_id(self) -> str:
        """``patient_id`` or the default ``"PH<seed>"``."""
        return self.patient_id if self.patient_id is not None else f"PH{self.seed}"

    def rescale_of(self, series: str) -> tuple[float, float]:
        """``(slope, intercept)`` of ``"t1"`` or the fluid series (``(1, 0)`` if none)."""
        if self.rescale is None:
            return 1.0, 0.0
        r = self.rescale
        if series == "t1" or len(r) == 2:
            return r[0], r[1]
        return r[2], r[3]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary of the fields.

        The contrast, acquisition and anatomy knobs (:data:`KNOB_FIELDS`) are left out
        while they hold their defaults, so the dictionary (and ``phantom.json``) of a
        spec that does not use them stays what it was before they existed;
        :meth:`from_dict` restores them.
        """
        d = dataclasses.asdict(self)
        d["edema_bones"] = list(self.edema_bones)
        for name in KNOB_FIELDS:
            if getattr(self, name) == _DEFAULTS[name]:
                del d[name]
            elif isinstance(d[name], tuple):
                d[name] = list(d[name])
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PhantomSpec:
        """The spec of a :meth:`to_dict` dictionary (e.g. ``phantom.json["spec"]``)."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise PhantomError(f"phantom spec: unknown field(s) {', '.join(unknown)}")
        kw = dict(d)
        for name in ("edema_bones", "rescale", "placement"):
            if isinstance(kw.get(name), list):
                kw[name] = tuple(kw[name])
        return cls(**kw)


_DEFAULTS: dict[str, Any] = {f.name: f.default for f in dataclasses.fields(PhantomSpec)}
