"""Small synthetic feet for the detector's unit tests (no phantom needed).

Bones are ellipsoids with a dark cortex and bright fatty marrow (T1 bright, STIR dark)
inside muscle-like soft tissue under a fat layer; edema lowers T1 and raises STIR;
effusion and a vessel are fluid-bright outside bone. Both series sample one continuous
world model at their own voxel centres, so grids, planes and motion are exact.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest

from bmes_imaging.bones import Bone
from bmes_imaging.detection._align import rigid_matrix
from bmes_imaging.geometry import apply_affine
from bmes_imaging.volume import SeriesInfo, Volume

# label -> (centre mm, radii mm) of ellipsoidal bones, RAS+ (x right, y anterior, z up)
BONE_SHAPES = {
    Bone.TIBIA: ((0.0, -10.0, 45.0), (12.0, 12.0, 18.0)),
    Bone.TALUS: ((0.0, -5.0, 15.0), (14.0, 16.0, 10.0)),
    Bone.CALCANEUS: ((2.0, -32.0, 0.0), (14.0, 20.0, 12.0)),
    Bone.NAVICULAR: ((-4.0, 20.0, 12.0), (12.0, 6.0, 8.0)),
    Bone.CUBOID: ((10.0, 8.0, -2.0), (8.0, 9.0, 7.0)),
}
# (T1, STIR) signal of tissues
MARROW = (1.0, 0.15)
CORTEX = (0.08, 0.05)
MUSCLE = (0.35, 0.30)
FAT = (1.05, 0.08)
EDEMA = (0.45, 0.75)
FLUID = (0.15, 1.0)
AIR = (0.0, 0.0)


@dataclass
class Foot:
    edema: dict[int, tuple[tuple[float, float, float], float]] = field(default_factory=dict)
    effusion: bool = False
    vessel: bool = False
    bias: float = 0.0
    mirror: bool = False

    def sample(self, world: np.ndarray, seq: int) -> tuple[np.ndarray, np.ndarray]:
        """(signal, bone label, edema label) at RAS+ points for T1 (0) or STIR (1)."""
        p = world.copy()
        if self.mirror:
            p[:, 0] = -p[:, 0]
        val = np.full(len(p), AIR[seq], dtype=np.float32)
        lab = np.zeros(len(p), dtype=np.uint8)
        ed = np.zeros(len(p), dtype=np.uint8)
        r_body = ((p[:, 0] / 30) ** 2 + ((p[:, 1] + 5) / 55) ** 2 + ((p[:, 2] - 15) / 45) ** 2)
        val[r_body < 1.0] = FAT[seq]
        val[r_body < 0.8] = MUSCLE[seq]
        if self.effusion:  # fluid pool in front of the talus, outside bone
            r = (((p[:, 0]) / 10) ** 2 + ((p[:, 1] - 12) / 4) ** 2 + ((p[:, 2] - 24) / 4) ** 2)
            val[r < 1] = FLUID[seq]
        if self.vessel:  # a vessel running along y beside the calcaneus
            r = ((p[:, 0] + 15) / 1.8) ** 2 + ((p[:, 2] - 2) / 1.8) ** 2
            val[(r < 1) & (np.abs(p[:, 1] + 30) < 25)] = FLUID[seq]
        for bone, (c, rad) in BONE_SHAPES.items():
            d = np.sqrt((((p - np.array(c)) / np.array(rad)) ** 2).sum(axis=1))
            inb = d < 1.0
            val[inb] = CORTEX[seq]
            lab[inb] = int(bone)
            mar = d < 1.0 - 1.4 / min(rad)
            tex = 1.0 + 0.04 * np.sin(p[:, 0] * 0.9) * np.cos(p[:, 1] * 0.7)
            val[mar] = (MARROW[seq] * tex)[mar]
            if int(bone) in self.edema:
                ec, er = self.edema[int(bone)]
                de = np.sqrt(((p - np.array(ec)) ** 2).sum(axis=1)) / er
                e = mar & (de < 1.0)
                val[e] = EDEMA[seq]
                ed[e] = int(bone)
        if self.bias:
            val = val * (1.0 + self.bias * (p[:, 1] / 60.0)).astype(np.float32)
        return val, lab, ed


def grid(shape, voxel, *, plane="sagittal", centre=(0.0, -5.0, 15.0)) -> np.ndarray:
    """Affine of a grid centred on ``centre``; sagittal: i->-y? (A,S,R order)."""
    vs = np.asarray(voxel, float)
    if plane == "sagittal":  # i along anterior, j along -superior, k along right
        axes = np.array([[0, 1, 0], [0, 0, -1], [1, 0, 0]], float).T
    elif plane == "axial":   # i along -right (left), j along -anterior, k along superior
        axes = np.array([[-1, 0, 0], [0, -1, 0], [0, 0, 1]], float).T
    else:
        axes = np.eye(3)
    aff = np.eye(4)
    aff[:3, :3] = axes * vs
    aff[:3, 3] = np.asarray(centre) - aff[:3, :3] @ ((np.asarray(shape) - 1) / 2.0)
    return aff


def make_study(foot: Foot, *, t1_shape=(112, 96, 22), t1_voxel=(0.9, 0.9, 3.0),
               st_shape=(84, 72, 20), st_voxel=(1.2, 1.2, 3.3), st_plane="sagittal",
               st_centre=(1.0, -4.0, 15.0), motion=None, noise=0.02, seed=0,
               side="R"):
    rng = np.random.default_rng(seed)
    motion = np.eye(4) if motion is None else motion
    ta = grid(t1_shape, t1_voxel)
    ijk = np.stack(np.meshgrid(*[np.arange(n) for n in t1_shape], indexing="ij"),
                   -1).reshape(-1, 3)
    v, lab, ed = foot.sample(apply_affine(ta, ijk), 0)
    v = (v + foot.sample(apply_affine(ta, ijk + (0, 0, -1 / 3)), 0)[0]
         + foot.sample(apply_affine(ta, ijk + (0, 0, 1 / 3)), 0)[0]) / 3
    t1 = v.reshape(t1_shape) + rng.normal(0, noise, t1_shape).astype(np.float32)
    sa = grid(st_shape, st_voxel, plane=st_plane, centre=st_centre)
    ijk2 = np.stack(np.meshgrid(*[np.arange(n) for n in st_shape], indexing="ij"),
                    -1).reshape(-1, 3)
    # slice profile: average three positions through the slice thickness
    v2 = np.zeros(len(ijk2), np.float32)
    for dk in (-1 / 3, 0.0, 1 / 3):
        w2 = apply_affine(np.linalg.inv(motion), apply_affine(sa, ijk2 + (0, 0, dk)))
        v2 += foot.sample(w2, 1)[0] / 3
    st = v2.reshape(st_shape) + rng.normal(0, noise, st_shape).astype(np.float32)
    info_t1 = SeriesInfo(sequence="t1", laterality=side, frame_of_reference_uid="1.2.3")
    info_st = SeriesInfo(sequence="stir", laterality=side, frame_of_reference_uid="1.2.3")
    return (Volume(np.abs(t1).astype(np.float32) * 1000, ta, info_t1),
            Volume(np.abs(st).astype(np.float32) * 1000, sa, info_st),
            Volume(lab.reshape(t1_shape), ta), Volume(ed.reshape(t1_shape), ta))


@pytest.fixture(scope="session")
def synth():
    """Namespace: ``Foot``, ``make_study``, ``BONE_SHAPES``, ``rigid_matrix``."""
    from types import SimpleNamespace

    return SimpleNamespace(Foot=Foot, make_study=make_study, BONE_SHAPES=BONE_SHAPES,
                           rigid_matrix=rigid_matrix)
