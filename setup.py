"""Package list for setuptools: the core as `syncd`, the `plugins/` folder as `syncd_plugins`."""

from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["syncd", "syncd.*"])
    + ["syncd_plugins"]
    + [f"syncd_plugins.{name}" for name in find_packages("plugins")],
    package_dir={"syncd_plugins": "plugins"},
)
