#!/usr/bin/env python
"""Take the explorer's screenshots in docs/img/ with Playwright (1000 px wide, 256-colour PNGs).

    export TEXTDECONV_DATA=../shared/data/sst TEXTDECONV_CHROMIUM=$(../shared/tools/chromium)
    export TEXTDECONV_CHROMIUM_ARGS="$(../shared/tools/chromium --args | tail -n 1)"
    python docs/screenshots.py                       # trains two small SST models first (~1 min)
    python docs/screenshots.py --run RUN1 --run RUN2  # or shows runs you have

The browser: TEXTDECONV_CHROMIUM (and its flags in TEXTDECONV_CHROMIUM_ARGS), else Playwright's own.
"""
import argparse
import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "img"
READY = "() => document.body.dataset.ready === '1' && document.body.dataset.pending === '0'"
SENTENCES = "a gripping , funny and moving film\nthe plot is thin and the acting is dull\nnot bad at all"
# two small models on 8,000 SST phrases: the widths differ, so the two runs disagree somewhere
MODELS = {"sst-small": ["model.filter_sizes=[3,4,5]"], "sst-small-bigrams": ["model.filter_sizes=[2,3]"]}
COMMON = ["data.max_train=8000", "train.epochs=4", "model.num_filters=32", "model.embedding_dim=32"]


def train(run_dir: Path, extra) -> None:
    sets = [a for kv in COMMON + extra + [f"data.dir={os.environ['TEXTDECONV_DATA']}"] for a in ("--set", kv)]
    subprocess.run([sys.executable, "-m", "textdeconv", "train", "--config", "tiny.yaml", "--run-dir", str(run_dir),
                    "--offline", *sets], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)


def save(page, name: str, full_page: bool = False, clip=None) -> None:
    page.screenshot(path=str(OUT / name), full_page=full_page, clip=clip)
    save_existing(OUT / name)


def save_existing(path: Path) -> None:
    """Reduce a screenshot to 256 colours (the page is flat colour: little visible loss, ~4x smaller)."""
    from PIL import Image

    Image.open(path).convert("RGB").quantize(256, dither=Image.Dither.NONE).save(path, optimize=True)
    print(f"wrote {path} ({path.stat().st_size // 1024} KiB)")


def shoot(runs, browser) -> None:
    from textdeconv.serve.explorer import Explorer
    from textdeconv.serve.server import ServerThread

    page = browser.new_context(viewport={"width": 1000, "height": 760}, device_scale_factor=1).new_page()
    with ServerThread(Explorer.open(runs[:1])) as url:
        page.goto(url)
        page.wait_for_function(READY)
        page.fill("#text", SENTENCES)
        page.click("#go")
        page.wait_for_function(READY)
        for m in ("grad-x-input", "integrated-gradients"):
            page.check(f'#methods input[value="{m}"]')
            page.wait_for_function(READY)
        page.click('.sent[data-k="0"] .mrow[data-method="deconv"] .tok[data-t="1"]')  # "gripping"
        page.wait_for_function(READY)
        page.click(".filter-row >> nth=0")
        page.wait_for_function(READY)
        save(page, "explorer.png")
        page.set_viewport_size({"width": 1000, "height": 1640})  # the whole word panel: filters and a card
        page.locator("#panel").screenshot(path=str(OUT / "explorer-filters.png"))
        save_existing(OUT / "explorer-filters.png")
        page.set_viewport_size({"width": 1000, "height": 760})
        page.click('.sent[data-k="1"] .mrow[data-method="deconv"] .tok[data-t="8"]')  # "dull"
        page.wait_for_function(READY)
        page.click(".suggestion >> nth=0")
        page.wait_for_function(READY)
        save(page, "explorer-whatif.png", full_page=True)
        if page.is_visible("#panel"):
            page.click("#panel-close")
        page.click('.sent[data-k="2"] .cf-go')  # counterfactuals of "not bad at all"
        page.wait_for_function(READY)
        page.locator('.sent[data-k="2"]').screenshot(path=str(OUT / "explorer-counterfactuals.png"))
        save_existing(OUT / "explorer-counterfactuals.png")
        page.click("#tab-button-file")
        page.fill("#paste", "\n".join(SENTENCES.splitlines() + ["an utterly charming and hilarious film",
                                                              "a tedious , overlong mess", "it 's fine"]))
        page.click("#table-go")
        page.wait_for_selector("#table tr[data-sentence-id]")
        page.click("#table th:has-text('confidence')")
        save(page, "explorer-file.png", clip={"x": 0, "y": 0, "width": 1000, "height": 420})
        page.set_viewport_size({"width": 1000, "height": 1640})  # the side column: metrics, salience, projector
        page.click("#tab-button-dataset")
        page.wait_for_selector("#ds-table .ds-row")
        page.wait_for_function(READY)
        page.select_option("#ds-sort", "loss")  # the worst errors first
        page.check("#ds-desc")
        page.wait_for_function(READY)
        page.click("#ds-aggregate")
        page.wait_for_function(READY)
        page.select_option("#ds-colour", "predicted")
        page.click("#ds-project")
        page.wait_for_function(READY)
        page.hover('#ds-confusion .cm-cell[data-gold="negative"][data-predicted="positive"]')
        save(page, "explorer-dataset.png")
        page.set_viewport_size({"width": 1000, "height": 760})
    if len(runs) > 1:
        with ServerThread(Explorer.open(runs)) as url:
            page.goto(url)
            page.wait_for_function(READY)
            page.fill("#text", SENTENCES)
            page.click("#go")
            page.wait_for_function(READY)
            save(page, "explorer-two-runs.png", full_page=True)
    report = OUT.parent / "report-example.html"
    subprocess.run([sys.executable, "-m", "textdeconv", "explain", "--run", str(runs[0]), *SENTENCES.splitlines(),
                    "--html", str(report), "--html-methods", "deconv", "grad-x-input", "--quiet"],
                   cwd=ROOT, check=True, stderr=subprocess.DEVNULL)
    page.goto(report.as_uri())
    page.hover('.td-sent[data-k="0"] .td-tok >> nth=1')
    save(page, "report.png", clip={"x": 0, "y": 0, "width": 1000, "height": 320})
    report.unlink()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", action="append", help="run directory (twice for the two-run view)")
    args = p.parse_args()
    from playwright.sync_api import sync_playwright

    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as pw:
        runs = [Path(r) for r in args.run or []]
        if not runs:
            for name, extra in MODELS.items():
                runs.append(Path(tmp) / name)
                train(runs[-1], extra)
        browser = pw.chromium.launch(executable_path=os.environ.get("TEXTDECONV_CHROMIUM") or None,
                                     args=shlex.split(os.environ.get("TEXTDECONV_CHROMIUM_ARGS", "")))
        shoot(runs, browser)
        browser.close()


if __name__ == "__main__":
    main()
