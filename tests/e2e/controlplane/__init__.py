"""End-to-end control plane: Go wrapper modules, binary build and the Python harness."""
