"""The explorer's web app: Starlette routes over an ``Explorer``, the page's static files, and the
guards every request passes (docs/explorer.md documents the JSON API).

Why Starlette: the explorer needs a dozen JSON routes, static files and an exception handler;
Starlette gives exactly those as a small, well-kept ASGI toolkit with a test client, no
validation layer or code generation on top (FastAPI is Starlette plus those), and uvicorn
serves it. Model calls are blocking, so each runs in Starlette's thread pool while the event
loop keeps accepting requests.

Guards (``Guard``): the Host header must be a loopback name on a loopback bind (no DNS
rebinding); off loopback every request needs the server's token (header or cookie) and the Host
may also be an IP address or an allowed name; a body over ``Limits.max_body_bytes`` is refused
(413) before it is read whole, chunked or not, and one that stalls for ``body_timeout`` is a 408;
a POST must be ``application/json`` (so another web site cannot post to it with a plain form);
every answer carries a Content-Security-Policy that allows only the explorer's own scripts and
styles. Each model call runs under the request's time budget and stops when its client
disconnects (``call``; textdeconv/serve/budget.py). A ``UserError`` becomes
``{"error": message}`` with a 4xx status; any other exception is a bug: the client gets a 500
``{"error": ...}`` without a traceback (the traceback goes to the server's log).
"""
from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
from importlib import resources
from urllib.parse import parse_qs

import anyio
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from textdeconv.errors import UserError, quoted
from textdeconv.serve.budget import Budget
from textdeconv.serve.explorer import Explorer, RequestError

LOOPBACK_HOSTS = ["127.0.0.1", "localhost", "[::1]", "::1"]
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
EXPLAIN_KEYS = ("texts", "method", "target", "options", "run")


def static_dir():
    return resources.files("textdeconv.serve").joinpath("static")


def allowed_host(host: str, names) -> bool:
    """``host`` (a Host header, port included) names this server: a loopback name; unless ``names``
    is None (a loopback bind), also one of ``names`` or any IP address literal (DNS rebinding needs
    a host *name* the attacker controls; an address cannot be rebound)."""
    if host.startswith("["):
        name = host[1:host.find("]")] if "]" in host else host
    else:
        name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    name = name.lower().rstrip(".")
    if name in LOOPBACK_HOSTS or name in (names or ()):
        return True
    if names is None:
        return False
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        return False


class Guard:
    """ASGI middleware, in this order: the Host check (loopback names only on a loopback bind; with
    ``token``, also IP literals and the ``hosts`` allow-list), the token (``token``: a header
    ``X-Textdeconv-Token`` or the cookie the page gets from ``/?token=...``), the body-size limit
    (checked on Content-Length and on the bytes as they arrive, chunked bodies included), the body's
    read timeout, and the security headers on every response. Every refusal is a JSON error."""

    def __init__(self, app, limits, token: str | None = None, hosts=None):
        self.app, self.limits, self.token = app, limits, token
        self.hosts = None if token is None else [h.lower() for h in (hosts or ())]
        self.cookie = f"textdeconv_token_{hashlib.sha256(token.encode()).hexdigest()[:8]}" if token else None

    def authorized(self, headers) -> bool:
        given = headers.get(b"x-textdeconv-token", b"").decode("latin-1")
        for part in headers.get(b"cookie", b"").decode("latin-1").split(";"):
            key, _, value = part.strip().partition("=")
            if key == self.cookie:
                given = given or value
        return bool(given) and hmac.compare_digest(given.encode(), self.token.encode())

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def with_headers(message):
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] += [(b"content-security-policy", CSP.encode()),
                                       (b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer")]
            await send(message)

        async def refuse(error, extra=()):
            response = error_response(error)
            response.headers.update(dict(extra))
            await response(scope, receive, with_headers)

        headers = dict(scope["headers"])
        host = headers.get(b"host", b"").decode("latin-1")
        if not allowed_host(host, self.hosts):
            more = "" if self.token is None else " (textdeconv serve --allow-host NAME adds a name)"
            return await refuse(RequestError(f"Host header {quoted(host, 60)} is not a name of this server{more}"))
        if self.token is not None:
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            if scope["path"] == "/" and "token" in query:  # the URL the server printed: the cookie, then a clean URL
                if not hmac.compare_digest(query["token"][0].encode(), self.token.encode()):
                    return await refuse(RequestError("wrong token: open the URL textdeconv serve printed", 401))
                response = RedirectResponse("/", status_code=303)
                response.set_cookie(self.cookie, self.token, httponly=True, samesite="strict", path="/")
                return await response(scope, receive, with_headers)
            if not self.authorized(headers):
                return await refuse(RequestError(
                    "this explorer needs its token: open the URL with ?token= that textdeconv serve printed, or send "
                    "the header X-Textdeconv-Token", 401))

        limit, received, done = self.limits.max_body_bytes, 0, False
        length = headers.get(b"content-length")
        too_big = RequestError(f"the request body is over the limit of {limit:,} bytes", 413)
        if length is not None and (not length.isdigit() or int(length) > limit):
            return await refuse(too_big if length.isdigit() else RequestError("bad Content-Length"))

        async def limited():
            nonlocal received, done
            if done:  # the body is in: what is left to receive is the disconnect, whenever it comes
                return await receive()
            with anyio.move_on_after(self.limits.body_timeout) as waited:
                message = await receive()
            if waited.cancelled_caught:
                raise RequestError(f"the request body did not arrive within {self.limits.body_timeout:g} s", 408)
            received += len(message.get("body", b""))
            done = not message.get("more_body", False)
            if received > limit:
                raise too_big
            return message

        await self.app(scope, limited, with_headers)


def error_response(exc) -> JSONResponse:
    status = getattr(exc, "status", 400)
    # a body that stopped arriving leaves the connection in no state to read another request
    headers = {"connection": "close"} if status == 408 else None
    return JSONResponse({"error": str(exc)}, status_code=status, headers=headers)


async def user_error(request, exc):
    return error_response(exc)


async def http_error(request, exc):
    return JSONResponse({"error": exc.detail}, status_code=exc.status_code)


async def server_error(request, exc):
    return JSONResponse({"error": f"internal error ({type(exc).__name__}); the server's log has the details"},
                        status_code=500)


MAX_DEPTH = 32  # of a request's JSON: the API's bodies need 3


def _depth(value) -> int:
    """Nesting depth of parsed JSON (iterative: a deep value must not exhaust the stack here either)."""
    deepest, todo = 0, [(value, 1)]
    while todo:
        v, d = todo.pop()
        if isinstance(v, (list, dict)):
            deepest = max(deepest, d)
            if d <= MAX_DEPTH:
                todo += [(x, d + 1) for x in (v.values() if isinstance(v, dict) else v)]
    return deepest


async def read_json(request, allowed) -> dict:
    """The request's JSON object; unknown keys are refused (a typo would otherwise be ignored)."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/json":
        raise RequestError("send the body as JSON with the header 'Content-Type: application/json'", 415)
    body = await request.body()  # over the limit: the Guard's 413, before any parsing
    try:
        data = json.loads(body)
    except ValueError as e:  # JSONDecodeError and UnicodeDecodeError
        raise RequestError(f"the body is not valid JSON ({e})") from None
    except RecursionError:  # [[[[...]]]] deeper than the parser's stack
        data = too_deep = []
    else:
        too_deep = None
    if data is too_deep or _depth(data) > MAX_DEPTH:
        raise RequestError(f"the body is nested too deeply (more than {MAX_DEPTH} levels of arrays and objects)")
    if not isinstance(data, dict):
        raise RequestError("the body must be a JSON object, e.g. {\"texts\": [\"a fine film\"]}")
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise RequestError(f"unknown field(s) {', '.join(map(repr, unknown))}; this endpoint takes "
                           f"{', '.join(allowed)}")
    return data


def texts_of(data, key="texts") -> list:
    """A non-empty list of sentences: strings, or token lists (the page's what-if edits)."""
    texts = data.get(key)
    if not isinstance(texts, list) or not texts:
        raise RequestError(f"{key!r} must be a non-empty list of sentences (strings or token lists)")
    for k, t in enumerate(texts, 1):
        ok = isinstance(t, str) or (isinstance(t, list) and all(isinstance(w, str) for w in t))
        if not ok:
            raise RequestError(f"sentence {k} must be a string or a list of token strings")
        if any("\ud800" <= ch <= "\udfff" for w in ([t] if isinstance(t, str) else t) for ch in w):
            raise RequestError(f"sentence {k} is not valid Unicode")
    return texts


def method_of(data, explorer) -> tuple[str, dict]:
    from textdeconv.attribution import get_method

    method = data.get("method", "deconv")
    if not isinstance(method, str):
        raise RequestError("'method' must be a method name (GET /api/methods lists them)")
    m = get_method(method)
    options = data.get("options") or {}
    if not isinstance(options, dict):
        raise RequestError("'options' must be an object, e.g. {\"saliency\": \"norm\"}")
    for key, value in options.items():
        if key not in m.options:
            raise RequestError(f"{method} has no option {key!r} (its options: {', '.join(m.options) or 'none'})")
        m.options[key].check(method, key, value)
    return method, options


def target_of(data, explorer, k):
    """None (each sentence's predicted class) or a class index."""
    from textdeconv.attribution.explanation import resolve_target

    target = data.get("target")
    if target is not None and not isinstance(target, (str, int)):
        raise RequestError("'target' must be null, a class name or a class index")
    try:
        t = resolve_target(target, explorer.runs[k].run.class_names)
    except ValueError as e:
        raise RequestError(str(e)) from None
    return None if t < 0 else t


def int_of(value, name, lo, hi, query: bool = False) -> int:
    """An integer field: a JSON integer (``"1"``, ``1.7`` and ``true`` are refused) or, for a query
    string (``query``), decimal digits."""
    if query and isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise RequestError(f"{name!r} must be an integer, got {quoted(value, 40)}")
    if not lo <= value <= hi:
        raise RequestError(f"{name!r} must be between {lo} and {hi}, got {value}")
    return value


SLICE_KEYS = ("search", "word", "gold", "predicted", "correct", "min_length", "max_length")
SOURCE_KEYS = ("split", "file", "run")
FILE_KEYS = ("text", "format", "text_column", "label_column")


def dataset_source(data) -> dict:
    """``{"split": name}`` or ``{"file": text, "format", "text_column", "label_column"}`` from a
    request naming ``split`` (train, dev, test) or ``file`` (a labelled file's content)."""
    from textdeconv.serve.dataset import FORMATS, SPLITS

    if ("split" in data) == ("file" in data):
        raise RequestError("give either 'split' (train, dev or test) or 'file' ({\"text\": ..., \"format\": "
                           "\"csv\"}: a labelled file's content)")
    if "split" in data:
        if data["split"] not in SPLITS:
            raise RequestError(f"'split' must be one of {', '.join(SPLITS)}, got {quoted(data['split'], 40)}")
        return {"split": data["split"]}
    f = data["file"]
    if not isinstance(f, dict):
        raise RequestError("'file' must be an object: {\"text\": content, \"format\": \"csv\", "
                           "\"text_column\": \"text\", \"label_column\": \"label\"}")
    unknown = sorted(set(f) - set(FILE_KEYS))
    if unknown:
        raise RequestError(f"unknown field(s) {', '.join(map(repr, unknown))} in 'file'; it takes "
                           f"{', '.join(FILE_KEYS)}")
    text = f.get("text")
    if not isinstance(text, str) or any("\ud800" <= ch <= "\udfff" for ch in text):
        raise RequestError("'file.text' must be a string (the content of a UTF-8 file)")
    fmt = f.get("format", "csv")
    if fmt not in FORMATS:
        raise RequestError(f"'file.format' must be one of {', '.join(FORMATS)}, got {quoted(fmt, 40)}")
    columns = {}
    for key, default in (("text_column", "text"), ("label_column", "label")):
        value = f.get(key, default)
        if not isinstance(value, str) or not value or len(value) > 200:
            raise RequestError(f"'file.{key}' must be a column name (a non-empty string)")
        columns[key] = value
    return {"file": text, "format": fmt, **columns}


def class_of(value, name, classes):
    """A class named by its name or index, or None."""
    if value is None:
        return None
    if isinstance(value, str) and value in classes:
        return classes.index(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(classes):
        return value
    raise RequestError(f"{name!r} must be a class name or index of this run ({', '.join(classes)}), "
                       f"got {quoted(value, 40)}")


def slice_of(data, classes):
    """The ``Slice`` a request describes (dataset.py)."""
    from textdeconv.serve.dataset import Slice

    fields = {}
    for key in ("search", "word"):
        value = data.get(key)
        if value is not None and (not isinstance(value, str) or len(value) > 200
                                  or any("\ud800" <= ch <= "\udfff" for ch in value)):
            raise RequestError(f"{key!r} must be a string of at most 200 characters")
        fields[key] = value or None
    fields["gold"] = class_of(data.get("gold"), "gold", classes)
    fields["predicted"] = class_of(data.get("predicted"), "predicted", classes)
    correct = data.get("correct")
    if correct is not None and not isinstance(correct, bool):
        raise RequestError("'correct' must be true, false or null")
    fields["correct"] = correct
    for key in ("min_length", "max_length"):
        value = data.get(key)
        fields[key] = None if value is None else int_of(value, key, 0, 1_000_000)
    return Slice(**fields)


def create_app(explorer: Explorer, token: str | None = None, hosts=()) -> Starlette:
    """The app answering for ``explorer``'s runs. Without ``token`` (a loopback bind) only loopback
    Host headers are accepted; with it (any other bind) every request needs the token, and the
    Host may also be an IP address or one of ``hosts``."""
    limits = explorer.limits

    async def call(request, fn, *args):
        """``fn(*args)`` in a worker thread under the request's time budget, cancelled when the
        client disconnects (a watcher waits for ``http.disconnect`` meanwhile)."""
        budget = Budget(limits.time_budget)

        async def watch():
            while (await request.receive())["type"] != "http.disconnect":
                pass
            budget.cancel()

        result = error = None
        async with anyio.create_task_group() as group:
            group.start_soon(watch)
            try:
                result = await run_in_threadpool(budget.run, fn, *args)
            except Exception as e:  # raised below, outside the task group (not as an exception group)
                error = e
            finally:
                group.cancel_scope.cancel()
        if error is not None:
            raise error
        return result

    async def index(request):
        return FileResponse(str(static_dir().joinpath("index.html")), media_type="text/html; charset=utf-8")

    async def heatmap(request):
        from textdeconv.reports.heatmap import heatmap_js

        return Response(heatmap_js(), media_type="text/javascript; charset=utf-8")

    async def runs(request):
        return JSONResponse({"runs": explorer.runs_info(), "limits": limits.__dict__})

    async def methods(request):
        return JSONResponse({"methods": explorer.methods_info()})

    async def predict(request):
        data = await read_json(request, ("texts", "run"))
        k = explorer.run_index(data.get("run"))
        return JSONResponse(await call(request, explorer.predict, k, texts_of(data)))

    async def explain(request):
        data = await read_json(request, EXPLAIN_KEYS)
        k = explorer.run_index(data.get("run"))
        texts, (method, options) = texts_of(data), method_of(data, explorer)
        target = target_of(data, explorer, k)
        return JSONResponse(await call(request, explorer.explain, k, texts, method, target, options))

    async def tokenize(request):
        from textdeconv.data.vocab import tokenize as split

        data = await read_json(request, ("text", "run"))
        explorer.run_index(data.get("run"))
        text = data.get("text")
        if not isinstance(text, str) or len(text) > 1000 or any("\ud800" <= ch <= "\udfff" for ch in text):
            raise RequestError("'text' must be a string of at most 1,000 characters")
        return JSONResponse({"tokens": split(text, lowercase=False)})

    async def word_filters(request):
        data = await read_json(request, ("text", "token", "target", "top", "thresholds", "run"))
        k = explorer.run_index(data.get("run"))
        (text,) = texts_of({"texts": [data.get("text")]})
        token = int_of(data.get("token"), "token", 0, limits.max_tokens)
        top = int_of(data.get("top", 10), "top", 1, limits.max_neighbours)
        thresholds = data.get("thresholds", False)
        if not isinstance(thresholds, bool):
            raise RequestError("'thresholds' must be true or false")
        target = target_of(data, explorer, k)
        return JSONResponse(await call(request, explorer.word_filters, k, text, token, target, top, thresholds))

    async def training_sentences(request):
        data = await read_json(request, ("text", "mode", "k", "target", "run"))
        k = explorer.run_index(data.get("run"))
        (text,) = texts_of({"texts": [data.get("text")]})
        mode = data.get("mode", "similar")
        if mode not in ("similar", "tracin"):
            raise RequestError(f"'mode' must be 'similar' or 'tracin', got {str(mode)[:40]!r}")
        top = int_of(data.get("k", 5), "k", 1, limits.max_neighbours)
        return JSONResponse(await call(request, explorer.training_sentences, k, text, mode, top,
                                       target_of(data, explorer, k)))

    async def filter_card(request):
        q = request.query_params
        k = explorer.run_index(run_ref(q.get("run")))
        width = int_of(q.get("width"), "width", 1, 1000, query=True)
        j = int_of(q.get("filter"), "filter", 0, 1_000_000, query=True)
        return JSONResponse(await call(request, explorer.filter_card, k, width, j))

    async def neighbours(request):
        q = request.query_params
        k = explorer.run_index(run_ref(q.get("run")))
        word = q.get("word", "")
        if not word.strip() or len(word) > 200:
            raise RequestError("'word' must be one word (at most 200 characters)")
        count = int_of(q.get("k", "8"), "k", 1, limits.max_neighbours, query=True)
        return JSONResponse(await call(request, explorer.neighbours, k, word, count))

    async def file_request(request):
        data = await read_json(request, ("texts", "text", "method", "target", "options", "run", "top",
                                         "spreadsheet_safe"))
        k = explorer.run_index(data.get("run"))
        if ("text" in data) == ("texts" in data):
            raise RequestError("give either 'text' (a file's content) or 'texts' (a list of sentences)")
        text = data.get("text")
        if "text" in data and (not isinstance(text, str) or any("\ud800" <= ch <= "\udfff" for ch in text)):
            raise RequestError("'text' must be a string (the content of a UTF-8 file)")
        items = explorer.file_items(text, None if "text" in data else texts_of(data))
        if not items:
            raise RequestError("nothing to explain: every line is empty")
        method, options = method_of(data, explorer)
        return k, items, method, target_of(data, explorer, k), options, data

    async def table(request):
        k, items, method, target, options, data = await file_request(request)
        top = int_of(data.get("top", 3), "top", 1, limits.max_neighbours)
        return JSONResponse(await call(request, explorer.table, k, items, method, target, options, top))

    async def csv(request):
        k, items, method, target, options, data = await file_request(request)
        safe = data.get("spreadsheet_safe", False)
        if not isinstance(safe, bool):
            raise RequestError("'spreadsheet_safe' must be true or false")
        text = await call(request, explorer.csv, k, items, method, target, options, safe)
        return Response(text, media_type="text/csv; charset=utf-8",
                        headers={"content-disposition": 'attachment; filename="explanations.csv"'})

    async def dataset(request):
        from textdeconv.serve.dataset import SORTS

        data = await read_json(request, SOURCE_KEYS + SLICE_KEYS + ("sort", "descending", "offset", "limit"))
        k = explorer.run_index(data.get("run"))
        source, piece = dataset_source(data), slice_of(data, list(explorer.runs[k].run.class_names))
        sort = data.get("sort", "index")
        if sort not in SORTS:
            raise RequestError(f"'sort' must be one of {', '.join(SORTS)}, got {quoted(sort, 40)}")
        descending = data.get("descending", False)
        if not isinstance(descending, bool):
            raise RequestError("'descending' must be true or false")
        offset = int_of(data.get("offset", 0), "offset", 0, 1_000_000_000)
        limit = int_of(data.get("limit", 50), "limit", 1, limits.max_page_rows)
        return JSONResponse(await call(request, explorer.dataset, k, source, piece, sort, descending, offset, limit))

    async def aggregate(request):
        data = await read_json(request, SOURCE_KEYS + SLICE_KEYS + ("method", "options", "top", "min_count", "by"))
        k = explorer.run_index(data.get("run"))
        source, piece = dataset_source(data), slice_of(data, list(explorer.runs[k].run.class_names))
        method, options = method_of(data, explorer)
        top = int_of(data.get("top", 10), "top", 1, limits.max_neighbours)
        min_count = int_of(data.get("min_count", 2), "min_count", 1, 1_000_000)
        by = data.get("by", "mean")
        if by not in ("mean", "total"):
            raise RequestError(f"'by' must be 'mean' or 'total', got {quoted(by, 40)}")
        return JSONResponse(await call(request, explorer.aggregate, k, source, piece, method, options, top,
                                       min_count, by))

    async def projection(request):
        data = await read_json(request, SOURCE_KEYS + SLICE_KEYS + ("width", "filter"))
        k = explorer.run_index(data.get("run"))
        source, piece = dataset_source(data), slice_of(data, list(explorer.runs[k].run.class_names))
        unit = None
        if "width" in data or "filter" in data:
            unit = (int_of(data.get("width"), "width", 1, 1000), int_of(data.get("filter"), "filter", 0, 1_000_000))
        return JSONResponse(await call(request, explorer.projection, k, source, piece, unit))

    async def counterfactuals(request):
        data = await read_json(request, ("text", "method", "options", "run", "deletions", "words", "neighbours"))
        k = explorer.run_index(data.get("run"))
        (text,) = texts_of({"texts": [data.get("text")]})
        method, options = method_of(data, explorer)
        most = int_of(data.get("deletions", 5), "deletions", 0, 20)
        words = int_of(data.get("words", 3), "words", 0, 10)
        count = int_of(data.get("neighbours", 5), "neighbours", 1, limits.max_neighbours)
        return JSONResponse(await call(request, explorer.counterfactuals, k, text, method, options, most, words,
                                       count))

    routes = [
        Route("/", index), Route("/heatmap.js", heatmap),
        Route("/api/runs", runs), Route("/api/methods", methods),
        Route("/api/predict", predict, methods=["POST"]), Route("/api/explain", explain, methods=["POST"]),
        Route("/api/word-filters", word_filters, methods=["POST"]), Route("/api/filter-card", filter_card),
        Route("/api/neighbours", neighbours), Route("/api/table", table, methods=["POST"]),
        Route("/api/training-sentences", training_sentences, methods=["POST"]),
        Route("/api/csv", csv, methods=["POST"]), Route("/api/tokenize", tokenize, methods=["POST"]),
        Route("/api/dataset", dataset, methods=["POST"]), Route("/api/aggregate", aggregate, methods=["POST"]),
        Route("/api/counterfactuals", counterfactuals, methods=["POST"]),
        Route("/api/projection", projection, methods=["POST"]),
        Mount("/static", StaticFiles(directory=str(static_dir())), name="static"),
    ]
    middleware = [Middleware(Guard, limits=limits, token=token, hosts=hosts)]
    return Starlette(routes=routes, middleware=middleware,
                     exception_handlers={UserError: user_error, HTTPException: http_error, Exception: server_error})


def run_ref(value):
    """A run named in a query string: an index when it is all digits, else a name."""
    return int(value) if value is not None and value.isdigit() else value
