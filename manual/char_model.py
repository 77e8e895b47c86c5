"""A character-level language model by hand: embedding → RNN or LSTM → temporal affine → temporal
softmax loss, every gradient from `manual.layers`' hand-written backwards (Karpathy's char-rnn,
CS231n's captioning RNN without the image).

Shape legend: N sequences in a batch, T time steps, V characters in the vocabulary, D the
embedding width, H the hidden width (the LSTM's gates are 4H wide).

Forward, for ids x (N, T) and targets y (N, T) (y[:, t] = the character after x[:, t]):

    e = E[x]                         (N, T, D)   embedding_forward
    h = rnn(e, h0 = 0)  or  lstm     (N, T, H)   rnn_forward / lstm_forward (c0 = 0)
    s = h Wy + by                    (N, T, V)   temporal_affine_forward
    L = −(1/N) Σₙₜ log softmax(sₙₜ)[yₙₜ]        temporal_softmax_loss (every step counted)

Backward: the chain rule read right to left, each factor one layer's backward:

    ds = temporal_softmax_loss's dx;  dh, dWy, dby = temporal_affine_backward(ds)
    de, dh0, dWx, dWh, db = rnn_backward(dh) (or lstm_backward);  dE = embedding_backward(de)

h0 = 0 is not a parameter, so dh0 is dropped. The loss is CS231n's (summed over the T steps,
divided by N); `train` records it per character, L / T, in nats, the unit of the bigram baseline.

Parameters are a dict of named arrays (`init_params`). `manual.optimizers` updates a list of
(W, b) pairs; `as_pairs` pairs each weight with its bias where the model has one (Wx with b,
Wy with by) and gives E and Wh a zero stand-in bias: its gradient is 0, so every optimizer leaves
it at 0 (the convention of `manual.stack`).

The text: `vocabulary`, `encode`, `decode`, `batches` (random windows, seeded) and
`bigram_loss`, the cross-entropy of the best bigram model of the text (a baseline to beat).

NumPy only: never imports jax or `reference`. The twin is `reference.char_model`.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from . import layers as L

CELLS = ("rnn", "lstm")


# ---------------------------------------------------------------- the text


def vocabulary(text):
    """The sorted distinct characters of `text`, a string (its index is a character's id)."""
    if not isinstance(text, str) or len(text) < 2:
        raise ValueError(f"text must be a str of at least 2 characters, got {type(text).__name__} "
                         f"of length {len(text) if isinstance(text, str) else '?'}")
    return "".join(sorted(set(text)))


def encode(text, chars):
    """ids (len(text),) int64 of each character of `text` in `chars` (a vocabulary string)."""
    index = {c: i for i, c in enumerate(chars)}
    missing = sorted(set(text) - set(index))
    if missing:
        raise ValueError(f"text holds characters outside the vocabulary: {''.join(missing)!r}")
    return np.array([index[c] for c in text], dtype=np.int64)


def decode(ids, chars):
    """The string of `ids` (any iterable of ints in 0 .. len(chars) − 1)."""
    return "".join(chars[int(i)] for i in ids)


def batches(ids, batch_size, seq_len, steps, seed=0):
    """`steps` batches (x, y), each of N = batch_size windows of the text at random starts:
    x (N, T) ids, y (N, T) the next characters (y[:, t] = ids[start + t + 1]), T = seq_len.
    A list, drawn once from np.random.default_rng(seed): give the same one to both sides."""
    batch_size = _count(batch_size, "batch_size")
    seq_len = _count(seq_len, "seq_len")
    steps = _count(steps, "steps")
    ids = np.asarray(ids)
    if ids.ndim != 1 or ids.shape[0] < seq_len + 1:
        raise ValueError(f"ids must be 1-D with at least seq_len + 1 = {seq_len + 1} entries, got shape {ids.shape}")
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(steps):
        starts = rng.integers(0, ids.shape[0] - seq_len, size=batch_size)  # (N,)
        window = ids[starts[:, None] + np.arange(seq_len + 1)]  # (N, T + 1)
        out.append((window[:, :-1], window[:, 1:]))  # x (N, T), y (N, T)
    return out


def bigram_loss(ids, V):
    """The per-character cross-entropy (nats) of the maximum-likelihood bigram model of `ids`, on
    `ids` itself: H(next | current) = −(1/(n−1)) Σᵢ log p̂(idsᵢ₊₁ | idsᵢ), p̂ the counts normalised
    per row. No bigram model does better on this text, so a model below it uses more context."""
    ids = np.asarray(ids)
    counts = np.zeros((V, V))  # (V, V) counts[a, b] = #(a followed by b)
    np.add.at(counts, (ids[:-1], ids[1:]), 1.0)
    p = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1.0)  # (V, V) rows sum to 1 (or 0: unseen)
    return float(-np.log(p[ids[:-1], ids[1:]]).mean())


# ---------------------------------------------------------------- the model


def init_params(V, D, H, cell="rnn", seed=0, dtype=np.float64):
    """{"E": (V, D), "Wx": (D, G), "Wh": (H, G), "b": (G,), "Wy": (H, V), "by": (V,)}, G = H for the
    RNN and 4H for the LSTM (gates i, f, o, g). E ~ N(0, 1); Wx, Wh, Wy ~ N(0, 1/fan_in);
    b = 0 except the LSTM's forget gate at 1 (remember by default); by = 0. Seeded, `dtype`."""
    V, D, H = _count(V, "V"), _count(D, "D"), _count(H, "H")
    cell = _cell(cell)
    G = H if cell == "rnn" else 4 * H
    rng = np.random.default_rng(seed)
    b = np.zeros(G)
    if cell == "lstm":
        b[H:2 * H] = 1.0  # the forget gate f, second in i, f, o, g
    params = {
        "E": rng.standard_normal((V, D)),  # (V, D)
        "Wx": rng.standard_normal((D, G)) / math.sqrt(D),  # (D, G)
        "Wh": rng.standard_normal((H, G)) / math.sqrt(H),  # (H, G)
        "b": b,  # (G,)
        "Wy": rng.standard_normal((H, V)) / math.sqrt(H),  # (H, V)
        "by": np.zeros(V),  # (V,)
    }
    return {k: v.astype(dtype) for k, v in params.items()}


def loss_and_grads(params, x, y, cell="rnn"):
    """(L, grads): L = temporal_softmax_loss of the model's scores for ids x (N, T) against y (N, T),
    every step counted (divided by N only); grads a dict with the keys and shapes of params."""
    cell = _cell(cell)
    E, Wx, Wh, b, Wy, by = (params[k] for k in ("E", "Wx", "Wh", "b", "Wy", "by"))
    N, T = np.shape(x)
    H = Wh.shape[0]
    # forward
    e, c_emb = L.embedding_forward(x, E)  # (N, T, D)
    h0 = np.zeros((N, H), dtype=E.dtype)  # (N, H), not learned
    forward = L.rnn_forward if cell == "rnn" else L.lstm_forward
    h, c_seq = forward(e, h0, Wx, Wh, b)  # (N, T, H)
    s, c_aff = L.temporal_affine_forward(h, Wy, by)  # (N, T, V)
    loss, ds = L.temporal_softmax_loss(s, y, np.ones((N, T), dtype=bool))  # ds (N, T, V)
    # backward
    dh, dWy, dby = L.temporal_affine_backward(ds, c_aff)  # (N, T, H), (H, V), (V,)
    backward = L.rnn_backward if cell == "rnn" else L.lstm_backward
    de, _dh0, dWx, dWh, db = backward(dh, c_seq)  # (N, T, D), (N, H) unused, (D, G), (H, G), (G,)
    dE = L.embedding_backward(de, c_emb)  # (V, D)
    return loss, {"E": dE, "Wx": dWx, "Wh": dWh, "b": db, "Wy": dWy, "by": dby}


# The (W, b) pairs the optimizer sees: a weight with its bias, or with a zero stand-in (None).
PAIRS = (("E", None), ("Wx", "b"), ("Wh", None), ("Wy", "by"))


def as_pairs(tree, pairs=PAIRS):
    """The optimizer's layout [(W, b), ...] of a dict of parameters (or of gradients): W 2-D (a 1-D
    weight, as layernorm's γ, seen as a (1, D) row view), b its bias or a zero stand-in (W's columns)."""
    out = []
    for w_name, b_name in pairs:
        W = tree[w_name]
        W = W.reshape(1, -1) if W.ndim == 1 else W  # (1, D) view of a 1-D weight
        out.append((W, tree[b_name] if b_name else np.zeros(W.shape[1], dtype=W.dtype)))
    return out


def from_pairs(pair_list, shapes, pairs=PAIRS):
    """The dict of `as_pairs`' inverse (stand-ins dropped); `shapes` maps each name to its shape."""
    out = {}
    for (W, b), (w_name, b_name) in zip(pair_list, pairs):
        out[w_name] = W.reshape(shapes[w_name])
        if b_name:
            out[b_name] = b
    return out


def train(params, batch_list, optimizer, loss_and_grads_fn, pairs=PAIRS):
    """Train on each (x, y) of `batch_list` once with `optimizer` (from `manual.optimizers`);
    `loss_and_grads_fn(params, x, y) -> (L, grads)`. Returns (params, losses), losses[k] the loss
    per character (L / T, nats) of step k's batch, *before* its update. params is not modified."""
    shapes = {k: v.shape for k, v in params.items()}
    state_pairs = as_pairs({k: v.copy() for k, v in params.items()}, pairs)
    opt_state = optimizer.init(state_pairs)
    losses = []
    for x, y in batch_list:
        current = from_pairs(state_pairs, shapes, pairs)
        loss, grads = loss_and_grads_fn(current, x, y)
        losses.append(loss / np.shape(x)[1])  # nats per character
        state_pairs, opt_state = optimizer.update(as_pairs(grads, pairs), opt_state, state_pairs)
    return from_pairs(state_pairs, shapes, pairs), losses


def sample(params, start, n, cell="rnn", chars=None, seed=0, temperature=1.0):
    """n characters drawn one at a time after the prompt `start` (a str if `chars` is given, else a
    list of ids): the prompt is read through the cell step by step, then each next id is drawn from
    softmax(s / temperature) and fed back. Returns a str (with `chars`) or a list of ids."""
    cell = _cell(cell)
    n = _count(n, "n", 0)
    temperature = float(temperature)
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    ids = list(encode(start, chars)) if chars is not None else [int(i) for i in start]
    if not ids:
        raise ValueError("start must hold at least one character")
    E, Wx, Wh, b, Wy, by = (params[k] for k in ("E", "Wx", "Wh", "b", "Wy", "by"))
    rng = np.random.default_rng(seed)
    h = np.zeros((1, Wh.shape[0]), dtype=E.dtype)  # (1, H)
    c = np.zeros_like(h)  # (1, H), the LSTM's cell
    out = []
    for k in range(len(ids) + n - 1):
        x = E[[ids[k] if k < len(ids) else out[-1]]]  # (1, D)
        if cell == "rnn":
            h, _ = L.rnn_step_forward(x, h, Wx, Wh, b)  # (1, H)
        else:
            h, c, _ = L.lstm_step_forward(x, h, c, Wx, Wh, b)  # (1, H), (1, H)
        if k >= len(ids) - 1:
            s = (h @ Wy + by)[0] / temperature  # (V,)
            p = np.exp(s - s.max())
            out.append(int(rng.choice(len(p), p=p / p.sum())))
    return decode(ids + out, chars) if chars is not None else ids + out


def _cell(cell):
    if cell not in CELLS:
        raise ValueError(f"cell must be one of {', '.join(map(repr, CELLS))}, got {cell!r}")
    return cell


def _count(value, name, least=1):
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, np.integer)):
        raise TypeError(f"{name} must be an int >= {least}, got {type(value).__name__} {value!r}")
    if value < least:
        raise ValueError(f"{name} must be an int >= {least}, got {value!r}")
    return int(value)
