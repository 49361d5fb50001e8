#!/usr/bin/env bash
# What `pip install -e .` (no extras) does to a fresh environment: the packages it adds, whether it touches
# setuptools, its size. Prints one JSON object. Needs the network (PyPI) and a few minutes.
#   bash benchmarks/install_check.sh [TORCH_SPEC]     # default torch spec: torch==2.13.0
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
torch_spec="${1:-torch==2.13.0}"
venv="$(mktemp -d)/venv"
python3 -m venv "$venv"
py="$venv/bin/python"
"$py" -m pip install -q --upgrade pip 2>/dev/null
"$py" -m pip install -q "$torch_spec" 2>/dev/null  # torch itself requires setuptools>=77 (its metadata)
before="$("$py" -c 'import setuptools; print(setuptools.__version__)')"
"$py" -m pip freeze | sort >"$venv/../before.txt"
start=$(date +%s)
"$py" -m pip install -q -e "$repo" 2>/dev/null
seconds=$(( $(date +%s) - start ))
after="$("$py" -c 'import setuptools; print(setuptools.__version__)')"
"$py" -m pip freeze | sort >"$venv/../after.txt"
added="$(comm -13 "$venv/../before.txt" "$venv/../after.txt" | grep -v -e '^-e ' -e '^#' | sed 's/==.*//' | paste -sd, -)"
heavy="$(comm -13 "$venv/../before.txt" "$venv/../after.txt" | grep -i -E '^(dcase|numba|llvmlite|pandas|librosa|scikit|sed|setuptools|pathlib|matplotlib)' | paste -sd, - || true)"
size="$(du -sm "$venv" | cut -f1)"
printf '{"torch": "%s", "setuptools_before": "%s", "setuptools_after": "%s", "install_s": %s, "added": "%s", "heavy_added": "%s", "venv_mib": %s}\n' \
    "$torch_spec" "$before" "$after" "$seconds" "$added" "$heavy" "$size"
rm -rf "$(dirname "$venv")"
