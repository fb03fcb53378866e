"""Training harness (Lightning), configuration presets and safetensors checkpoints."""
