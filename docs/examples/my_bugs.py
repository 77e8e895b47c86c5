# docs/examples/my_bugs.py: three classic mistakes, one method each
import numpy as np

from my_net import Activations, NeuralNetwork, loss_and_grads


class MissingOneOverN(NeuralNetwork):
    def layer_gradients(self, i, delta, n):
        dW = (1 / n) * (self.activations[i].T @ delta)
        db = np.sum(delta, axis=0, keepdims=True)  # BUG: the 1/n is missing
        return dW, db


class SigmoidPrimeOfZ(NeuralNetwork):
    def hidden_derivative(self, i):
        return Activations.sigmoid_derivative(self.z_values[i])  # BUG: σ'(z) needs a = σ(z), not z


class TransposedDW(NeuralNetwork):
    def layer_gradients(self, i, delta, n):
        dW = (1 / n) * (delta.T @ self.activations[i])  # BUG: δᵀ a is dW's transpose
        db = (1 / n) * np.sum(delta, axis=0, keepdims=True)
        return dW, db


def missing_one_over_n(params, X, y):
    return loss_and_grads(params, X, y, network=MissingOneOverN)


def sigmoid_prime_of_z(params, X, y):
    return loss_and_grads(params, X, y, network=SigmoidPrimeOfZ, hidden="sigmoid")


def transposed_dw(params, X, y):
    return loss_and_grads(params, X, y, network=TransposedDW)


def sigmoid_hidden(params, X, y):
    return loss_and_grads(params, X, y, hidden="sigmoid")
