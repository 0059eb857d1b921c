"""The explorer page and the static --html report in a real Chromium (Playwright), against a
server on the tiny run: what the page shows equals what the JSON API answers.

Skipped without a browser (tests/helpers/browser.py says how to get one); CI sets
TEXTDECONV_CHROMIUM from shared/tools/chromium and requires them to run.
"""
import json
import re
import urllib.request

import pytest
from helpers.browser import launch

from textdeconv.reports.heatmap import colour

pytestmark = pytest.mark.browser

HOSTILE = ['<img src=x onerror="window.__pwned=1;alert(1)">', "</script><script>window.__pwned=1</script>",
           '"><svg onload=window.__pwned=1>']
READY = "() => document.body.dataset.ready === '1' && document.body.dataset.pending === '0'"


@pytest.fixture(scope="module")
def context():
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e .[dev])")
    with sync_api.sync_playwright() as p:
        browser = launch(p)
        # one context for every test: a single-process Chromium cannot close a context and go on
        yield browser.new_context(viewport={"width": 1200, "height": 900}, accept_downloads=True)
        browser.close()


@pytest.fixture
def page(context):
    page = context.new_page()
    page.dialogs = []
    page.on("dialog", lambda d: (page.dialogs.append(d.message), d.dismiss()))
    page.errors = []
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    yield page
    assert not page.errors, page.errors  # no JavaScript error on any page
    page.close()


@pytest.fixture(scope="module")
def server(tiny_run):
    from textdeconv.serve.explorer import Explorer
    from textdeconv.serve.server import ServerThread

    with ServerThread(Explorer.open([tiny_run])) as url:
        yield url


def api(url, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url + path.lstrip("/"), data, {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return r.read() if path == "/api/csv" else json.load(r)


def settle(page):
    page.wait_for_function(READY)


def explain_in_page(page, url, text):
    page.goto(url)
    settle(page)
    page.fill("#text", text)
    page.click("#go")
    settle(page)


def shown(page, k, method="deconv", run=None):
    """(token, data-score, background) of every word of sentence k in the method's row (the token as the
    API sent it: the page shows treebank escapes as brackets)."""
    col = f'.run-col[data-run="{run}"] ' if run is not None else ""
    return page.eval_on_selector_all(
        f'.sent[data-k="{k}"] {col}.mrow[data-method="{method}"] .tok',
        "els => els.map(e => [e.dataset.token, e.dataset.score, getComputedStyle(e).backgroundColor])")


def rgb(text):
    return tuple(int(x) for x in re.findall(r"\d+", text)[:3])


def assert_row_matches(words, expl):
    assert [w[0] for w in words] == expl["tokens"]
    assert [float(w[1]) for w in words] == expl["scores"]  # the exact numbers the API sent
    scale = max(abs(s) for s in expl["scores"])
    for w, s in zip(words, expl["scores"]):  # the JavaScript colour map equals heatmap.py's, value for value
        assert rgb(w[2]) == rgb(colour(s, scale)[0])


def test_typed_sentences_are_coloured_by_the_api_scores(page, server):
    texts = ["a charming film", "bad acting , worse script"]
    explain_in_page(page, server, "\n".join(texts))
    res = api(server, "/api/explain", {"texts": texts, "method": "deconv", "target": None})["explanations"]
    for k, e in enumerate(res):
        assert_row_matches(shown(page, k), e)
        pred = page.locator(f'.sent[data-k="{k}"] .pred')
        assert pred.get_attribute("data-predicted") == e["predicted"]
        probs = page.eval_on_selector_all(f'.sent[data-k="{k}"] .prob', "els => els.map(e => [e.dataset['class'], "
                                                                         "Number(e.dataset.p)])")
        assert dict(probs) == e["probs"]


def test_method_and_target_switches(page, server):
    text = "warm and engaging"
    explain_in_page(page, server, text)
    page.check('#methods input[value="grad-x-input"]')
    settle(page)
    g = api(server, "/api/explain", {"texts": [text], "method": "grad-x-input"})["explanations"][0]
    assert_row_matches(shown(page, 0, "grad-x-input"), g)
    page.select_option("#target", "negative")
    settle(page)
    for method in ("deconv", "grad-x-input"):
        e = api(server, "/api/explain", {"texts": [text], "method": method, "target": "negative"})["explanations"][0]
        assert_row_matches(shown(page, 0, method), e)
    assert page.get_attribute(".pred", "data-target") == "negative"
    page.uncheck('#methods input[value="deconv"]')
    settle(page)
    assert page.locator('.mrow[data-method="deconv"]').count() == 0
    for name in ("gradient", "occlusion", "random"):  # at most four side by side
        page.check(f'#methods input[value="{name}"]')
        settle(page)
    assert page.locator('.sent[data-k="0"] .mrow').count() == 4
    assert page.is_disabled('#methods input[value="guided-backprop"]')


def test_a_word_shows_its_filters_and_a_filter_its_card(page, server):
    explain_in_page(page, server, "a gripping , funny movie")
    page.click('.tok[data-method="deconv"][data-t="1"]')
    settle(page)
    want = api(server, "/api/word-filters", {"text": ["a", "gripping", ",", "funny", "movie"], "token": 1,
                                             "target": None, "run": 0})["filters"]
    rows = page.eval_on_selector_all(".filter-row", "els => els.map(e => [Number(e.dataset.width), "
                                                    "Number(e.dataset.filter), Number(e.dataset.contribution)])")
    assert rows == [[f["width"], f["filter"], f["contribution"]] for f in want] and rows
    assert "gripping" in page.text_content("#word-title")
    page.click(".filter-row >> nth=0")
    settle(page)
    card = api(server, f"/api/filter-card?run=0&width={want[0]['width']}&filter={want[0]['filter']}")
    assert page.eval_on_selector_all("#card-ngrams li .ng", "els => els.map(e => e.textContent)") == [
        g["ngram"] for g in card["ngrams"]]
    assert page.locator("#card-words tr").count() == 1 + want[0]["width"]


def test_word_panel_shows_the_filters_above_their_thresholds(page, server):
    tokens = ["a", "gripping", ",", "funny", "movie"]
    explain_in_page(page, server, " ".join(tokens))
    page.click('.tok[data-method="deconv"][data-t="1"]')
    settle(page)
    assert page.locator(".fired-row").count() == 0  # asked for, not computed with every panel
    page.click("#thresholds-go")
    settle(page)
    res = api(server, "/api/word-filters", {"text": tokens, "token": 1, "target": None, "run": 0, "thresholds": True})
    rows = page.eval_on_selector_all(".fired-row", "els => els.map(e => [Number(e.dataset.width), "
                                                   "Number(e.dataset.filter), Number(e.dataset.pattern), "
                                                   "Number(e.dataset.contribution), e.classList.contains('covers')])")
    assert rows == [[f["width"], f["filter"], f["pattern"], f["contribution"], f["covers_token"]]
                    for f in res["fired"]] and rows
    votes = page.eval_on_selector_all(".fired-row td:nth-child(4)", "els => els.map(e => e.textContent)")
    assert [v.split()[0] for v in votes] == [f["class_vote"] for f in res["fired"]]
    above = page.eval_on_selector_all(".filter-row", "els => els.map(e => e.dataset.above === '1')")
    assert above == [f["above_threshold"] for f in res["filters"]]
    page.click(".fired-row >> nth=0")
    settle(page)
    assert page.is_visible("#card") and f"{res['fired'][0]['width']}/{res['fired'][0]['filter']}" in page.text_content(
        "#card-title")
    page.click('.tok[data-method="deconv"][data-t="3"]')  # another word: the thresholds stay on
    settle(page)
    res = api(server, "/api/word-filters", {"text": tokens, "token": 3, "target": None, "run": 0, "thresholds": True})
    assert page.eval_on_selector_all(".fired-row", "els => els.map(e => e.classList.contains('covers'))") == [
        f["covers_token"] for f in res["fired"]]


def test_what_if_delete_and_replace_a_word(page, server):
    explain_in_page(page, server, "a dull , lifeless mess")
    page.click('.tok[data-t="1"]')  # "dull"
    settle(page)
    suggestions = page.eval_on_selector_all(".suggestion", "els => els.map(e => e.dataset.word)")
    want = api(server, "/api/neighbours?run=0&k=8&word=dull")["neighbours"]
    assert suggestions == [n["word"] for n in want]
    page.click("#delete-word")
    settle(page)
    edited = api(server, "/api/explain", {"texts": [["a", ",", "lifeless", "mess"]]})["explanations"][0]
    assert_row_matches(shown(page, 0), edited)
    assert page.get_attribute(".pred", "data-predicted") == edited["predicted"]
    assert page.locator(".history li").count() == 1
    page.click('.tok[data-t="2"]')  # "lifeless"
    settle(page)
    word = page.get_attribute(".suggestion >> nth=0", "data-word")
    page.click(".suggestion >> nth=0")
    settle(page)
    tokens = ["a", ",", word, "mess"]
    replaced = api(server, "/api/explain", {"texts": [tokens]})["explanations"][0]
    assert_row_matches(shown(page, 0), replaced)
    assert page.locator(".history li").count() == 2
    page.click(".restore >> nth=0")  # back to the sentence as typed
    settle(page)
    first = api(server, "/api/explain", {"texts": ["a dull , lifeless mess"]})["explanations"][0]
    assert_row_matches(shown(page, 0), first)


def test_hostile_text_is_shown_never_run(page, server):
    explain_in_page(page, server, "\n".join(HOSTILE))
    page.click('.sent[data-k="0"] .tok[data-t="0"]')
    settle(page)
    page.fill("#replace-text", HOSTILE[0])
    page.click("#replace-word")
    settle(page)
    page.click("#tab-button-file")
    page.fill("#paste", "\n".join(HOSTILE))
    page.click("#table-go")
    page.wait_for_selector("#table tr[data-sentence-id]")
    assert page.evaluate("window.__pwned") is None and page.dialogs == []
    assert page.locator("main img, main svg, main script").count() == 0
    words = " ".join(page.eval_on_selector_all(".tok", "els => els.map(e => e.textContent)"))
    assert "<" in words and "onerror=" in words and "/script" in words
    assert "window.__pwned=1" in page.text_content("#table")


def test_file_table_sorts_and_downloads_the_cli_csv(page, server, tmp_path):
    lines = "a gripping , funny movie\n\nthe plot is thin\ngreat fun\ntedious and long\n"
    src = tmp_path / "reviews.txt"
    src.write_text(lines)
    page.goto(server)
    settle(page)
    page.click("#tab-button-file")
    page.set_input_files("#file", str(src))
    page.wait_for_selector("#table tr[data-sentence-id]")
    settle(page)
    ids = lambda: page.eval_on_selector_all("#table tr[data-sentence-id]", "els => els.map(e => e.dataset.sentenceId)")
    assert ids() == ["1", "3", "4", "5"]
    table = api(server, "/api/table", {"text": lines})["rows"]
    by_confidence = [str(r["sentence_id"]) for r in sorted(table, key=lambda r: r["confidence"])]
    page.click("#table th:has-text('confidence')")
    assert ids() == by_confidence
    page.click("#table th:has-text('confidence')")
    assert ids() == by_confidence[::-1]
    with page.expect_download() as download:
        page.click("#csv-go")
    got = open(download.value.path(), "rb").read()
    assert got == api(server, "/api/csv", {"text": lines})  # = `textdeconv explain --csv` (test_serve.py)


def test_two_runs_side_by_side(page, tiny_run):
    from textdeconv.serve.explorer import Explorer
    from textdeconv.serve.server import ServerThread

    with ServerThread(Explorer.open([tiny_run, tiny_run], warm=False)) as url:
        explain_in_page(page, url, "great fun")
        names = page.eval_on_selector_all('.sent[data-k="0"] .run-name', "els => els.map(e => e.textContent)")
        assert names == ["run", "run (2)"]
        for r in (0, 1):
            e = api(url, "/api/explain", {"texts": ["great fun"], "run": r})["explanations"][0]
            assert_row_matches(shown(page, 0, run=r), e)
        page.uncheck('#run-choice input[value="1"]')
        settle(page)
        assert page.locator('.sent[data-k="0"] .run-col').count() == 1


def test_static_report_uses_the_same_renderer_and_switches(page, tiny_run, tmp_path):
    from textdeconv.cli import main

    out = tmp_path / "view.html"
    with pytest.raises(SystemExit) as stop:
        main(["explain", "--run", str(tiny_run), "great fun", "a dull , lifeless mess", *HOSTILE, "--html", str(out),
              "--html-methods", "deconv", "gradient", "--quiet"])
    assert stop.value.code == 0
    page.goto(out.as_uri())
    data = page.evaluate("JSON.parse(document.getElementById('td-data').textContent)")

    def words(k):
        return page.eval_on_selector_all(f'.td-sent[data-k="{k}"] .td-tok',
                                         "els => els.map(e => [e.textContent, e.dataset.score, "
                                         "getComputedStyle(e).backgroundColor])")

    def check(method, target=None):
        for k, s in enumerate(data["sentences"]):
            c = s["predicted"] if target is None else target
            assert_row_matches(words(k), {"tokens": s["tokens"], "scores": s["scores"][method][c]})

    check("deconv")
    page.select_option("#td-method", "gradient")
    check("gradient")
    page.select_option("#td-target", "0")
    check("gradient", 0)
    page.select_option("#td-scale", "global")
    top = max(abs(x) for s in data["sentences"] for x in s["scores"]["gradient"][0])
    first = data["sentences"][0]["scores"]["gradient"][0][0]
    assert rgb(words(0)[0][2]) == rgb(colour(first, top)[0])
    page.hover('.td-sent[data-k="1"] .td-tok >> nth=1')
    assert "dull" in page.text_content("#td-tip")
    assert page.evaluate("window.__pwned") is None and page.dialogs == []
    assert page.locator("main img, main svg").count() == 0


def test_javascript_and_python_colour_maps_agree(page, server):
    page.goto(server)
    settle(page)
    cases = [(0.0, 1.0), (0.3, 1.0), (-0.3, 1.0), (0.75, 1.0), (-0.75, 1.0), (0.25, 1.0), (2.0, 1.0), (-5.0, 2.0),
             (0.61, 1.0), (0.6, 1.0), (1e-9, 1.0), (0.5, 0.0), (-0.1234, 0.4321)]
    js = page.evaluate("cases => cases.map(c => TDHeat.colour(c[0], c[1]))", cases)
    assert [list(colour(x, s)) for x, s in cases] == js


def test_filter_page_pages_searches_and_sorts_hostile_text_safely(page, tmp_path):
    import pandas as pd
    from helpers.filter_page import NASTY, hostile_dictionary

    from textdeconv.reports.filter_page import write_html

    fd, analysis = hostile_dictionary()  # filters 0 and 1 (hostile), then 58 plain ones
    n = 60
    fd.ngrams = pd.concat([fd.ngrams, pd.DataFrame([(2, j, 1, f"good {j}", 1.0, j, 1) for j in range(2, n)],
                                                   columns=fd.ngrams.columns)], ignore_index=True)
    fd.words = pd.concat([fd.words, pd.DataFrame([(2, j, k, "embedding", 1, f"w{j}", 0.3) for j in range(2, n)
                                                  for k in range(2)], columns=fd.words.columns)], ignore_index=True)
    fd.summary = pd.DataFrame({"width": [2] * n, "filter": range(n), "fires": 0.5, "mean_activation": 1.0, "bias": 0.0})
    rest = range(2, n)
    plain = pd.DataFrame({"width": 2, "filter": rest, "class_vote": ["pos" if j % 2 else "neg" for j in rest],
                          "vote": [(-1) ** j * j / 1000 for j in rest],
                          "threshold": [(n - j) / 100 for j in range(2, n)], "purity": 0.8,
                          "above_threshold_share": 0.1,
                          "patterns": [[{"size": 1, "slots": [0.1, -0.001], "ngrams": [f"good {j}"]}] for j in rest],
                          "negative_words": [[] for _ in rest]})
    table = pd.concat([analysis, plain], ignore_index=True)
    out = tmp_path / "filters.html"
    write_html(out, fd, "<img src=x onerror=window.__pwned=1>", "t", analysis=table)
    page.goto(out.as_uri())

    def fids():
        return page.eval_on_selector_all("#filters tbody tr.f .fid", "els => els.map(e => e.textContent)")

    assert page.text_content("#page") == "page 1 of 3 (60 filters)" and fids() == [f"2/{j}" for j in range(25)]
    first = page.locator("#filters tbody tr.f >> nth=0")
    assert first.locator("td:nth-child(4) .ng").text_content() == NASTY  # top n-gram, as text
    assert first.locator("td:nth-child(3) .ng").text_content() == NASTY  # its pattern's n-gram
    assert first.locator("td:nth-child(3) b").first.text_content() == "<i>"
    assert first.locator("td:nth-child(3) ul.neg b").text_content() == "</script><b>x"
    assert "<b>1" in first.locator("td:nth-child(5)").text_content()
    assert page.locator("#filters img, #filters i, #filters td.fid b").count() == 0
    third = page.locator("#filters tbody tr.f >> nth=2").text_content()
    assert "1× [+0.10 -0.00]" in third and "50%" in third and "b +0.000" in third  # as Python's %+.2f would
    page.click("#next")
    page.click("#next")
    assert page.text_content("#page") == "page 3 of 3 (60 filters)" and fids() == [f"2/{j}" for j in range(50, 60)]
    page.click("#next")
    assert page.text_content("#page") == "page 3 of 3 (60 filters)"
    page.fill("#q", "good 4")  # good 4, good 40-49
    assert page.text_content("#page") == "page 1 of 1 (11 filters)"
    assert fids() == ["2/4"] + [f"2/{j}" for j in range(40, 50)]
    page.fill("#q", "")
    page.select_option("#sort", "threshold")
    thr = {j: t for j, t in zip(table["filter"], table["threshold"])}
    order = sorted(range(n), key=lambda j: (thr[j] if thr[j] == thr[j] else float("inf"), j))
    assert fids() == [f"2/{j}" for j in order[:25]]
    page.select_option("#sort", "vote")
    vote = {j: (c, -abs(v)) for j, c, v in zip(table["filter"], table["class_vote"], table["vote"])}
    assert fids() == [f"2/{j}" for j in sorted(range(n), key=lambda j: (vote[j], j))[:25]]
    assert page.evaluate("window.__pwned") is None and page.dialogs == []


def test_a_true_false_option_reaches_the_api_as_a_boolean(page, server):
    # the select shows "true" / "false"; the request must carry the boolean the registry checks
    text = "warm and engaging"
    explain_in_page(page, server, text)
    page.check('#methods input[value="lrp-zplus"]')
    settle(page)
    page.select_option('#options label:has-text("lrp-zplus contrast") select', "false")
    settle(page)
    e = api(server, "/api/explain", {"texts": [text], "method": "lrp-zplus",
                                     "options": {"contrast": False}})["explanations"][0]
    assert_row_matches(shown(page, 0, "lrp-zplus"), e)


# -- issue 37: the page's defects ---------------------------------------------------------------------

def test_unsigned_scores_get_a_one_colour_map_and_their_own_legend(page, server):
    from textdeconv.reports.heatmap import colour as py_colour

    text = "a gripping , funny movie"
    explain_in_page(page, server, text)
    page.check('#methods input[value="gradient-l2"]')
    settle(page)
    e = api(server, "/api/explain", {"texts": [text], "method": "gradient-l2"})
    assert e["signed"] is False and api(server, "/api/explain", {"texts": [text]})["signed"] is True
    words = shown(page, 0, "gradient-l2")
    scale = max(e["explanations"][0]["scores"])
    unsigned = page.evaluate("TDHeat.UNSIGNED")
    for (_, score, background), s in zip(words, e["explanations"][0]["scores"]):
        assert float(score) == s >= 0
        a = min(abs(s) / scale, 1)  # white at 0 to UNSIGNED at the row's scale: one hue, never the signed ends
        assert rgb(background) == tuple(round(255 + (c - 255) * a) for c in unsigned)
        assert rgb(background) != rgb(py_colour(s, scale)[0]) or s == 0
    legend = page.locator('.sent[data-k="0"] .mrow[data-method="gradient-l2"] .row-legend')
    assert legend.locator(".num").all_text_contents() == ["0", f"+{scale:.3g}"]
    assert page.get_attribute('.mrow[data-method="gradient-l2"]', "data-signed") == "0"
    deconv = page.locator('.sent[data-k="0"] .mrow[data-method="deconv"] .row-legend .num').all_text_contents()
    top = max(abs(s) for s in api(server, "/api/explain", {"texts": [text]})["explanations"][0]["scores"])
    assert deconv == [f"-{top:.3g}", f"+{top:.3g}"]  # numbers on the signed legend too
    assert "purple = an unsigned score" in page.text_content("#scale-note")


def test_a_typed_replacement_is_tokenized_as_typed_text(page, server):
    explain_in_page(page, server, "the plot is thin")
    page.click('.tok[data-t="3"]')
    settle(page)
    page.fill("#replace-text", "Great!")
    page.click("#replace-word")
    settle(page)
    typed = api(server, "/api/explain", {"texts": ["the plot is Great!"]})["explanations"][0]
    assert typed["tokens"][-2:] == ["Great", "!"]
    assert_row_matches(shown(page, 0), typed)


def test_one_long_sentence_is_refused_alone_with_its_reason(page, server):
    explain_in_page(page, server, "great fun\n" + "word " * 201 + "\nthe plot is thin")
    assert_row_matches(shown(page, 0), api(server, "/api/explain", {"texts": ["great fun"]})["explanations"][0])
    assert page.locator('.sent[data-k="2"] .tok').count() == 4
    note = page.text_content('.sent[data-k="1"] .sent-error')
    assert "sentence 2 has 201 tokens; the limit is 200" in note and "no tokens" not in note


def test_treebank_escapes_are_shown_as_brackets_and_words_take_the_keyboard(page, server):
    explain_in_page(page, server, "a ( gripping ) `` funny '' movie")
    tokens = page.eval_on_selector_all('.mrow[data-method="deconv"] .tok', "els => els.map(e => [e.textContent, "
                                       "e.dataset.token])")
    assert tokens == [["a", "a"], ["(", "-LRB-"], ["gripping", "gripping"], [")", "-RRB-"], ["\u201c", "``"],
                      ["funny", "funny"], ["\u201d", "''"], ["movie", "movie"]]
    page.focus('.mrow[data-method="deconv"] .tok[data-t="2"]')
    page.keyboard.press("Enter")  # a word opens its panel from the keyboard
    settle(page)
    assert page.is_visible("#panel") and "gripping" in page.text_content("#word-title")
    assert page.evaluate("document.activeElement.dataset.t") == "2"
    page.focus("#word-filters tr.filter-row >> nth=0")
    page.keyboard.press("Enter")  # and a filter row its card
    settle(page)
    assert page.is_visible("#card")


def test_a_3000_character_word_wraps_and_has_no_suggestions(page, server):
    explain_in_page(page, server, "a " + "x" * 3000 + " film")
    assert page.evaluate("document.documentElement.scrollWidth") <= 1200
    page.click('.tok[data-t="1"]')
    settle(page)
    assert "no suggestions" in page.text_content("#suggestions")
    assert page.evaluate("document.documentElement.scrollWidth") <= 1200


def test_word_panel_at_420_px_does_not_cover_the_sentences(page, server):
    page.set_viewport_size({"width": 420, "height": 800})
    try:
        explain_in_page(page, server, "a gripping , funny movie")
        page.click('.tok[data-t="1"]')
        settle(page)
        panel = page.locator("#panel").bounding_box()
        assert page.locator("#results").bounding_box()["width"] >= 300  # the sentences keep the page's width
        for box in page.eval_on_selector_all(".tok", "els => els.map(e => e.getBoundingClientRect().toJSON())"):
            apart_x = box["right"] <= panel["x"] or box["left"] >= panel["x"] + panel["width"]
            apart_y = box["bottom"] <= panel["y"] or box["top"] >= panel["y"] + panel["height"]
            assert apart_x or apart_y, box  # no word under the panel
        assert page.evaluate("document.documentElement.scrollWidth") <= 420
    finally:
        page.set_viewport_size({"width": 1200, "height": 900})


def test_file_tab_names_the_run_and_downloads_what_is_shown(page, server, tmp_path):
    lines = "=cmd fun\n-LRB- great -RRB-\n"
    page.goto(server)
    settle(page)
    page.click("#tab-button-file")
    assert "Run run, method deconv" in page.text_content("#file-run")
    page.fill("#paste", lines)
    page.click("#table-go")
    page.wait_for_selector("#table tr[data-sentence-id]")
    settle(page)
    page.fill("#paste", "something else entirely\n")  # not explained: the CSV is still the table's
    with page.expect_download() as download:
        page.click("#csv-go")
    assert open(download.value.path(), "rb").read() == api(server, "/api/csv", {"text": lines})
    page.check("#csv-safe")
    with page.expect_download() as download:
        page.click("#csv-go")
    safe = open(download.value.path(), "rb").read()
    assert safe == api(server, "/api/csv", {"text": lines, "spreadsheet_safe": True}) and b"'-LRB-" in safe


def test_a_file_is_decoded_in_its_encoding_never_with_replacement_characters(page, server, tmp_path):
    src = tmp_path / "latin1.txt"
    src.write_bytes("un film trop go\u00fbt\u00e9\n".encode("latin-1"))
    page.goto(server)
    settle(page)
    page.click("#tab-button-file")
    page.set_input_files("#file", str(src))
    page.wait_for_function("() => document.getElementById('table-status').className === 'error'")
    assert "is not valid UTF-8: choose its encoding" in page.text_content("#table-status")
    assert page.input_value("#paste") == ""
    page.select_option("#encoding", "windows-1252")
    page.wait_for_selector("#table tr[data-sentence-id]")
    settle(page)
    assert page.input_value("#paste") == "un film trop go\u00fbt\u00e9\n"
    assert "\ufffd" not in page.text_content("#table")


def test_two_runs_each_clean_an_edit_their_own_way_and_say_what_cleaning_removed(page, tiny_run):
    from textdeconv.serve.explorer import Explorer
    from textdeconv.serve.server import ServerThread

    explorer = Explorer.open([tiny_run, tiny_run], warm=False)
    explorer.runs[1].run.vocab.clean = "kim"  # Kim's clean_str_sst: -LRB- -> LRB, "." vanishes
    with ServerThread(explorer) as url:
        explain_in_page(page, url, "the plot -LRB- is -RRB- thin .")
        kim = [t for t, *_ in shown(page, 0, run=1)]
        assert kim == ["the", "plot", "LRB", "is", "RRB", "thin"]
        note = page.text_content('.run-col[data-run="1"] .clean-note')
        assert "vocab.clean=kim" in note and "“-”" in note and "“.”" in note
        assert page.locator('.run-col[data-run="0"] .clean-note').count() == 0
        page.click('.run-col[data-run="1"] .mrow[data-method="deconv"] .tok[data-t="5"]')  # "thin", in the kim run
        settle(page)
        page.click("#delete-word")
        settle(page)
        edited = ["the", "plot", "-LRB-", "is", "-RRB-", "."]  # the source tokens, without "thin"
        for r in (0, 1):
            e = api(url, "/api/explain", {"texts": [edited], "run": r})["explanations"][0]
            assert_row_matches(shown(page, 0, run=r), e)
        words = page.eval_on_selector_all('.run-col[data-run="0"] .mrow[data-method="deconv"] .tok',
                                          "els => els.map(e => e.textContent)")
        assert words == ["the", "plot", "(", "is", ")", "."]


def test_off_loopback_the_printed_url_opens_the_page_and_nothing_works_without_it(page, tiny_run):
    from urllib.parse import urlsplit

    from textdeconv.serve.explorer import Explorer
    from textdeconv.serve.server import ServerThread

    thread = ServerThread(Explorer.open([tiny_run], warm=False), host="0.0.0.0")
    with thread as url:
        base = f"http://127.0.0.1:{urlsplit(url).port}/"
        r = page.goto(base)
        assert r.status == 401 and "needs its token" in page.text_content("body")
        page.goto(f"{base}?token={thread.token}")  # sets the cookie, then the page without the token in the URL
        settle(page)
        assert page.url.split("#")[0] == base
        page.fill("#text", "great fun")
        page.click("#go")
        settle(page)
        assert [t for t, *_ in shown(page, 0)] == ["great", "fun"]


def test_the_view_is_kept_in_the_url(page, server, context):
    explain_in_page(page, server, "great fun\nthe plot is thin")
    page.check('#methods input[value="gradient"]')
    settle(page)
    page.select_option("#target", "negative")
    page.select_option("#scale", "global")
    settle(page)
    link = page.url
    assert "#" in link and "great+fun" in link
    other = context.new_page()
    try:
        other.goto(link)
        settle(other)
        assert other.input_value("#text") == "great fun\nthe plot is thin"
        assert all(other.is_checked(f'#methods input[value="{m}"]') for m in ("deconv", "gradient"))
        assert other.input_value("#target") == "negative" and other.input_value("#scale") == "global"
        e = api(server, "/api/explain", {"texts": ["great fun", "the plot is thin"], "method": "gradient",
                                         "target": "negative"})  # the page asks for both sentences at once
        assert [float(w[1]) for w in shown(other, 1, "gradient")] == e["explanations"][1]["scores"]
    finally:
        other.close()
