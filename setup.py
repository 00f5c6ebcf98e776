"""The sentiment model's C kernel; everything else about the package is in setup.cfg.

``optional``: without a C compiler the install still succeeds, and one text takes the
numpy path (``mlapi.sentiment.compiled``).
"""
from Cython.Build import cythonize
from setuptools import Extension, setup

KERNEL = Extension("mlapi.sentiment._kernel", ["src/mlapi/sentiment/_kernel.pyx"], optional=True)

setup(ext_modules=cythonize([KERNEL]))
