"""`make run`'s closing paragraph says what the run showed and which figure to open; the licence
declared in setup.cfg is the LICENSE file's, and CITATION.cff matches the package."""
from __future__ import annotations

import configparser
import runpy
from pathlib import Path

import yaml
from click.testing import CliRunner

import gridlstm
from gridlstm.cli.main import cli

ROOT = Path(__file__).resolve().parents[1]


def test_the_closing_paragraph(tmp_path):
    small = ["task.length=6", "model.hidden=4", "train.steps=4", "train.eval_every=2", "train.eval_batches=1",
             "train.batch_size=4"]
    train = CliRunner().invoke(cli, ["train", "adding_lstm", *small, "--out", str(tmp_path)])
    run = Path(train.stdout.strip().splitlines()[-1])
    assert CliRunner().invoke(cli, ["gradcheck", str(run)]).exit_code == 0
    summary = yaml.safe_load((run / "summary.json").read_text())
    text = runpy.run_path(str(ROOT / "scripts" / "closing.py"))["paragraph"](run)
    assert "\n" not in text
    assert text.startswith(f"The lstm (H=4, D={summary['layers']}) on adding T=6 ")
    assert ("solved the task at step" if summary["solved"] else "did not solve the task in 4 steps") in text
    assert "keeps its gradient best" in text and f"Open {run / 'plots' / 'gradients.png'}" in text


def test_the_declared_licence_is_the_license_file():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    assert cfg["metadata"]["license"] == "MIT" and cfg["metadata"]["license_files"].strip() == "LICENSE"
    assert (ROOT / "LICENSE").read_text().splitlines()[0] == "MIT License"
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert citation["license"] == "MIT" and citation["version"] == gridlstm.__version__
    assert citation["cff-version"] == "1.2.0" and citation["title"].startswith("gridlstm")


def test_the_description_and_project_urls_say_what_the_package_is():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    meta = cfg["metadata"]
    description = meta["description"]
    assert "\n" not in description.strip() and len(description) <= 200
    assert all(k in description for k in ("RNN", "LSTM", "GRU", "Grid LSTM", "gradient"))
    urls = dict(line.split(" = ", 1) for line in meta["project_urls"].strip().splitlines())
    assert urls and all(u.startswith("https://arxiv.org/abs/") for u in urls.values())
    cited = {i["value"] for r in yaml.safe_load((ROOT / "CITATION.cff").read_text())["references"]
             for i in r["identifiers"]}
    assert {"arXiv:" + u.rsplit("/", 1)[1] for u in urls.values()} <= cited  # one list of papers
    assert all(len(label) <= 32 and "," not in label for label in urls)  # a Project-URL is "label, url"
