"""The embedded demo controller that `profkit demo` captures (no cluster needed)."""
