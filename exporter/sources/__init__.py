"""Where lines come from: whole files (replay), followed files (watch), a wrapped command (run)."""
