"""The broker's functions, one folder per upstream operation.

Function Compute imports a handler such as ``functions.create_upload_video.index.handler`` from the code
root; importing this package first puts the project's shared library (``shared/``) on the path, so the
same code runs on FC, under the local server and in tests without an install step.
"""

import os
import sys

_SHARED = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "shared")
if _SHARED not in sys.path:
    sys.path.insert(0, _SHARED)
