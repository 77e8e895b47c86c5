"""H·V of one small network derived step by step: the R-forward and R-backward passes, each measured.

    print(render_hvp(derive_hvp(NetworkSpec([3, 4, 2], "tanh", "cross_entropy"), batch=4)))
    dualgrad explain --sizes 3 4 2 --hidden tanh --hvp

R{x} = d/dt x(θ + tV) at t = 0 (Pearlmutter 1994), applied to each line of the forward pass and
then of the backward pass (manual/second_order.py's docstring has the derivation). Every step is
computed with manual's own pieces (its forward caches, `manual.second_order.r_forward`, each
activation's f' and f'', the loss's `hessian_vector`) and measured against JAX on the same
random batch and direction V:

    R{z_l}, R{a_l}             jax.jvp of the forward pass along V
    R{dz_l}, R{da_l}           jax.jvp of jax.grad of L with respect to an offset added to z_l, a_l
    R{dW_l}, R{db_l} (= H·V)   jax.jvp(jax.grad(L)) along V

and the last line measures `manual.hessian_vector_product` itself against jax.jvp(jax.grad(L)).
"""

from __future__ import annotations

from typing import List, NamedTuple

import numpy as np

from manual.spec import NetworkSpec

from ..engine.compare import leaf_error, network_scale


class Step(NamedTuple):
    layer: str  # "1", "L"
    name: str  # "R{z1}"
    equation: str
    note: str  # the formula used (f', f'' or H_s), from manual's docstring; "" when none
    shape: tuple
    max_abs: float
    max_rel: float
    passed: bool


class HvpDerivation(NamedTuple):
    spec: NetworkSpec
    batch: int
    seed: int
    forward: List[Step]
    backward: List[Step]
    product: Step  # manual.hessian_vector_product against jax.jvp(jax.grad)

    @property
    def passed(self) -> bool:
        return all(s.passed for s in self.forward + self.backward + [self.product])


def _first_line(fn, default):
    doc = (getattr(fn, "__doc__", None) or "").strip()
    return doc.splitlines()[0].strip() if doc else default


def _jax_side(spec, params, X, Y, V):
    """Every R{·} of the passes from JAX: jax.jvp along V of the forward values and of jax.grad
    of L with respect to offsets at each z_l and a_l (zero offsets: the gradient is dL/dz_l, dL/da_l)."""
    import jax
    import jax.numpy as jnp

    from reference.activations import get_activation
    from reference.losses import get_loss

    L = spec.n_layers
    N = X.shape[0]
    oz = [jnp.zeros((N, o)) for (_, o), _ in spec.layer_shapes()]
    oa = [jnp.zeros((N, o)) for (_, o), _ in spec.layer_shapes()[:-1]]

    def passes(p, oz, oa):
        zs, acts, a = [], [], X
        for l, (W, b) in enumerate(p):
            z = a @ W + b + oz[l]
            zs.append(z)
            if l < L - 1:
                a = get_activation(spec.hidden[l])(z) + oa[l]
                acts.append(a)
        loss = get_loss(spec.loss)(zs[-1], Y) + 0.5 * spec.l2 * sum(jnp.sum(W ** 2) for W, _ in p)
        return loss, (zs, acts)

    def everything(p):
        (_, (zs, acts)), (dp, doz, doa) = jax.value_and_grad(passes, argnums=(0, 1, 2), has_aux=True)(p, oz, oa)
        return zs, acts, doz, doa, dp

    jp = [(jnp.asarray(W), jnp.asarray(b)) for W, b in params]
    jV = [(jnp.asarray(VW), jnp.asarray(Vb)) for VW, Vb in V]
    _, tangents = jax.jvp(everything, (jp,), (jV,))
    Rz, Ra, Rdz, Rda, Rgrad = jax.tree_util.tree_map(np.asarray, tangents)
    return Rz, Ra, Rdz, Rda, Rgrad


def derive_hvp(spec: NetworkSpec, batch: int = 4, seed: int = 0) -> HvpDerivation:
    """Every R-forward and R-backward step of H·V on a random batch and direction V (seed), each
    with its measured error against JAX (module docstring)."""
    import manual
    from manual.activations import get_activation
    from manual.losses import get_loss
    from manual.network import forward_with_cache
    from manual.second_order import r_forward
    from manual.validation import encode_targets

    from ..engine.check import random_case
    from ..engine.second_order_properties import direction
    from reference.second_order import hessian_vector_product as jax_hvp

    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ValueError(f"batch must be a positive int, got {batch!r}")
    params, X, y = random_case(spec, batch, seed)
    V = direction(spec, np.random.default_rng(seed + 1))
    manual.hessian_vector_product(spec, params, X, y, V)  # its checks first (second derivatives known, V's shape)
    Y = encode_targets(spec, y, batch)
    L = spec.n_layers
    Rz_j, Ra_j, Rdz_j, Rda_j, Rgrad_j = _jax_side(spec, params, X, Y, V)
    HV = manual.hessian_vector_product(spec, params, X, y, V)
    HV_j = jax_hvp(spec, params, X, y, V)
    scale = network_scale(HV_j)

    def step(layer, name, equation, mine, theirs, note=""):
        err = leaf_error(name, mine, theirs, scale=scale)
        return Step(str(layer), name, equation, note, np.shape(mine), err.max_abs, err.max_rel, err.passed)

    logits, caches = forward_with_cache(spec, params, X)
    Rz, Ra = r_forward(spec, params, caches, V)
    forward = []
    for l in range(L):
        k = l + 1
        ra = "" if l == 0 else f"R{{a{l}}} W{k} + "
        forward.append(step(k, f"R{{z{k}}}", f"R{{z{k}}} = {ra}a{l} V_W{k} + V_b{k}" + (" = R{s}" if k == L else ""),
                            Rz[l], Rz_j[l]))
        if l < L - 1:
            act = get_activation(spec.hidden[l])
            forward.append(step(k, f"R{{a{k}}}", f"R{{a{k}}} = f'(z{k}) ⊙ R{{z{k}}}", Ra[l], Ra_j[l],
                                f"{spec.hidden[l]}: {_first_line(act.derivative, 'f')}"))
    loss = get_loss(spec.loss)
    backward = []
    with np.errstate(all="ignore"):
        dz = loss.value_and_dlogits(logits, Y)[1]  # (N, K) dz_L
        Rdz = loss.hessian_vector(logits, Y, Rz[L - 1])  # (N, K) H_s R{s}
        backward.append(step("L", f"R{{dz{L}}}", f"R{{dz{L}}} = H_s R{{s}}", Rdz, Rdz_j[L - 1],
                             f"{spec.loss}: {_first_line(loss.hessian_vector, 'H_s v')}"))
        for l in reversed(range(L)):
            k = l + 1
            W, VW = params[l][0], V[l][0]
            a_in = caches[l].a_in
            RdW = a_in.T @ Rdz + spec.l2 * VW
            ra_term = ""
            if l > 0:
                RdW = RdW + Ra[l - 1].T @ dz
                ra_term = f"R{{a{l}}}ᵀ dz{k} + "
            lam = f" + λ V_W{k}" if spec.l2 else ""
            backward.append(step(k, f"R{{dW{k}}}", f"R{{dW{k}}} = {ra_term}a{l}ᵀ R{{dz{k}}}{lam}", RdW, Rgrad_j[l][0]))
            backward.append(step(k, f"R{{db{k}}}", f"R{{db{k}}} = Σₙ R{{dz{k}}}", Rdz.sum(axis=0), Rgrad_j[l][1]))
            if l > 0:
                c, act = caches[l - 1], get_activation(spec.hidden[l - 1])
                da = dz @ W.T  # (N, fan_in)
                Rda = Rdz @ W.T + dz @ VW.T  # (N, fan_in)
                backward.append(step(l, f"R{{da{l}}}", f"R{{da{l}}} = R{{dz{k}}} W{k}ᵀ + dz{k} V_W{k}ᵀ", Rda,
                                     Rda_j[l - 1]))
                d1, d2 = act.derivative(c.z, c.a), act.second_derivative(c.z, c.a)
                dz, Rdz = da * d1, Rda * d1 + da * d2 * Rz[l - 1]
                backward.append(step(l, f"R{{dz{l}}}", f"R{{dz{l}}} = R{{da{l}}} ⊙ f'(z{l}) + da{l} ⊙ f''(z{l}) ⊙ "
                                                       f"R{{z{l}}}", Rdz, Rdz_j[l - 1],
                                     f"{spec.hidden[l - 1]}: {_first_line(act.second_derivative, 'f″')}"))
    flat = lambda tree: np.concatenate([np.ravel(x) for pair in tree for x in pair])  # noqa: E731
    product = step("", "H·V", "manual.hessian_vector_product against jax.jvp(jax.grad(L))", flat(HV), flat(HV_j))
    return HvpDerivation(spec, batch, seed, forward, backward, product)


def render_hvp(d: HvpDerivation) -> str:
    """The derivation as text: one line per step with its shape and measured error."""
    from ..engine.compare import ATOL, RTOL
    from ..engine.report import describe_network

    width = max(len(s.equation) for s in d.forward + d.backward)
    lines = [f"H·V by the R-operator (Pearlmutter 1994): network {describe_network(d.spec, d.batch)}, a random batch "
             f"and direction V (seed {d.seed})",
             "R{x} = d/dt x(θ + tV) at t = 0, applied to each line of the forward pass, then of the backward pass",
             "", "R-forward  (against jax.jvp of the forward pass along V; R{a0} = R{X} = 0)"]

    def line(s, against):
        verdict = "pass" if s.passed else "FAIL"
        text = [f"  {s.layer:>1}  {s.equation:<{width}}  {str(s.shape):<7}  max |manual − {against}| = "
                f"{s.max_abs:.2g} (rel {s.max_rel:.2g}) {verdict}"]
        return text + ([f"         {s.note}"] if s.note else [])

    lines += [text for s in d.forward for text in line(s, "jax.jvp")]
    lines += ["", "R-backward  (against jax.jvp of jax.grad: of L with respect to z and a, and to the parameters)"]
    lines += [text for s in d.backward for text in line(s, "jax")]
    steps = d.forward + d.backward
    p = d.product
    lines += ["", f"H·V = [(R{{dW_l}}, R{{db_l}}), ...]; {p.equation}: max abs error {p.max_abs:.2g} "
                  f"(rel {p.max_rel:.2g}) {'pass' if p.passed else 'FAIL'}",
              f"Tolerance |manual − jax| ≤ {RTOL:g}·|jax| + {RTOL:g}·max|jax| + {ATOL:g}·max(1, max|H·V|): "
              f"{sum(s.passed for s in steps)}/{len(steps)} steps pass",
              "PASS" if d.passed else "FAIL"]
    return "\n".join(lines)
