"""The sandbox where registered artifacts are loaded and run: never in a web or worker process (runner.py)."""
