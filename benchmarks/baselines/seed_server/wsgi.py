"""WSGI entry point for the seed server, as in AWS scikit_bring_your_own's ``wsgi.py``.

Start it (nginx from the AWS example is omitted)::

    SEED_MODEL_DIR=/path/to/model gunicorn --workers N --worker-class sync \
        --bind 127.0.0.1:PORT benchmarks.baselines.seed_server.wsgi:app
"""

from benchmarks.baselines.seed_server.predictor import app

__all__ = ["app"]
