from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.scenarios.harness import Harness


@pytest.fixture
def bot(tmp_path: Path) -> Iterator[Harness]:
    harness = Harness(tmp_path).start()
    yield harness
    harness.close()
