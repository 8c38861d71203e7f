from parjob import hookimpl  # noqa
