"""The checks of a user check's network options (sizes, hidden, l2), shared by the gradient check
(`dualgrad.engine.user_check`) and the second-order checks (`dualgrad.engine.second_order_check`)."""

from __future__ import annotations

from manual.spec import NetworkSpec


def checked_network_options(sizes, hidden, l2, takes_spec: bool, max_layers: int):
    """(sizes as a list or None, hidden as a name, a list or None, l2 as a float or None = drawn),
    or a ValueError/TypeError naming the bad option, before anything runs."""
    if sizes is not None:
        sizes = list(NetworkSpec(sizes, "identity", "mse").sizes)  # the spec's own checks of the sizes
    if hidden is not None and not isinstance(hidden, str):
        if not isinstance(hidden, (list, tuple)):
            raise TypeError(f"hidden must be an activation name or a list of names, got {hidden!r}")
        hidden = list(hidden)
        if sizes is None and len(hidden) + 1 > max_layers:
            raise ValueError(f"hidden names {len(hidden)} hidden layers: max_layers must be at least {len(hidden) + 1}")
    if hidden is not None:  # the names are valid, and fit the sizes
        n_hidden = len(sizes) - 2 if sizes is not None else (len(hidden) if isinstance(hidden, list) else 1)
        NetworkSpec(sizes or [1] * (n_hidden + 2), hidden, "mse")
    if isinstance(l2, str) and l2 == "draw":
        if not takes_spec:
            raise ValueError("l2='draw' needs a function that takes `spec` (it reads spec.l2); give your "
                             "function's fixed λ as l2=...")
        return sizes, hidden, None
    if l2 is None:
        return sizes, hidden, 0.0
    NetworkSpec([1, 1], (), "mse", l2)  # its checks of l2
    return sizes, hidden, l2
