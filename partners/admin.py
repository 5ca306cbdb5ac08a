# Dispatch admin (issue 4) lives in its own module.
from partners import dispatch_admin  # noqa: F401
