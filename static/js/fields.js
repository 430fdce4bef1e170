// Custom field options: drag a row by its handle to reorder (SortableJS). The order the
// server reads is the rows' "Order" numbers, so after a drop every row is renumbered in its
// new place (and each "Retired" box keeps naming its own row, whose index has moved).
// Without JavaScript the numbers are typed by hand.
(function () {
  "use strict";

  function renumber(body) {
    body.querySelectorAll("tr").forEach(function (row, index) {
      var position = row.querySelector(".cf-position");
      var retired = row.querySelector("input[name='opt_retired']");
      if (position) position.value = String(index + 1);
      if (retired) retired.value = String(index);
    });
  }

  function init(root) {
    root.querySelectorAll("[data-cf-options] tbody").forEach(function (body) {
      if (body.dataset.sortable || typeof window.Sortable === "undefined") return;
      body.dataset.sortable = "1";
      body.closest("[data-cf-options]").classList.add("cf-draggable");
      window.Sortable.create(body, {
        handle: ".cf-drag",
        forceFallback: true,  // the same pointer-driven drag with a mouse, a pen or a finger
        animation: 120,
        onEnd: function () { renumber(body); }
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () { init(document); });
})();
