"""The article's three-blob snippet, its class definition replaced by an import."""

import numpy as np
from manual import MultiClassNN

# ---- Test: 3-class classification ----
np.random.seed(42)
X = np.vstack([
    np.random.randn(50, 2) + [0, 0],
    np.random.randn(50, 2) + [3, 3],
    np.random.randn(50, 2) + [6, 0]
])
y = np.array([0]*50 + [1]*50 + [2]*50, dtype=float)

nn = MultiClassNN(layer_sizes=[2, 32, 3], learning_rate=0.05)
nn.fit(X, y, epochs=1000)
preds = nn.predict(X)
print(f"Accuracy: {np.mean(preds == y):.2%}")
