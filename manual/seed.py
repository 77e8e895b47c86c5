"""The seed article's classes, with the same names, signatures, attributes and output,
built on dualgrad's functional core instead of writing the math a second time.

The article ("Implement Neural Networks", an interview-preparation page) defines
`Activations`, `NeuralNetwork` (relu hidden layers, a sigmoid output, binary
cross-entropy, SGD with momentum), `MultiClassNN` (relu hidden layers, softmax,
cross-entropy, plain SGD) and `count_parameters`. Its snippets run unchanged
with the class definitions replaced by ``from manual.seed import ...``
(tests/seed_snippets/ holds them).

What is the article's, kept as it was:

- initialisation draws from the *global* NumPy generator, in the same order:
  ``W = np.random.randn(fan_in, fan_out) * sqrt(2 / fan_in)``, ``b = 0``, layer by
  layer. The article's snippets call ``np.random.seed(42)`` before making data and
  expect that to fix the network too, so after the same ``np.random.seed`` these
  classes start from bit-identical weights to the article's code. (`manual.MLP` and
  `manual.init_params` use their own ``np.random.default_rng(seed)`` instead.)
- biases have shape (1, fan_out), ``weights[i]`` has shape (fan_in, fan_out);
- the momentum update ``v ← μ v − lr g;  W ← W + v`` on `velocities_w` and `velocities_b`;
- ``fit`` records the loss of every epoch in `loss_history` (NeuralNetwork) and
  prints ``Epoch {epoch}: loss = {loss:.4f}`` every 200 epochs;
- ``forward`` leaves ``activations`` ([X, a₁, …, output]) and ``z_values`` on the object.

What comes from the core (manual.network, manual.losses, manual.activations):
the forward pass, the backward pass and the losses, computed from the logits
(so ``log`` never sees 0 and no ε or clipping is needed; the printed losses agree
with the article's ε-clipped ones to all printed digits). The networks are
``NetworkSpec(layer_sizes, "relu", "binary_cross_entropy")`` and
``NetworkSpec(layer_sizes, "relu", "cross_entropy")``; labels must therefore be
0/1 (NeuralNetwork) or integers in [0, layer_sizes[-1]) (MultiClassNN).

What is added for reliability (the article checks nothing):

- every argument is checked before anything changes: a bad ``layer_sizes``,
  ``learning_rate``, ``momentum``, ``epochs``, ``threshold``, ``X`` or ``y`` raises a
  ValueError or TypeError naming what was expected, and the network is left as it was;
  the `Activations` functions take finite real arrays (softmax: 2-D, (N, K));
- divergence stops training: ``fit`` computes each update aside, and if the loss, a
  gradient or an updated weight is NaN or infinite it raises `NonFiniteError` (a
  FloatingPointError) before writing it. The weights, biases, velocities and
  ``loss_history`` then hold the last finite epoch, so the caller can lower the
  learning rate and carry on from there.
"""

from __future__ import annotations

import math

import numpy as np

from . import activations as _act
from . import arguments
from .losses import get_loss, softmax as _softmax
from .network import backward as _backward
from .network import forward_with_cache as _forward_with_cache
from .spec import NetworkSpec
from .train_step import NonFiniteError
from .validation import all_finite, as_real_array, check_finite, check_inputs, encode_targets


def _float(z, name="z"):
    """z as a finite float array (the article's functions are called on floats; ints become float64)."""
    z = as_real_array(z, name)
    z = z if z.dtype.kind == "f" else z.astype(np.float64)
    check_finite(z, name)
    return z


def _quiet(fit):
    """Run fit with NumPy's overflow warnings off: a divergence is reported as NonFiniteError."""

    def wrapped(self, *args, **kwargs):
        with np.errstate(over="ignore", invalid="ignore"):
            return fit(self, *args, **kwargs)

    wrapped.__doc__, wrapped.__name__ = fit.__doc__, fit.__name__
    return wrapped


class Activations:
    """Activation functions and their derivatives for neural networks (manual.activations)."""

    @staticmethod
    def sigmoid(z):
        """Sigmoid: squashes values to (0, 1). Used for binary output."""
        return _act.sigmoid(_float(z))

    @staticmethod
    def sigmoid_derivative(a):
        """Derivative of sigmoid given its output a = sigmoid(z): a (1 − a)."""
        return _act.sigmoid_derivative(None, _float(a))

    @staticmethod
    def relu(z):
        """ReLU: max(0, z). Default choice for hidden layers."""
        return _act.relu(_float(z))

    @staticmethod
    def relu_derivative(z):
        """Derivative of ReLU. Note: undefined at 0, we use 0."""
        return _act.relu_derivative(_float(z), None)

    @staticmethod
    def tanh(z):
        """Tanh: squashes values to (-1, 1). Centered at zero."""
        return _act.tanh(_float(z))

    @staticmethod
    def tanh_derivative(a):
        """Derivative of tanh given its output a = tanh(z): 1 − a² (computed as (1 − a)(1 + a))."""
        return _act.tanh_derivative(None, _float(a))

    @staticmethod
    def softmax(z):
        """Softmax: converts logits to probabilities. Used for multi-class output."""
        z = _float(z)
        if z.ndim != 2:
            raise ValueError(f"softmax takes logits of shape (N, K), one row per example; got {z.ndim}-D of shape {z.shape}")
        return _softmax(z)


def _global_randn_init(layer_sizes):
    """The article's initialisation, from the global np.random, in the article's order."""
    weights, biases = [], []
    for i in range(len(layer_sizes) - 1):
        scale = np.sqrt(2.0 / layer_sizes[i])  # He initialization for ReLU layers
        weights.append(np.random.randn(layer_sizes[i], layer_sizes[i + 1]) * scale)  # (fan_in, fan_out)
        biases.append(np.zeros((1, layer_sizes[i + 1])))  # (1, fan_out)
    return weights, biases


def _check_step(epoch, loss, gradients):
    """NonFiniteError, before any update, if the loss or a gradient is NaN or infinite."""
    if not (math.isfinite(loss) and all_finite(*gradients)):
        raise NonFiniteError(f"epoch {epoch}: the loss or a gradient is not finite (loss = {loss}); training "
                             "diverged (learning rate too large?); weights kept at their last finite values")


class _SeedNet:
    """What both article classes share: a spec, weights/biases lists, forward and gradients."""

    _loss_name = ""

    def _init_network(self, layer_sizes):
        self.spec = NetworkSpec(layer_sizes, "relu", self._loss_name)
        self.weights, self.biases = _global_randn_init(self.spec.sizes)
        self._cache = None  # (X as given, X checked, logits, caches) of the last forward

    def _params(self):
        """The core's layout, as views: b (1, fan_out) -> (fan_out,)."""
        return [(W, b.reshape(-1)) for W, b in zip(self.weights, self.biases)]

    def forward(self, X):
        """Forward pass; keeps `activations` [X, a₁, …, output] and `z_values` for backprop.

        Returns the head's output: σ(s) of shape (N, 1), or softmax(s) of shape (N, K).
        """
        X_given = X
        X = check_inputs(self.spec, X, dtype=self.weights[0].dtype)  # (N, sizes[0])
        logits, caches = _forward_with_cache(self.spec, self._params(), X)
        output = get_loss(self.spec.loss).output(logits)  # (N, sizes[-1])
        self.z_values = [c.z for c in caches]
        self.activations = [X] + [c.a for c in caches[:-1]] + [output]
        self._cache = (X_given, X, logits, caches)
        return output

    def _loss_and_grads(self, X, y):
        """(loss, [dW, ...], [db (1, fan_out), ...]) by the core's backprop.

        Reuses the last forward's cache when it was computed on this very X, as the
        article's backward does; otherwise runs the forward first.
        """
        if self._cache is None or self._cache[0] is not X:
            X_checked = check_inputs(self.spec, X, dtype=self.weights[0].dtype)  # (N, sizes[0])
            encode_targets(self.spec, y, X_checked.shape[0])  # y checked before forward changes anything
            self.forward(X)
        _, X, logits, caches = self._cache
        Y = encode_targets(self.spec, y, X.shape[0], dtype=X.dtype)  # (N, sizes[-1])
        loss, ds = get_loss(self.spec.loss).value_and_dlogits(logits, Y)  # ds: (N, sizes[-1])
        grads = _backward(self.spec, self._params(), caches, ds)
        return loss, [dW for dW, _ in grads], [db.reshape(1, -1) for _, db in grads]

    @_quiet
    def _fit(self, X, y, epochs, verbose):
        """The article's loop, for both classes: per epoch forward, gradients, `_update_weights`,
        `_record(loss)`, and every 200 epochs the line `Epoch {epoch}: loss = {loss:.4f}`."""
        epochs = arguments.integer(epochs, "epochs", 1)
        n = check_inputs(self.spec, X, dtype=self.weights[0].dtype).shape[0]  # X: (N, sizes[0])
        encode_targets(self.spec, y, n)  # checks y before forward writes activations
        for epoch in range(epochs):
            self.forward(X)
            loss, gradients_w, gradients_b = self._loss_and_grads(X, y)
            _check_step(epoch, loss, gradients_w + gradients_b)
            try:
                self._update_weights(gradients_w, gradients_b)
            except NonFiniteError as err:
                raise NonFiniteError(f"epoch {epoch}: {err}") from None
            self._record(loss)
            if verbose and epoch % 200 == 0:
                print(f"Epoch {epoch}: loss = {loss:.4f}")
        return self

    def _record(self, loss):
        """Keep the epoch's loss (NeuralNetwork keeps a loss_history; MultiClassNN, as in the article, none)."""


class NeuralNetwork(_SeedNet):
    """
    Multi-layer Perceptron from scratch.
    Architecture: Input -> Hidden (ReLU) -> Output (Sigmoid)
    Loss: Binary Cross-Entropy
    Optimizer: SGD with optional momentum
    """

    _loss_name = "binary_cross_entropy"

    def __init__(self, layer_sizes, learning_rate=0.01, momentum=0.0):
        """
        Args:
            layer_sizes: list, e.g. [2, 64, 32, 1] for 2 inputs,
                         two hidden layers (64, 32), 1 output
            learning_rate: float
            momentum: float, SGD momentum (0 = vanilla SGD)
        """
        self.lr = arguments.positive(learning_rate, "learning_rate")
        self.momentum = arguments.unit_interval(momentum, "momentum")
        self._init_network(layer_sizes)
        self.velocities_w = [np.zeros_like(W) for W in self.weights]
        self.velocities_b = [np.zeros_like(b) for b in self.biases]
        self.loss_history = []

    def backward(self, X, y):
        """Gradients of the mean binary cross-entropy: (gradients_w, gradients_b), one per layer,
        shaped like `weights` and `biases`. Uses the activations of the last forward(X)."""
        _, gradients_w, gradients_b = self._loss_and_grads(X, y)
        return gradients_w, gradients_b

    def _update_weights(self, gradients_w, gradients_b):
        """SGD with momentum:  v ← μ v − lr g,  W ← W + v.

        Computed aside and written in place only if every new value is finite;
        otherwise NonFiniteError and nothing changes.
        """
        vw = [self.momentum * v - self.lr * g for v, g in zip(self.velocities_w, gradients_w)]  # like weights
        vb = [self.momentum * v - self.lr * g for v, g in zip(self.velocities_b, gradients_b)]  # like biases
        new_w = [W + v for W, v in zip(self.weights, vw)]
        new_b = [b + v for b, v in zip(self.biases, vb)]
        if not all_finite(*new_w, *new_b):
            raise NonFiniteError("the update made a weight NaN or infinite (learning rate too large?); "
                                 "weights, biases and velocities kept at their last finite values")
        for i in range(len(self.weights)):
            self.weights[i][...] = new_w[i]
            self.biases[i][...] = new_b[i]
        self.velocities_w, self.velocities_b = vw, vb

    def fit(self, X, y, epochs=1000, verbose=True):
        """Train the network: full-batch gradient steps, one per epoch.

        Stops with NonFiniteError if training diverges; the network then holds the
        last finite epoch (see the module docstring).
        """
        return self._fit(X, y, epochs, verbose)

    def _record(self, loss):
        self.loss_history.append(loss)

    def predict(self, X, threshold=0.5):
        """Predict class labels (0/1 ints of shape (N,))."""
        threshold = arguments.real(threshold, "threshold", "a probability in [0, 1]", lambda v: 0 <= v <= 1)
        output = self.forward(X)
        return (output >= threshold).astype(int).flatten()


class MultiClassNN(_SeedNet):
    """
    Neural network with softmax output for multi-class classification.
    """

    _loss_name = "cross_entropy"

    def __init__(self, layer_sizes, learning_rate=0.01):
        self.lr = arguments.positive(learning_rate, "learning_rate")
        self._init_network(layer_sizes)

    def fit(self, X, y, epochs=1000, verbose=True):
        """Train with plain full-batch SGD; y holds integer class labels in [0, layer_sizes[-1]).

        Stops with NonFiniteError if training diverges; the weights then hold the
        last finite epoch (see the module docstring).
        """
        return self._fit(X, y, epochs, verbose)

    def _update_weights(self, gradients_w, gradients_b):
        """Plain SGD, computed aside and written in place only if every new value is finite:
        W ← W − lr dW,  b ← b − lr db."""
        new_w = [W - self.lr * g for W, g in zip(self.weights, gradients_w)]  # like weights
        new_b = [b - self.lr * g for b, g in zip(self.biases, gradients_b)]  # like biases
        if not all_finite(*new_w, *new_b):
            raise NonFiniteError("the update made a weight NaN or infinite (learning rate too large?); "
                                 "weights and biases kept at their last finite values")
        for i in range(len(self.weights)):
            self.weights[i][...] = new_w[i]
            self.biases[i][...] = new_b[i]

    def predict(self, X):
        """The most probable class of each row, shape (N,)."""
        probs = self.forward(X)
        return np.argmax(probs, axis=1)


def count_parameters(layer_sizes):
    """Count total trainable parameters in an MLP (prints one line per layer, then the total)."""
    spec = NetworkSpec(layer_sizes, "relu", "mse")  # mse: any number of outputs
    total = 0
    for i, ((fan_in, fan_out), _) in enumerate(spec.layer_shapes()):
        weights = fan_in * fan_out
        biases = fan_out
        total += weights + biases
        print(f"Layer {i+1}: W({fan_in}x{fan_out}) + b({fan_out}) = {weights + biases} params")
    print(f"Total: {total} parameters")
    return total
