"""The explorer's Data set tab and counterfactual panel in a real Chromium (as tests/test_browser.py):
what the page shows equals what /api/dataset, /api/aggregate and /api/counterfactuals answer, a
confusion-matrix cell selects its rows, a row opens in the Explain tab, "use this" loads an edit."""
import pytest
from test_browser import HOSTILE, api, context, explain_in_page, page, server, settle, shown  # noqa: F401

pytestmark = pytest.mark.browser


def table_rows(page):  # noqa: F811
    return page.eval_on_selector_all("#ds-table .ds-row", "els => els.map(e => [Number(e.dataset.id), "
                                                          "e.cells[1].textContent, e.cells[2].textContent, "
                                                          "e.cells[3].textContent])")


def open_dataset(page, url):  # noqa: F811
    page.goto(url)
    settle(page)
    page.click("#tab-button-dataset")
    settle(page)


def test_confusion_cell_selects_its_rows_and_a_row_opens_in_explain(page, server):  # noqa: F811
    open_dataset(page, server)
    whole = api(server, "/api/dataset", {"split": "test", "run": 0})
    assert table_rows(page) == [[r["id"], r["text"], r["gold"], r["predicted"]] for r in whole["rows"]]
    cells = page.eval_on_selector_all("#ds-confusion .cm-cell", "els => els.map(e => [e.dataset.gold, "
                                                                "e.dataset.predicted, Number(e.textContent)])")
    names = whole["classes"]
    assert cells == [[g, p, whole["metrics"]["confusion"][i][j]] for i, g in enumerate(names)
                     for j, p in enumerate(names)]
    g, p, n = max(cells, key=lambda c: (c[2], c[0] != c[1]))  # the fullest cell
    page.click(f'#ds-confusion .cm-cell[data-gold="{g}"][data-predicted="{p}"]')
    settle(page)
    want = api(server, "/api/dataset", {"split": "test", "gold": g, "predicted": p, "run": 0})
    assert table_rows(page) == [[r["id"], r["text"], r["gold"], r["predicted"]] for r in want["rows"]]
    assert len(want["rows"]) == n > 0
    assert page.input_value("#ds-gold") == g and page.input_value("#ds-pred") == p
    assert page.get_attribute(f'.cm-cell[data-gold="{g}"][data-predicted="{p}"]', "class") == "cm-cell active"
    row = want["rows"][-1]
    page.click(f'#ds-table .ds-row[data-id="{row["id"]}"]')
    settle(page)
    assert page.is_visible("#tab-explain") and not page.is_visible("#tab-dataset")
    assert page.input_value("#text") == row["text"]
    assert [w[0] for w in shown(page, 0)] == row["tokens"]
    assert page.get_attribute(".pred", "data-predicted") == row["predicted"]


def test_search_slice_and_aggregate_salience(page, server):  # noqa: F811
    open_dataset(page, server)
    page.fill("#ds-search", "fun")
    page.wait_for_timeout(400)  # the search box waits 250 ms for more typing
    settle(page)
    assert [r[0] for r in table_rows(page)] == [1, 5]
    assert page.text_content("#ds-metrics").startswith("2 rows · accuracy ")
    page.click("#ds-aggregate")
    settle(page)
    want = api(server, "/api/aggregate", {"split": "test", "search": "fun", "method": "deconv", "top": 10, "run": 0})
    for c in want["classes"]:
        got = page.eval_on_selector_all(f'.agg-class[data-class="{c["class"]}"] .agg-for .agg-word',
                                        "els => els.map(e => e.dataset.word)")
        assert got == [w["word"] for w in c["for"]]
    assert want["filters"]["available"] is True
    for c in want["filters"]["classes"]:
        got = page.eval_on_selector_all(f'.agg-class[data-class="{c["class"]}"] .agg-filter',
                                        "els => els.map(e => [Number(e.dataset.width), Number(e.dataset.filter), "
                                        "e.textContent])")
        assert got == [[f["width"], f["filter"], f'{f["width"]}/{f["filter"]} ' + page.evaluate(
            "x => TDHeat.fmt(x)", f["mean_contribution"]) + " " + ", ".join(
            f'\u201c{g["ngram"]}\u201d ×{g["count"]}' for g in f["ngrams"])] for f in c["filters"]]
        assert got  # the tiny run's slice has filters with positive mean contribution to each class
    page.click("#ds-clear")
    settle(page)
    assert len(table_rows(page)) == 8


def test_an_uploaded_file_is_shown_as_text(page, server, tmp_path):  # noqa: F811
    src = tmp_path / "hostile.csv"
    src.write_text("text,label\n" + "".join(f'"{h.replace(chr(34), chr(34) * 2)}",positive\n' for h in HOSTILE)
                   + "a ( fine ) film,negative\n", encoding="utf-8")
    open_dataset(page, server)
    page.select_option("#ds-split", "file")
    page.set_input_files("#ds-file", str(src))
    page.wait_for_function("() => document.querySelectorAll('#ds-table .ds-row').length === 4")
    settle(page)
    want = api(server, "/api/dataset", {"file": {"text": src.read_text()}, "run": 0})
    escapes = {"-LRB-": "(", "-RRB-": ")", "``": "\u201c", "''": "\u201d"}  # as the Explain tab shows them
    assert [r[1] for r in table_rows(page)] == [" ".join(escapes.get(t, t) for t in r["text"].split(" "))
                                                for r in want["rows"]]
    assert want["rows"][3]["text"] == "a -LRB- fine -RRB- film"  # treebank escapes, shown as brackets
    assert table_rows(page)[3][1] == "a ( fine ) film"
    page.fill("#ds-search", "( fine )")  # what the table shows finds the row stored as -LRB- fine -RRB-
    page.wait_for_timeout(400)
    settle(page)
    assert [r[0] for r in table_rows(page)] == [4]
    assert page.evaluate("() => window.__pwned") is None and not page.dialogs


def test_counterfactuals_are_listed_and_use_this_loads_the_edit(page, server):  # noqa: F811
    text = "a dull , lifeless mess"
    explain_in_page(page, server, text)
    page.click('.sent[data-k="0"] .cf-go')
    settle(page)
    want = api(server, "/api/counterfactuals", {"text": text, "method": "deconv", "options": {}, "run": 0})
    items = page.eval_on_selector_all(".cf-item", "els => els.map(e => [e.dataset.kind, e.dataset.flips])")
    assert items == [[c["kind"], "1" if c["flips"] else "0"] for c in want["counterfactuals"]] and items
    first = want["counterfactuals"][0]
    assert first["kind"] == "delete"  # the greedy deletion set first, then substitutions by estimate
    deleted = page.eval_on_selector_all(".cf-item:first-child del", "els => els.map(e => e.textContent)")
    assert deleted == first["removed"] and page.locator(".cf-item:first-child ins").count() == 0
    size = f"{first['size']} deletion" + ("" if first["size"] == 1 else "s")
    assert page.text_content(".cf-item:first-child .cf-pred").endswith(size)
    subs = [(i, c) for i, c in enumerate(want["counterfactuals"]) if c["kind"] == "replace"]
    assert subs
    for i, c in subs:  # each substitution drawn old -> new, with its first-order estimate
        item = f".cf-item:nth-child({i + 1})"
        assert page.eval_on_selector_all(item + " del", "els => els.map(e => e.textContent)") == c["removed"]
        assert page.eval_on_selector_all(item + " ins", "els => els.map(e => e.textContent)") == c["inserted"]
        assert page.text_content(item + " .cf-pred").endswith(f"estimated margin change {c['estimated_change']:.2f}")
    page.click(".cf-item:first-child .cf-use")
    settle(page)
    assert [w[0] for w in shown(page, 0)] == first["tokens"]
    assert page.get_attribute(".pred", "data-predicted") == first["predicted"]
    assert page.locator(".history li").count() == 1 and page.locator(".cf-item").count() == 0


def test_the_projector_draws_the_slice_and_a_point_opens_its_row(page, server):  # noqa: F811
    open_dataset(page, server)
    page.select_option("#ds-gold", "negative")
    settle(page)
    page.click("#ds-project")
    settle(page)
    want = api(server, "/api/projection", {"split": "test", "gold": "negative", "run": 0})
    points = page.eval_on_selector_all(".proj-point", "els => els.map(e => [Number(e.dataset.id), e.dataset.group, "
                                                      "Number(e.getAttribute('cx')), Number(e.getAttribute('cy'))])")
    assert [p[:2] for p in points] == [[p["id"], p["gold"]] for p in want["points"]]
    xs = [p["x"] for p in want["points"]]
    left = min(range(len(xs)), key=xs.__getitem__)
    assert points[left][2] == min(p[2] for p in points)  # the smallest first component is drawn leftmost
    page.select_option("#ds-colour", "correct")
    groups = page.eval_on_selector_all(".proj-point", "els => els.map(e => e.dataset.group)")
    assert groups == ["correct" if p["correct"] else "error" for p in want["points"]]
    target = want["points"][0]
    page.click(f'.proj-point[data-id="{target["id"]}"]')
    settle(page)
    assert page.input_value("#text") == target["text"] and page.is_visible("#tab-explain")


def test_the_data_set_view_is_kept_in_the_url(page, server):  # noqa: F811
    import json
    from urllib.parse import parse_qs, quote, urlsplit

    open_dataset(page, server)
    page.select_option("#ds-gold", "positive")
    settle(page)
    page.select_option("#ds-sort", "loss")
    settle(page)
    q = parse_qs(urlsplit(page.url).fragment)
    assert q["tab"] == ["dataset"]
    assert json.loads(q["ds"][0]) == {"split": "test", "gold": "positive", "sort": "loss", "descending": False,
                                      "offset": 0}
    link = {"split": "test", "gold": "positive", "search": "fun", "sort": "index", "descending": True, "offset": 0}
    page.goto(server + "#tab=dataset&ds=" + quote(json.dumps(link)))
    page.reload()
    settle(page)
    assert page.is_visible("#tab-dataset") and page.input_value("#ds-search") == "fun"
    assert [r[0] for r in table_rows(page)] == [5, 1]  # gold positive, "fun" in the text, descending
    page.goto(server + "#tab=dataset&ds=" + quote('{"gold": "nonsense", "sort": 7, "offset": -3}'))
    page.reload()
    settle(page)
    assert page.input_value("#ds-gold") == "" and page.input_value("#ds-sort") == "index"
    assert len(table_rows(page)) == 8  # a damaged link: the defaults


def test_the_projector_colours_by_a_filters_activation(page, server):  # noqa: F811
    import math

    from test_browser import rgb

    def purple(x, top):  # heatmap.js's unsigned map: white at 0 to (84, 39, 143) at top, Math.round
        a = min(abs(x) / top, 1.0) if top > 0 else 0.0
        return tuple(math.floor(255 + (e - 255) * a + 0.5) for e in (84, 39, 143))

    open_dataset(page, server)
    page.click("#ds-project")
    settle(page)
    page.select_option("#ds-colour", "activation")
    settle(page)
    width = api(server, "/api/runs")["runs"][0]["widths"][0]
    assert page.input_value("#ds-unit") == f"{width}/0"
    want = api(server, "/api/projection", {"split": "test", "width": width, "filter": 0, "run": 0})
    got = page.eval_on_selector_all(".proj-point", "els => els.map(e => [Number(e.dataset.id), "
                                                   "Number(e.dataset.activation), e.getAttribute('fill')])")
    top = max(abs(p["activation"]) for p in want["points"])
    assert [g[:2] for g in got] == [[p["id"], p["activation"]] for p in want["points"]]
    assert [rgb(g[2]) for g in got] == [purple(p["activation"], top) for p in want["points"]]
    assert len({g[2] for g in got}) > 1  # not one colour for all
    page.fill("#ds-unit", "99/0")
    page.dispatch_event("#ds-unit", "change")
    settle(page)
    widths = ", ".join(map(str, api(server, "/api/runs")["runs"][0]["widths"]))
    assert page.text_content("#ds-proj-note") == f"no filters of width 99; the widths are {widths}"


def test_a_saved_slice_comes_back(page, server):  # noqa: F811
    open_dataset(page, server)
    page.evaluate("() => localStorage.removeItem('textdeconv-explorer-slices')")
    page.select_option("#ds-correct", "true")
    page.select_option("#ds-gold", "negative")
    settle(page)
    want = [r[0] for r in table_rows(page)]
    page.fill("#ds-slice-name", '<b onmouseover="x">right negatives</b>')
    page.click("#ds-save")
    page.click("#ds-clear")
    settle(page)
    assert len(table_rows(page)) == 8
    page.reload()  # kept in the browser, not in the page
    settle(page)
    assert page.text_content("#ds-saved .saved-slice") == '<b onmouseover="x">right negatives</b>'  # as text
    page.click("#ds-saved .saved-slice")
    settle(page)
    assert [r[0] for r in table_rows(page)] == want
    assert page.input_value("#ds-correct") == "true" and page.input_value("#ds-gold") == "negative"
    page.click("#ds-saved .saved-drop")
    assert page.locator("#ds-saved .saved-slice").count() == 0
