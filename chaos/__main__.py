"""python -m chaos [--events 10000 --orders 1000 ...]: see chaos/harness.py."""

from __future__ import annotations

import sys

from chaos.harness import main

if __name__ == "__main__":
    sys.exit(main())
