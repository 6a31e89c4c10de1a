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
