#!/usr/bin/env bash
# Set up bmes-imaging from nothing on Debian 12 with Python 3.11 (run as root).
#
#   bash tools/bootstrap.sh          # core + napari plugin, for the demo
#   bash tools/bootstrap.sh --test   # the same plus the test tools and DICOM peers
#
# Installs the Debian packages (Qt/Xvfb libraries for napari, dcm2niix, dicom3tools,
# GDCM and DCMTK tools used as reference peers), makes .venv/ and installs the project
# into it in editable mode. Safe to run again: it only adds what is missing.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
with_tests=0
[ "${1:-}" = "--test" ] && with_tests=1

apt_pkgs=(xvfb xauth libgl1 libegl1 libgl1-mesa-dri libxkbcommon-x11-0 libxcb-cursor0
  libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0 libxcb-render-util0
  libxcb-shape0 libxcb-xfixes0 libxcb-xinerama0 libxcb-xkb1 libfontconfig1 libdbus-1-3
  dcm2niix)
if [ "$with_tests" = 1 ]; then
  # reference peers, the PostgreSQL server the store's tests start (as nobody, on
  # loopback, one throw-away cluster per test), and the Orthanc PACS the PACS tests start
  # (in a private network namespace, own config; ip and nsenter come with the base system)
  apt_pkgs+=(dicom3tools libgdcm-tools dcmtk postgresql orthanc iproute2)
fi
missing=()
for p in "${apt_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
  # Debian starts a default cluster when it installs the server; the tests start their
  # own throw-away servers, so one this script just installed is stopped again
  if [[ " ${missing[*]} " == *" postgresql "* ]] && command -v pg_lsclusters >/dev/null; then
    pg_lsclusters -h | awk '$4 == "online" {print $1, $2}' | while read -r ver name; do
      $SUDO pg_ctlcluster "$ver" "$name" stop || true
    done
  fi
  # the same for the Orthanc service the package starts (it would hold port 4242 and
  # listen on every interface); the tests start their own
  if [[ " ${missing[*]} " == *" orthanc "* ]]; then
    if command -v systemctl >/dev/null && systemctl is-active --quiet orthanc 2>/dev/null; then
      $SUDO systemctl stop orthanc || true
    elif [ -x /etc/init.d/orthanc ]; then
      $SUDO /etc/init.d/orthanc stop >/dev/null 2>&1 || true
    fi
  fi
fi

py="${PYTHON:-python3.11}"
command -v "$py" >/dev/null || py=python3
[ -x .venv/bin/python ] || "$py" -m venv .venv
# pip's output without the site configuration's "Location ... is ignored" noise; a pip
# failure stops the bootstrap with its output (never swallowed)
pip_install() {
  local log status=0
  log="$(mktemp)"
  .venv/bin/python -m pip install -q --disable-pip-version-check "$@" >"$log" 2>&1 || status=$?
  grep -v "is ignored" "$log" || true
  rm -f "$log"
  if [ "$status" != 0 ]; then
    echo "bootstrap: pip install $* failed (exit $status): see the lines above" >&2
    exit "$status"
  fi
}
pip_install --upgrade pip
extras="napari,dask"
[ "$with_tests" = 1 ] && extras="napari,dask,test,postgres"
pip_install -e ".[${extras}]"
.venv/bin/python -c "import bmes_imaging" 
echo "bootstrap: ready (.venv, extras: ${extras})"
