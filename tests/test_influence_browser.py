"""The explorer's word panel lists the training sentences behind a sentence (real Chromium, as
tests/test_browser.py): what the page shows equals what /api/training-sentences answers."""
import pytest
from test_browser import api, context, explain_in_page, page, server, settle  # noqa: F401  (fixtures)

pytestmark = pytest.mark.browser

TOKENS = ["a", "gripping", ",", "funny", "movie"]


def test_the_word_panel_lists_nearest_and_tracin_training_sentences(page, server):  # noqa: F811
    explain_in_page(page, server, " ".join(TOKENS))
    page.click('.tok[data-method="deconv"][data-t="1"]')
    settle(page)
    page.click("#training-similar")
    settle(page)
    want = api(server, "/api/training-sentences", {"text": TOKENS, "mode": "similar", "k": 5, "target": None,
                                                   "run": 0})
    rows = page.eval_on_selector_all(".training-row td:last-child", "els => els.map(e => e.textContent)")
    assert rows == [f"#{n['train_id']} {n['train_text']}" for n in want["neighbours"]] and rows
    page.click("#training-tracin")
    settle(page)
    want = api(server, "/api/training-sentences", {"text": TOKENS, "mode": "tracin", "k": 5, "target": None,
                                                   "run": 0})
    rows = page.eval_on_selector_all(".training-row", "els => els.map(e => [e.cells[0].textContent, "
                                                      "e.cells[3].textContent])")
    assert rows == [[kind, f"#{n['train_id']} {n['train_text']}"] for kind in ("proponent", "opponent")
                    for n in want[kind + "s"]] and rows
    assert "model.keras alone" in page.text_content("#training-note")
