"""``python -m txc``: the same as the ``txc`` console script."""

from __future__ import annotations

import os
import sys

# `python -m` puts the working directory first on sys.path, where a user's own sql/, demo/ or bench/ folder would
# shadow a package of ours; the console script never does. Drop it, as `python -P` would.
if not sys.flags.safe_path and sys.path and sys.path[0] in ("", os.getcwd()):
    del sys.path[0]

from txc.main import main

main()
