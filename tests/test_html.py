"""The HTML page (textdeconv/html.py, explain.py --html) and the training curves (curves.png)."""
import json
import shutil
import struct
from html.parser import HTMLParser

import numpy as np
import pandas as pd
from conftest import script_in_process
from helpers.exact import raises_exactly

from textdeconv.attribution.explanation import Explanation
from textdeconv.errors import DataError, InputError, MissingFileError
from textdeconv.reports.html import filter_rows, html_data, render_html, script_json, write_html
from textdeconv.training.rundir import plot_training_curves

CLASSES = ["negative", "positive"]
NASTY = "<script>&\"'"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class Page(HTMLParser):
    """Collects the tags, every token span's text per sentence, and the embedded data."""

    def __init__(self, text):
        super().__init__(convert_charrefs=True)
        self.tags, self.tokens, self.data_text, self._in = [], [], None, None
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        cls = attrs.get("class", "")
        if tag == "section" and cls == "td-sent":
            self.tokens.append([])
        if tag == "span" and cls.startswith("td-tok"):
            self._in = "tok"
            self.tokens[-1].append("")
        if tag == "script" and attrs.get("id") == "td-data":
            self._in, self.data_text = "data", ""

    def handle_endtag(self, tag):
        self._in = None

    def handle_data(self, data):
        if self._in == "tok":
            self.tokens[-1][-1] += data
        elif self._in == "data":
            self.data_text += data

    @property
    def data(self):
        return json.loads(self.data_text)


def expl(tokens, scores, target, probs=(0.25, 0.75), method="deconv", unknown=()):
    ids = np.array([1 if i in unknown else 5 + i for i in range(len(tokens))])
    probs = np.array(probs, np.float32)
    return Explanation(tokens=list(tokens), token_ids=ids, scores=np.array(scores, np.float32), target=target,
                       target_name=CLASSES[target], predicted=int(probs.argmax()),
                       predicted_name=CLASSES[int(probs.argmax())], probs=probs, method=method)


def hand_table():
    # four filters over a 3-token sentence; (3, 1) is dead, so it is never shown despite its size
    return pd.DataFrame({"width": [2, 2, 3, 3], "filter": [0, 1, 0, 1], "switch": [0, 1, -1, 0],
                         "ngram": ["a b", "b c", "<pad> a b", "a b c"],
                         "contribution": np.array([0.5, -0.9, 0.1, 5.0], np.float32),
                         "alive": [True, True, True, False]})


def test_filter_rows_by_hand():
    # token 0 is covered by (2,0) and (3,0); token 1 by (2,0), (2,1), (3,0); token 2 by (2,1)
    assert filter_rows(hand_table(), 3, top=1) == [[2, 0, 0, "a b", 0.5], [2, 1, 1, "b c", -0.9]]
    assert filter_rows(hand_table(), 3, top=2) == [[2, 0, 0, "a b", 0.5], [2, 1, 1, "b c", -0.9],
                                                   [3, 0, -1, "<pad> a b", 0.1]]


def hand_results():
    sentences = [["good", NASTY, "</script><!--"], ["שלום", "😀", "e\u0301x", "'quoted'"]]
    scores = {  # method -> class -> sentence -> scores
        "deconv": [[[0.5, -0.25, 0.125], [1, 2, 3, 4]], [[-0.5, 0.25, -0.125], [-1, -2, -3, -4]]],
        "occlusion": [[[0.1, 0.2, 0.3], [0.4, 0.5, 0.6, 0.7]], [[-0.1, -0.2, -0.3], [-0.4, -0.5, -0.6, -0.7]]],
    }
    return sentences, {m: [[expl(s, sc[c][k], c, method=m, unknown=(1,)) for k, s in enumerate(sentences)]
                           for c in range(2)] for m, sc in scores.items()}


def test_page_escapes_every_token_and_embeds_the_data():
    sentences, results = hand_results()
    tables = {"deconv": [[hand_table(), hand_table()], [hand_table(), hand_table()]]}
    data = html_data([3, 7], results, CLASSES, tables, gold=["positive", "negative"], title="a <b> & 'c'")
    page = render_html(data)
    parsed = Page(page)
    # the tokens are text, never markup: two script elements only, no external resource
    assert [t for t, _ in parsed.tags if t == "script"] == ["script", "script"]
    assert not any("src" in a or "href" in a for _, a in parsed.tags) and "http" not in page
    assert NASTY not in page and "&lt;script&gt;&amp;&quot;&#x27;" in page
    assert "</script><!--" not in page
    assert parsed.tokens == sentences
    assert ("title", {}) in parsed.tags and "<title>a &lt;b&gt; &amp; &#x27;c&#x27;</title>" in page
    assert parsed.data == data
    got = parsed.data
    assert got["methods"] == ["deconv", "occlusion"] and got["classes"] == CLASSES
    assert (got["method"], got["target"], got["scale"]) == ("deconv", -1, "sentence")
    s0, s1 = got["sentences"]
    assert (s0["id"], s0["tokens"], s0["in_vocab"], s0["gold"]) == (3, sentences[0], [True, False, True], "positive")
    assert s0["predicted"] == 1 and s0["probs"] == [0.25, 0.75]
    assert s0["scores"] == {"deconv": [[0.5, -0.25, 0.125], [-0.5, 0.25, -0.125]],
                            "occlusion": [[0.1, 0.2, 0.3], [-0.1, -0.2, -0.3]]}  # float32 written in shortest form
    assert s1["scores"]["deconv"] == [[1.0, 2.0, 3.0, 4.0], [-1.0, -2.0, -3.0, -4.0]]
    assert s0["filters"] == {"deconv": [filter_rows(hand_table(), 3)] * 2}
    assert list(s1["filters"]) == ["deconv"]  # no filters for occlusion


def test_script_json_cannot_close_its_element():
    text = script_json({"t": "</script><!-- & \u2028\u2029 ok"})
    assert not set("<>&\u2028\u2029") & set(text)
    assert json.loads(text) == {"t": "</script><!-- & \u2028\u2029 ok"}
    # html_data writes null for NaN; JSON.parse would refuse NaN
    with raises_exactly(ValueError, "Out of range float values are not JSON compliant"):
        script_json({"x": float("nan")})


def test_non_finite_scores_become_null_and_bad_input_is_refused():
    e = expl(["a", "b"], [float("nan"), np.inf], 0)
    data = html_data([1], {"random": [[e], [expl(["a", "b"], [1, 2], 1)]]}, CLASSES)
    assert data["sentences"][0]["scores"]["random"] == [[None, None], [1.0, 2.0]]
    with raises_exactly(InputError, "random: the explanations for class 'positive' must be one per sentence, "
                        "each with target 1"):
        html_data([1], {"random": [[e], [e]]}, CLASSES)
    with raises_exactly(InputError, "random: got explanations for 1 classes, expected 2"):
        html_data([1], {"random": [[e]]}, CLASSES)
    with raises_exactly(InputError, "unknown colour scale 'log'; choose one of sentence, global"):
        html_data([1], {"random": [[e], [expl(["a", "b"], [1, 2], 1)]]}, CLASSES, scale="log")


def test_write_html_is_atomic_and_utf8(tmp_path):
    sentences, results = hand_results()
    path = tmp_path / "out" / "view.html"
    write_html(path, html_data([1, 2], results, CLASSES))
    assert Page(path.read_text(encoding="utf-8")).tokens == sentences
    assert sorted(p.name for p in path.parent.iterdir()) == ["view.html"]  # no temporary file left


def explain(monkeypatch, capsys, *args):
    """scripts/explain.py run in this process (TensorFlow is loaded already): (exit code, stderr)."""
    code, _, err = script_in_process(monkeypatch, capsys, "explain.py", *args)
    return code, err


def test_explain_html_holds_every_class_and_method_and_equals_the_csv(tiny_run, tmp_path, monkeypatch, capsys):
    src = tmp_path / "in.txt"
    src.write_text("a gripping , funny movie\n<b>dull</b> & \"thin\"\n\ngreat fun qwzx\n", encoding="utf-8")
    csv, fcsv, page = tmp_path / "s.csv", tmp_path / "f.csv", tmp_path / "view.html"
    code, err = explain(monkeypatch, capsys, "--run", str(tiny_run), "--input", str(src), "--csv", str(csv),
                        "--filters-csv", str(fcsv), "--html", str(page), "--quiet",
                        "--html-methods", "deconv", "grad-x-input", "occlusion", "--target", "positive")
    assert code == 0, err
    assert f"wrote {page}" in err
    parsed = Page(page.read_text(encoding="utf-8"))
    data = parsed.data
    frame = pd.read_csv(csv, float_precision="round_trip", keep_default_na=False, dtype={"token": str})
    filters = pd.read_csv(fcsv, float_precision="round_trip", keep_default_na=False, dtype={"ngram": str})
    assert data["methods"] == ["deconv", "grad-x-input", "occlusion"] and data["classes"] == CLASSES
    assert (data["method"], data["target"]) == ("deconv", 1)
    assert [s["id"] for s in data["sentences"]] == [1, 2, 4]
    assert parsed.tokens == [s["tokens"] for s in data["sentences"]]
    assert data["sentences"][1]["tokens"] == ["<", "b", ">", "dull", "<", "/b", ">", "&", "``", "thin", "''"]
    for s in data["sentences"]:
        rows = frame[frame.sentence_id == s["id"]]
        assert s["tokens"] == rows["token"].tolist()
        assert s["in_vocab"] == rows["in_vocab"].tolist()
        assert s["scores"]["deconv"][1] == rows["score"].tolist()  # the CSV's method and target, exactly
        assert np.float32(s["probs"][1]) == np.float32(rows["probability"].iloc[0])  # the same float32
        assert CLASSES[s["predicted"]] == rows["predicted"].iloc[0]
        for method in data["methods"]:
            assert [len(x) for x in s["scores"][method]] == [len(s["tokens"])] * 2
        # deconv == gradient x input (the identity), for both classes
        np.testing.assert_allclose(s["scores"]["grad-x-input"], s["scores"]["deconv"], atol=1e-5)
        assert list(s["filters"]) == ["deconv"]
        table = filters[filters.sentence_id == s["id"]]
        csv_rows = {(r.width, r.filter, r.switch, r.ngram, r.contribution) for r in table[table.alive].itertuples()}
        assert {tuple(r) for r in s["filters"]["deconv"][1]} <= csv_rows
        assert len(s["filters"]["deconv"][1]) > 0


# --------------------------------------------------------------------------------------------
# training curves


def test_training_writes_curves_with_one_point_per_epoch(tiny_run, tmp_path):
    png = (tiny_run / "curves.png").read_bytes()
    assert png[:8] == PNG_SIGNATURE and struct.unpack(">II", png[16:24]) == (1100, 418)  # IHDR: 10 x 3.8 in at 110 dpi
    metrics = pd.read_csv(tiny_run / "metrics.csv")
    drawn = plot_training_curves(tiny_run, tmp_path / "c.png")
    assert (tmp_path / "c.png").read_bytes()[:8] == PNG_SIGNATURE
    assert sorted(drawn) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    for key, (x, y) in drawn.items():
        assert x.tolist() == [1, 2, 3]
        assert y.tolist() == metrics[key].tolist()


def test_resuming_a_finished_run_writes_its_curves(tiny_run, tmp_path):
    from textdeconv.training.trainer import train

    run_dir = tmp_path / "copy"
    shutil.copytree(tiny_run, run_dir)
    (run_dir / "curves.png").unlink()
    metrics = train(None, run_dir, resume=True, verbose=0)
    assert metrics == json.loads((tiny_run / "metrics.json").read_text())
    assert (run_dir / "curves.png").read_bytes()[:8] == PNG_SIGNATURE


def test_curves_of_any_run_dir_and_their_errors(tmp_path):
    with raises_exactly(MissingFileError, f"{tmp_path / 'metrics.csv'} not found: the run has not finished an "
                        "epoch yet"):
        plot_training_curves(tmp_path)
    (tmp_path / "metrics.csv").write_text("epoch,loss\n")
    with raises_exactly(DataError, f"{tmp_path / 'metrics.csv'} holds no epochs"):
        plot_training_curves(tmp_path)
    (tmp_path / "metrics.csv").write_text("epoch,loss\n1,0.75\n")  # an interrupted run without dev metrics
    drawn = plot_training_curves(tmp_path)
    assert list(drawn) == ["loss"] and drawn["loss"][1].tolist() == [0.75]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["curves.png", "metrics.csv"]
