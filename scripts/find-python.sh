#!/usr/bin/env bash
# Print the path of a working Python 3.10 (Rasa 3.6 supports 3.8-3.10), or explain in one line.
# Looks at python3.10 on PATH first (a pyenv shim only counts if it really runs), then at
# pyenv-installed versions.
set -u
candidates=(python3.10)
root="${PYENV_ROOT:-$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")}"
for p in "$root"/versions/3.10.*/bin/python3.10; do candidates+=("$p"); done
for c in "${candidates[@]}"; do
  if "$c" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 10) else 1)' >/dev/null 2>&1; then
    command -v "$c" 2>/dev/null || echo "$c"
    exit 0
  fi
done
echo "Python 3.10 not found: install it (apt-get install python3.10, or 'pyenv install 3.10') and run make again." >&2
exit 1
