"""The training steps that benchmarks/train_step.py and scaling.py time side by side.

Each builder takes (sizes, N, dtype) and returns a callable `step()` that runs one
full training step (forward, backward, SGD-momentum update) on a fixed batch and
waits for its result. The problem, for all of them: hidden activations relu,
softmax cross-entropy, SGD with momentum 0.9 (trace form, t ← g + μ t, w ← w − η t),
learning rate 0.01, no L2, weights He-initialised, one batch X (N, sizes[0]) and
one-hot Y (N, K) drawn once.

matmul_only   the same step's matrix products alone, into preallocated outputs:
              forward z_l = a_{l-1} W_l (L products), backward dW_l = a_{l-1}ᵀ dz_l
              (L products) and da_{l-1} = dz_l W_lᵀ for l > 1 (L − 1 products).
manual        manual.TrainStep, the step MLP.fit takes.
MLP fit       MLP.partial_fit, one epoch of 8 shuffled batches of N rows, per batch: all
              that fit does around TrainStep included.
plain         manual.loss_and_grads + optimizer.update_inplace: the readable path
              (a new array for every intermediate), for contrast.
jax.jit       jax.jit of value_and_grad + optax.sgd(momentum=0.9) update, params and
              optimizer state donated, blocking on the loss.
sklearn       MLPClassifier(solver="sgd", momentum=0.9, nesterovs_momentum=False,
              alpha=0, batch_size=N): the body of sklearn's own per-batch loop in
              `_fit_stochastic` (`_backprop` into its preallocated gradient lists,
              then `_optimizer.update_params`), on arrays sklearn initialised
              itself through `partial_fit`. This is what `fit` spends per batch,
              without `partial_fit`'s per-call input validation.
sklearn.partial_fit  one `partial_fit(X, y)` call per step (a batch of N rows is
              one step): the public per-batch API, validation included.
torch         torch.nn Linear/ReLU, CrossEntropyLoss, torch.optim.SGD(momentum=0.9):
              zero_grad, forward, backward, step (only if torch imports).
"""

from __future__ import annotations

import numpy as np

import manual
from manual import optimizers as mo
from manual.spec import NetworkSpec

LEARNING_RATE = 0.01
MOMENTUM = 0.9


def problem(sizes, N, dtype, seed=0):
    """(spec, params, X (N, sizes[0]), labels (N,), Y one-hot (N, K)), all in dtype."""
    spec = NetworkSpec(sizes, "relu", "cross_entropy")
    params = manual.init_params(spec, seed=seed, dtype=dtype)
    rng = np.random.default_rng(seed + 1)
    X = rng.standard_normal((N, sizes[0])).astype(dtype)
    labels = rng.integers(0, sizes[-1], N)
    Y = np.eye(sizes[-1], dtype=dtype)[labels]
    return spec, params, X, labels, Y


def matmul_only(sizes, N, dtype):
    spec, params, X, _, _ = problem(sizes, N, dtype)
    rng = np.random.default_rng(2)
    Ws = [W for W, _ in params]
    a = [X] + [np.empty((N, n), dtype) for n in sizes[1:]]  # a[l]: (N, sizes[l])
    dz = [None] + [(rng.standard_normal((N, n)) * 0.01).astype(dtype) for n in sizes[1:]]  # realistic values
    dW = [np.empty_like(W) for W in Ws]

    def step():
        for l, W in enumerate(Ws):
            np.matmul(a[l], W, out=a[l + 1])  # z = a W
        for l in reversed(range(len(Ws))):
            np.matmul(a[l].T, dz[l + 1], out=dW[l])  # dW = aᵀ dz
            if l > 0:
                np.matmul(dz[l + 1], Ws[l].T, out=dz[l])  # da = dz Wᵀ

    for l, W in enumerate(Ws):  # realistic a: the forward of real weights
        np.matmul(a[l], W, out=a[l + 1])
    return step


def manual_step(sizes, N, dtype):
    spec, params, X, _, Y = problem(sizes, N, dtype)
    opt = mo.sgd(LEARNING_RATE, momentum=MOMENTUM)
    train = manual.TrainStep(spec, opt)
    box = [opt.init(params)]

    def step():
        _, box[0] = train(params, box[0], X, Y)

    return step


FIT_BATCHES = 8  # mlp_fit_step: one partial_fit epoch of this many batches is timed, per batch


def mlp_fit_step(sizes, N, dtype):
    """MLP.partial_fit over FIT_BATCHES·N shuffled rows in batches of N: fit's own epoch — the
    input check and label mapping, the shuffle, gathering each batch X[rows], TrainStep, the
    epoch's snapshot for roll-back and its finiteness check. `step.per_call` steps per call."""
    spec, _, _, _, _ = problem(sizes, N, dtype)
    rng = np.random.default_rng(3)
    X = rng.standard_normal((FIT_BATCHES * N, sizes[0])).astype(dtype)
    labels = rng.integers(0, sizes[-1], FIT_BATCHES * N)
    model = manual.MLP(sizes, optimizer="sgd", learning_rate=LEARNING_RATE, momentum=MOMENTUM,
                       batch_size=N, shuffle=True, dtype=dtype).initialize(classes=np.arange(sizes[-1]))

    def step():
        model.partial_fit(X, labels)

    step.per_call = FIT_BATCHES
    return step


def plain_step(sizes, N, dtype):
    spec, params, X, labels, _ = problem(sizes, N, dtype)
    opt = mo.sgd(LEARNING_RATE, momentum=MOMENTUM)
    box = [opt.init(params)]

    def step():
        _, grads = manual.loss_and_grads(spec, params, X, labels)
        box[0] = opt.update_inplace(grads, box[0], params)

    return step


def jax_train_step():
    """(optax.sgd(0.01, momentum=0.9), jit(train)): train(params, state, X, Y) -> (loss, params, state)
    for relu hidden layers and softmax cross-entropy, params and state donated."""
    import jax
    import jax.numpy as jnp
    import optax

    jax.config.update("jax_enable_x64", True)  # float64 arrays stay float64; float32 ones stay float32
    tx = optax.sgd(LEARNING_RATE, momentum=MOMENTUM)

    def loss_fn(params, X, Y):
        a = X
        for W, b in params[:-1]:
            a = jax.nn.relu(a @ W + b)
        W, b = params[-1]
        return -jnp.mean(jnp.sum(Y * jax.nn.log_softmax(a @ W + b), axis=1))

    def train(params, opt_state, X, Y):
        value, grads = jax.value_and_grad(loss_fn)(params, X, Y)
        updates, opt_state = tx.update(grads, opt_state, params)
        return value, optax.apply_updates(params, updates), opt_state

    return tx, jax.jit(train, donate_argnums=(0, 1))


def jax_step(sizes, N, dtype):
    import jax.numpy as jnp

    _, params, X, _, Y = problem(sizes, N, dtype)
    tx, train = jax_train_step()
    p = [(jnp.asarray(W), jnp.asarray(b)) for W, b in params]
    X, Y = jnp.asarray(X), jnp.asarray(Y)
    box = [p, tx.init(p)]

    def step():
        value, box[0], box[1] = train(box[0], box[1], X, Y)
        value.block_until_ready()

    step()  # compile
    return step


def _sklearn_model(sizes, N, dtype):
    import warnings

    from sklearn.neural_network import MLPClassifier

    _, _, X, labels, _ = problem(sizes, N, dtype)
    clf = MLPClassifier(hidden_layer_sizes=tuple(sizes[1:-1]), activation="relu", solver="sgd",
                        learning_rate_init=LEARNING_RATE, momentum=MOMENTUM, nesterovs_momentum=False,
                        alpha=0.0, batch_size=N, shuffle=False, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.partial_fit(X, labels, classes=np.arange(sizes[-1]))  # sklearn initialises its arrays (in X's dtype)
    return clf, X, labels


def sklearn_step(sizes, N, dtype):
    clf, X, labels = _sklearn_model(sizes, N, dtype)
    Y = clf._label_binarizer.transform(labels).astype(bool)  # what sklearn's _validate_input hands _backprop
    n_layers = len(sizes) - 1
    activations = [X] + [None] * n_layers
    deltas = [None] * n_layers
    coef_grads = [np.empty(W.shape, W.dtype) for W in clf.coefs_]
    intercept_grads = [np.empty(b.shape, b.dtype) for b in clf.intercepts_]
    params = clf.coefs_ + clf.intercepts_

    def step():  # the body of MLPClassifier._fit_stochastic's batch loop
        _, cg, ig = clf._backprop(X, Y, None, activations, deltas, coef_grads, intercept_grads)
        clf._optimizer.update_params(params, cg + ig)

    return step


def sklearn_partial_fit_step(sizes, N, dtype):
    import warnings

    clf, X, labels = _sklearn_model(sizes, N, dtype)

    def step():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            clf.partial_fit(X, labels)

    return step


def torch_available():
    try:
        import torch  # noqa: F401
    except Exception:
        return False
    return True


def torch_step(sizes, N, dtype):
    import torch

    tdtype = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}[np.dtype(dtype)]
    _, params, X, labels, _ = problem(sizes, N, dtype)
    layers = []
    for l, (W, b) in enumerate(params):
        lin = torch.nn.Linear(*W.shape, dtype=tdtype)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(W.T.copy()))  # torch keeps (fan_out, fan_in)
            lin.bias.copy_(torch.from_numpy(b))
        layers.append(lin)
        if l < len(params) - 1:
            layers.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*layers)
    opt = torch.optim.SGD(model.parameters(), lr=LEARNING_RATE, momentum=MOMENTUM)
    loss_fn = torch.nn.CrossEntropyLoss()
    Xt, yt = torch.from_numpy(X), torch.from_numpy(labels)

    def step():
        opt.zero_grad()
        loss = loss_fn(model(Xt), yt)
        loss.backward()
        opt.step()

    return step


def blas_info():
    """One line: numpy's BLAS library, kernel and threads (threadpoolctl)."""
    from threadpoolctl import threadpool_info

    return "; ".join(f"{i['internal_api']} {i.get('version')} kernel {i.get('architecture')} threads {i['num_threads']}"
                     for i in threadpool_info() if i["user_api"] == "blas")
