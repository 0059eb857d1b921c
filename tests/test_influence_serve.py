"""The explorer's training-sentences endpoint (POST /api/training-sentences) through Starlette's
test client on the tiny run: its answers equal the Python API's, its refusals are JSON 4xx."""
import json
import warnings

import pytest

from textdeconv.serve.app import create_app
from textdeconv.serve.explorer import Explorer

with warnings.catch_warnings():  # as test_serve.py: Starlette asks for a fork not on the mirror here
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient


@pytest.fixture(scope="module")
def explorer(tiny_run):
    return Explorer.open([tiny_run], warm=False)


@pytest.fixture(scope="module")
def client(explorer):
    return TestClient(create_app(explorer), base_url="http://127.0.0.1", raise_server_exceptions=False)


def post(client, body):
    return client.post("/api/training-sentences", content=json.dumps(body),
                       headers={"content-type": "application/json"})


def test_nearest_training_sentences_equal_the_api(client, explorer):
    r = post(client, {"text": "a gripping , funny movie", "mode": "similar", "k": 3})
    assert r.status_code == 200, r.text
    got = r.json()
    want = explorer.runs[0].run.similar(["a gripping , funny movie"], k=3).records()[0]
    assert got["mode"] == "similar" and got["settings"]["similarity"] == "cosine"
    assert got["neighbours"] == want["neighbours"]
    first = got["neighbours"][0]  # the sentence is a training sentence: itself, cosine 1
    assert first["train_text"] == "a gripping , funny movie" and first["similarity"] == pytest.approx(1.0, abs=1e-12)
    assert sum(f["share"] for f in first["shared_filters"]) <= first["similarity"] + 1e-12


def test_tracin_without_kept_checkpoints_says_it_used_the_final_model(client, explorer):
    r = post(client, {"text": ["great", "fun"], "mode": "tracin", "k": 2, "target": "negative"})
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["settings"]["checkpoints"] == "final" and got["target"] == "negative"
    want = explorer.runs[0].run.influence([["great", "fun"]], k=2, target="negative", checkpoints="final").records()[0]
    assert (got["proponents"], got["opponents"]) == (want["proponents"], want["opponents"])
    assert got["proponents"] or got["opponents"]


@pytest.mark.parametrize("body, status, fragment", [
    ({"text": "great fun", "mode": "shap"}, 400, "'mode' must be 'similar' or 'tracin', got 'shap'"),
    ({"text": "great fun", "k": 0}, 400, "'k' must be between 1 and 50, got 0"),
    ({"text": "great fun", "top": 3}, 400, "unknown field(s) 'top'"),
    ({"text": 3}, 400, "sentence 1 must be a string or a list of token strings"),
    ({"text": "great fun", "target": "neutral"}, 400, "unknown target class 'neutral'"),
    ({"text": "great fun", "run": 4}, 404, "unknown run 4"),
])
def test_refusals_are_json_errors(client, body, status, fragment):
    r = post(client, body)
    assert r.status_code == status and fragment in r.json()["error"], r.text
