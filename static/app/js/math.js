// Render every .math span with KaTeX: on load and whenever htmx swaps in new content. TeX that does
// not parse stays as its source (KaTeX's error markup would carry an inline style attribute, which the
// Content-Security-Policy refuses).
(function () {
  function renderMath(root) {
    if (!window.katex) return;
    (root || document).querySelectorAll("span.math:not([data-rendered])").forEach(function (el) {
      var tex = el.textContent;  // katex.render empties the element before it parses
      try {
        window.katex.render(tex, el, {
          displayMode: el.classList.contains("math-display"),
          throwOnError: true,
          trust: false,
        });
      } catch (e) {  // leave the TeX source visible
        el.textContent = tex;
        el.classList.add("math-error");
      }
      el.setAttribute("data-rendered", "1");
    });
  }
  window.renderMath = renderMath;
  document.addEventListener("DOMContentLoaded", function () { renderMath(document); });
  document.addEventListener("htmx:afterSwap", function (ev) { renderMath(ev.target); });
  document.addEventListener("htmx:oobAfterSwap", function (ev) { renderMath(ev.target); });
})();
