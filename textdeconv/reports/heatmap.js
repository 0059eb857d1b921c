/* textdeconv's one word-score colour renderer, shared by the static `explain --html` report
 * (textdeconv/reports/html.py inlines this file) and the explorer (`textdeconv serve` serves it
 * as /heatmap.js). textdeconv/reports/heatmap.py mirrors colour() in Python for notebooks; a
 * browser test compares the two on a few values.
 *
 * Diverging map symmetric around 0: white at 0, POSITIVE (blue, evidence for the target class)
 * at +scale, NEGATIVE (red, against) at -scale, linear in |score| / scale and clipped at 1.
 * Text turns white past 0.6 of the scale so it stays readable on the dark ends.
 * Unsigned scores (norms: gradient-l2, saliency=norm) have no "against": they get a one-colour map,
 * white at 0 to UNSIGNED (purple) at the scale, and their own legend (legendBar(el, true)).
 */
(function () {
  "use strict";
  var POSITIVE = [33, 102, 172], NEGATIVE = [178, 24, 43], UNSIGNED = [84, 39, 143];

  // [background, text colour] for a score (null = no score: uncoloured)
  function colour(x, scale, unsigned) {
    if (x === null || x === undefined || isNaN(x)) return ["transparent", ""];
    var a = scale > 0 ? Math.min(Math.abs(x) / scale, 1) : 0, end = unsigned ? UNSIGNED : x > 0 ? POSITIVE : NEGATIVE;
    var rgb = end.map(function (e) { return Math.round(255 + (e - 255) * a); });
    return ["rgb(" + rgb.join(",") + ")", a > 0.6 ? "#fff" : "#222"];
  }
  function maxAbs(xs) {
    return xs.reduce(function (m, x) { return x === null ? m : Math.max(m, Math.abs(x)); }, 0);
  }
  // the colour scale of every sentence: its own max |score| ("sentence") or one for all ("global")
  function scales(scoreLists, mode) {
    var own = scoreLists.map(maxAbs);
    if (mode !== "global") return own;
    var all = own.reduce(function (m, x) { return Math.max(m, x); }, 0);
    return own.map(function () { return all; });
  }
  function fmt(x) { return x === null || x === undefined ? "n/a" : (x > 0 ? "+" : "") + x.toPrecision(3); }
  // colour one word element; data-score keeps the exact score (tests and tooltips read it)
  function paint(el, x, scale, unsigned) {
    var c = colour(x, scale, unsigned);
    el.style.background = c[0];
    el.style.color = c[1];
    el.dataset.score = x === null || x === undefined ? "" : String(x);
  }
  // the legend bar: the same map from -scale to +scale (unsigned: from 0 to +scale)
  function legendBar(el, unsigned) {
    el.style.background = unsigned ? "linear-gradient(to right, #fff, rgb(" + UNSIGNED.join(",") + "))" :
      "linear-gradient(to right, rgb(" + NEGATIVE.join(",") + "), #fff, rgb(" + POSITIVE.join(",") + "))";
  }
  window.TDHeat = {POSITIVE: POSITIVE, NEGATIVE: NEGATIVE, UNSIGNED: UNSIGNED, colour: colour, maxAbs: maxAbs, scales: scales,
                   fmt: fmt, paint: paint, legendBar: legendBar};
})();
