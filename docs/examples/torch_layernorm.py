import torch

from dualgrad import check_layer


class LayerNorm(torch.autograd.Function):
    """out = γ ⊙ (x − μ)/√(σ² + ε) + β over the last axis; a hand-written backward."""

    @staticmethod
    def forward(ctx, x, gamma, beta, eps):
        mu = x.mean(-1, keepdim=True)
        std = torch.sqrt(((x - mu) ** 2).mean(-1, keepdim=True) + eps)
        x_hat = (x - mu) / std
        ctx.save_for_backward(x_hat, std, gamma)
        return gamma * x_hat + beta

    @staticmethod
    def backward(ctx, dout):
        x_hat, std, gamma = ctx.saved_tensors
        dx_hat = dout * gamma
        dx = (dx_hat - dx_hat.mean(-1, keepdim=True)) / std  # the variance path forgotten
        return dx, (dout * x_hat).sum(0), dout.sum(0), None


def layer_norm(x, gamma, beta, eps):
    return torch.nn.functional.layer_norm(x, x.shape[-1:], gamma, beta, eps)


LAYER = dict(shapes={"x": ("N", "D")}, params={"gamma": ("D",), "beta": ("D",)},
             dims={"N": (1, 4), "D": [1, 2, 3, 8]}, hyper={"eps": [1e-5, 1e-3]})

if __name__ == "__main__":
    result = check_layer(LayerNorm, reference=layer_norm, examples=200, seed=0, **LAYER)
    print(result.message)
