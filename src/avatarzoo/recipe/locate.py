"""Where a field of a recipe stands in its YAML text, for errors that name file:line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml



def _line_of(text: str, loc: tuple[Any, ...]) -> int | None:
    """1-based line of the node at `loc` in the YAML `text` (or its nearest parent)."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None
    line = None
    for part in loc:
        if node is None:
            break
        line = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            nxt = None
            for key, value in node.value:
                if key.value == str(part):
                    line = key.start_mark.line + 1
                    nxt = value
                    break
            if nxt is None:
                return line
            node = nxt
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            break
    if node is not None:
        line = node.start_mark.line + 1
    return line


def where(path: Path, text: str, loc: tuple[Any, ...]) -> str:
    line = _line_of(text, loc) if path.suffix in (".yaml", ".yml") else None
    return f"{path}:{line}" if line else f"{path}"
