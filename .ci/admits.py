"""Exit 0 when pyproject.toml's requires-python admits the Python version given (e.g. 3.12)."""

import sys
import tomllib

from packaging.specifiers import SpecifierSet

with open("pyproject.toml", "rb") as file:
    requires = tomllib.load(file)["project"]["requires-python"]
sys.exit(0 if SpecifierSet(requires).contains(f"{sys.argv[1]}.0") else 1)
