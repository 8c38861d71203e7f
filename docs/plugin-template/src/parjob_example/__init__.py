"""parjob-example: a template parjob backend plugin (the ``example`` backend)."""

from parjob_example.backend import ExampleBackend

__all__ = ["ExampleBackend"]
