"""The article's XOR snippet, its class definition replaced by an import."""

import numpy as np
from manual import NeuralNetwork

# ---- Test: Learn XOR (the classic neural network test) ----
X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
y = np.array([0, 1, 1, 0], dtype=float)  # XOR

# XOR is not linearly separable - needs a hidden layer!
nn = NeuralNetwork(
    layer_sizes=[2, 8, 1],  # 2 inputs, 8 hidden neurons, 1 output
    learning_rate=0.5,
    momentum=0.9
)
nn.fit(X, y, epochs=2000, verbose=True)

predictions = nn.predict(X)
print(f"\nPredictions: {predictions}")
print(f"Actual:      {y.astype(int)}")
print(f"Accuracy:    {np.mean(predictions == y):.0%}")
