"""YAML data files (prompt templates, policies, ``sources.yaml``, ``curate.yaml``): read with a
safe loader, any problem reported in one line with the path, line and column."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

# The C loader when libyaml is present (8x faster); both construct plain data only.
SafeYamlLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def yaml_problem(exc: Exception) -> str:
    """One line: the YAML problem and where (line, column), or the OS error."""
    mark = getattr(exc, "problem_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return f"{where}{problem}"


def read_yaml(path: Path, error: type[Exception], what: str = "cannot read") -> tuple[bytes, Any]:
    """The file's bytes (for its hash) and its data; an unreadable file, bad UTF-8 or bad YAML
    raises ``error("PATH: WHAT: problem")``."""
    try:
        raw = path.read_bytes()
        return raw, yaml.load(raw.decode("utf-8"), Loader=SafeYamlLoader)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise error(f"{path}: {what}: {yaml_problem(exc)}") from exc
