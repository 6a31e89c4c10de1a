# Shared by scripts/run, scripts/test and scripts/bench: a .venv with the pinned set installed.
# Re-installs only when the requirements file changed since the last install.

ensure_venv() {
  local requirements="$1"
  local python="${PYTHON:-python3}"
  if [ ! -x .venv/bin/python ]; then
    echo "Creating .venv with $($python --version)" >&2
    "$python" -m venv .venv
  fi
  local stamp=".venv/.installed-$(basename "$requirements")"
  local digest
  digest="$(cat requirements.txt "$requirements" | sha256sum | cut -d' ' -f1)"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$digest" ]; then
    echo "Installing $requirements into .venv" >&2
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -r "$requirements"
    echo "$digest" > "$stamp"
  fi
}

# The pages' front-end files (package.json: the charting library), from the npm registry into
# node_modules, served locally by the service. Re-installs only when the lock file changed.
ensure_assets() {
  local stamp="node_modules/.installed-package-lock"
  local digest
  digest="$(sha256sum package-lock.json | cut -d' ' -f1)"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$digest" ]; then
    if ! command -v npm >/dev/null 2>&1; then
      echo "npm is missing: install Node.js (20 or later) so the pages' charts can be installed." >&2
      return 1
    fi
    echo "Installing the pages' front-end packages (npm ci)" >&2
    npm ci --omit=dev --no-audit --no-fund --loglevel=error
    echo "$digest" > "$stamp"
  fi
}

# The Chinese TrueType font the income statements' PDF is written with (FONT_PATH, default Debian's
# fonts-wqy-microhei), installed once with apt-get: the service never fetches a font at run time.
# Never stops the caller: without it only the statements fail (503 statement.font_missing), loudly here.
ensure_font() {
  local font="${FONT_PATH:-/usr/share/fonts/truetype/wqy/wqy-microhei.ttc}"
  [ -f "$font" ] && return 0
  local sudo=""
  if [ "$(id -u)" != "0" ]; then
    sudo="sudo"
  fi
  echo "Installing Debian's fonts-wqy-microhei for the income statements (PDF)" >&2
  if $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
    $sudo apt-get install -y -qq --no-install-recommends fonts-wqy-microhei >/dev/null && [ -f "$font" ]; then
    return 0
  fi
  {
    echo
    echo "!!! The Chinese font $font is missing and could not be installed."
    echo "!!! Income statements (收益明白卡) answer 503 statement.font_missing until it is there:"
    echo "!!!   sudo apt-get install fonts-wqy-microhei   (or set FONT_PATH to another TrueType font)"
    echo
  } >&2
  return 0
}

# Debian's Chromium for the browser tests (Playwright drives it; it never downloads a browser),
# and a Chinese font so the screenshots show characters rather than boxes.
ensure_chromium() {
  local packages=()
  [ -x "${CHROMIUM:-/usr/bin/chromium}" ] || packages+=(chromium)
  fc-list :lang=zh 2>/dev/null | grep -q . || packages+=(fonts-wqy-microhei)
  [ ${#packages[@]} -eq 0 ] && return 0
  local sudo=""
  if [ "$(id -u)" != "0" ]; then
    sudo="sudo"
  fi
  echo "Installing Debian packages for the browser tests: ${packages[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
}

# The wire tier's server (mongoeco) needs Python 3.13 or later: the first that works of
# $PYTHON_WIRE, python3.13 or python3 on PATH, pyenv's 3.13+ builds, /usr/bin and /usr/local/bin.
# Prints its path; prints nothing and returns 1 when there is none.
find_python_wire() {
  local candidates=() pyenv_root version_dir
  [ -n "${PYTHON_WIRE:-}" ] && candidates+=("$PYTHON_WIRE")
  candidates+=(python3.14 python3.13 python3)
  if command -v pyenv >/dev/null 2>&1; then
    pyenv_root="$(pyenv root 2>/dev/null || true)"
  fi
  pyenv_root="${pyenv_root:-${PYENV_ROOT:-$HOME/.pyenv}}"
  for version_dir in $(ls -d "$pyenv_root"/versions/3.1[3-9]* 2>/dev/null | sort -rV); do
    candidates+=("$version_dir/bin/python3")
  done
  candidates+=(/usr/bin/python3.14 /usr/bin/python3.13 /usr/local/bin/python3.14 /usr/local/bin/python3.13)
  local candidate
  for candidate in "${candidates[@]}"; do
    # A pyenv shim exists on PATH yet refuses when its version is not selected: run it to be sure.
    if "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 13) else 1)' >/dev/null 2>&1; then
      command -v "$candidate" 2>/dev/null || echo "$candidate"
      return 0
    fi
  done
  return 1
}

# .venv-wire with the wire tier's pinned set (requirements-wire.txt), made with a Python 3.13+.
# Re-installs only when the requirements file changed. Returns 1 (having said why on stderr)
# when no Python 3.13+ exists or the install failed; the caller skips the tier, loudly.
ensure_wire_venv() {
  local requirements="requirements-wire.txt" venv=".venv-wire" python
  if [ ! -x "$venv/bin/python" ]; then
    if ! python="$(find_python_wire)"; then
      echo "No Python 3.13 or later found (PATH, pyenv, /usr/bin, /usr/local/bin; or set PYTHON_WIRE)." >&2
      return 1
    fi
    echo "Creating $venv with $("$python" --version 2>&1) ($python)" >&2
    "$python" -m venv "$venv" || { rm -rf "$venv"; return 1; }
  fi
  local stamp="$venv/.installed-$(basename "$requirements")"
  local digest
  digest="$(sha256sum "$requirements" | cut -d' ' -f1)"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$digest" ]; then
    echo "Installing $requirements into $venv" >&2
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements" || return 1
    echo "$digest" > "$stamp"
  fi
}
