"""Helpers the tests share: servers they start, stand-ins for AWS, the ``bigmart`` command.

Not tests themselves: pytest collects nothing here. Import them as ``support.<module>``
(pyproject puts ``tests/`` on the path).
"""
