# docs/examples/my_net.py: the article's network, written the article's way
import numpy as np


class Activations:
    @staticmethod
    def sigmoid(z):
        return 1.0 / (1.0 + np.exp(-z))

    @staticmethod
    def sigmoid_derivative(a):  # takes the activation a = σ(z)
        return a * (1 - a)

    @staticmethod
    def relu(z):
        return np.maximum(0, z)

    @staticmethod
    def relu_derivative(z):
        return (z > 0).astype(float)


class NeuralNetwork:
    """Hidden layers relu (or sigmoid), a sigmoid output, binary cross-entropy.
    weights[i]: (fan_in, fan_out), biases[i]: (1, fan_out)."""

    def __init__(self, weights, biases, hidden="relu"):
        self.weights, self.biases, self.hidden = weights, biases, hidden

    def forward(self, X):
        self.activations, self.z_values = [X], []
        current = X
        for i, (W, b) in enumerate(zip(self.weights, self.biases)):
            z = current @ W + b
            self.z_values.append(z)
            last = i == len(self.weights) - 1
            if last or self.hidden == "sigmoid":
                current = Activations.sigmoid(z)
            else:
                current = Activations.relu(z)
            self.activations.append(current)
        return current

    def loss(self, y):
        p = self.activations[-1][:, 0]
        return -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))

    def hidden_derivative(self, i):  # f'(z) of hidden layer i
        if self.hidden == "relu":
            return Activations.relu_derivative(self.z_values[i])
        return Activations.sigmoid_derivative(self.activations[i + 1])

    def layer_gradients(self, i, delta, n):  # dW, db of layer i
        dW = (1 / n) * (self.activations[i].T @ delta)
        db = (1 / n) * np.sum(delta, axis=0, keepdims=True)
        return dW, db

    def backward(self, X, y):
        n = X.shape[0]
        delta = self.activations[-1] - y.reshape(-1, 1)  # σ and the log cancel
        gradients_w, gradients_b = [], []
        for i in range(len(self.weights) - 1, -1, -1):
            dW, db = self.layer_gradients(i, delta, n)
            gradients_w.insert(0, dW)
            gradients_b.insert(0, db)
            if i > 0:
                delta = (delta @ self.weights[i].T) * self.hidden_derivative(i - 1)
        return gradients_w, gradients_b


def loss_and_grads(params, X, y, network=NeuralNetwork, hidden="relu"):
    net = network([W for W, _ in params], [b for _, b in params], hidden)
    net.forward(X)
    return net.loss(y), net.backward(X, y)
