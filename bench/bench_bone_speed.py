"""CPU and wall time of the automatic bone masks on the sample study (issues 12 and 15).

Runs :func:`bmes_imaging.detection.automatic_bones` on ``sample_data/study_p02_R``
(T1), after the atlas is prepared and one untimed call (the bone-mask process of the
review prepares the atlas at start-up), with one thread (issue 12's "one core") and with
two (``DetectionConfig.threads``; the review's bone-mask process uses up to two).
Prints the median CPU seconds (all threads) and wall seconds of ``--repeats`` calls,
the load average, and whether the masks of one and two threads are identical.

``--ref COMMIT`` (repeatable) measures the code of that commit the same way (its
``src`` extracted by ``git archive`` into a temporary folder, run in a child process,
alternating with this tree's code) and prints all, e.g. ``--ref HEAD~1``. Compare
figures only from one run: the machine's load changes them. The masks' digests show
whether two codes give the same masks (a change of the masks' shape between the
commits shows there too).

``--sets harsh unlike`` (with or without ``sample``) also runs, once per code and
with one thread, the 14 harsh (seeds 7100-7113) and the 12 unlike (7200-7211, each
registered with its own warped atlas) tuning feet of ``bench/tune_bone_masks.py``
(generated once into ``--cache``) and prints per code the median and max CPU seconds
per foot and whether every foot's masks are byte-identical to the first code's. A
``--ref`` may also be a folder holding a ``src`` tree (e.g. a commit with some files
replaced, to compare one change alone while others edit the tree).

Run::

    .venv/bin/python bench/bench_bone_speed.py --ref 2308591 --ref HEAD
    .venv/bin/python bench/bench_bone_speed.py --ref e1a2597 --sets sample harsh unlike
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data" / "study_p02_R"


def _measure(repeats: int, threads: tuple[int, ...]) -> dict[str, object]:
    """Median CPU and wall seconds per thread count, and the masks' digest."""
    import hashlib

    import numpy as np

    from bmes_imaging.detection import DetectionConfig, automatic_bones, prepare_atlas
    from bmes_imaging.study import load_study

    t1 = load_study(SAMPLE).t1
    prepare_atlas(t1.info.laterality)
    automatic_bones(t1, DetectionConfig(threads=1))  # untimed: first-call costs
    import bmes_imaging

    out: dict[str, object] = {"module": bmes_imaging.__file__}
    for n in threads:
        cpu, wall, digest = [], [], ""
        for _ in range(repeats):
            c0, w0 = time.process_time(), time.perf_counter()
            bones = automatic_bones(t1, DetectionConfig(threads=n))
            cpu.append(time.process_time() - c0)
            wall.append(time.perf_counter() - w0)
            digest = hashlib.sha1(np.ascontiguousarray(bones.array).tobytes()).hexdigest()
        out[str(n)] = {"cpu": float(np.median(cpu)), "wall": float(np.median(wall)),
                       "digest": digest[:12]}
    return out


#: The tuning feet of ``bench/tune_bone_masks.py`` measured by ``--sets``: name ->
#: (first seed, number, cache tag).
TUNING_SETS = {"harsh": (7100, 14, "harsh"), "unlike": (7200, 12, "unlike")}


def _tuning_feet(name: str, cache: str) -> Iterator[tuple[int, Any, Callable[[], None]]]:
    """(seed, T1, prepare) of each foot of the tuning set ``name`` (generated once into
    ``cache``); ``prepare()`` sets up the atlas that foot is registered with (the
    ``--unlike`` feet: their own warped, scaled copy of the packaged atlas)."""
    sys.path.insert(0, str(ROOT / "bench"))
    import tune_bone_masks as tune

    seed0, n, tag = TUNING_SETS[name]
    for seed in range(seed0, seed0 + n):
        if name == "unlike":
            spec = tune.unlike_spec(seed, 1.0)

            def prepare(seed: int = seed, side: str = spec.side) -> None:
                tune.warp_atlas(seed, 5.0, sides=(side,),
                                scale=tune.unlike_atlas_scale(seed))
        else:
            spec = tune.harsh_spec(seed, 1.0)

            def prepare(seed: int = seed, side: str = spec.side) -> None:
                return None  # the packaged atlas
        t1, _ = tune._study(spec, tag, cache)
        yield seed, t1, prepare


def _measure_set(name: str, cache: str) -> dict[str, object]:
    """CPU seconds (one thread) and masks' digest of every foot of tuning set ``name``,
    as ``bench/tune_bone_masks.py`` measures them (an unlike foot's warped atlas is
    new, so its flexed copy is made again within the timed call)."""
    import hashlib

    from bmes_imaging.detection import DetectionConfig, automatic_bones, prepare_atlas

    prepare_atlas()  # untimed, as in a process that serves several studies
    out: dict[str, object] = {}
    for seed, t1, prepare in _tuning_feet(name, cache):
        prepare()
        c0 = time.process_time()
        bones = automatic_bones(t1, DetectionConfig(threads=1))
        cpu = time.process_time() - c0
        digest = hashlib.sha1(np.ascontiguousarray(bones.array).tobytes()).hexdigest()
        out[str(seed)] = {"cpu": cpu, "digest": digest[:12]}
    return out


def _child(src: Path | None, repeats: int, threads: tuple[int, ...],
           tuning: str | None = None, cache: str = "") -> dict[str, object]:
    """:func:`_measure` (or :func:`_measure_set` of ``tuning``) in a fresh process
    importing ``src`` (None: this tree)."""
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = str(src) + os.pathsep + env.get("PYTHONPATH", "")
    cmd = [sys.executable, __file__, "--child", "--repeats", str(repeats),
           "--threads", *map(str, threads)]
    if tuning:
        cmd += ["--sets", tuning, "--cache", cache]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    return dict(json.loads(res.stdout.strip().splitlines()[-1]))


def _report_set(name: str, runs: dict[str, dict[str, object]]) -> None:
    """Median and max CPU per code on tuning set ``name``, and whether each code's masks
    are those of the first code, foot by foot."""
    first = next(iter(runs.values()))
    print(f"\n{name} tuning feet ({len(first)}; one thread; CPU s per foot)")
    print(f"{'code':12s} {'median':>7s} {'max':>7s}  masks as {next(iter(runs))}")
    for code, feet in runs.items():
        cpu = [float(f["cpu"]) for f in feet.values()]  # type: ignore[index]
        differ = [seed for seed, f in feet.items()
                  if f["digest"] != first[seed]["digest"]]  # type: ignore[index]
        same = "yes" if not differ else f"NO ({len(differ)} differ: {', '.join(differ)})"
        print(f"{code:12s} {float(np.median(cpu)):7.2f} {max(cpu):7.2f}  {same}")


def _merge(runs: dict[str, dict[str, object]], name: str, figures: dict[str, object]
           ) -> None:
    """Keep the lower CPU and wall figures of several rounds of ``name``."""
    if name not in runs:
        runs[name] = figures
        return
    for key, f in figures.items():
        old = runs[name][key]
        if isinstance(f, dict) and isinstance(old, dict):
            for k in ("cpu", "wall"):
                old[k] = min(old[k], f[k])


def _extract(commit: str, into: Path) -> Path:
    """``src`` of ``commit`` extracted into ``into``; returns its ``src`` folder (or
    ``commit``'s own ``src`` when it is a folder)."""
    if (Path(commit) / "src").is_dir():
        return Path(commit).resolve() / "src"
    into.mkdir(parents=True, exist_ok=True)
    archive = into / "src.tar"
    with open(archive, "wb") as f:
        subprocess.run(["git", "-C", str(ROOT), "archive", commit, "src"], stdout=f,
                       check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")
    return into / "src"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--rounds", type=int, default=2,
                    help="alternating rounds of --ref and this tree (the best kept)")
    ap.add_argument("--ref", action="append", default=[], metavar="COMMIT",
                    help="also measure this commit's code (e.g. HEAD~1; repeatable)")
    ap.add_argument("--sets", nargs="+", default=["sample"],
                    choices=["sample", *TUNING_SETS],
                    help="sample study, and / or the 14 harsh (7100-7113) and 12 unlike "
                         "(7200-7211) tuning feet of bench/tune_bone_masks.py")
    ap.add_argument("--cache", default=os.path.join(tempfile.gettempdir(),
                                                    "bmes-bone-speed-feet"),
                    help="folder keeping the generated tuning feet")
    ap.add_argument("--no-tree", action="store_true",
                    help="measure only the --ref codes, not this working tree")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    threads = tuple(args.threads)
    if args.child:
        tuning = [s for s in args.sets if s != "sample"]
        print(json.dumps(_measure_set(tuning[0], args.cache) if tuning
                         else _measure(args.repeats, threads)))
        return
    if not SAMPLE.is_dir():
        sys.exit(f"the sample study is not at {SAMPLE}")
    runs: dict[str, dict[str, object]] = {}
    sets: dict[str, dict[str, dict[str, object]]] = {}
    with tempfile.TemporaryDirectory(prefix="bmes-bone-speed-") as tmp:
        refs = {ref: _extract(ref, Path(tmp) / str(i)) for i, ref in enumerate(args.ref)}
        for name in args.sets:
            if name != "sample":  # generated once, here, for every code
                list(_tuning_feet(name, args.cache))
                sets[name] = {ref: _child(src, 1, (1,), name, args.cache)
                              for ref, src in refs.items()}
                if not args.no_tree:
                    sets[name]["this tree"] = _child(None, 1, (1,), name, args.cache)
        for _ in range(args.rounds if "sample" in args.sets else 0):
            # alternating, so that a change of load hits all
            for ref, src in refs.items():
                _merge(runs, ref, _child(src, args.repeats, threads))
            if not args.no_tree:
                _merge(runs, "this tree", _child(None, args.repeats, threads))
    for name, set_runs in sets.items():
        _report_set(name, set_runs)
    if not runs:
        return
    load = os.getloadavg()
    print(f"automatic_bones on {SAMPLE.name}: median of {args.repeats} calls, best of "
          f"{args.rounds} alternating rounds (load average {load[0]:.1f} / {load[1]:.1f}; "
          f"{os.cpu_count()} CPUs)")
    print(f"{'code':12s} {'threads':>7s} {'CPU s':>7s} {'wall s':>7s}  masks")
    for name, figures in runs.items():
        for n in threads:
            f = figures[str(n)]
            assert isinstance(f, dict)
            print(f"{name:12s} {n:7d} {f['cpu']:7.2f} {f['wall']:7.2f}  {f['digest']}")
    for name, figures in runs.items():
        same = len({str(figures[str(n)]["digest"]) for n in threads}) == 1  # type: ignore[index]
        print(f"{name}: {figures['module']}; the same masks with "
              f"{' and '.join(map(str, threads))} threads: {'yes' if same else 'NO'}")


if __name__ == "__main__":
    main()
