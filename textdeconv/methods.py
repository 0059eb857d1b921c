"""Names of the attribution methods, importable without TensorFlow (scripts validate flags first).

The registry in ``textdeconv.attribution`` is the authority; ``tests/test_attribution.py`` checks
that this tuple lists exactly its methods.
"""
DECONV_METHODS = ("deconv", "deconv-activation", "deconv-weighted", "deconv-rectified")
METHOD_NAMES = DECONV_METHODS + ("gradient", "gradient-l2", "grad-x-input", "integrated-gradients",
                                 "occlusion", "guided-backprop", "random")


def method_options(method: str, saliency: str = "dot", ig_steps: int = 50, replacement: str = "pad") -> dict:
    """The explainer options that explain.py's flags set for ``method`` (the others do not apply)."""
    if method in DECONV_METHODS:
        return {"saliency": saliency}
    return {"integrated-gradients": {"steps": ig_steps}, "occlusion": {"replacement": replacement}}.get(method, {})
