"""The explorer's JSON API (textdeconv/serve), through Starlette's test client on the tiny run:
its answers equal the CLI's and the Python API's, its limits and errors are JSON 4xx, never a
traceback, and a client cannot name a path. The page itself is tested in test_browser.py."""
import json
import socket
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT, one_line_error

from textdeconv.serve.app import create_app
from textdeconv.serve.explorer import Explorer, Limits

with warnings.catch_warnings():  # Starlette asks for the httpx2 fork, which is not on PyPI's mirror here
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

LINES = "a gripping , funny movie\n\n  the plot is thin\r\n<b>great</b> fun\rwarm and engaging\n"


@pytest.fixture(scope="module")
def explorer(tiny_run):
    return Explorer.open([tiny_run])


@pytest.fixture(scope="module")
def client(explorer):
    return TestClient(create_app(explorer), base_url="http://127.0.0.1",
                                           raise_server_exceptions=False)


def run_of(explorer):
    return explorer.runs[0].run


def post(client, path, body):
    return client.post(path, content=json.dumps(body), headers={"content-type": "application/json"})


def test_csv_and_explain_equal_the_command_line(client, explorer, tiny_run, tmp_path):
    from textdeconv.cli import main

    src, out = tmp_path / "in.txt", tmp_path / "cli.csv"
    src.write_bytes(LINES.encode())
    with pytest.raises(SystemExit) as stop:
        main(["explain", "--run", str(tiny_run), "--input", str(src), "--csv", str(out), "--quiet", "--no-progress"])
    assert stop.value.code == 0
    r = post(client, "/api/csv", {"text": LINES})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert r.content == out.read_bytes()  # the same bytes as `textdeconv explain --csv`

    cli = pd.read_csv(out)
    sentences = [g["sentence"].iloc[0] for _, g in cli.groupby("sentence_id", sort=True)]
    res = post(client, "/api/explain", {"texts": sentences, "method": "deconv", "target": None}).json()
    api = run_of(explorer).explain(sentences)
    for e, (_, rows), ours in zip(res["explanations"], cli.groupby("sentence_id", sort=True), api):
        assert e["tokens"] == list(rows["token"].astype(str)) == ours.tokens
        assert e["scores"] == list(rows["score"]) == [float(str(x)) for x in ours.scores]
        assert e["predicted"] == rows["predicted"].iloc[0] == ours.predicted_name
        assert e["probs"][e["target"]] == pytest.approx(rows["probability"].iloc[0], abs=1e-7)


@pytest.mark.parametrize("method,target,options", [("gradient", "negative", {}), ("deconv", 1, {"saliency": "norm"}),
                                                   ("occlusion", None, {"replacement": "unk"}),
                                                   ("lrp-zplus", None, {"contrast": False})])
def test_explain_equals_the_python_api(client, explorer, method, target, options):
    texts = ["a dull , lifeless mess", ["great", "fun", "UNSEENWORD"]]
    res = post(client, "/api/explain", {"texts": texts, "method": method, "target": target, "options": options})
    assert res.status_code == 200, res.text
    ours = run_of(explorer).explain(texts, method=method, target=target, **options)
    for e, o in zip(res.json()["explanations"], ours):
        assert e["scores"] == [float(str(x)) for x in o.scores]
        assert (e["target"], e["method"], e["in_vocab"]) == (o.target_name, method, list(o.in_vocab))


def test_predict_runs_and_methods(client, explorer):
    res = post(client, "/api/predict", {"texts": ["great fun", "tedious and long"]}).json()
    frame = run_of(explorer).predict(["great fun", "tedious and long"])
    assert [p["predicted"] for p in res["predictions"]] == list(frame["predicted"])
    assert res["predictions"][0]["probs"]["positive"] == pytest.approx(frame["positive"].iloc[0], abs=1e-6)
    runs = client.get("/api/runs").json()
    assert runs["runs"][0]["classes"] == ["negative", "positive"] and runs["limits"]["max_tokens"] == 200
    methods = {m["name"]: m for m in client.get("/api/methods").json()["methods"]}
    assert methods["integrated-gradients"]["options"]["steps"]["default"] == 50 and "deconv" in methods


def test_word_filters_are_the_deconvnet_filters_covering_the_word(client, explorer):
    from textdeconv.attribution.deconv import filter_table

    tokens = ["a", "gripping", ",", "funny", "movie"]
    res = post(client, "/api/word-filters", {"text": tokens, "token": 1, "target": "positive", "top": 50}).json()
    table = filter_table(run_of(explorer).explain([tokens], target="positive")[0], run_of(explorer).net)
    live = table[table["alive"]]
    covering = live[(live["switch"] <= 1) & (1 < live["switch"] + live["width"])]
    assert {(f["width"], f["filter"]) for f in res["filters"]} == set(zip(covering["width"], covering["filter"]))
    strengths = [abs(f["contribution"]) for f in res["filters"]]
    assert strengths == sorted(strengths, reverse=True)
    for f in res["filters"]:
        assert f["switch"] <= 1 < f["switch"] + f["width"] and "gripping" in f["ngram"].split()
    assert res["total_contribution"] == pytest.approx(float(live["contribution"].sum()), abs=1e-6)


def test_word_filters_with_thresholds_are_the_prediction_view(client, explorer):
    from textdeconv.reports.filter_analysis import class_votes

    run = run_of(explorer)
    tokens = ["a", "gripping", ",", "funny", "movie"]
    plain = post(client, "/api/word-filters", {"text": tokens, "token": 1, "top": 50}).json()
    assert "fired" not in plain and "threshold" not in plain["filters"][0]  # the analysis only when asked
    votes = class_votes(run.net, run.class_names).set_index(["width", "filter"])
    for f in plain["filters"]:
        assert (f["class_vote"], f["vote"]) == (votes.loc[(f["width"], f["filter"]), "class_vote"],
                                                pytest.approx(votes.loc[(f["width"], f["filter"]), "vote"]))
    res = post(client, "/api/word-filters", {"text": tokens, "token": 1, "top": 50, "thresholds": True}).json()
    cached = explorer.runs[0].analysis
    view = run.filters(tokens)  # the Python API's prediction view: same split and settings
    assert [(f["width"], f["filter"], f["ngram"], f["pattern"], f["class_vote"]) for f in res["fired"]] == list(
        zip(view["width"], view["filter"], view["ngram"], view["pattern"], view["class_vote"]))
    assert [f["contribution"] for f in res["fired"]] == pytest.approx(list(view["contribution"]))
    assert res["fired"] and res["predicted"] == view["predicted"].iloc[0]
    table = run.filters()
    for f in res["fired"]:
        pats = table[(table["width"] == f["width"]) & (table["filter"] == f["filter"])].iloc[0]["patterns"]
        assert f["patterns"] == len(pats) and f["pattern_ngrams"] == pats[f["pattern"]]["ngrams"]
        assert f["activation"] >= f["threshold"]
        assert f["covers_token"] == (f["switch"] <= 1 < f["switch"] + f["width"])
    fired = {(f["width"], f["filter"]): f for f in res["fired"]}
    assert [(f["width"], f["filter"]) for f in res["filters"]] == [(f["width"], f["filter"]) for f in plain["filters"]]
    for f in res["filters"]:
        assert f["above_threshold"] == ((f["width"], f["filter"]) in fired)
        assert f["pattern"] == (fired[(f["width"], f["filter"])]["pattern"] if f["above_threshold"] else -1)
        assert f["above_threshold"] == (f["threshold"] is not None and f["activation"] >= f["threshold"])
    assert {(w, j) for (w, j), f in fired.items() if f["covers_token"]} == {
        (f["width"], f["filter"]) for f in res["filters"] if f["above_threshold"]}  # top=50 lists every live one
    assert res["analysis"]["min_purity"] == 0.5 and res["analysis"]["labels"] == "predicted"
    post(client, "/api/word-filters", {"text": tokens, "token": 0, "thresholds": True})
    assert explorer.runs[0].analysis is cached  # analysed once per run
    r = post(client, "/api/word-filters", {"text": tokens, "token": 1, "thresholds": "yes"})
    assert r.status_code == 400 and r.json() == {"error": "'thresholds' must be true or false"}


def test_filter_card_is_the_filter_dictionary_of_the_train_split(client, explorer):
    from textdeconv.data.splits import split_sentences
    from textdeconv.reports.filters import filter_dictionary

    run = run_of(explorer)
    width = run.net.widths[-1]
    card = client.get(f"/api/filter-card?run=0&width={width}&filter=2").json()
    cached = explorer.runs[0].dictionary
    assert client.get(f"/api/filter-card?run=0&width={width}&filter=3").status_code == 200
    assert explorer.runs[0].dictionary is cached  # computed once per run
    ids, sentences, _ = split_sentences(run.config.data, "train", run.config.vocab.clean)
    fd = filter_dictionary(run.net, run.vocab, sentences, ids)
    ng = fd.ngrams[(fd.ngrams["width"] == width) & (fd.ngrams["filter"] == 2)]
    assert [g["ngram"] for g in card["ngrams"]] == list(ng["ngram"])
    words = fd.words[(fd.words["width"] == width) & (fd.words["filter"] == 2) & (fd.words["position"] == 0)]
    assert [w["word"] for w in card["positions"][0]["words"]] == list(words["word"])
    assert len(card["positions"]) == width and card["sentences_scanned"] == len(sentences)
    assert client.get("/api/filter-card?run=0&width=9&filter=0").status_code == 404
    assert client.get(f"/api/filter-card?run=0&width={width}&filter=999").status_code == 404


def test_neighbours_by_cosine_in_the_embedding(client, explorer):
    run = run_of(explorer)
    res = client.get("/api/neighbours", params={"word": "Funny", "k": 3}).json()
    emb = run.net.tables[0].embeddings.numpy().astype(np.float64)
    unit = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    cos = unit @ unit[run.vocab.stoi["funny"]]
    cos[[0, 1, run.vocab.stoi["funny"]]] = -np.inf
    assert [n["word"] for n in res["neighbours"]] == [run.vocab.itos[i] for i in np.argsort(-cos)[:3]]
    assert res["neighbours"][0]["cosine"] == pytest.approx(np.max(cos))
    assert client.get("/api/neighbours", params={"word": "zzzunknown"}).json() == {
        "run": 0, "word": "zzzunknown", "known": False, "neighbours": []}


def test_table_rows(client, explorer):
    res = post(client, "/api/table", {"text": LINES, "top": 2}).json()
    lines = LINES.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    ours = run_of(explorer).explain([x for x in lines if x.strip()])
    assert [r["sentence_id"] for r in res["rows"]] == [1, 3, 4, 5]  # line numbers, as the CLI counts them
    for row, e in zip(res["rows"], ours):
        assert row["predicted"] == e.predicted_name and row["confidence"] == float(str(e.probs[e.predicted]))
        best = [e.tokens[t] for t in np.argsort(-e.scores, kind="stable")[:2] if e.scores[t] > 0]
        assert [w["token"] for w in row["evidence"]] == best


@pytest.fixture(scope="module")
def small(explorer):
    limits = Limits(max_body_bytes=2000, max_sentences=3, max_table_sentences=4, max_tokens=8, max_ig_steps=10)
    small = Explorer([run_of(explorer)], limits)
    return TestClient(create_app(small), base_url="http://127.0.0.1",
                                           raise_server_exceptions=False)


@pytest.mark.parametrize("path,body,status,fragment", [
    ("/api/explain", {"texts": ["x " * 1500]}, 413, "over the limit of 2,000 bytes"),
    ("/api/explain", {"texts": ["a", "b", "c", "d"]}, 413, "4 sentences in one request; the limit is 3"),
    ("/api/explain", {"texts": ["one two three four five six seven eight nine"]}, 413, "has 9 tokens"),
    ("/api/table", {"text": "a\nb\nc\nd\ne\n"}, 413, "5 sentences in one request; the limit is 4"),
    ("/api/explain", {"texts": ["a"], "method": "integrated-gradients", "options": {"steps": 11}}, 400,
     "above the limit 10"),
    ("/api/explain", {"texts": "a fine film"}, 400, "must be a non-empty list"),
    ("/api/explain", {"texts": []}, 400, "must be a non-empty list"),
    ("/api/explain", {"texts": [3]}, 400, "sentence 1 must be a string"),
    ("/api/explain", {"texts": ["   "]}, 400, "nothing to explain"),
    ("/api/explain", {"texts": ["a"], "method": "magic"}, 400, "unknown attribution method 'magic'"),
    ("/api/explain", {"texts": ["a"], "target": "neutral"}, 400, "unknown target class 'neutral'"),
    ("/api/explain", {"texts": ["a"], "target": 7}, 400, "out of range"),
    ("/api/explain", {"texts": ["a"], "options": {"saliency": "cube"}}, 400, "saliency must be one of"),
    ("/api/explain", {"texts": ["a"], "options": {"internal_batch_size": 9}}, 400, "has no option"),
    ("/api/explain", {"texts": ["a"], "method": "lrp-zplus", "options": {"contrast": "true"}}, 400,
     "contrast must be one of True, False, got 'true'"),
    ("/api/explain", {"texts": ["a"], "text": "a"}, 400, "unknown field(s) 'text'"),
    ("/api/explain", {"texts": ["a"], "run": "/etc/passwd"}, 404, "unknown run '/etc/passwd'"),
    ("/api/explain", {"texts": ["a"], "run": 1}, 404, "unknown run 1"),
    ("/api/explain", {"texts": ["a"], "run": "../run"}, 404, "unknown run"),
    ("/api/word-filters", {"text": "a b", "token": 5}, 400, "out of range"),
    ("/api/table", {"text": "a", "texts": ["a"]}, 400, "either 'text'"),
    ("/api/explain", [1, 2], 400, "must be a JSON object"),
])
def test_limits_and_bad_requests_are_json_4xx(small, path, body, status, fragment):
    r = post(small, path, body)
    assert r.status_code == status, r.text
    assert fragment in r.json()["error"]


def test_bad_bodies_and_headers(small):
    r = small.post("/api/explain", content=b'{"texts": [', headers={"content-type": "application/json"})
    assert r.status_code == 400 and "not valid JSON" in r.json()["error"]
    r = small.post("/api/explain", content=b'{"texts": ["a"]}', headers={"content-type": "text/plain"})
    assert r.status_code == 415 and "application/json" in r.json()["error"]
    r = small.post("/api/explain", content=b"\xff\xfe", headers={"content-type": "application/json"})
    assert r.status_code == 400
    r = small.get("/api/explain")
    assert r.status_code == 405 and "error" in r.json()
    r = small.get("/api/runs", headers={"host": "evil.example"})  # DNS rebinding: not a loopback name
    assert r.status_code == 400
    assert small.get("/api/nothing").json() == {"error": "Not Found"}


def test_errors_are_json_never_a_traceback(explorer, monkeypatch):
    from textdeconv.errors import DataError

    app_client = TestClient(create_app(explorer), base_url="http://127.0.0.1",
                                                 raise_server_exceptions=False)

    def bug(*args, **kwargs):
        raise RuntimeError("secret detail in /home/someone/file.py")

    monkeypatch.setattr(explorer, "predict", bug)
    r = post(app_client, "/api/predict", {"texts": ["a"]})
    assert r.status_code == 500 and r.headers["content-type"] == "application/json"
    assert r.json() == {"error": "internal error (RuntimeError); the server's log has the details"}
    assert "Traceback" not in r.text and "secret" not in r.text

    def user_error(*args, **kwargs):
        raise DataError("the data file is broken")

    monkeypatch.setattr(explorer, "predict", user_error)
    r = post(app_client, "/api/predict", {"texts": ["a"]})
    assert (r.status_code, r.json()) == (400, {"error": "the data file is broken"})


def test_page_assets_are_local_and_guarded(client):
    from textdeconv.reports.heatmap import heatmap_js
    from textdeconv.serve.app import static_dir

    page = client.get("/")
    assert page.status_code == 200 and "/static/explorer.js" in page.text
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert client.get("/heatmap.js").text == heatmap_js() and "</script" not in heatmap_js()  # the report inlines it
    assert client.get("/static/explorer.css").status_code == 200
    for name in ("index.html", "explorer.js", "explorer.css"):  # no CDN: nothing is fetched from elsewhere
        text = static_dir().joinpath(name).read_text()
        text = text.replace('"http://www.w3.org/2000/svg"', "")  # the SVG namespace: a name, never fetched
        assert "http://" not in text and "https://" not in text and "//cdn" not in text
    for path in ("/static/../app.py", "/static/%2e%2e/app.py", "/static/..%2fapp.py"):
        r = client.get(path)
        assert r.status_code == 404 and "create_app" not in r.text


def serve_cli(*args, **kwargs):
    return subprocess.run([sys.executable, "-m", "textdeconv", "serve", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, **kwargs)


def test_serve_refuses_bad_runs_and_ports_in_one_line(tiny_run, tmp_path):
    one_line_error(serve_cli("--run", str(tmp_path / "missing")), "run directory not found")
    one_line_error(serve_cli("--run", str(tmp_path)), "is not a finished run")
    one_line_error(serve_cli(*["--run", str(tiny_run)] * 3), "at most 2 runs")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        one_line_error(serve_cli("--run", str(tiny_run), "--port", str(busy.getsockname()[1])), "cannot listen on")


def test_serve_prints_its_url_and_answers(tiny_run):
    import urllib.request

    proc = subprocess.Popen([sys.executable, "-m", "textdeconv", "serve", "--run", str(tiny_run), "--port", "0"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), proc.stderr.read() if proc.poll() is not None else url
        body = json.dumps({"texts": ["great fun"]}).encode()
        req = urllib.request.Request(url + "api/explain", body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            assert json.load(r)["explanations"][0]["tokens"] == ["great", "fun"]
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_filter_card_without_the_training_data_is_a_409(explorer, monkeypatch, tmp_path):
    from dataclasses import replace

    run = run_of(explorer)
    moved = replace(run.config, data=replace(run.config.data, dir=str(tmp_path / "gone"), download=True))
    monkeypatch.setattr(run, "config", moved)  # and download=True: the explorer must still not download
    client = TestClient(create_app(Explorer([run])), base_url="http://127.0.0.1")
    r = client.get(f"/api/filter-card?run=0&width={run.net.widths[0]}&filter=0")
    assert r.status_code == 409 and "needs the run's training data" in r.json()["error"]


def test_built_methods_are_cached_but_bounded(client, explorer):
    from textdeconv.serve.explorer import MAX_EXPLAINERS

    for seed in range(MAX_EXPLAINERS + 4):  # options come from clients: each is another explainer
        r = post(client, "/api/explain", {"texts": ["a"], "method": "random", "options": {"seed": seed}})
        assert r.status_code == 200
    assert len(explorer.runs[0].explainers) == MAX_EXPLAINERS
    assert ("random", (("seed", MAX_EXPLAINERS + 3),)) in explorer.runs[0].explainers


# -- issue 37: security and request defects ------------------------------------------------------------

def test_off_loopback_every_request_needs_the_token_and_a_known_host(explorer):
    token = "s3cret-token"
    app = create_app(explorer, token=token, hosts=["box.lan"])
    c = TestClient(app, base_url="http://10.1.2.3:8000", raise_server_exceptions=False, follow_redirects=False)
    r = c.get("/api/runs")
    assert r.status_code == 401 and "needs its token" in r.json()["error"]
    assert c.get("/api/runs", headers={"x-textdeconv-token": "wrong"}).status_code == 401
    assert c.get("/api/runs", headers={"x-textdeconv-token": token}).status_code == 200
    for host in ("box.lan:8000", "127.0.0.1:8000", "[::1]:8000", "10.1.2.3"):  # names, loopback, addresses
        assert c.get("/api/runs", headers={"x-textdeconv-token": token, "host": host}).status_code == 200, host
    r = c.get("/api/runs", headers={"x-textdeconv-token": token, "host": "evil.example"})  # DNS rebinding
    assert r.status_code == 400 and r.headers["content-type"] == "application/json"
    assert r.json() == {"error": "Host header 'evil.example' is not a name of this server "
                                 "(textdeconv serve --allow-host NAME adds a name)"}
    assert c.get("/?token=wrong").status_code == 401
    r = c.get(f"/?token={token}")  # the printed URL: a cookie, then the page without the token in its URL
    assert r.status_code == 303 and r.headers["location"] == "/"
    cookie = r.headers["set-cookie"]
    assert "httponly" in cookie.lower() and "samesite=strict" in cookie.lower()
    assert c.get("/").status_code == 200  # the client keeps the cookie
    assert post(c, "/api/predict", {"texts": ["great fun"]}).status_code == 200
    assert c.get("/static/explorer.js").status_code == 200


def test_host_refusal_is_a_json_error_on_loopback(client):
    r = client.get("/api/runs", headers={"host": "evil.example"})
    assert r.status_code == 400 and r.json() == {"error": "Host header 'evil.example' is not a name of this server"}


def test_off_loopback_access_is_a_fresh_token_and_the_names_given():
    from textdeconv.serve.server import access

    assert access("127.0.0.1") == (None, []) and access("localhost")[0] is None
    token, names = access("0.0.0.0", ["Box.LAN."])
    assert len(token) >= 32 and names[0] == "box.lan" and access("0.0.0.0")[0] != token


def slow_explorer(explorer, limits, pause=0.2):
    """An Explorer over the tiny run whose 'random' method pauses ``pause`` s before every batch."""
    slow = Explorer([run_of(explorer)], limits)
    slow.explain(0, ["warm"], "random", None, {"seed": 5})
    (e,) = slow.runs[0].explainers.values()
    checked = e.attribute_ids

    def attribute(*args, **kwargs):
        import time
        time.sleep(pause)
        return checked(*args, **kwargs)

    e.attribute_ids = attribute
    return slow


def test_a_request_over_its_time_budget_stops_and_frees_the_run(explorer):
    import time

    slow = slow_explorer(explorer, Limits(batch_size=1, time_budget=1.0))
    c = TestClient(create_app(slow), base_url="http://127.0.0.1", raise_server_exceptions=False)
    body = {"texts": [f"sentence {i}" for i in range(20)], "method": "random", "options": {"seed": 5}}
    start = time.monotonic()
    r = post(c, "/api/explain", body)  # 20 batches of 0.2 s: 4 s of work in a 1 s budget
    assert r.status_code == 503 and "more than its time budget of 1 s" in r.json()["error"]
    assert time.monotonic() - start < 2.5
    assert not slow.runs[0].lock.locked()
    assert post(c, "/api/explain", {**body, "texts": ["a"]}).status_code == 200


def raw(url, data: bytes, wait: float = 5.0) -> bytes:
    """Send ``data`` on a new connection to ``url``'s server; what came back before it closed (or ``wait`` s)."""
    from urllib.parse import urlsplit

    u = urlsplit(url)
    with socket.create_connection((u.hostname, u.port), timeout=wait) as s:
        s.sendall(data)
        out = b""
        try:
            while chunk := s.recv(65536):
                out += chunk
        except TimeoutError:
            out += b"<still open>"
    return out


def test_disconnect_cancels_and_incomplete_requests_time_out(explorer):
    import time
    import urllib.request
    from urllib.parse import urlsplit

    from textdeconv.serve.server import ServerThread

    slow = slow_explorer(explorer, Limits(batch_size=1, header_timeout=0.5, body_timeout=0.5, time_budget=30))
    with ServerThread(slow) as url:
        u = urlsplit(url)
        body = json.dumps({"texts": [f"sentence {i}" for i in range(40)], "method": "random",
                           "options": {"seed": 5}}).encode()
        s = socket.create_connection((u.hostname, u.port))  # 40 batches of 0.2 s = 8 s, then the client goes
        s.sendall(b"POST /api/explain HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                  b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        time.sleep(0.5)
        s.close()
        start = time.monotonic()
        req = urllib.request.Request(url + "api/predict", json.dumps({"texts": ["a"]}).encode(),
                                     {"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            assert r.status == 200
        assert time.monotonic() - start < 2.0  # the run was freed at the next batch, not after 8 s
        start = time.monotonic()
        assert raw(url, b"GET /api/runs HTTP/1.1\r\nHost: 127.0.0.1\r\n") == b""  # headers never finished
        assert time.monotonic() - start < 3.0
        start = time.monotonic()
        out = raw(url, b"POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                       b"Content-Length: 100\r\n\r\n{\"texts\": ")  # the body never finished
        assert out.startswith(b"HTTP/1.1 408") and b"did not arrive within 0.5 s" in out
        assert time.monotonic() - start < 3.0


def test_chunked_body_over_the_limit_is_a_413(small):
    r = small.post("/api/explain", content=iter([b'{"texts": ["' + b"x " * 800, b"x " * 800 + b'"]}']),
                   headers={"content-type": "application/json"})
    assert "content-length" not in {k.lower() for k in r.request.headers}
    assert r.status_code == 413 and r.json() == {"error": "the request body is over the limit of 2,000 bytes"}


@pytest.mark.parametrize("depth", [33, 1000, 100_000])
def test_deeply_nested_json_is_a_400_in_one_line(client, depth):
    r = client.post("/api/explain", content=b'{"texts": ' + b"[" * depth + b"]" * depth + b"}",
                    headers={"content-type": "application/json"})
    assert r.status_code == 400
    assert r.json() == {"error": "the body is nested too deeply (more than 32 levels of arrays and objects)"}


@pytest.mark.parametrize("path,body,message", [
    ("/api/word-filters", {"text": "a b", "token": "1"}, "'token' must be an integer, got '1'"),
    ("/api/word-filters", {"text": "a b", "token": 1.7}, "'token' must be an integer, got 1.7"),
    ("/api/word-filters", {"text": "a b", "token": True}, "'token' must be an integer, got True"),
    ("/api/word-filters", {"text": "a b", "token": 0, "top": 2.0}, "'top' must be an integer, got 2.0"),
    ("/api/training-sentences", {"text": "a b", "k": "3"}, "'k' must be an integer, got '3'"),
    ("/api/table", {"texts": ["a"], "top": 1.5}, "'top' must be an integer, got 1.5"),
])
def test_integer_fields_are_strict(client, path, body, message):
    r = post(client, path, body)
    assert (r.status_code, r.json()) == (400, {"error": message})


def test_integer_query_fields_are_strict(client, explorer):
    width = run_of(explorer).net.widths[0]
    for query, message in ((f"width={width}&filter=1.5", "'filter' must be an integer, got '1.5'"),
                           (f"width={width}&filter=-1", "'filter' must be an integer, got '-1'"),
                           (f"width={width}.0&filter=0", f"'width' must be an integer, got '{width}.0'")):
        r = client.get(f"/api/filter-card?run=0&{query}")
        assert (r.status_code, r.json()) == (400, {"error": message})
    r = client.get("/api/neighbours?run=0&word=fun&k=2.5")
    assert (r.status_code, r.json()) == (400, {"error": "'k' must be an integer, got '2.5'"})


def test_a_run_still_training_is_refused(tiny_run, tmp_path):
    import shutil

    from helpers.exact import raises_exactly

    from textdeconv.errors import InputError
    from textdeconv.serve.server import check_runs

    run = tmp_path / "training"
    shutil.copytree(tiny_run, run)
    state = json.loads((run / "state.json").read_text())
    assert state["finished"] is True
    check_runs([run])
    (run / "state.json").write_text(json.dumps({**state, "finished": False}))
    with raises_exactly(InputError, f"{run} is still training (its state.json says finished: false); serve it "
                                    "once textdeconv train has finished, or resume it with textdeconv train --resume"):
        check_runs([run])


def test_one_sentence_over_the_limit_is_refused_alone(small):
    long = "one two three four five six seven eight nine"
    res = post(small, "/api/explain", {"texts": ["a fine film", long, "   "]})
    assert res.status_code == 200, res.text
    body = res.json()
    assert [e["sentence_id"] for e in body["explanations"]] == [1]
    assert [e["sentence_id"] for e in body["errors"]] == [2, 3]
    assert body["errors"][0]["error"] == ("sentence 2 has 9 tokens; the limit is 8 per sentence (textdeconv "
                                          "explain --input takes longer texts)")
    assert body["errors"][1]["error"].startswith("sentence 3: no tokens")
    res = post(small, "/api/predict", {"texts": [long, "great"]}).json()
    assert [p["sentence_id"] for p in res["predictions"]] == [2] and res["errors"][0]["sentence_id"] == 1
    r = post(small, "/api/explain", {"texts": [long]})  # nothing left: the sentence's own reason
    assert r.status_code == 413 and r.json()["error"].startswith("sentence 1 has 9 tokens")


def test_csv_spreadsheet_safe_is_an_option(client):
    text = "=SUM(A1) -LRB- @x +1 plain\n"
    plain = pd.read_csv(__import__("io").StringIO(post(client, "/api/csv", {"text": text}).text))
    assert list(plain["token"]) == ["=SUM", "-LRB-", "A1", "-RRB-", "-LRB-", "@", "x", "+1", "plain"]
    r = post(client, "/api/csv", {"text": text, "spreadsheet_safe": True})
    safe = pd.read_csv(__import__("io").StringIO(r.text))
    assert list(safe["token"]) == ["'=SUM", "'-LRB-", "A1", "'-RRB-", "'-LRB-", "'@", "x", "'+1", "plain"]
    assert safe["sentence"].iloc[0] == "'" + plain["sentence"].iloc[0]
    assert list(safe["score"]) == list(plain["score"])  # numbers stay numbers
    assert post(client, "/api/csv", {"text": text, "spreadsheet_safe": 1}).status_code == 400


def test_tokenize_is_the_typed_text_tokenizer(client):
    from textdeconv.data.vocab import tokenize

    r = post(client, "/api/tokenize", {"text": "Great! (really)", "run": 0})
    assert r.json() == {"tokens": tokenize("Great! (really)", lowercase=False)} == {
        "tokens": ["Great", "!", "-LRB-", "really", "-RRB-"]}
    assert post(client, "/api/tokenize", {"text": 3}).status_code == 400


def test_explanations_carry_their_source_tokens(client, explorer):
    e = post(client, "/api/explain", {"texts": ["a well-made film ."]}).json()["explanations"][0]
    assert e["source"] == e["tokens"] == ["a", "well-made", "film", "."]
    assert (e["source_index"], e["cleaned"]) == ([0, 1, 2, 3], "")
    vocab = run_of(explorer).vocab
    vocab.clean = "kim"
    try:
        e = post(client, "/api/explain", {"texts": ["a well-made film ."]}).json()["explanations"][0]
    finally:
        vocab.clean = None
    assert e["tokens"] == ["a", "well", "made", "film"] and e["source"] == ["a", "well-made", "film", "."]
    assert (e["source_index"], e["cleaned"]) == ([0, 1, 1, 2], "-.")


def test_serve_off_loopback_prints_the_token_url_once_on_stderr(tiny_run, monkeypatch, capsys):
    from textdeconv.serve import server

    started = {}

    def fake_make_server(explorer, sock, token, names):  # everything but uvicorn's loop
        started.update(token=token, names=names)
        return type("S", (), {"run": lambda self, sockets: None})()

    monkeypatch.setattr(server, "make_server", fake_make_server)
    urls = []
    server.serve([tiny_run], "0.0.0.0", 0, say=urls.append, allow_hosts=["box.lan"])
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{urls[0]}?token={started['token']}" in err[0]
    assert f"X-Textdeconv-Token: {started['token']}" in err[0] and started["names"][0] == "box.lan"
    assert started["token"] not in urls[0]  # stdout's URL: no secret in logs that capture stdout


def test_building_a_runs_cached_analysis_does_not_count_against_the_budget(explorer, monkeypatch):
    import time

    from textdeconv.reports import filter_analysis
    from textdeconv.serve.budget import Budget

    real = filter_analysis.analyze_filters

    def slow_analysis(*args, **kwargs):
        time.sleep(1.0)  # longer than the whole budget
        return real(*args, **kwargs)

    monkeypatch.setattr(filter_analysis, "analyze_filters", slow_analysis)
    slow = Explorer([run_of(explorer)], Limits(time_budget=0.5))
    slow.warm_up()
    res = Budget(0.5).run(slow.word_filters, 0, "a gripping , funny movie", 1, None, 5, True)
    assert "fired" in res and slow.runs[0].analysis is not None


def test_integrated_gradients_stops_between_its_chunks_of_steps(explorer):
    from helpers.exact import raises_exactly

    from textdeconv.serve.budget import Budget
    from textdeconv.serve.explorer import RequestError

    ig = Explorer([run_of(explorer)])
    options = {"steps": 300, "internal_batch_size": 64}  # 64 // 2 sentences = 32 steps per call: 10 calls
    ig.explain(0, ["warm", "up"], "integrated-gradients", None, options)
    (e,) = ig.runs[0].explainers.values()
    budget, calls, path = Budget(60), [], e._path

    def counted(*args, **kwargs):
        calls.append(1)
        budget.cancel()  # the client goes away during the first chunk
        return path(*args, **kwargs)

    e._path = counted
    with raises_exactly(RequestError, "the client disconnected; the request was stopped"):
        budget.run(ig.explain, 0, ["a fine film", "a dull one"], "integrated-gradients", None, options)
    assert len(calls) == 1 and not ig.runs[0].lock.locked()
