"""The names other sections may refer to, gathered before the meaning checks run.

Rules this module keeps:
- A name counts as known when its entry is in the file, even if that entry was dropped for a
  shape error: the shape error is reported once, and references to the entry are not
  reported again as unknown.
"""

from __future__ import annotations

import msgspec


class Known(msgspec.Struct, frozen=True, kw_only=True):
    # in file order: error messages list them
    providers: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    teams: tuple[str, ...] = ()
