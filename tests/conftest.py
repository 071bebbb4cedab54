"""Shared fixtures: real files in temporary directories, nothing mocked.

Property tests (hypothesis) explore new random cases on every run on a developer's
machine, which is how they find bugs.  Under CI (``CI`` set) they run derandomized:
the same cases every time, so a red build means a change broke something, not that
today's dice found an old bug (run the tests locally to keep exploring).
"""

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    settings.load_profile("ci")
