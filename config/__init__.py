import os

# OpenBLAS (numpy, scipy) starts a thread per core for every matrix product: on a shared 2-core host the
# forecasts' small products run ~50x slower contended than on one thread. Set before numpy is imported.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

# The Celery app is loaded with Django so that @shared_task uses it.
from config.celery import app as celery_app

__all__ = ("celery_app",)
