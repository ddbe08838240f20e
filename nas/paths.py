"""Where things are on disk: the project folder, and the file behind a SQLite store URI."""

from __future__ import annotations

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
