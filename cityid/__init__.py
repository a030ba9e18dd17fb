"""The application on top of every part: the ``cityid`` command (a sub-command group per role)
and the demos that run the whole system. Nothing imports this package."""
