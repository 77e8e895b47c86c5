"""Explanation: a derivation printed with shapes and measured errors (`network`: an MLP's backward,
step by step; `stack`: a stack of layers), and its picture (`graph_plot`). Above the engine."""

from .network import derivation as derivation
from .network import explain_result as explain_result
from .network import formula as formula
from .network import head_derivation as head_derivation
