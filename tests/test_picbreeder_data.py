"""The shipped Picbreeder networks: byte-identical to the independent copy in ../shared/data/picbreeder, every name
loads wherever a genome path is taken, and the study reads them by default."""
import hashlib
import json

import pytest

from fracturelab.cli import main
from fracturelab.cppn import picbreeder
from fracturelab.cppn.nets import load_cppn
from fracturelab.errors import FracturelabError
from fracturelab.study.spec import parse_spec, profile


def _files(root):
    return {p.relative_to(root).as_posix(): p for p in root.rglob("*") if p.is_file()}


def test_shipped_copy_is_byte_identical_to_the_shared_data(picbreeder_dir):
    shared, shipped = _files(picbreeder_dir), _files(picbreeder.ROOT)
    assert len(shared) == 45  # 16 CPPN-X genomes + LICENSE, 3 zips, 6 net folders (24 files), README.md
    assert set(shipped) - set(shared) == set(picbreeder.EXTRA_FILES)  # only attribution and FER's license added
    assert set(shared) <= set(shipped)
    for rel, p in shared.items():
        assert shipped[rel].read_bytes() == p.read_bytes(), rel


def test_licenses_and_attribution_are_shipped():
    notice = (picbreeder.ROOT / "NOTICE").read_text()
    assert "Evolving-AI-Lab/cppnx" in notice and "akarshkumar0101/fer" in notice
    assert "MIT License" in (picbreeder.ROOT / "cppnx" / "LICENSE").read_text()
    apache = (picbreeder.ROOT / "fer" / "LICENSE").read_text()
    assert "Apache License" in apache and "Version 2.0, January 2004" in apache
    # the Apache-2.0 text is the canonical one (Debian's common-licenses copy, sha256 of the 11,358 bytes)
    assert hashlib.sha256(apache.encode()).hexdigest() == \
        "cfc7749b96f63bd31c3c42b5c471bf756814053e847c10f3eb003417bc523d30"


def test_names_cover_fer_and_every_cppnx_genome():
    names = picbreeder.names()
    stems = sorted(p.stem for p in (picbreeder.ROOT / "cppnx").glob("*.xml"))
    assert len(stems) == 16 and set(stems) <= set(names)
    assert names[:3] == ["skull", "butterfly", "apple"]
    assert {"picbreeder_skull", "sgd_skull", "sgd_apple"} <= set(names)
    assert len(names) == len(set(names)) == 3 + 6 + 16
    assert picbreeder.resolve("skull") == picbreeder.ROOT / "fer" / "genomes" / "skull.zip"
    assert picbreeder.resolve("nope") is None
    assert picbreeder.name_of("fer/genomes/apple.zip") == "apple" and picbreeder.name_of("x/y.zip") is None


@pytest.mark.parametrize("name", ["skull", "sgd_butterfly", "576_Skull"])
def test_names_load_like_their_paths(name):
    by_name, by_path = load_cppn(name), load_cppn(picbreeder.resolve(name))
    assert str(by_name.arch) == str(by_path.arch) and (by_name.params == by_path.params).all()
    assert by_name.name == by_path.name


def test_every_shipped_name_loads():
    for n in picbreeder.names():
        assert load_cppn(n).arch.n_params > 0, n


def test_existing_path_wins_over_a_name_and_unknown_names_say_so(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "skull").mkdir()  # a local folder named like a shipped net: the path is what the user meant
    with pytest.raises(FracturelabError, match="not a net folder"):
        load_cppn("skull")
    with pytest.raises(FracturelabError, match="shipped Picbreeder network"):
        load_cppn("skulll")


def test_cli_takes_names_and_lists_them(tmp_path, capsys):
    assert main(["picbreeder", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed["root"] == str(picbreeder.ROOT) and len(listed["networks"]) == 25
    assert main(["render", "apple", "-o", str(tmp_path / "a.png"), "--res", "16"]) == 0
    assert (tmp_path / "a.png").is_file()
    assert main(["genome", "4547_Face", "--json"]) == 0 and '"name": "4547_Face"' in capsys.readouterr().out


def test_study_reads_the_shipped_networks_by_default(tmp_path):
    spec = profile("quick")
    refs = lambda cells: {c.reference for c in cells if hasattr(c, "reference")}
    built_in = set(spec.cppn.references)
    shipped = {picbreeder.name_of(p) for p in spec.cppn.picbreeder}
    assert "skull" in shipped and len(shipped) == len(spec.cppn.picbreeder)
    assert refs(spec.cells(available_probes=())) == built_in | shipped  # names: install-independent cell keys
    assert refs(spec.cells(False, available_probes=())) == built_in
    assert refs(spec.cells(tmp_path, available_probes=())) == built_in | {str(tmp_path / p)
                                                                          for p in spec.cppn.picbreeder}
    bad = parse_spec('[cppn]\nreferences = []\npicbreeder = ["fer/genomes/nope.zip"]\n')
    with pytest.raises(FracturelabError, match="not in the shipped Picbreeder data"):
        bad.cells(available_probes=())
