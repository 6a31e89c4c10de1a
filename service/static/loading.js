// Says a slow page is on its way: a link or form marked data-loading shows its text until the next page arrives.
(function () {
  "use strict";

  function show(text) {
    var banner = document.getElementById("page-loading");
    if (!banner) return;
    banner.textContent = text || "正在加载…";
    banner.hidden = false;
    document.body.classList.add("is-loading");
  }

  function hide() {
    var banner = document.getElementById("page-loading");
    if (banner) banner.hidden = true;
    document.body.classList.remove("is-loading");
  }

  document.addEventListener("click", function (event) {
    var link = event.target.closest ? event.target.closest("a[data-loading]") : null;
    // A new tab or window leaves this page as it is.
    if (!link || event.defaultPrevented || event.button !== 0) return;
    if (event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) return;
    show(link.getAttribute("data-loading"));
  });

  document.addEventListener("submit", function (event) {
    var marked = event.target.closest ? event.target.closest("[data-loading]") : null;
    if (marked && !event.defaultPrevented) show(marked.getAttribute("data-loading"));
  });

  // Back to a page kept by the browser: it is loaded, whatever it said when it was left.
  window.addEventListener("pageshow", hide);
})();
