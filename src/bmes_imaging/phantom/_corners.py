"""Corner cases of the phantom's splits: the extremes of every range, and the kinds each
tuning round missed, applied on top of a split's first drawn studies.

Each table is a tuple of ``(name, change)`` pairs; :func:`._distribution.distribution_specs`
applies change ``k`` to study ``k`` of its split (the folder name carries ``name``). A
table is written before the tuning round whose evaluation split it belongs to, and never
changed after (each split's specs are pinned by a digest test in ``tests/core/phantom``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from ._spec import PhantomSpec

__all__ = ["CORNERS", "CRYPT_CORNERS", "EVAL_CORNERS", "FINAL_CORNERS", "HOLDOUT_CORNERS",
           "LEDGER_CORNERS", "RESERVE_CORNERS", "SEALED_CORNERS", "TUNE_CORNERS",
           "TUNE_CORNER_INDEX", "VAULT_CORNERS"]


def _with(**changes: Any) -> Callable[[PhantomSpec], PhantomSpec]:
    def apply(spec: PhantomSpec) -> PhantomSpec:
        return dataclasses.replace(spec, **changes)
    return apply


def _lesion(**changes: Any) -> Callable[[PhantomSpec], PhantomSpec]:
    """A corner case that needs edema: a single moderate-to-diffuse lesion if none."""
    def apply(spec: PhantomSpec) -> PhantomSpec:
        if spec.normal:
            spec = dataclasses.replace(spec, normal=False)
        return dataclasses.replace(spec, **changes)
    return apply


#: Corner cases of the evaluation split: (name, change applied to the drawn spec).
EVAL_CORNERS: tuple[tuple[str, Callable[[PhantomSpec], PhantomSpec]], ...] = (
    ("stir1.8_t1drop15", _lesion(edema_fluid_ratio=1.8, edema_t1_ratio=0.85)),
    ("stir8_t1drop65", _lesion(edema_fluid_ratio=8.0, edema_t1_ratio=0.35)),
    ("stir1.8_t1drop65", _lesion(edema_fluid_ratio=1.8, edema_t1_ratio=0.35)),
    ("stir8_t1drop15", _lesion(edema_fluid_ratio=8.0, edema_t1_ratio=0.85)),
    ("talus_diffuse_stir2.5_t1_0.7", _lesion(edema_bones=("talus",),
                                             edema_extent="diffuse",
                                             edema_fluid_ratio=2.5, edema_t1_ratio=0.7)),
    ("four_bones", _lesion(edema_bones=("talus", "calcaneus", "navicular", "cuboid"),
                           edema_extent="mixed")),
    ("snr8", _with(snr=8.0, field_strength=1.5)),
    ("snr60", _with(snr=60.0, field_strength=3.0)),
    ("slice5", _with(slice_mm=5.0)),
    ("slice2", _with(slice_mm=2.0)),
    ("pixel0.9", _with(pixel_mm=0.9)),
    ("pixel0.3", _with(pixel_mm=0.3)),
    ("fluid_axial", _lesion(fluid_plane="axial")),
    ("fluid_coronal", _lesion(fluid_plane="coronal")),
    ("partial_coverage", _lesion(coverage=0.6, placement=(0.0, 0.0, 30.0))),
    ("flexion40", _with(flexion_deg=40.0)),
    ("size0.8", _with(size=0.8)),
    ("size1.25", _with(size=1.25)),
    ("normal_red_marrow_poor_fs", _with(normal=True, red_marrow=True, fluid="t2_fs",
                                        fat_suppression=0.4, fat_inhomogeneity=0.6)),
    ("normal_effusion_vessel_motion", _with(normal=True, effusion=True, vessel=True,
                                            motion_mm=2.5, motion_deg=2.5)),
    ("deformation2_parametric", _with(deformation=2.0, anatomy="parametric")),
    ("rescale_3t", _with(field_strength=3.0, rescale=(0.3333, 0.0, 4.2, -50.0))),
    ("bias0.8_fat0", _with(bias=0.8, fat_suppression=0.0)),
)


#: Corner cases of the *tuning* split: the same kinds of extremes as :data:`EVAL_CORNERS`
#: (and small subchondral lesions in the thin bones), applied to tuning draws
#: ``draw_spec(TUNE_CORNER_INDEX + k, "tune")`` (tuning salt and seeds, disjoint from the
#: evaluation split and from the ordinary tuning studies ``0 .. TUNE_CORNER_INDEX - 1``).
TUNE_CORNER_INDEX = 1_000_000
TUNE_CORNERS: tuple[tuple[str, Callable[[PhantomSpec], PhantomSpec]], ...] = (
    ("stir1.8_t1drop15", _lesion(edema_fluid_ratio=1.8, edema_t1_ratio=0.85)),
    ("stir1.8_t1drop15_snr8", _lesion(edema_fluid_ratio=1.8, edema_t1_ratio=0.85,
                                      snr=8.0, field_strength=1.5)),
    ("stir1.8_t1drop65", _lesion(edema_fluid_ratio=1.8, edema_t1_ratio=0.35)),
    ("stir8_t1drop15", _lesion(edema_fluid_ratio=8.0, edema_t1_ratio=0.85)),
    ("stir2_t1drop20", _lesion(edema_fluid_ratio=2.0, edema_t1_ratio=0.8)),
    ("snr8", _lesion(snr=8.0, field_strength=1.5)),
    ("snr60", _lesion(snr=60.0, field_strength=3.0)),
    ("slice5", _lesion(slice_mm=5.0)),
    ("pixel0.9", _lesion(pixel_mm=0.9)),
    ("pixel0.3", _lesion(pixel_mm=0.3)),
    ("fluid_axial", _lesion(fluid_plane="axial")),
    ("fluid_coronal", _lesion(fluid_plane="coronal")),
    ("partial_coverage", _lesion(coverage=0.6, placement=(0.0, 0.0, 30.0))),
    ("flexion40", _lesion(flexion_deg=40.0)),
    ("deformation2_parametric", _lesion(deformation=2.0, anatomy="parametric")),
    ("four_bones", _lesion(edema_bones=("talus", "calcaneus", "navicular", "cuboid"),
                           edema_extent="mixed")),
    ("subchondral_metatarsal2_slice5", _lesion(
        edema_bones=("second_metatarsal",), edema_extent="subchondral", slice_mm=5.0)),
    ("subchondral_metatarsal4_stir2.2", _lesion(
        edema_bones=("fourth_metatarsal",), edema_extent="subchondral",
        edema_fluid_ratio=2.2, edema_t1_ratio=0.75)),
    ("subchondral_intermediate_cuneiform", _lesion(
        edema_bones=("intermediate_cuneiform",), edema_extent="subchondral")),
    ("subchondral_lateral_cuneiform_stir2", _lesion(
        edema_bones=("lateral_cuneiform",), edema_extent="subchondral",
        edema_fluid_ratio=2.0, edema_t1_ratio=0.8, slice_mm=4.0)),
    ("subchondral_medial_cuneiform_stir1.8", _lesion(
        edema_bones=("medial_cuneiform",), edema_extent="subchondral",
        edema_fluid_ratio=1.8, edema_t1_ratio=0.8)),
    ("normal_red_marrow_poor_fs", _with(normal=True, red_marrow=True, fluid="t2_fs",
                                        fat_suppression=0.4, fat_inhomogeneity=0.6)),
    ("normal_red_marrow_poor_fs_slice5", _with(normal=True, red_marrow=True,
                                               fluid="pd_fs", fat_suppression=0.4,
                                               fat_inhomogeneity=0.3, slice_mm=5.0)),
    ("normal_effusion_vessel_motion", _with(normal=True, effusion=True, vessel=True,
                                            motion_mm=2.5, motion_deg=2.5)),
    # third round (the weak kind of the eval split's misses: small subchondral lesions
    # of thin bones, metatarsals above all, at low-to-moderate contrast, thick slices),
    # and normal feet in thick slices against which their false bones are counted
    ("subchondral_metatarsal3_stir2.5_slice4", _lesion(
        edema_bones=("third_metatarsal",), edema_extent="subchondral",
        edema_fluid_ratio=2.5, edema_t1_ratio=0.75, slice_mm=4.0)),
    ("subchondral_metatarsal5_stir2.2_slice3", _lesion(
        edema_bones=("fifth_metatarsal",), edema_extent="subchondral",
        edema_fluid_ratio=2.2, edema_t1_ratio=0.78, slice_mm=3.0)),
    ("subchondral_metatarsal3_stir3_slice5", _lesion(
        edema_bones=("third_metatarsal",), edema_extent="subchondral",
        edema_fluid_ratio=3.0, edema_t1_ratio=0.7, slice_mm=5.0)),
    ("subchondral_metatarsal5_stir2_coronal", _lesion(
        edema_bones=("fifth_metatarsal",), edema_extent="subchondral",
        edema_fluid_ratio=2.0, edema_t1_ratio=0.8, fluid_plane="coronal")),
    ("subchondral_metatarsal4_stir4_slice4.5", _lesion(
        edema_bones=("fourth_metatarsal",), edema_extent="subchondral",
        edema_fluid_ratio=4.0, edema_t1_ratio=0.6, slice_mm=4.5)),
    ("subchondral_metatarsal1_stir2.4", _lesion(
        edema_bones=("first_metatarsal",), edema_extent="subchondral",
        edema_fluid_ratio=2.4, edema_t1_ratio=0.75)),
    ("subchondral_medial_cuneiform_stir2.5_slice4", _lesion(
        edema_bones=("medial_cuneiform",), edema_extent="subchondral",
        edema_fluid_ratio=2.5, edema_t1_ratio=0.72, slice_mm=4.0)),
    ("subchondral_metatarsal2_stir2_snr12", _lesion(
        edema_bones=("second_metatarsal",), edema_extent="subchondral",
        edema_fluid_ratio=2.0, edema_t1_ratio=0.8, snr=12.0, field_strength=1.5)),
    ("normal_stir_slice5", _with(normal=True, fluid="stir", slice_mm=5.0)),
    ("normal_t2fs_slice4.5_fat0.2", _with(normal=True, fluid="t2_fs", slice_mm=4.5,
                                          fat_suppression=0.2)),
)


#: Corner cases of the *final* evaluation split, applied to ``draw_spec(i, "final")``
#: (its own salt and seeds): the extremes of every range of issue 11, like
#: :data:`EVAL_CORNERS`, plus the other ends the evaluation corners left to chance
#: (plantar flexion -10 degrees, residual fat 0.4 under a lesion, PD-FS at 3 T with
#: intercepts of both signs, no bias, small subchondral lesions of a tarsal and a
#: metatarsal).
#: Written before any tuning of the round it checks, and not changed after.
FINAL_CORNERS: tuple[tuple[str, Callable[[PhantomSpec], PhantomSpec]], ...] = (
    ("stir1.8_t1drop15", _lesion(edema_fluid_ratio=1.8, edema_t1_ratio=0.85)),
    ("stir1.8_t1drop65", _lesion(edema_fluid_ratio=1.8, edema_t1_ratio=0.35)),
    ("stir8_t1drop15", _lesion(edema_fluid_ratio=8.0, edema_t1_ratio=0.85)),
    ("stir8_t1drop65", _lesion(edema_fluid_ratio=8.0, edema_t1_ratio=0.35)),
    ("stir2_t1drop20", _lesion(edema_fluid_ratio=2.0, edema_t1_ratio=0.8)),
    ("talus_diffuse_stir2.5_t1_0.7", _lesion(edema_bones=("talus",),
                                             edema_extent="diffuse",
                                             edema_fluid_ratio=2.5, edema_t1_ratio=0.7)),
    ("four_bones", _lesion(edema_bones=("calcaneus", "cuboid", "lateral_cuneiform",
                                        "third_metatarsal"), edema_extent="mixed")),
    ("snr8", _lesion(snr=8.0, field_strength=1.5)),
    ("snr60", _lesion(snr=60.0, field_strength=3.0)),
    ("slice2", _with(slice_mm=2.0)),
    ("slice5", _lesion(slice_mm=5.0)),
    ("pixel0.3", _with(pixel_mm=0.3)),
    ("pixel0.9", _lesion(pixel_mm=0.9)),
    ("fluid_axial", _lesion(fluid_plane="axial")),
    ("fluid_coronal", _lesion(fluid_plane="coronal")),
    ("partial_coverage", _lesion(coverage=0.6, placement=(0.0, 0.0, 30.0))),
    ("flexion40", _lesion(flexion_deg=40.0)),
    ("flexion-10", _with(flexion_deg=-10.0)),
    ("size0.8", _lesion(size=0.8)),
    ("size1.25", _with(size=1.25)),
    ("deformation2_parametric", _lesion(deformation=2.0, anatomy="parametric")),
    ("fat0.4_t2fs_lesion", _lesion(fluid="t2_fs", fat_suppression=0.4,
                                   fat_inhomogeneity=0.6)),
    ("pdfs_3t_rescale", _with(fluid="pd_fs", field_strength=3.0,
                              rescale=(2.5, -100.0, 0.25, 150.0))),
    ("bias0.8", _lesion(bias=0.8)),
    ("bias0_fat0", _with(bias=0.0, fat_suppression=0.0)),
    ("subchondral_navicular", _lesion(edema_bones=("navicular",),
                                      edema_extent="subchondral")),
    ("subchondral_first_metatarsal", _lesion(edema_bones=("first_metatarsal",),
                                             edema_extent="subchondral")),
    ("normal_red_marrow_poor_fs", _with(normal=True, red_marrow=True, fluid="t2_fs",
                                        fat_suppression=0.4, fat_inhomogeneity=0.6)),
    ("normal_red_marrow_stir_slice5", _with(normal=True, red_marrow=True, fluid="stir",
                                            slice_mm=5.0)),
    ("normal_effusion_vessel_motion", _with(normal=True, effusion=True, vessel=True,
                                            motion_mm=2.5, motion_deg=2.5)),
)

#: Corner cases of the fourth split, ``"holdout"`` (its own salt and seeds): every corner
#: of :data:`FINAL_CORNERS` drawn anew, plus small and moderate lesions of thin bones
#: (cuneiforms, metatarsals, cuboid) in 4-5 mm slices, the kind the third round missed.
#: Written before any tuning of the fourth round, and not changed after.
HOLDOUT_CORNERS: tuple[tuple[str, Callable[[PhantomSpec], PhantomSpec]], ...] = (
    *FINAL_CORNERS,
    ("subchondral_intermediate_cuneiform_slice5",
     _lesion(edema_bones=("intermediate_cuneiform",), edema_extent="subchondral",
             slice_mm=5.0)),
    ("subchondral_third_metatarsal_slice4",
     _lesion(edema_bones=("third_metatarsal",), edema_extent="subchondral", slice_mm=4.0)),
    ("subchondral_cuboid", _lesion(edema_bones=("cuboid",), edema_extent="subchondral")),
    ("moderate_lateral_cuneiform_slice5_stir2.5",
     _lesion(edema_bones=("lateral_cuneiform",), edema_extent="moderate", slice_mm=5.0,
             edema_fluid_ratio=2.5, edema_t1_ratio=0.75)),
)

#: Corner cases of the fifth split, ``"sealed"`` (its own salt and seeds): every corner of
#: :data:`HOLDOUT_CORNERS` drawn anew, plus strong lesions of thin bones in 4-5 mm slices
#: (the fourth round missed a fifth metatarsal in 5 mm slices), lesions of the midfoot
#: under partial coverage (it missed an intermediate cuneiform there), lesions at the
#: strong-lesion border (STIR 2x, T1 drop 20 %) in thin bones, and large, flexed or
#: parametric feet with lesions.
#: Written before any tuning of the fifth round, and not changed after.
SEALED_CORNERS: tuple[tuple[str, Callable[[PhantomSpec], PhantomSpec]], ...] = (
    *HOLDOUT_CORNERS,
    ("subchondral_fifth_metatarsal_slice5",
     _lesion(edema_bones=("fifth_metatarsal",), edema_extent="subchondral", slice_mm=5.0)),
    ("moderate_fourth_metatarsal_slice5_axial",
     _lesion(edema_bones=("fourth_metatarsal",), edema_extent="moderate", slice_mm=5.0,
             fluid_plane="axial")),
    ("partial_coverage_intermediate_cuneiform",
     _lesion(edema_bones=("intermediate_cuneiform",), coverage=0.6,
             placement=(0.0, 0.0, 30.0))),
    ("partial_coverage_cuboid_navicular",
     _lesion(edema_bones=("cuboid", "navicular"), edema_extent="mixed", coverage=0.65,
             placement=(0.0, 0.0, -25.0))),
    ("border_medial_cuneiform_stir2_t1drop20_slice4",
     _lesion(edema_bones=("medial_cuneiform",), edema_extent="moderate", slice_mm=4.0,
             edema_fluid_ratio=2.0, edema_t1_ratio=0.8)),
    ("border_second_metatarsal_stir2_t1drop20",
     _lesion(edema_bones=("second_metatarsal",), edema_extent="moderate",
             edema_fluid_ratio=2.0, edema_t1_ratio=0.8)),
    ("size1.25_parametric_talus",
     _lesion(size=1.25, anatomy="parametric", edema_bones=("talus",))),
    ("size0.8_parametric_flexion40_navicular",
     _lesion(size=0.8, anatomy="parametric", flexion_deg=40.0,
             edema_bones=("navicular",))),
    ("subchondral_lateral_cuneiform_slice5_coronal",
     _lesion(edema_bones=("lateral_cuneiform",), edema_extent="subchondral",
             slice_mm=5.0, fluid_plane="coronal")),
    ("normal_parametric_size1.25_snr8",
     _with(normal=True, anatomy="parametric", size=1.25, snr=8.0)),
)

#: Corner cases of the sixth split, ``"vault"`` (its own salt and seeds): every corner of
#: :data:`SEALED_CORNERS` drawn anew, plus small lesions of thin bones in 5 mm slices with
#: the fluid series sagittal, axial and coronal (the fifth round missed an intermediate
#: cuneiform, a fifth and a second metatarsal there), and one at the strong-lesion border.
#: Written before any tuning of the sixth round, and not changed after.
VAULT_CORNERS: tuple[tuple[str, Callable[[PhantomSpec], PhantomSpec]], ...] = (
    *SEALED_CORNERS,
    ("subchondral_second_metatarsal_slice5",
     _lesion(edema_bones=("second_metatarsal",), edema_extent="subchondral", slice_mm=5.0)),
    ("subchondral_intermediate_cuneiform_slice5_axial",
     _lesion(edema_bones=("intermediate_cuneiform",), edema_extent="subchondral",
             slice_mm=5.0, fluid_plane="axial")),
    ("subchondral_fifth_metatarsal_slice5_coronal",
     _lesion(edema_bones=("fifth_metatarsal",), edema_extent="subchondral", slice_mm=5.0,
             fluid_plane="coronal")),
    ("subchondral_medial_cuneiform_slice5_stir2_t1drop20",
     _lesion(edema_bones=("medial_cuneiform",), edema_extent="subchondral", slice_mm=5.0,
             edema_fluid_ratio=2.0, edema_t1_ratio=0.8)),
)

#: Corner cases of the seventh split, ``"crypt"`` (its own salt and seeds): every corner of
#: :data:`VAULT_CORNERS` drawn anew, plus what the sixth round missed on ``"vault"``:
#: small low-contrast lesions of thin bones with a coronal or axial fluid series (a
#: lateral cuneiform at STIR 2x / T1 drop 19 %, a third metatarsal at 1.8x), a strong
#: small lesion at the border in 5 mm slices (an intermediate cuneiform at 2x / 20 %),
#: strong small lesions in 5 mm slices of the bones not used there before (fourth
#: metatarsal, cuboid with a coronal fluid series, first metatarsal with an axial one),
#: and normal feet in 5 mm slices with the fluid series coronal or axial (a vault study
#: in 5 mm slices got five false bones).
#: Written before any tuning of the seventh round, and not changed after.
CRYPT_CORNERS: tuple[tuple[str, Callable[[PhantomSpec], PhantomSpec]], ...] = (
    *VAULT_CORNERS,
    ("subchondral_lateral_cuneiform_coronal_stir2_t1drop19",
     _lesion(edema_bones=("lateral_cuneiform",), edema_extent="subchondral",
             fluid_plane="coronal", edema_fluid_ratio=2.0, edema_t1_ratio=0.81)),
    ("subchondral_third_metatarsal_coronal_stir1.8",
     _lesion(edema_bones=("third_metatarsal",), edema_extent="subchondral",
             fluid_plane="coronal", edema_fluid_ratio=1.8)),
    ("subchondral_intermediate_cuneiform_slice5_stir2_t1drop20",
     _lesion(edema_bones=("intermediate_cuneiform",), edema_extent="subchondral",
             slice_mm=5.0, edema_fluid_ratio=2.0, edema_t1_ratio=0.8)),
    ("subchondral_fourth_metatarsal_slice5_stir2.4_t1drop40",
     _lesion(edema_bones=("fourth_metatarsal",), edema_extent="subchondral", slice_mm=5.0,
             edema_fluid_ratio=2.4, edema_t1_ratio=0.6)),
    ("subchondral_cuboid_slice5_coronal",
     _lesion(edema_bones=("cuboid",), edema_extent="subchondral", slice_mm=5.0,
             fluid_plane="coronal")),
    ("subchondral_first_metatarsal_slice5_axial_stir2_t1drop20",
     _lesion(edema_bones=("first_metatarsal",), edema_extent="subchondral", slice_mm=5.0,
             fluid_plane="axial", edema_fluid_ratio=2.0, edema_t1_ratio=0.8)),
    ("normal_slice5_coronal", _with(normal=True, slice_mm=5.0, fluid_plane="coronal")),
    ("normal_slice5_axial_t2fs_fat0.4",
     _with(normal=True, slice_mm=5.0, fluid_plane="axial", fluid="t2_fs",
           fat_suppression=0.4, fat_inhomogeneity=0.6)),
)

#: Corner cases of the eighth split, ``"reserve"`` (its own salt and seeds): every corner
#: of :data:`CRYPT_CORNERS` drawn anew, plus what the seventh round missed on ``"crypt"``
#: (a moderate third metatarsal at STIR 2.1x / T1 drop 43 %, an intermediate cuneiform at
#: 2.6x with neither bias field nor residual fat, a small medial cuneiform at the strong
#: border in 5 mm slices), a fifth metatarsal lesion in 5 mm slices with a coronal fluid
#: series large enough to count (the small one lay outside the fluid coverage), and normal
#: feet of the kinds that got a false calcaneus (SNR 60 at 3 T, plantar flexion 40
#: degrees). Written at the end of the seventh round, before any tuning of the eighth.
RESERVE_CORNERS: tuple[tuple[str, Callable[[PhantomSpec], PhantomSpec]], ...] = (
    *CRYPT_CORNERS,
    ("moderate_third_metatarsal_stir2.1_t1drop43",
     _lesion(edema_bones=("third_metatarsal",), edema_extent="moderate",
             edema_fluid_ratio=2.1, edema_t1_ratio=0.57)),
    ("moderate_intermediate_cuneiform_bias0_fat0_stir2.6",
     _lesion(edema_bones=("intermediate_cuneiform",), edema_extent="moderate", bias=0.0,
             fat_suppression=0.0, edema_fluid_ratio=2.6, edema_t1_ratio=0.49)),
    ("subchondral_medial_cuneiform_slice5_coronal_stir2_t1drop20",
     _lesion(edema_bones=("medial_cuneiform",), edema_extent="subchondral", slice_mm=5.0,
             fluid_plane="coronal", edema_fluid_ratio=2.0, edema_t1_ratio=0.8)),
    ("moderate_fifth_metatarsal_slice5_coronal",
     _lesion(edema_bones=("fifth_metatarsal",), edema_extent="moderate", slice_mm=5.0,
             fluid_plane="coronal")),
    ("normal_snr60_3t", _with(normal=True, snr=60.0, field_strength=3.0)),
    ("normal_flexion40", _with(normal=True, flexion_deg=40.0)),
)

#: Corner cases of the ninth split, ``"ledger"`` (its own salt and seeds): every corner of
#: :data:`RESERVE_CORNERS` drawn anew, plus the kinds the eighth round missed or called
#: falsely on ``"reserve"`` (a strong fourth metatarsal lesion at SNR 60 / 3 T; lesions of
#: the third and fourth metatarsal in 5 mm slices with the fluid series axial or coronal
#: just above the strong border; the no-bias, no-residual-fat kind in another bone; normal
#: feet in 5 mm slices in plantar flexion and of the parametric family, where the
#: intermediate cuneiform was called). Written at the end of the eighth round, before any
#: tuning of the ninth.
LEDGER_CORNERS: tuple[tuple[str, Callable[[PhantomSpec], PhantomSpec]], ...] = (
    *RESERVE_CORNERS,
    ("moderate_fourth_metatarsal_snr60_3t",
     _lesion(edema_bones=("fourth_metatarsal",), edema_extent="moderate", snr=60.0,
             field_strength=3.0)),
    ("moderate_fourth_metatarsal_slice5_axial_stir2.2_t1drop30",
     _lesion(edema_bones=("fourth_metatarsal",), edema_extent="moderate", slice_mm=5.0,
             fluid_plane="axial", edema_fluid_ratio=2.2, edema_t1_ratio=0.7)),
    ("subchondral_third_metatarsal_slice5_coronal_stir2.2_t1drop35",
     _lesion(edema_bones=("third_metatarsal",), edema_extent="subchondral", slice_mm=5.0,
             fluid_plane="coronal", edema_fluid_ratio=2.2, edema_t1_ratio=0.65)),
    ("moderate_medial_cuneiform_bias0_fat0_stir2.2",
     _lesion(edema_bones=("medial_cuneiform",), edema_extent="moderate", bias=0.0,
             fat_suppression=0.0, edema_fluid_ratio=2.2, edema_t1_ratio=0.55)),
    ("normal_slice5_flexion40", _with(normal=True, slice_mm=5.0, flexion_deg=40.0)),
    ("normal_slice5_parametric", _with(normal=True, slice_mm=5.0, anatomy="parametric")),
)

#: Every split's corner table (the tuning split's is applied separately:
#: :func:`._distribution.tune_corner_specs`).
CORNERS = {"eval": EVAL_CORNERS, "final": FINAL_CORNERS, "holdout": HOLDOUT_CORNERS,
           "sealed": SEALED_CORNERS, "vault": VAULT_CORNERS, "crypt": CRYPT_CORNERS,
           "reserve": RESERVE_CORNERS, "ledger": LEDGER_CORNERS}
