"""The chaos harness (`make chaos`): faults injected into a real stack, checked against an oracle."""
