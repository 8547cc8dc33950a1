"""localbrms: a small, real HTTP service that speaks the GoRules BRMS wire format.

It exists because the real GoRules BRMS cannot run here; the demo and the tests run
``pulumi up`` against this server exactly as they would against GoRules.
See ``localbrms/README.md`` for commands, routes and what is faithful vs. inferred.
"""

__version__ = "0.1.0"
