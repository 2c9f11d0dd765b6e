// Render every .math span with KaTeX: on load and whenever htmx swaps in new content.
(function () {
  function renderMath(root) {
    if (!window.katex) return;
    (root || document).querySelectorAll("span.math:not([data-rendered])").forEach(function (el) {
      try {
        window.katex.render(el.textContent, el, {
          displayMode: el.classList.contains("math-display"),
          throwOnError: false,
          trust: false,
        });
        el.setAttribute("data-rendered", "1");
      } catch (e) { /* leave the TeX source visible */ }
    });
  }
  window.renderMath = renderMath;
  document.addEventListener("DOMContentLoaded", function () { renderMath(document); });
  document.addEventListener("htmx:afterSwap", function (ev) { renderMath(ev.target); });
  document.addEventListener("htmx:oobAfterSwap", function (ev) { renderMath(ev.target); });
})();
