"""Each data set of manual.datasets is learned by a small MLP to a stated training accuracy.

Seeded (data and model), so the figures are fixed. Each bound sits below what the setting reaches
for other seeds too (measured when written: xor 100 % for 9 of seeds 0-9, seed 4 stuck at 75 % in
XOR's well-known local minimum; blobs 99.3 % for seeds 0-2; moons and circles 100 % and spirals
≥ 98.7 % for seeds 0-4), so a broken gradient, optimizer or batching shows up as a miss, not noise.
"""

import pytest

from manual import MLP, datasets

CASES = [
    # name, data, MLP settings, training accuracy it must reach
    ("xor", datasets.xor(), dict(sizes=[2, 8, 1], optimizer="sgd", learning_rate=0.5, momentum=0.9, epochs=300), 1.0),
    ("blobs", datasets.blobs(50, seed=42),
     dict(sizes=[2, 16, 3], optimizer="adam", learning_rate=0.05, batch_size=32, epochs=50), 0.97),
    ("moons", datasets.moons(200, noise=0.1, seed=0),
     dict(sizes=[2, 16, 16, 1], optimizer="adam", learning_rate=0.02, batch_size=32, epochs=40), 0.98),
    ("circles", datasets.circles(200, noise=0.05, seed=0),
     dict(sizes=[2, 16, 16, 1], optimizer="adam", learning_rate=0.02, batch_size=32, epochs=40), 0.98),
    ("spirals", datasets.spirals(300, 3, noise=0.2, seed=0),
     dict(sizes=[2, 48, 48, 3], optimizer="adam", learning_rate=0.02, batch_size=64, epochs=150), 0.97),
]


@pytest.mark.parametrize("name, data, settings, accuracy", CASES, ids=[c[0] for c in CASES])
def test_data_set_is_learned(name, data, settings, accuracy):
    X, y = data
    model = MLP(seed=0, **settings).fit(X, y)
    assert model.loss_history[-1] < model.loss_history[0] / 2, f"{name}: the loss did not fall"
    assert model.score(X, y) >= accuracy, f"{name}: training accuracy {model.score(X, y):.3f} < {accuracy}"


def test_untrained_model_is_not_accurate():
    """The bounds mean something: one epoch at a tiny rate leaves spirals near chance (1/3)."""
    X, y = datasets.spirals(300, 3, noise=0.2, seed=0)
    model = MLP([2, 48, 48, 3], optimizer="adam", learning_rate=1e-4, epochs=1).fit(X, y)
    assert model.score(X, y) < 0.6
