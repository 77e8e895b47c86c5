import torch

from dualgrad import check_layer
from torch_layernorm import LAYER, LayerNorm, layer_norm


class LayerNormFixed(LayerNorm):
    @staticmethod
    def backward(ctx, dout):
        x_hat, std, gamma = ctx.saved_tensors
        dx_hat = dout * gamma
        dx = (dx_hat - dx_hat.mean(-1, keepdim=True)
              - x_hat * (dx_hat * x_hat).mean(-1, keepdim=True)) / std  # the variance path
        return dx, (dout * x_hat).sum(0), dout.sum(0), None


fixed = check_layer(LayerNormFixed, reference=layer_norm, examples=300, seed=0, dtype="float32", **LAYER)
print("fixed, float32:", fixed)
wrong = check_layer(LayerNorm, reference=layer_norm, examples=200, seed=0, dtype="float32", **LAYER)
print("wrong, float32:", wrong.message)

x = torch.randn(4, 8, dtype=torch.float32, requires_grad=True)
gamma = torch.randn(8, dtype=torch.float32, requires_grad=True)
beta = torch.randn(8, dtype=torch.float32, requires_grad=True)
print("gradcheck, float32:", torch.autograd.gradcheck(LayerNormFixed.apply, (x, gamma, beta, 1e-5),
                                                      raise_exception=False))
