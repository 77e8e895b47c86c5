"""The article's activation snippet, its class definition replaced by an import."""

import numpy as np
from manual import Activations

# Test each activation
z = np.array([[-2.0, -1.0, 0.0, 1.0, 2.0]])
print(f"Sigmoid: {Activations.sigmoid(z)}")
print(f"ReLU:    {Activations.relu(z)}")
print(f"Tanh:    {Activations.tanh(z)}")
print(f"Softmax: {Activations.softmax(z)}")
