"""The article's shape-analysis snippet, its function definition replaced by an import."""

from manual import count_parameters

# Network: [10, 64, 3]
# Input X: (batch_size, 10)

# Layer 1: Input -> Hidden
# W1: (10, 64)    -> 640 parameters
# b1: (1, 64)     -> 64 parameters
# z1 = X @ W1 + b1  -> (batch_size, 64)
# a1 = relu(z1)     -> (batch_size, 64)

# Layer 2: Hidden -> Output
# W2: (64, 3)     -> 192 parameters
# b2: (1, 3)      -> 3 parameters
# z2 = a1 @ W2 + b2 -> (batch_size, 3)
# a2 = softmax(z2)  -> (batch_size, 3)

# Total parameters: 640 + 64 + 192 + 3 = 899

count_parameters([10, 64, 3])