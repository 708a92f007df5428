"""A flow calling three trivial tasks; timed as a whole process.

Usage: python flow3.py {runnel|prefect|plain}
"""

import sys

from common import decorators

flow, task = decorators(sys.argv[1])


@task
def extract():
    return [1, 2, 3]


@task
def transform(rows):
    return [row * 2 for row in rows]


@task
def load(rows):
    return sum(rows)


@flow
def etl():
    return load(transform(extract()))


if __name__ == "__main__":
    assert etl() == 12
