"""Settings modules: base, local (the embedded default), production, test."""
