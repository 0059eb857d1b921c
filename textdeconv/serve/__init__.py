"""The explorer: ``textdeconv serve --run RUN`` explains sentences interactively in a browser.

    explorer.py  the model side: runs loaded once and kept warm, every API answer as a dict
    app.py       the Starlette app: JSON routes, static files, request guards and error handlers
    server.py    binding, uvicorn, a background-thread server for tests and benchmarks
    budget.py    a request's time budget and its cancellation when the client goes away
    dataset.py   the data set view: rows with predictions, slices, sorting, metrics, PCA (numpy)
    counterfactuals.py  edits of a sentence that try to flip its prediction, each verified
    static/      the page (HTML, CSS, JavaScript; the colour renderer is reports/heatmap.js)

docs/explorer.md describes the page and the JSON API.
"""
