import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(scope="session")
def driveby_scene():
    from patchsim.scene import load_scene

    return load_scene(ROOT / "scenes" / "stop_driveby.yaml")


@pytest.fixture(scope="session")
def lab_scene():
    from patchsim.scene import load_scene

    return load_scene(ROOT / "scenes" / "stop_lab.yaml")


@pytest.fixture
def gen():
    return torch.Generator().manual_seed(1234)


def needs_shared(*parts):
    """Skip a test with a reason when ../shared/data (or a file in it) is absent."""
    p = SHARED.joinpath(*parts)
    return pytest.mark.skipif(not p.exists(), reason=f"real data not found at {p} (clone ../shared beside the repo)")


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory):
    """Tests never read or write the user's cache (~/.cache/patchsim): they get their own."""
    import os

    old = os.environ.get("PATCHSIM_CACHE")
    os.environ["PATCHSIM_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    yield
    if old is None:
        os.environ.pop("PATCHSIM_CACHE", None)
    else:
        os.environ["PATCHSIM_CACHE"] = old
