"""Finding and loading scene files (``yaml.safe_load``), and the scene as plain data."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import yaml

from patchsim.errors import SceneError
from patchsim.scene.schema import parse_scene, scene_to_data
from patchsim.scene.types import PACKAGED_SCENES, Scene


def find_scene(name_or_path: str | Path) -> Path:
    """Return the path of a scene given a file path or the bare name of a packaged scene
    (``stop_driveby``). A path (anything with a folder or a suffix) must exist: a missing file is an
    error, never silently the packaged scene of the same name."""
    p = Path(name_or_path)
    if p.is_file():
        return p.resolve()  # absolute, so records that store it work from any directory
    names = sorted(q.stem for q in PACKAGED_SCENES.glob("*.yaml"))
    bare = p.suffix == "" and len(p.parts) == 1
    if bare and (PACKAGED_SCENES / f"{p.name}.yaml").is_file():
        return PACKAGED_SCENES / f"{p.name}.yaml"
    what = "no packaged scene is called" if bare else "scene file not found:"
    raise SceneError(f"{what} {name_or_path} (packaged scenes: {', '.join(names)}; give a bare name or an existing file)")


MAX_SCENE_BYTES = 1 << 20  # a scene file is a few kB; anything past 1 MiB is refused unread
MAX_YAML_NODES = 100_000  # values after anchors are expanded: a scene has a few hundred


def _expanded_size(node, memo: dict) -> int:
    """Number of values ``node`` stands for once every alias is expanded (memoised on shared nodes, so
    counting a "billion laughs" costs as little as parsing it)."""
    key = id(node)
    if key not in memo:
        memo[key] = 0  # a recursive anchor counts once, never loops
        if isinstance(node, yaml.SequenceNode):
            memo[key] = 1 + sum(_expanded_size(v, memo) for v in node.value)
        elif isinstance(node, yaml.MappingNode):
            memo[key] = 1 + sum(_expanded_size(k, memo) + _expanded_size(v, memo) for k, v in node.value)
        else:
            memo[key] = 1
    return memo[key]


def _duplicate_key(node, seen: set) -> str | None:
    """The first mapping key written twice in the same mapping anywhere under ``node`` (YAML would keep
    the last silently), as "KEY (line N)"; None when there is none."""
    if id(node) in seen:
        return None
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        keys = set()
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode):
                if k.value in keys:
                    return f"{k.value!r} (line {k.start_mark.line + 1})"
                keys.add(k.value)
            found = _duplicate_key(v, seen)
            if found:
                return found
    elif isinstance(node, yaml.SequenceNode):
        for v in node.value:
            found = _duplicate_key(v, seen)
            if found:
                return found
    return None


def read_yaml(text: str):
    """Parse YAML text with the safe loader, refusing documents whose anchors expand past
    :data:`MAX_YAML_NODES` values and mappings that write a key twice (raises ``yaml.YAMLError``)."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        dup = _duplicate_key(node, set())
        if dup:
            raise yaml.YAMLError(f"key {dup} is written twice in the same mapping; keep one")
        n = _expanded_size(node, {})
        if n > MAX_YAML_NODES:
            raise yaml.YAMLError(f"the document expands to {n} values through its anchors (limit {MAX_YAML_NODES}); "
                                 "refused")
        return loader.construct_document(node)
    finally:
        loader.dispose()


def load_scene(name_or_path: str | Path) -> Scene:
    """Load and validate a scene YAML file (``yaml.safe_load``).

    Raises:
        SceneError: file missing or unreadable, YAML invalid, or any field invalid.
    """
    path = find_scene(name_or_path)
    if path.stat().st_size > MAX_SCENE_BYTES:
        raise SceneError(f"{path}: {path.stat().st_size} bytes is too large for a scene file (limit {MAX_SCENE_BYTES})")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise SceneError(f"{path}: cannot read scene file: {e}") from e
    try:
        data = read_yaml(text)
    except yaml.YAMLError as e:
        raise SceneError(f"{path}: invalid YAML: {shorten_yaml_error(e)}") from e
    return parse_scene(data, str(path))


def shorten_yaml_error(e: yaml.YAMLError) -> str:
    """The YAML error on one line, at most 200 characters."""
    text = " ".join(str(e).split())
    return text if len(text) <= 200 else text[:197] + "..."


def scene_to_dict(scene: Scene) -> dict[str, Any]:
    """The scene's dataclass fields as plain data (field names, not a scene file's keys; use
    :func:`patchsim.scene_schema.scene_to_data` for data that loads back)."""
    return dataclasses.asdict(scene)


def scene_fingerprint(scene: Scene) -> str:
    """SHA-256 (hex) of the scene's file form: equal for equal scenes, wherever the file lies."""
    import hashlib
    import json

    return hashlib.sha256(json.dumps(scene_to_data(scene), sort_keys=True).encode()).hexdigest()
