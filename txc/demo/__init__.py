"""`txc demo`: starts a coordinator and the example participants of the ``demo`` package, runs the callers."""
