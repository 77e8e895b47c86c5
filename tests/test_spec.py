"""NetworkSpec: what it accepts, how it normalises, and what it rejects (with the valid choices named)."""

import pytest

from manual.spec import ACTIVATION_NAMES, LOSS_NAMES, NetworkSpec

REJECTED = [  # (args, error, what the message must say)
    (([3],), ValueError, r"at least two entries .* got \[3\]"),
    (([],), ValueError, r"at least two entries"),
    (([3, 0, 2],), ValueError, r"positive int, got \[3, 0, 2\]"),
    (([3, -4, 2],), ValueError, r"positive int"),
    (([3, 2.0],), TypeError, r"sizes must be ints, got 2.0"),
    (([3, True],), TypeError, r"sizes must be ints, got True"),
    (("32",), TypeError, r"sequence of ints such as \[10, 64, 3\]"),
    ((5,), TypeError, r"sequence of ints"),
    (([3, 4, 2], "relux"), ValueError, r"unknown activation 'relux'; valid names: identity, relu, leaky_relu"),
    (([3, 4, 4, 2], ["relu", "Tanh"]), ValueError, r"unknown activation 'Tanh'; valid names: .*tanh"),
    (([3, 4, 2], ["relu", "tanh"]), ValueError, r"2 activations but the network has 1 hidden layer"),
    (([3, 2], ["relu"]), ValueError, r"1 activations but the network has 0 hidden layer"),
    (([3, 4, 2], 5), TypeError, r"activation name or a list of names"),
    (([3, 2], "relu", "hinge"), ValueError, r"unknown loss 'hinge'; valid names: binary_cross_entropy, cross_entropy, mse"),
    (([3, 1], "relu", "cross_entropy"), ValueError, r"cross_entropy needs at least 2 output units .* sizes\[-1\] = 1"),
    (([3, 2], "relu", "binary_cross_entropy"), ValueError, r"binary_cross_entropy needs exactly 1 output unit .* = 2"),
    (([3, 2], "relu", "mse", -1.0), ValueError, r"finite non-negative float, got -1.0"),
    (([3, 2], "relu", "mse", float("nan")), ValueError, r"finite non-negative float, got nan"),
    (([3, 2], "relu", "mse", float("inf")), ValueError, r"finite non-negative"),
    (([3, 2], "relu", "mse", "0.1"), TypeError, r"l2 must be a non-negative float"),
]


@pytest.mark.parametrize("args, error, message", REJECTED)
def test_rejects(args, error, message):
    with pytest.raises(error, match=message):
        NetworkSpec(*args)


def test_every_unknown_name_message_lists_all_valid_names():
    with pytest.raises(ValueError) as info:
        NetworkSpec([2, 3, 2], "swish")
    assert all(name in str(info.value) for name in ACTIVATION_NAMES)
    with pytest.raises(ValueError) as info:
        NetworkSpec([2, 2], loss="nll")
    assert all(name in str(info.value) for name in LOSS_NAMES)


def test_normalises_and_is_hashable():
    spec = NetworkSpec([4, 8, 8, 3], "tanh", "cross_entropy", 1)
    assert spec.sizes == (4, 8, 8, 3) and spec.hidden == ("tanh", "tanh") and spec.l2 == 1.0
    assert spec == NetworkSpec((4, 8, 8, 3), ["tanh", "tanh"], "cross_entropy", 1.0)
    assert hash(spec) == hash(NetworkSpec((4, 8, 8, 3), ("tanh", "tanh"), "cross_entropy", 1.0))
    assert spec.n_layers == 3 and spec.head == "softmax"
    assert spec.layer_shapes() == [((4, 8), (8,)), ((8, 8), (8,)), ((8, 3), (3,))]
    assert spec.n_params() == 4 * 8 + 8 + 8 * 8 + 8 + 8 * 3 + 3


@pytest.mark.parametrize("loss, k, head", [("binary_cross_entropy", 1, "sigmoid"), ("cross_entropy", 2, "softmax"),
                                           ("mse", 1, "identity"), ("mse", 5, "identity")])
def test_heads_that_fit(loss, k, head):
    assert NetworkSpec([3, k], loss=loss).head == head


def test_to_dict_round_trip_and_from_dict_rejects():
    spec = NetworkSpec([4, 8, 1], ["gelu"], "binary_cross_entropy", 0.5)
    assert NetworkSpec.from_dict(spec.to_dict()) == spec
    with pytest.raises(ValueError, match="exactly the keys sizes, hidden, loss, l2"):
        NetworkSpec.from_dict({"sizes": [4, 1]})
    bad = dict(spec.to_dict(), loss="cross_entropy")
    with pytest.raises(ValueError, match="cross_entropy needs at least 2 output units"):
        NetworkSpec.from_dict(bad)


def test_is_immutable():
    spec = NetworkSpec([2, 2])
    with pytest.raises(AttributeError):
        spec.sizes = (3, 3)
