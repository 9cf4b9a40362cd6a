"""Import and export: ChatGPT's data export and ChatTree's own format."""

from __future__ import annotations

from chattree.services.portability.exporter import Exporter, ExportFormat
from chattree.services.portability.importer import Importer, ImportProblem, ImportSummary

__all__ = ["ExportFormat", "Exporter", "ImportProblem", "ImportSummary", "Importer"]
