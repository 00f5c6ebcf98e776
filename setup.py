"""The sentiment model's C kernel; everything else about the package is in setup.cfg.

Without a working C compiler the install still succeeds, without the kernel, and one text
takes the numpy path (``mlapi.sentiment.compiled``).
"""
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


class BuildExtOrWarn(build_ext):
    """``build_ext`` that warns instead of failing, and leaves what it could not build out of the install.

    (setuptools' ``optional`` lets neither a compiler that exits non-zero nor an editable install through.)
    """

    def build_extensions(self) -> None:
        self.unbuilt: list[Extension] = []
        super().build_extensions()
        self.extensions = [ext for ext in self.extensions if ext not in self.unbuilt]  # before they are copied

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        except Exception as error:  # noqa: BLE001 - no compiler, or one that fails: install without the kernel
            self.warn(f"{ext.name} was not built ({error}); one text takes the slower numpy path")
            self.unbuilt.append(ext)


KERNEL = Extension("mlapi.sentiment._kernel", ["src/mlapi/sentiment/_kernel.pyx"])

setup(ext_modules=cythonize([KERNEL]), cmdclass={"build_ext": BuildExtOrWarn})
