import pytest

from tests.world import World


@pytest.fixture
def world(db):
    w = World.build(db)
    yield w
    w.close()
