"""The reports, one module each (docs/reports.md, "Adding a report"). Every module of this
package is imported here, so a new report is one new module with a ``@register``-ed class."""

from __future__ import annotations

import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
