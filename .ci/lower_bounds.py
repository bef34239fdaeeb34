"""Print pip constraints pinning every declared dependency to its floor (">=X" -> "==X"),
so CI can test the lower bounds pyproject.toml promises."""

import re
import sys
import tomllib

with open(sys.argv[1] if len(sys.argv) > 1 else "pyproject.toml", "rb") as file:
    project = tomllib.load(file)["project"]
for requirement in project["dependencies"]:
    match = re.fullmatch(r"([A-Za-z0-9_.-]+)\s*>=\s*([^,;\s]+)", requirement)
    if match:
        print(f"{match[1]}=={match[2]}")
