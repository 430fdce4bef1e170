// Customer list: "select all" and the count of selected rows for bulk tagging.
// Everything works without it: the check boxes are a plain form.
(function () {
  "use strict";

  function bulkForm(el) {
    return el.closest ? el.closest("form[id=bulk-form]") : null;
  }

  function refresh(form) {
    if (!form) return;
    var boxes = form.querySelectorAll("input[data-row-check]");
    var checked = form.querySelectorAll("input[data-row-check]:checked").length;
    var all = form.querySelector("input[data-select-all]");
    if (all) {
      all.checked = boxes.length > 0 && checked === boxes.length;
      all.indeterminate = checked > 0 && checked < boxes.length;
    }
    var count = form.querySelector("[data-selected-count]");
    if (count) {
      count.textContent = checked ? count.dataset.template.replace("__N__", String(checked)) : "";
    }
  }

  document.addEventListener("change", function (event) {
    var target = event.target;
    var form = bulkForm(target);
    if (!form) return;
    if (target.matches("input[data-select-all]")) {
      form.querySelectorAll("input[data-row-check]").forEach(function (box) {
        box.checked = target.checked;
      });
    }
    refresh(form);
  });

  // The results are swapped in by htmx; count what came back checked.
  document.addEventListener("htmx:afterSettle", function () {
    refresh(document.getElementById("bulk-form"));
  });
  document.addEventListener("DOMContentLoaded", function () {
    refresh(document.getElementById("bulk-form"));
  });
})();
