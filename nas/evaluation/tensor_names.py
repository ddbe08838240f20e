"""The names of an exported network's input and output tensors, shared by export and serving."""

INPUT_NAME = "image"  # float32 (N, 3, S, S) in [0, 1]
OUTPUT_NAME = "logits"  # float32 (N, C, S, S)
