"""The tests mirror the package: the test of ``src/bigmart/<pkg>/<module>.py`` is
``tests/<pkg>/test_<module>.py``, of a top-level ``src/bigmart/<module>.py`` it is
``tests/test_<module>.py``. End-to-end tests of the SageMaker contract (a real ``train``,
a real ``serve`` on a socket, the image with an engine, the SDK example) are in
``tests/contract/``; helpers the tests share are in ``tests/support/`` (imported as
``support.<module>``), fixtures in the ``conftest.py`` of the folder that uses them.
"""
