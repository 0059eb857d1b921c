"""``textdeconv explain --model model.keras --vocab vocab.txt``: explain someone else's Keras text CNN
with the layer-wise engine (``textdeconv.attribution.engine``), writing what a run's explain writes:
the terminal view, JSON, the token CSV and the HTML page."""
from __future__ import annotations

import sys

# the engine's rules (textdeconv.attribution.engine.rules.RULE_NAMES; a test keeps them equal),
# named here so that a wrong --method fails before TensorFlow loads
MODEL_METHODS = ("deconvnet", "guided-backprop", "gradient", "grad-x-input", "lrp-epsilon", "lrp-alpha-beta",
                 "lrp-zplus")
RUN_ONLY = ("split", "filters_csv", "output", "resume", "restart")


def check_args(args) -> None:
    """Refuse what only a run can do, and a method the engine lacks, before anything loads."""
    p = args.parser
    for name in RUN_ONLY:
        if getattr(args, name):
            p.error(f"--{name.replace('_', '-')} needs a run (--run); with --model the sentences are explained "
                    "in memory")
    if args.run:
        p.error("give --run RUN (a textdeconv run) or --model FILE (any Keras text CNN), not both")
    methods = [args.method, *(args.html_methods or [])]
    for method in methods:
        if method not in MODEL_METHODS:
            p.error(f"--model explains with the engine's methods ({', '.join(MODEL_METHODS)}), not {method}")
    if args.saliency != "dot" and args.method not in ("deconvnet", "guided-backprop", "gradient", "grad-x-input"):
        p.error(f"--saliency applies to the gradient-style methods, not {args.method}")


def engine_options(method: str, args) -> dict:
    """The flags' options for ``method``, over the registry's defaults (lrp-alpha-beta / lrp-zplus:
    the contrast unless --logit)."""
    from textdeconv.attribution.engine.explainer import user_options

    options = {}
    if method in ("lrp-alpha-beta", "lrp-zplus") and args.contrast is False:
        options = {"contrast": False}
    if method == "lrp-epsilon" and args.epsilon is not None:
        options = {"epsilon": args.epsilon}
    if method in ("deconvnet", "guided-backprop", "gradient", "grad-x-input") and args.saliency != "dot":
        options = {"saliency": args.saliency}
    return user_options(method, options)


def run_model(args, items) -> None:
    """Explain ``items`` ((line number, text) pairs) with ``--model``; outputs as for a run."""
    from textdeconv.attribution.engine import load_model_for_explaining
    from textdeconv.outputs import OutputPlan

    plan = OutputPlan()
    plan.read("the --model file", args.model)
    plan.read("the --vocab file", args.vocab)
    plan.read("the --input file", args.input)
    for option in ("csv", "html"):
        if getattr(args, option):
            plan.write(f"--{option}", getattr(args, option))
    plan.check()

    from textdeconv.runtime import load_tensorflow

    load_tensorflow()
    from textdeconv.attribution.engine import Analyzer, ModelExplainer
    from textdeconv.reports import export

    model, tokens = load_model_for_explaining(args.model, args.vocab)

    def explainer(method):
        return ModelExplainer(Analyzer(model, method, **engine_options(method, args)), tokens, args.classes,
                              tokenizer=args.tokenizer)

    main = explainer(args.method)
    ids = [sid for sid, _ in items]
    expls = main.explain([text for _, text in items], target=_target(args.target, main.class_names),
                         batch_size=args.batch_size)
    with plan:
        if args.csv:
            export.write_csv(export.token_frame(expls, ids), plan.temp(args.csv))
        if args.html:
            from textdeconv.reports.html import html_data, write_html

            results = {}
            for method in dict.fromkeys(args.html_methods or [args.method]):
                e = main if method == args.method else explainer(method)
                results[method] = [e.explain([text for _, text in items], target=c, batch_size=args.batch_size)
                                   for c in range(len(main.class_names))]
            write_html(plan.temp(args.html), html_data(ids, results, main.class_names, method=args.method,
                                                       target=_target_index(args.target, main.class_names),
                                                       title=f"textdeconv explanations: {args.model}"))
    for out in (args.csv, args.html):
        if out:
            print(f"wrote {out}", file=sys.stderr)
    if args.json:
        print(export.to_json(expls, ids))
    elif not args.quiet:
        color = sys.stdout.isatty()
        for sid, e in zip(ids, expls):
            print(f"[{sid}] " + export.render(e, main.class_names, color))


def _target(target, class_names):
    return None if target is None else class_names[_target_index(target, class_names)]


def _target_index(target, class_names) -> int:
    from textdeconv.attribution.explanation import resolve_target

    return resolve_target(target, class_names)
