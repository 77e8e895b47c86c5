"""Explanation: a derivation printed with shapes and measured errors (`network`: an MLP's backward,
step by step; `stack`: a stack of layers; `sequence`: an RNN or LSTM through
time, carry by carry; `attention`: scaled dot-product attention node by node), and its picture (`graph_plot`). Above the engine."""

from .network import derivation as derivation
from .network import explain_result as explain_result
from .network import formula as formula
from .network import head_derivation as head_derivation
from .sequence import derive_sequence as derive_sequence
from .sequence import explain_sequence as explain_sequence
from .attention import derive_attention as derive_attention
from .attention import explain_attention as explain_attention
