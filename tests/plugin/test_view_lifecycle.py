"""``bmes view`` starts and stops cleanly: no display, Ctrl+C, SIGTERM, closing the window.

Every run gets a unique marker in its environment; child processes inherit it, so any
process still carrying it after ``bmes view`` ended was left behind. The bone-mask
helper is started without re-running the caller's ``__main__`` (a script with no
``if __name__ == "__main__"`` guard runs once).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import make_study

MARK = "BMES_TEST_PROCESS_MARK"


def marked_processes(mark: str) -> list[int]:
    """Pids of live processes whose environment holds ``MARK=mark``."""
    needle = f"{MARK}={mark}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().split(") ", 1)[1][:1]
        except OSError:
            continue
        if needle in environ.split(b"\0") and state != "Z":
            found.append(int(entry.name))
    return found


def wait_for(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


@pytest.fixture
def study_dir(tmp_path: Path) -> Path:
    study = make_study()
    folder = tmp_path / "study"
    study.t1.to_nifti(folder / "t1.nii.gz")
    study.stir.to_nifti(folder / "stir.nii.gz")
    return folder


def view_env(tmp_path: Path, mark: str, **changes: str | None) -> dict[str, str]:
    env = dict(os.environ)
    env.update({MARK: mark, "BMES_CACHE": str(tmp_path / "cache"),
                "BMES_DB": str(tmp_path / "bmes.sqlite"), "PYTHONUNBUFFERED": "1"})
    for key, value in changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="reads /proc to find processes left behind")


def test_no_display_is_one_line_exit_1_and_no_child(tmp_path: Path, study_dir: Path
                                                     ) -> None:
    mark = uuid.uuid4().hex
    env = view_env(tmp_path, mark, DISPLAY=None, WAYLAND_DISPLAY=None,
                   QT_QPA_PLATFORM=None)
    out = subprocess.run([sys.executable, "-m", "bmes_imaging", "view", str(study_dir)],
                         env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert "no display" in lines[0] and "xvfb-run" in lines[0]
    assert marked_processes(mark) == []


def test_an_unreachable_display_is_refused_the_same_way(tmp_path: Path, study_dir: Path
                                                        ) -> None:
    mark = uuid.uuid4().hex
    env = view_env(tmp_path, mark, DISPLAY=":987", WAYLAND_DISPLAY=None,
                   QT_QPA_PLATFORM=None)
    out = subprocess.run([sys.executable, "-m", "bmes_imaging", "view", str(study_dir)],
                         env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert "DISPLAY=:987" in out.stderr
    assert marked_processes(mark) == []


def _start_view(tmp_path: Path, study_dir: Path, mark: str) -> subprocess.Popen[str]:
    if not os.environ.get("DISPLAY"):
        pytest.skip("needs a display (pytest-xvfb provides one)")
    with (tmp_path / "stderr.txt").open("w") as err:
        return subprocess.Popen([sys.executable, "-m", "bmes_imaging", "view",
                                 str(study_dir)], env=view_env(tmp_path, mark),
                                stdout=subprocess.DEVNULL, stderr=err, text=True,
                                start_new_session=True)


def _wait_for_helper(proc: subprocess.Popen[str], mark: str) -> list[int]:
    """Wait until the viewer runs with its bone-mask helper process; their pids."""
    ok = wait_for(lambda: proc.poll() is not None or len(marked_processes(mark)) >= 2,
                  timeout=120)
    assert ok and proc.poll() is None, proc.poll()
    return marked_processes(mark)


@pytest.mark.gui
@pytest.mark.slow
@pytest.mark.parametrize("how", ["ctrl_c", "sigterm"])
def test_ctrl_c_and_sigterm_end_every_process(tmp_path: Path, study_dir: Path,
                                              how: str) -> None:
    mark = uuid.uuid4().hex
    proc = _start_view(tmp_path, study_dir, mark)
    try:
        pids = _wait_for_helper(proc, mark)
        assert len(pids) >= 2  # napari and the helper
        if how == "ctrl_c":  # the terminal sends SIGINT to the whole process group
            os.killpg(proc.pid, signal.SIGINT)
        else:
            proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
        assert code == (130 if how == "ctrl_c" else 143), \
            (tmp_path / "stderr.txt").read_text()
        assert wait_for(lambda: marked_processes(mark) == [], timeout=5), \
            marked_processes(mark)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        for pid in marked_processes(mark):
            os.kill(pid, signal.SIGKILL)


CLOSE_SCRIPT = """
import sys
import napari
from qtpy.QtCore import QTimer
from bmes_imaging.cli import main
from bmes_imaging_napari import _bone_process

run = napari.run
def run_then_close(*args, **kwargs):
    # the reader closes the window once the viewer runs with its helper process
    viewer = napari.current_viewer()
    timer = QTimer()
    def check():
        if _bone_process.is_running():
            timer.stop()
            print("helper", _bone_process.pid(), flush=True)
            viewer.close()
    timer.timeout.connect(check)
    timer.start(100)
    return run(*args, **kwargs)
napari.run = run_then_close
print("script body ran", flush=True)
sys.exit(main(["view", sys.argv[1]]))
"""


@pytest.mark.gui
@pytest.mark.slow
def test_closing_the_window_ends_every_process_and_runs_no_script_twice(
        tmp_path: Path, study_dir: Path) -> None:
    """Closing the window ends napari and its helper; the helper did not re-run this
    script (it has no ``__main__`` guard: a ``spawn`` child would run it again)."""
    if not os.environ.get("DISPLAY"):
        pytest.skip("needs a display (pytest-xvfb provides one)")
    mark = uuid.uuid4().hex
    script = tmp_path / "user_script.py"
    script.write_text(CLOSE_SCRIPT)
    out = subprocess.run([sys.executable, str(script), str(study_dir)],
                         env=view_env(tmp_path, mark), capture_output=True, text=True,
                         timeout=180)
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("script body ran") == 1, out.stdout
    assert "helper" in out.stdout
    assert wait_for(lambda: marked_processes(mark) == [], timeout=5), \
        marked_processes(mark)


def test_helper_process_does_not_rerun_an_unguarded_main(tmp_path: Path) -> None:
    """A user script with no ``__main__`` guard that uses the plugin runs once."""
    script = tmp_path / "unguarded.py"
    script.write_text(
        "from bmes_imaging_napari import _bone_process\n"
        "print('script body ran', flush=True)\n"
        "ready = _bone_process.start()\n"
        "if ready is not None:\n"
        "    ready.result(timeout=120)\n"
        "    print('helper ready', flush=True)\n"
        "_bone_process.shutdown()\n"
        "print('helper running after shutdown:', _bone_process.is_running())\n")
    mark = uuid.uuid4().hex
    out = subprocess.run([sys.executable, str(script)], env=view_env(tmp_path, mark),
                         capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("script body ran") == 1, out.stdout
    assert "helper running after shutdown: False" in out.stdout
    assert marked_processes(mark) == []


def test_helper_ends_when_napari_is_killed(tmp_path: Path) -> None:
    """Even SIGKILL of napari's process (no atexit) leaves no helper behind."""
    script = tmp_path / "killed.py"
    script.write_text(
        "import os, signal\n"
        "from bmes_imaging_napari import _bone_process\n"
        "ready = _bone_process.start()\n"
        "if ready is not None:\n"
        "    ready.result(timeout=120)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n")
    mark = uuid.uuid4().hex
    out = subprocess.run([sys.executable, str(script)], env=view_env(tmp_path, mark),
                         capture_output=True, text=True, timeout=180)
    assert out.returncode == -signal.SIGKILL
    assert wait_for(lambda: marked_processes(mark) == [], timeout=5), \
        marked_processes(mark)
