"""The IG as a FHIR NPM package (profiles/package.py).

See: https://hl7.org/fhir/R4B/packages.html
"""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from functools import cache

import pytest
from fhir.resources.R4B import get_fhir_model_class

from profiles import ig
from profiles.package import PACKAGE_NAME, build_package, project_version
from terminology import registry

AMPARO = "https://fhir.amparo.cl/"


@cache
def built() -> bytes:
    out = io.BytesIO()
    build_package(out)
    return out.getvalue()


@cache
def members() -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(built()), mode="r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers()}


def read(path: str) -> dict:
    return json.loads(members()[path])


def resource_files(folder: str = "package/") -> dict[str, dict]:
    return {path: read(path) for path in members()
            if path.rsplit("/", 1)[0] + "/" == folder and path.endswith(".json")
            and not path.endswith(("/.index.json", "/package.json"))}


def test_every_entry_is_a_regular_file_under_package():
    with tarfile.open(fileobj=io.BytesIO(built()), mode="r:gz") as tar:
        entries = tar.getmembers()
    assert entries and all(m.isfile() for m in entries)
    assert all(m.name.startswith("package/") and ".." not in m.name for m in entries)
    assert {m.name.count("/") for m in entries} == {1, 2}  # package/ and package/example/
    assert [m.name for m in entries] == sorted(m.name for m in entries)


def test_package_json_names_the_package_its_fhir_version_and_dependency():
    manifest = read("package/package.json")
    assert manifest["name"] == PACKAGE_NAME
    assert manifest["version"] == project_version() == "0.1.0"
    assert manifest["fhirVersions"] == ["4.3.0"]
    assert manifest["dependencies"] == {"hl7.fhir.r4b.core": "4.3.0"}
    assert manifest["canonical"] == "https://fhir.amparo.cl"
    assert manifest["license"] == "Apache-2.0"
    assert manifest["author"] and manifest["description"] and manifest["type"] == "IG"


def test_a_version_given_is_the_package_and_guide_version():
    out = io.BytesIO()
    summary = build_package(out, version="9.9.9")
    with tarfile.open(fileobj=io.BytesIO(out.getvalue()), mode="r:gz") as tar:
        manifest = json.load(tar.extractfile("package/package.json"))
        guide = json.load(tar.extractfile(f"package/ImplementationGuide-{PACKAGE_NAME}.json"))
    assert summary.version == manifest["version"] == guide["version"] == "9.9.9"


@pytest.mark.parametrize("folder", ["package/", "package/example/"])
def test_the_index_lists_every_resource_file_of_its_folder_with_its_keys(folder):
    index = read(folder + ".index.json")
    assert index["index-version"] == 2
    files = resource_files(folder)
    assert [e["filename"] for e in index["files"]] == sorted(p.rsplit("/", 1)[1] for p in files)
    for entry in index["files"]:
        resource = files[folder + entry["filename"]]
        assert entry["filename"] == f"{resource['resourceType']}-{resource['id']}.json"
        assert entry["resourceType"] == resource["resourceType"]
        assert entry["id"] == resource["id"]
        for key in ("url", "version", "kind", "type", "supplements", "content"):
            assert entry.get(key) == (resource[key] if isinstance(resource.get(key), str)
                                      else None), (entry["filename"], key)


def test_every_resource_file_parses_as_fhir_r4b():
    failures = []
    for path, resource in {**resource_files(), **resource_files("package/example/")}.items():
        try:
            get_fhir_model_class(resource["resourceType"]).model_validate(resource)
        except ValueError as exc:  # pydantic's ValidationError
            failures.append(f"{path}: {exc}")
    assert not failures


def test_our_definitions_search_parameters_and_terminology_are_all_in():
    files = resource_files()
    urls = {(r["resourceType"], r.get("url")) for r in files.values()}
    for sd in ig.structure_definitions():
        assert ("StructureDefinition", sd["url"]) in urls
    for sp in ig.search_parameters():
        assert ("SearchParameter", sp["url"]) in urls
    for type in registry.TYPES:
        for held in registry.all_of(type):
            if held["url"].startswith(AMPARO):
                assert (type, held["url"]) in urls


def test_national_definitions_are_in_and_those_of_r4b_core_are_not():
    urls = {r.get("url") for r in resource_files().values()}
    for sd in ig.external_definitions():  # CL Core's in; FHIR core's in hl7.fhir.r4b.core
        assert (sd["url"] in urls) != sd["url"].startswith("http://hl7.org/fhir/"), sd["url"]
    for id in ("CSCodComunasCL", "CodPais", "CSCodigoDNI", "eis-PueblosIndigenasOriginarios-CS"):
        assert registry.get("CodeSystem", id)["url"] in urls
    assert "http://hl7.org/fhir/ValueSet/yesnodontknow" not in urls


def test_every_value_set_bound_by_our_profiles_resolves_in_the_package_or_r4b_core():
    urls = {r.get("url") for r in resource_files().values()}
    for sd in ig.structure_definitions():
        for element in sd["differential"]["element"]:
            bound = element.get("binding", {}).get("valueSet", "").split("|")[0]
            if bound:
                assert bound in urls or bound.startswith("http://hl7.org/fhir/"), bound


def test_the_implementation_guide_lists_every_resource_and_example():
    guide = read(f"package/ImplementationGuide-{PACKAGE_NAME}.json")
    assert guide["packageId"] == PACKAGE_NAME and guide["fhirVersion"] == ["4.3.0"]
    listed = {e["reference"]["reference"]: e for e in guide["definition"]["resource"]}
    for folder in ("package/", "package/example/"):
        for resource in resource_files(folder).values():
            if resource["resourceType"] != "ImplementationGuide":
                assert f"{resource['resourceType']}/{resource['id']}" in listed
    examples = [e for e in listed.values() if "exampleCanonical" in e]
    assert len(examples) == len(resource_files("package/example/"))


def test_only_the_valid_examples_are_shipped_with_their_profile():
    shipped = resource_files("package/example/")
    valid = [r for _, r, ok in ig.examples() if ok]
    assert sorted(shipped) == sorted(f"package/example/{r['resourceType']}-{r['id']}.json"
                                     for r in valid)
    profiled = {p for r in shipped.values() for p in r["meta"]["profile"]}
    assert profiled == {sd["url"] for sd in ig.structure_definitions()
                        if sd["type"] != "Extension"}


def test_two_builds_are_byte_identical_and_carry_no_time():
    again = io.BytesIO()
    build_package(again)
    assert again.getvalue() == built()
    assert gzip.decompress(built())  # a plain gzip stream
    assert built()[4:8] == b"\0\0\0\0"  # gzip MTIME unset
    with tarfile.open(fileobj=io.BytesIO(built()), mode="r:gz") as tar:
        assert {(m.mtime, m.uid, m.gid, m.uname, m.gname) for m in tar.getmembers()} == {
            (499162500, 0, 0, "", "")}


def test_build_package_writes_a_file_and_summarises_it(tmp_path):
    target = tmp_path / "package.tgz"
    summary = build_package(target)
    assert target.read_bytes() == built()
    assert summary.size == len(built())
    assert summary.examples == len(resource_files("package/example/"))
    assert sum(summary.resources.values()) == len(resource_files())
    assert summary.resources["StructureDefinition"] == len(
        [p for p in resource_files() if "/StructureDefinition-" in p])
