"""The checking engine, at the bottom of `dualgrad` (it imports nothing else of dualgrad's): cases,
the one comparison, the properties, the checks of networks, layers and users' code, and the diagnosis.

- `compare`: the one tolerance and comparison every check uses; `result`: `CheckResult`.
- `cases`, `strategies`: random networks, batches and labels; `properties`: the network property.
- `check` (`check_gradients`) and `report`: one network against jax.grad, leaf by leaf.
- `user_check` (`check_implementation`), `implementation`, `conventions`, `diagnose`: a user's own backprop.
- `layer_check` (`check_layer`), `layer_cases`: one layer (NumPy, a torch Function or a custom_vjp)
  against autodiff of a reference; `jax_adapter`, `torch_adapter` (the only module importing torch,
  lazily): the two frameworks' sides; `precision`: float32 / float16 / bfloat16 judged fairly.
- `conv_properties`, `conv_stacks`: convolution and pooling, alone and in random stacks.
- `registry`, `losses_extra`: users' activations, losses and layers on both sides.
"""
