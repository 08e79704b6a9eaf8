import pytest

from bmes_imaging.bones import BONES, TARSAL_BONES, Bone, bone_from_label, bone_from_name


def test_label_convention_is_the_public_one() -> None:
    expected = {1: "talus", 2: "calcaneus", 3: "navicular", 4: "cuboid",
                5: "medial_cuneiform", 6: "intermediate_cuneiform", 7: "lateral_cuneiform",
                8: "first_metatarsal", 9: "second_metatarsal", 10: "third_metatarsal",
                11: "fourth_metatarsal", 12: "fifth_metatarsal", 13: "tibia", 14: "fibula"}
    assert {k: v.name for k, v in BONES.items()} == expected
    assert [int(b) for b in TARSAL_BONES] == [1, 2, 3, 4, 5, 6, 7]


@pytest.mark.parametrize("name,bone", [
    ("Talus", Bone.TALUS), ("calcaneous", Bone.CALCANEUS), ("median cuneiform",
     Bone.INTERMEDIATE_CUNEIFORM), ("Lateral-Malleolus", Bone.FIBULA),
    ("12", Bone.FIFTH_METATARSAL),
])
def test_bone_from_name(name: str, bone: Bone) -> None:
    assert bone_from_name(name) is bone


def test_unknown_bone_lists_valid_names() -> None:
    with pytest.raises(KeyError, match="talus"):
        bone_from_name("femur")
    with pytest.raises(KeyError):
        bone_from_label(0)


def test_colours_and_codes_are_unique() -> None:
    assert len({b.color for b in BONES.values()}) == len(BONES)
    codes = [b.snomed_code for b in BONES.values() if b.snomed_code]
    assert len(set(codes)) == len(codes)
    # a bone without a code of its own is one whose concept could not be verified
    assert all(b.snomed_code for b in BONES.values() if b.snomed_verified)
