"""The book's version is stated once in meaning, three times in files, and they agree; the citation is valid."""

import json
import tomllib
from pathlib import Path

import jsonschema
import yaml

import actbook
from actbook.runner import provenance

ROOT = Path(__file__).resolve().parent.parent


def test_citation_file_is_valid_cff_1_2_0():
    schema = json.loads((ROOT / "tests" / "data" / "citation-cff-1.2.0.schema.json").read_text())
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    jsonschema.validate(citation, schema)
    with __import__("pytest").raises(jsonschema.ValidationError):  # the schema is strict enough to catch a typo
        jsonschema.validate({**citation, "titel": "x"}, schema)


def test_one_version_everywhere_and_in_every_result():
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert actbook.__version__ == version
    assert yaml.safe_load((ROOT / "CITATION.cff").read_text())["version"] == version
    assert provenance.package_versions()["actbook"] == version
    assert f"## {version.removesuffix('.dev0')}" in (ROOT / "CHANGELOG.md").read_text()
