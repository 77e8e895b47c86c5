"""Train a character-level language model by hand on docs/examples/tiny_text.txt and sample from it.

    python docs/examples/char_lm.py                      # the RNN, 1000 steps (~20 s on one core)
    python docs/examples/char_lm.py --model lstm
    python docs/examples/char_lm.py --model transformer  # one block, 400 steps
    python docs/examples/char_lm.py --compare 0          # skip the JAX twin (no jax import)

Every gradient comes from manual.layers' hand-written backwards; the optimizer is
manual.optimizers.adam. First the same model in JAX (reference.*, jax.grad, optax's adam) takes
the first --compare steps from the same initial parameters on the same batches: the two loss
columns agree to rounding. Then training runs on, printing the mean loss (nats per character, each
batch's loss before its update) of every --every steps beside the bigram baseline: the
cross-entropy of the best bigram model of the text, on the text itself.

NOTE: a 4 KB text is learnt by heart long before 1000 steps: the loss below the bigram baseline
shows the model uses more than one character of context, not that it generalises.
"""

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from manual import char_model, optimizers, transformer  # noqa: E402

TEXT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tiny_text.txt")
CONFIGS = {  # width, steps, learning rate, batch size, sequence length
    "rnn": dict(width=64, steps=1000, lr=1e-2, batch=32, seq_len=32),
    "lstm": dict(width=64, steps=1000, lr=1e-2, batch=32, seq_len=32),
    "transformer": dict(width=32, steps=400, lr=5e-3, batch=16, seq_len=32),
}
EMBED = 16  # the RNN's and LSTM's embedding width D
HEADS = 2


def model(name, V, width, seq_len, seed):
    """(initial params, manual loss_and_grads, reference loss_and_grads (lazy), pairs, sampler)."""
    if name == "transformer":
        params = transformer.init_params(V, width, seq_len, HEADS, seed=seed)

        def ref(p, x, y):
            from reference import transformer as rt
            return rt.loss_and_grads(p, x, y, HEADS)

        return (params, lambda p, x, y: transformer.loss_and_grads(p, x, y, HEADS), ref, transformer.PAIRS,
                lambda p, start, n, chars, seed: transformer.sample(p, start, n, chars, HEADS, seed, 0.8))
    params = char_model.init_params(V, EMBED, width, name, seed=seed)

    def ref(p, x, y):
        from reference import char_model as rc
        return rc.loss_and_grads(p, x, y, name)

    return (params, lambda p, x, y: char_model.loss_and_grads(p, x, y, name), ref, char_model.PAIRS,
            lambda p, start, n, chars, seed: char_model.sample(p, start, n, name, chars, seed, 0.8))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", choices=sorted(CONFIGS), default="rnn")
    ap.add_argument("--steps", type=int, help="training steps (default: the model's)")
    ap.add_argument("--every", type=int, default=100, help="print the mean loss of every EVERY steps")
    ap.add_argument("--compare", type=int, default=5, help="steps run by the JAX twin beside (0: none)")
    ap.add_argument("--sample", type=int, default=300, help="characters to sample after training")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    cfg = dict(CONFIGS[args.model])
    steps = args.steps or cfg["steps"]

    with open(TEXT, encoding="utf-8") as f:
        text = f.read()
    chars = char_model.vocabulary(text)
    ids = char_model.encode(text, chars)
    V = len(chars)
    bigram = char_model.bigram_loss(ids, V)
    params, manual_fn, reference_fn, pairs, sampler = model(args.model, V, cfg["width"], cfg["seq_len"], args.seed)
    batches = char_model.batches(ids, cfg["batch"], cfg["seq_len"], steps, seed=args.seed + 1)
    print(f"{args.model}: {len(text)} characters, V = {V}, width {cfg['width']}, "
          f"batches of {cfg['batch']} x {cfg['seq_len']}, adam({cfg['lr']:g}), {steps} steps")
    print(f"bigram baseline: {bigram:.4f} nats per character")

    if args.compare:
        from reference import char_model as rc, optimizers as ro
        k = min(args.compare, steps)
        _, jax_losses = rc.train(params, batches[:k], ro.adam(cfg["lr"]), reference_fn)
        _, by_hand = char_model.train(params, batches[:k], optimizers.adam(cfg["lr"]), manual_fn, pairs)
        print("\nstep  by hand             JAX (jax.grad, optax)  relative difference")
        for i, (a, b) in enumerate(zip(by_hand, jax_losses)):
            print(f"{i:4d}  {a:.15f}  {b:.15f}      {abs(a - b) / abs(b):.1e}")

    t0 = time.perf_counter()
    trained, losses = char_model.train(params, batches, optimizers.adam(cfg["lr"]), manual_fn, pairs)
    seconds = time.perf_counter() - t0
    print(f"\nsteps      loss (mean)  bigram")
    for start in range(0, steps, args.every):
        chunk = losses[start:start + args.every]
        print(f"{start:4d}-{start + len(chunk) - 1:<4d}  {np.mean(chunk):.4f}       {bigram:.4f}")
    print(f"({seconds:.1f} s for {steps} steps by hand)")
    if args.sample:
        print("\nsample (temperature 0.8):\n" + sampler(trained, "the ", args.sample, chars, args.seed))


if __name__ == "__main__":
    main()
